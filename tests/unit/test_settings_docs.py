"""README.md's settings table is generated from the Settings fields' descriptions: they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from mlopstui.config import Settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_description():
    missing = [n for n, f in Settings.model_fields.items() if not f.exclude and not f.description]
    assert not missing, missing


def test_the_readme_configuration_section_is_the_generated_table():
    text = README.read_text()
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", text, re.S)
    assert block, "README.md has no settings table between <!-- settings:start --> and <!-- settings:end -->"
    assert block.group(1) == settings_table(), (
        "README.md's settings table is stale: paste the output of "
        "python -c 'from mlopstui.config import settings_table as t; print(t())'")

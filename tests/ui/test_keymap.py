"""`keymap:` and `theme:` in the config file: a remapped key works, the old one does not, the footer and `?`
show the keys in effect (issue 17)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.screens.help import HelpScreen


def footer_keys(app) -> dict[str, str]:
    return {fk.description: fk.key_display for fk in app.screen.query(FooterKey)}


async def test_a_keymap_in_the_config_remaps_bindings_and_the_footer_shows_it(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("keymap:\n  app.help: f1\n  stack.doctor: x\ntheme: nord\n")
    app = MlopsApp(config.load(str(cfg), kubeconfig=str(tmp_path / "no-kubeconfig")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.current_mode == "stack" and app.theme == "nord"
        keys = footer_keys(app)
        assert keys.get("Help") == "f1" and keys.get("Doctor") == "x", keys
        await pilot.press("question_mark")  # the default key is gone
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "f1" in text and "Doctor" in text
        rows = [ln for ln in text.splitlines() if "Doctor" in ln or ln.strip().startswith("f1")]
        assert any(ln.split()[0] == "x" for ln in rows if "Doctor" in ln), rows
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_of_every_area_screen_has_an_id():
    import importlib

    from mlopstui.screens.areas import AREAS

    for area in AREAS:
        cls = getattr(importlib.import_module(area.module), area.cls)
        for scope in cls.__mro__:
            for b in scope.__dict__.get("BINDINGS", []) if hasattr(scope, "AREA") else []:
                assert getattr(b, "id", None), (cls.__name__, b)

"""The layers are enforced, not only written down (docs/DEVELOPING.md "Layers and contracts").

Statically: the import-linter contracts in pyproject.toml ([tool.importlinter]), run here so CI runs them.
At run time: a fresh interpreter imports an entry point and we look at what it loaded (sys.modules), which
also catches imports the static graph cannot see (importlib, __import__) and heavy SDKs pulled in through
a third-party package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("mlflow", "feast", "kserve", "kubernetes", "boto3", "botocore", "redis", "psycopg", "pandas", "pyarrow")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _loaded(code: str) -> set[str]:
    """The top-level packages and mlopstui modules a fresh interpreter holds after running code."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    return {n.split(".")[0] for n in names} | {n for n in names if n.startswith("mlopstui.")}


@pytest.mark.parametrize("code, forbidden", [
    # the CLI parser answers `--help` and completion without any SDK or the UI
    ("import mlopstui.cli; mlopstui.cli.build_parser()", SDKS + ("textual", "httpx")),
    # the app starts without the SDKs (screens import them inside workers)
    ("import mlopstui.app", SDKS),
    # models and the doctor are pure, even when they run (quantities use the client's parser file only)
    ("import pkgutil, importlib, mlopstui.models as m\n"
     "for i in pkgutil.iter_modules(m.__path__): importlib.import_module('mlopstui.models.' + i.name)\n"
     "import mlopstui.doctor.fixes\n"
     "from mlopstui.doctor import Snapshot, run\n"
     "from mlopstui.units import quantity_bytes\n"
     "assert quantity_bytes('5Pi') == 5 * 2 ** 50\n"
     "run(Snapshot.build([], {}))",
     SDKS + ("textual", "httpx", "mlopstui.backends", "mlopstui.actions", "mlopstui.screens", "mlopstui.widgets",
             "mlopstui.commands", "mlopstui.context", "mlopstui.sandbox")),
])
def test_entry_points_load_only_their_layers(code, forbidden):
    loaded = _loaded(code)
    assert not loaded & set(forbidden), sorted(loaded & set(forbidden))


def test_the_sandbox_loads_nothing_of_the_product_but_locations():
    loaded = _loaded("import mlopstui.sandbox.manager, mlopstui.sandbox.kubeapi.server, mlopstui.sandbox.ingress, "
                     "mlopstui.sandbox.seed")
    product = {n for n in loaded if n.startswith("mlopstui.") and not n.startswith("mlopstui.sandbox")}
    assert product == {"mlopstui.locations"}, sorted(product)


def test_no_textual_handler_calls_its_base_handler():
    """Textual calls `on_<event>` of every class in a widget's MRO that defines one (message_pump's
    _get_dispatch_methods): a handler that also calls super().on_<event>() runs the base's twice (the
    areas' first refresh_data ran twice: two sweeps and two header syncs per mount)."""
    import ast

    offenders = []
    for path in sorted((ROOT / "src" / "mlopstui").rglob("*.py")):
        if "sandbox" in path.parts:
            continue  # the emulator has no Textual widgets (its controllers chain on_change on purpose)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.lstrip("_").startswith("on_")):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and call.func.attr == node.name and isinstance(call.func.value, ast.Call) \
                        and getattr(call.func.value.func, "id", None) == "super":
                    offenders.append(f"{path.relative_to(ROOT)}:{call.lineno} {node.name}")
    assert not offenders, offenders

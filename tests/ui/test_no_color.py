"""NO_COLOR read from the raw escape codes the real driver writes to a pty (an SVG screenshot hides it).

The app runs as `python -m mlopstui` on a pty of 80x24 against the Kubernetes API emulator (seeded with the
platform manifests; its endpoints do not answer, so probes fail and findings show). Every frame of every
area is parsed cell by cell: with NO_COLOR no cell may carry a colour (so none can have its foreground
equal to its background), the cursor row is shown by reverse video, and every status keeps a glyph.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from support.ptyterm import PtyApp, Screen  # noqa: E402
from support.stack_env import apply_objects, seed_objects  # noqa: E402


@pytest.fixture(scope="module")
def seeded_cluster(tmp_path_factory):
    from mlopstui import config
    from mlopstui.context import AppContext
    from mlopstui.sandbox.kubeapi import KubeApiServer

    d = tmp_path_factory.mktemp("nocolor")
    server = KubeApiServer(str(d / "kube"), port=0).start()
    try:
        cfg = d / "mlopstui.yaml"
        cfg.write_text(yaml.safe_dump({
            "kubeconfig": server.kubeconfig_path, "namespace": "mlops", "refresh_interval": 3600.0,
            "probe_timeout": 0.5, "kube_timeout": 3,
            "endpoints": {name: "http://127.0.0.1:1" for name in ("mlflow", "s3", "ingress", "lakefs")}
            | {"redis": "redis://127.0.0.1:1/0", "postgresql": "postgresql://x@127.0.0.1:1/x"},
            "app_log": str(d / "app.log"), "audit_log": str(d / "audit.jsonl")}))
        ctx = AppContext.create(config.load(cfg))
        apply_objects(ctx.kube, seed_objects())
        yield cfg, d
    finally:
        server.stop()


def _env(d: Path, no_color: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MLOPSTUI_CONFIG")}
    env.update(XDG_CONFIG_HOME=str(d / "cfg"), XDG_STATE_HOME=str(d / "state"), XDG_DATA_HOME=str(d / "data"),
               PYTHONPATH=os.pathsep.join(sys.path))
    if no_color:
        env["NO_COLOR"] = "1"
    return env


def _frame_problems(screen: Screen) -> list[str]:
    out = []
    for y, x, c in screen.unreadable()[:3]:
        out.append(f"row {y} col {x} {c.ch!r}: foreground {c.fg} on background {c.bg}")
    for y, x, c in screen.coloured()[:3]:
        out.append(f"row {y} col {x} {c.ch!r}: colour {c.fg}/{c.bg} although NO_COLOR is set")
    return out


def test_no_color_frames_have_default_colours_and_keep_emphasis(seeded_cluster):
    cfg, d = seeded_cluster
    app = PtyApp(["--config", str(cfg)], env=_env(d, no_color=True))
    try:
        app.wait_for(lambda s: "Findings:" in s.text() and "probing" not in s.text() and "✗" in s.text(), 60)
        app.settle(0.5)
        problems = {"stack": _frame_problems(app.screen)}
        assert not problems["stack"], problems
        text = app.screen.text()
        # statuses by glyph and word: a failed probe is "✗ ...", an error finding "✗", a warning "!"
        assert "✗" in text and "!" in text, text
        # the cursor row is reverse video (colour cannot show it)
        rows_reversed = [y for y, row in enumerate(app.screen.cells)
                         if sum("reverse" in c.attrs for c in row) > 40]
        assert any(1 < y < 12 for y in rows_reversed), f"no highlighted row in the table: {rows_reversed}"
        from mlopstui.screens.areas import AREAS

        visits = [("d", "Doctor"), ("\x1b", "Findings:")] + [(a.key, a.title) for a in AREAS[1:]] + [("?", "Help")]
        for key, marker in visits:
            app.send(key)
            app.wait_for(lambda s, m=marker: m in s.text(), 20)
            app.settle(0.5)
            problems[marker] = _frame_problems(app.screen)
        assert not any(problems.values()), problems
    finally:
        app.close()


def test_colour_without_no_color_is_still_readable(seeded_cluster):
    """Without NO_COLOR the theme's colours stay, and no text is drawn in its own background colour."""
    cfg, d = seeded_cluster
    app = PtyApp(["--config", str(cfg)], env=_env(d, no_color=False))
    try:
        app.wait_for(lambda s: "Findings:" in s.text() and "probing" not in s.text(), 60)
        app.settle(0.5)
        assert app.screen.coloured(), "colours expected without NO_COLOR"
        bad = [(y, x, c) for y, x, c in app.screen.unreadable() if c.ch not in "▁▂▃▄▅▆▇█▔▏▕"]
        assert not bad, bad[:3]
    finally:
        app.close()

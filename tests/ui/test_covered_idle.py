"""A dialog over a live area writes (almost) nothing while the area under it changes.

Help (`?`), the `:` prompt and the confirm dialogs are ModalScreens: their background is translucent, so
Textual keeps the screen under them visible and, for every change of that screen (a probe answer, an age),
repainted the dialog's whole region: ~145 KB per 30 s with help open over the Stack, on a Stack that alone
writes 0 bytes. The area holds its changes while covered and paints them once when the dialog closes
(screens/base.AreaScreen._compositor_refresh). Read from the bytes the real driver writes to a pty.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
import yaml

from support.ptyterm import PtyApp


@pytest.mark.timeout(600)
def test_help_over_the_stack_is_quiet_and_the_stack_repaints_when_it_closes(sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MLOPSTUI_CONFIG")}
    env.update(sandbox.env)
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), PYTHONPATH=os.pathsep.join(sys.path))
    cfg = tmp_path / "mlopstui.yaml"  # probes every 2 s: the Stack under the dialog keeps changing
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(sandbox.config_path.read_text()), "refresh_interval": 2.0}))
    app = PtyApp(["--config", str(cfg)], width=80, height=24, env=env)
    try:
        app.wait_for(lambda s: "COMPONENT" in s.text(), 90)
        app.settle(quiet=3.0, timeout=60)
        app.send("?")
        app.wait_for(lambda s: "Keys" in s.text() or "keys" in s.text(), 20)
        app.settle(quiet=1.0, timeout=20)
        start = app.total
        time.sleep(20)  # ~10 sweeps of the Stack underneath
        written = app.total - start
        assert written < 1024, f"{written} bytes in 20 s with help open over the Stack"
        app.send("\x1b")  # esc: the Stack is painted again, with what changed meanwhile
        app.wait_for(lambda s: "COMPONENT" in s.text() and "MLflow" in s.text(), 20)
    finally:
        app.close()

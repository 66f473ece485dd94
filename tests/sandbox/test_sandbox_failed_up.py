"""A failed `mlopstui sandbox up` leaves no process behind (an import error after parts started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.sandbox import procs

pytestmark = pytest.mark.integration


def test_import_error_after_parts_started_leaves_no_process(tmp_path: Path):
    # a scikit-learn that fails to import: the real failure of a broken or partial install. The
    # S3, MLflow, ingress and emulator parts are already launched when the models are trained.
    fake = tmp_path / "fake"
    (fake / "sklearn").mkdir(parents=True)
    (fake / "sklearn" / "__init__.py").write_text('raise ImportError("simulated broken scikit-learn")\n')
    d = tmp_path / "sbx"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "mlopstui.cli", "sandbox", "up", "--dir", str(d)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1, r.stderr
    assert "simulated broken scikit-learn" in r.stderr
    assert "Traceback" not in r.stderr
    state = procs.read_state(d)
    assert {"s3", "mlflow", "kubeapi"} <= set(state.get("parts", {})), state  # they had started
    assert procs.owned_pids(d) == []
    assert not any(procs.part_alive(info) for info in state["parts"].values())

"""Library logs never reach the terminal: they go to the app log (a fresh interpreter each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import socket, sys, warnings
from mlopstui.logs import setup_logging
setup_logging(None)
import urllib3
with socket.socket() as s:  # a port nobody listens on
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
try:  # urllib3 logs "Retrying (Retry(total=0 ...)) after connection broken by ..." at WARNING
    urllib3.PoolManager().request("GET", f"http://127.0.0.1:{port}/", retries=urllib3.Retry(1, backoff_factor=0))
except urllib3.exceptions.MaxRetryError:
    pass
import mlflow  # puts its own stderr handler on the "mlflow" logger unless told not to
import logging
logging.getLogger("mlflow.tracking.client").warning("mlflow says: artifact root unreachable")
warnings.warn("a library's UserWarning")
logging.getLogger("some.library").error("an error from a library")
print("done")
'''


def test_library_logging_goes_to_the_app_log(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"
    assert r.stderr == ""
    logs = list((tmp_path / "state").rglob("*.log"))
    assert len(logs) == 1, logs
    text = logs[0].read_text()
    assert "WARNING urllib3.connectionpool: Retrying" in text
    assert "mlflow says: artifact root unreachable" in text
    assert "py.warnings" in text and "a library's UserWarning" in text
    assert "ERROR some.library: an error from a library" in text

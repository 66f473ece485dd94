"""Helpers of the rollout integration tests (sandbox): kubectl, the InferenceService and its annotation,
the emulator's writes log, running `mlopstui rollout --json`, putting the seed's canary back."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from mlopstui.cli import main

NAME = "fraud-detection"
KUBECTL = Path(sys.executable).parent / "kubectl"
ANN = "mlopstui.dev/rollout"
FAULT = "sandbox.mlopstui.dev/fault"


def kubectl(sandbox, *args) -> str:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig), "-n", "mlops", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def isvc(sandbox) -> dict:
    return json.loads(kubectl(sandbox, "get", "isvc", NAME, "-o", "json"))


def state(sandbox) -> dict:
    return json.loads(isvc(sandbox)["metadata"]["annotations"][ANN])


def writes(sandbox) -> list[dict]:
    path = sandbox.dir / "kube" / "writes.jsonl"
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def isvc_patches(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["method"] == "PATCH" and e["path"].endswith(f"/inferenceservices/{NAME}")]


def run_rollout(sandbox, capsys, *argv, config=None):
    code = main(["rollout", NAME, *argv, "--config", str(config or sandbox.config_path), "--json"])
    out = capsys.readouterr()
    return code, [json.loads(ln) for ln in out.out.splitlines() if ln.startswith("{")], out.err


@contextlib.contextmanager
def restore_canary(sandbox, capsys):
    """Yields the seed's canaryTrafficPercent; after: no rollout annotation, no fault, that canary again."""
    before = isvc(sandbox)["spec"]["predictor"].get("canaryTrafficPercent")
    assert before is not None, "the seed has a canary"
    try:
        yield before
    finally:
        kubectl(sandbox, "annotate", "isvc", NAME, f"{ANN}-", f"{FAULT}-")
        assert main(["canary", NAME, str(before), "--yes", "--wait", "30", "--config", str(sandbox.config_path)]) == 0
        capsys.readouterr()

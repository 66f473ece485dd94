"""Progressive canary in the sandbox: real model servers behind the ingress, the emulator's controller.

One healthy rollout (steps, promotes), one with the canary fault (rolls back at the first gate, the
annotation and the audit log say which gate with the measured values), one interrupted by SIGTERM
(the annotation says paused) and resumed. The emulator's writes log shows exactly one PATCH per step,
each carrying metadata.resourceVersion. The InferenceService is restored after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mlopstui.cli import main
from support.rollout import (
    ANN,
    FAULT,
    NAME,
    isvc,
    isvc_patches,
    kubectl,
    restore_canary,
    run_rollout,
    state,
    writes,
)

pytestmark = pytest.mark.integration

FAST = ["--signal", "synthetic", "--pause", "1s", "--min-requests", "5", "--max-error-rate", "1%"]


def run(sandbox, capsys, *argv):
    return run_rollout(sandbox, capsys, *argv)


@pytest.fixture
def restore(sandbox, capsys):
    with restore_canary(sandbox, capsys) as before:
        yield before


def _back_to_canary(sandbox, capsys, percent):
    assert main(["canary", NAME, str(percent), "--yes", "--wait", "30", "--config", str(sandbox.config_path)]) == 0
    capsys.readouterr()


def test_healthy_promotes_then_fault_rolls_back(sandbox, capsys, restore):
    mark = len(writes(sandbox))
    code, events, err = run(sandbox, capsys, "--steps", "10,50,100", *FAST, "--yes")
    assert code == 0, (events, err)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "promoted"
    assert [e["percent"] for e in events if e["event"] == "step"] == [10, 50]
    gates = [e for e in events if e["event"] == "gates"]
    assert all(g["verdict"] == "pass" for g in gates) and "synthetic" in gates[0]["measured"]["source"]
    obj = isvc(sandbox)
    assert "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert json.loads(obj["metadata"]["annotations"][ANN])["phase"] == "promoted"
    patches = isvc_patches(writes(sandbox)[mark:])
    assert len(patches) == 3, patches  # 10, 50, promote: one PATCH per step
    assert all(p["resourceVersion"] and p["status"] == 200 for p in patches)

    # the canary answers 500 through the ingress: the first gate fails, KServe's rollback (canary 0)
    _back_to_canary(sandbox, capsys, restore)
    kubectl(sandbox, "annotate", "isvc", NAME, f"{FAULT}=canary-errors", "--overwrite")
    mark = len(writes(sandbox))
    code, events, err = run(sandbox, capsys, "--steps", "10,50,100", *FAST, "--yes")
    assert code == 1, (events, err)
    assert events[-1]["event"] == "rolled-back" and "error-rate" in events[-1]["message"]
    st = state(sandbox)
    assert st["phase"] == "rolled-back" and st["step"] == 0
    bad = [g for g in st["gates"] if g["ok"] is False]
    assert bad[0]["gate"] == "error-rate" and bad[0]["measured"] > 0.01
    assert st["measured"]["canary"]["errors"] >= 1 and st["measured"]["stable"]["errors"] == 0
    assert isvc(sandbox)["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert main(["isvc", NAME, "--config", str(sandbox.config_path)]) == 0
    detail = capsys.readouterr().out
    assert "rollout rolled-back: steps 10 50 100; gate error-rate failed at step 10%" in detail
    assert "error-rate FAIL" in detail
    patches = isvc_patches(writes(sandbox)[mark:])
    assert len(patches) == 2 and all(p["resourceVersion"] for p in patches)  # step 10, rollback
    audit = [json.loads(ln) for ln in (sandbox.dir / "audit.jsonl").read_text().splitlines()]
    last = audit[-1]
    assert last["action"] == "rollout-rollback" and last["ok"]
    recorded = json.loads(last["patch"]["metadata"]["annotations"][ANN])
    assert "gate error-rate failed at step 10%" in recorded["reason"]


def _start_and_wait(sandbox, measurements: int, pause: str = "4s") -> subprocess.Popen:
    """A rollout in a subprocess, returned once it has begun its n-th measurement."""
    env = {**os.environ, **sandbox.env}
    proc = subprocess.Popen([sys.executable, "-m", "mlopstui", "rollout", NAME, "--steps", "10,50,100",
                             "--pause", pause, "--min-requests", "3", "--yes", "--json", "--signal", "synthetic",
                             "--config", str(sandbox.config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    measuring = 0
    deadline = time.monotonic() + 120
    while measuring < measurements and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if json.loads(line)["event"] == "measuring":
            measuring += 1
    if measuring < measurements:
        proc.kill()
        pytest.fail(f"the rollout did not reach measurement {measurements}: {proc.stderr.read()}")
    return proc


def test_interrupted_rollout_is_paused_and_resumes(sandbox, capsys, restore):
    proc = _start_and_wait(sandbox, 2)  # into step 2's measurement
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    st = state(sandbox)
    assert st["phase"] == "paused" and st["step"] == 1 and "--resume" in st["reason"]
    assert isvc(sandbox)["spec"]["predictor"]["canaryTrafficPercent"] == 50
    code, out, _ = 0, None, None
    code = main(["rollout", NAME, "--status", "--config", str(sandbox.config_path)])
    out = capsys.readouterr().out
    assert code == 0 and "paused" in out and "[50]" in out

    mark = len(writes(sandbox))
    code, events, err = run(sandbox, capsys, "--resume", "--yes", "--signal", "synthetic")
    assert code == 0, (events, err)
    assert events[0]["event"] == "resumed" and events[0]["percent"] == 50
    assert state(sandbox)["phase"] == "promoted"
    # 50% was applied before the interruption: the resume measures it and sends only the promotion
    assert len(isvc_patches(writes(sandbox)[mark:])) == 1


def test_concurrent_edit_aborts_without_overwriting(sandbox, capsys, restore):
    proc = _start_and_wait(sandbox, 1)
    try:
        mark = len(writes(sandbox))
        # someone else moves the canary while the rollout measures step 1
        kubectl(sandbox, "patch", "isvc", NAME, "--type", "merge", "-p",
                json.dumps({"spec": {"predictor": {"canaryTrafficPercent": 30}}}))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 4, (out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = json.loads(out.strip().splitlines()[-1])
    assert last["event"] == "aborted" and "someone else" in last["message"]
    assert "nothing was overwritten" in last["message"]
    assert isvc(sandbox)["spec"]["predictor"]["canaryTrafficPercent"] == 30
    assert len(isvc_patches(writes(sandbox)[mark:])) == 1  # only kubectl's


def test_refusals(sandbox, capsys, restore):
    code = main(["rollout", NAME, "--resume", "--yes", "--config", str(sandbox.config_path)])
    assert code == 2  # nothing recorded to resume
    code = main(["rollout", NAME, "--steps", "10,50", "--yes", "--config", str(sandbox.config_path)])
    assert code == 2  # the last step must be 100: refused before any request
    code = main(["rollout", NAME, "--readonly", "--yes", "--config", str(sandbox.config_path)])
    assert code == 2
    capsys.readouterr()


def test_sandbox_traffic_is_bounded_and_split_by_revision(sandbox, capsys):
    code = main(["sandbox", "traffic", "--dir", str(sandbox.dir), "--rps", "20", "--duration", "1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and "synthetic" in doc["source"]
    live = {t["revisionName"] for t in isvc(sandbox)["status"]["components"]["predictor"]["traffic"]
            if t["percent"] > 0}
    assert set(doc["revisions"]) <= live
    assert 1 <= sum(v["requests"] for v in doc["revisions"].values()) <= 21  # at most rps x duration (+1)
    assert main(["sandbox", "traffic", "--dir", str(sandbox.dir), "--rps", "1000"]) == 2


def test_metrics_signal_slow_canary_rolls_back_on_p95(sandbox, capsys, restore):
    """Live traffic (sandbox traffic) and the canary-slow fault: the model servers' own /metrics, read
    through the API server's pods/proxy, give the canary's p95 from KServe's request_predict_seconds
    buckets; the p95 gate fails and the rollout rolls back."""
    kubectl(sandbox, "annotate", "isvc", NAME, f"{FAULT}=canary-slow", "--overwrite")
    env = {**os.environ, **sandbox.env}
    traffic = subprocess.Popen([sys.executable, "-m", "mlopstui", "sandbox", "traffic", "--dir", str(sandbox.dir),
                                "--rps", "30", "--duration", "60"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    try:
        code, events, err = run(sandbox, capsys, "--steps", "10,50,100", "--pause", "2s", "--min-requests", "3",
                                "--max-p95", "150ms", "--signal", "metrics", "--yes")
    finally:
        traffic.kill()
        traffic.wait()
    assert code == 1, (events, err)
    assert [e for e in events if e["event"] == "signal"][0]["source"].startswith("model-server /metrics")
    st = state(sandbox)
    assert st["phase"] == "rolled-back" and "gate p95 failed at step 10%" in st["reason"]
    p95 = next(g for g in st["gates"] if g["gate"] == "p95")
    # SLOW_FAULT_S (0.4 s) lands in KServe's (0.25, 0.5] bucket: histogram_quantile interpolates inside it
    assert 250 < p95["measured"] <= 500 and p95["ok"] is False
    assert st["measured"]["stable"]["p95_ms"] < 250

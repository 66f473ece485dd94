"""Serving against the whole sandbox: real KServe model servers behind the ingress stand-in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.cli import main

pytestmark = pytest.mark.integration

ROW = "[[250.0, 3, 0.7, 9, 40.0, 120.5]]"
KUBECTL = Path(sys.executable).parent / "kubectl"


def run(sandbox, capsys, *argv):
    code = main([*argv, "--config", str(sandbox.config_path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def kubectl_json(sandbox, *args) -> dict:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig), "-n", "mlops", *args, "-o", "json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_isvc_list_matches_kubectl(sandbox, capsys):
    code, out, _ = run(sandbox, capsys, "isvc", "--json")
    assert code == 0
    ours = {i["name"]: i for i in json.loads(out)["items"]}
    theirs = kubectl_json(sandbox, "get", "isvc", "fraud-detection")
    assert ours["fraud-detection"]["canaryTrafficPercent"] == theirs["spec"]["predictor"].get("canaryTrafficPercent")
    assert ours["fraud-detection"]["traffic"] == [
        {"revisionName": t["revisionName"], "percent": t["percent"], "latestRevision": t.get("latestRevision", False),
         "tag": t.get("tag")} for t in theirs["status"]["components"]["predictor"]["traffic"]]
    assert ours["churn-model"]["deploymentMode"] == "RawDeployment"


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_infer_reaches_model_servers(sandbox, capsys, protocol):
    code, out, err = run(sandbox, capsys, "infer", "fraud-detection", "--protocol", protocol, "--input", ROW,
                         "--json")
    assert code == 0, (out, err)
    doc = json.loads(out)
    assert doc["ok"] and doc["status"] == 200 and doc["latency_ms"] > 0
    assert doc["revision"].startswith("fraud-detection-predictor-")
    assert doc["model_version"] in ("v1", "v2")
    assert doc["predictions"] is not None
    assert "ingress" in doc["via"] and "fraud-detection.mlops.example.com" in doc["via"]


def test_burst_shows_the_split(sandbox, capsys):
    code, out, err = run(sandbox, capsys, "infer", "fraud-detection", "--input", ROW, "--burst", "40", "--json")
    assert code == 0, (out, err)
    doc = json.loads(out)
    assert doc["requests"] == 40 and sum(doc["split"].values()) == 40
    comp = kubectl_json(sandbox, "get", "isvc", "fraud-detection")["status"]["components"]["predictor"]
    live = {t["revisionName"] for t in comp["traffic"] if t["percent"] > 0}
    assert set(doc["split"]) <= live
    if len(live) == 2:  # 80/20: both answer in 40 requests (P(miss) < 0.02 %)
        assert set(doc["split"]) == live


def test_canary_step_and_restore_via_cli(sandbox, capsys):
    before = kubectl_json(sandbox, "get", "isvc", "fraud-detection")["spec"]["predictor"].get("canaryTrafficPercent")
    assert before is not None
    target = 30 if before != 30 else 40
    try:
        code, out, err = run(sandbox, capsys, "canary", "fraud-detection", str(target), "--yes", "--wait", "30")
        assert code == 0, (out, err)
        obj = kubectl_json(sandbox, "get", "isvc", "fraud-detection")
        assert obj["spec"]["predictor"]["canaryTrafficPercent"] == target
        latest = [t for t in obj["status"]["components"]["predictor"]["traffic"] if t.get("latestRevision")]
        assert latest[0]["percent"] == target
    finally:
        code, out, err = run(sandbox, capsys, "canary", "fraud-detection", str(before), "--yes", "--wait", "30")
        assert code == 0, (out, err)

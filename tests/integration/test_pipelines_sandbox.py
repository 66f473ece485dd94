"""Pipelines against the whole sandbox: the seeded lifecycle pipeline really ran (Feast historical features ->
training -> an MLflow run with its model in S3 and a registered version, tagged with the workflow); the
failing feature check; submit / suspend / resume / stop / resubmit, each checked with kubectl."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlopstui.cli import main

pytestmark = pytest.mark.integration
KUBECTL = Path(sys.executable).parent / "kubectl"
NS = "mlops"
WF = "fraud-training-seed"  # the seeded lifecycle pipeline


def run(sandbox, capsys, *argv):
    capsys.readouterr()
    code = main([*argv, "--config", str(sandbox.config_path), "-n", NS])
    out = capsys.readouterr()
    return code, out.out, out.err


def kubectl(sandbox, *args) -> str:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig), "-n", NS, *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def wait_phase(sandbox, name, timeout=420.0) -> str:
    """Poll (bounded) until the workflow is done; the lifecycle pipeline imports Feast, MLflow and sklearn."""
    deadline = time.monotonic() + timeout
    while True:
        phase = kubectl(sandbox, "get", "wf", name, "-o", "jsonpath={.status.phase}")
        if phase in ("Succeeded", "Failed", "Error") or time.monotonic() > deadline:
            return phase
        time.sleep(1.0)


def test_lifecycle_pipeline_ran_end_to_end(sandbox, sandbox_env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert wait_phase(sandbox, WF) == "Succeeded"
    code, out, err = run(sandbox, capsys, "workflow", WF, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["progress"] == "2/2" and doc["workflowTemplate"] == "fraud-training"
    nodes = {n["displayName"]: n for n in doc["nodes"]}
    outputs = {p["name"]: p["value"] for p in nodes["train"]["outputs"]["parameters"]}
    fetch = next(n for n in doc["nodes"] if n["displayName"].startswith("fetch-features") and n["type"] == "Pod")
    art = fetch["outputs"]["artifacts"][0]
    assert art["bucket"] == "argo-artifacts" and art["key"].endswith("/training-data.tgz")
    # the run it created, found by the tag, with its metrics and the registered version
    runs = doc["mlflowRuns"]
    assert [r["runId"] for r in runs] == [outputs["run-id"]]
    from mlopstui.backends.mlflow import MlflowBackend

    ml = MlflowBackend(sandbox.env["MLFLOW_TRACKING_URI"])
    detail = ml.get_run(outputs["run-id"])
    assert detail.tags["argo.workflow.uid"] == doc["uid"] and detail.tags["argo.workflow.name"] == WF
    assert 0.5 < detail.metrics["auc"] <= 1.0 and detail.params["rows"] == fetch["outputs"]["parameters"][0]["value"]
    version = ml.get_model_version("fraud-detection", outputs["model-version"])
    assert version.run_id == outputs["run-id"]
    assert version.source.endswith(f"{outputs['run-id']}/artifacts/model")
    assert any(a.path == "model/MLmodel" for a in ml.list_artifacts(outputs["run-id"], "model"))
    code, out, _ = run(sandbox, capsys, "workflow-logs", WF, "train")
    assert code == 0 and f"registered fraud-detection version {outputs['model-version']}" in out


def test_failing_check_retry_plan_and_the_doctor(sandbox, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert wait_phase(sandbox, "feature-check-seed", timeout=120) == "Failed"
    code, out, err = run(sandbox, capsys, "retry", "feature-check-seed", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)["plan"]["patch"]
    pods = kubectl(sandbox, "get", "pods", "-l", "workflows.argoproj.io/workflow=feature-check-seed",
                   "-o", "jsonpath={range .items[?(@.status.phase=='Failed')]}{.metadata.name}{'\\n'}{end}").split()
    assert sorted(plan["podsToDelete"]) == sorted(pods) and len(pods) == 2
    code, out, _ = run(sandbox, capsys, "workflow-logs", "feature-check-seed", "transaction-stats(1)")
    assert "has no column merchant_risk_v2" in out
    # the controller's ConfigMap is in namespace argo: the doctor over every namespace (-n scopes the report)
    capsys.readouterr()
    main(["doctor", "--json", "--config", str(sandbox.config_path)])
    out = capsys.readouterr().out
    found = {f["id"]: f for f in json.loads(out)["findings"]}
    assert "ConfigMap argo/workflow-controller-configmap" in found["argo-artifact-repo-insecure"]["objects"]


def test_submit_suspend_resume_stop_resubmit_with_kubectl(sandbox, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    code, out, err = run(sandbox, capsys, "submit", "--from", "workflowtemplate/feature-check", "-p",
                         "columns=merchant_risk", "--yes", "--json")
    assert code == 0, err
    name = json.loads(out)["result"]["data"]["workflow"]
    assert kubectl(sandbox, "get", "wf", name, "-o", "jsonpath={.spec.arguments.parameters[0].value}") == "merchant_risk"
    assert run(sandbox, capsys, "suspend", name, "--yes")[0] == 0
    assert kubectl(sandbox, "get", "wf", name, "-o", "jsonpath={.spec.suspend}") == "true"
    assert run(sandbox, capsys, "resume", name, "--yes")[0] == 0
    assert kubectl(sandbox, "get", "wf", name, "-o", "jsonpath={.spec.suspend}") == ""
    if wait_phase(sandbox, name, timeout=0) not in ("Succeeded", "Failed"):
        assert run(sandbox, capsys, "stop", name, "--yes")[0] == 0
        assert kubectl(sandbox, "get", "wf", name, "-o", "jsonpath={.spec.shutdown}") == "Stop"
    assert wait_phase(sandbox, name, timeout=120) in ("Succeeded", "Failed")
    code, out, err = run(sandbox, capsys, "resubmit", name, "--yes", "--json")
    assert code == 0, err
    again = json.loads(out)["result"]["data"]["workflow"]
    assert kubectl(sandbox, "get", "wf", again, "-o",
                   "jsonpath={.metadata.labels.workflows\\.argoproj\\.io/resubmitted-from-workflow}") == name
    assert wait_phase(sandbox, again, timeout=120) == "Succeeded"  # the corrected column passes
    code, _, err = run(sandbox, capsys, "--readonly", "stop", again, "--yes")
    assert code == 2 and "read-only" in err

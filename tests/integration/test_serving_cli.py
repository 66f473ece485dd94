"""Serving verbs and actions against the Kubernetes API emulator (request log and kubectl checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.cli import main  # noqa: E402
from mlopstui.errors import Kind, MlopsError  # noqa: E402
from support.serving import NS, serving_cluster  # noqa: E402

ISVC = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/fraud-detection"
KUBECTL = Path(sys.executable).parent / "kubectl"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    with serving_cluster(tmp_path) as c:
        yield c


def run(cluster, capsys, *argv, context="mlopstui-sandbox"):
    code = main([*argv, "--kubeconfig", str(cluster.kubeconfig), "--context", context, "-n", NS])
    out = capsys.readouterr()
    return code, out.out, out.err


def kubectl_canary(cluster) -> str:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster.kubeconfig), "-n", NS, "get", "isvc",
                          "fraud-detection", "-o", "jsonpath={.spec.predictor.canaryTrafficPercent}"],
                         capture_output=True, text=True, timeout=30, env={**os.environ, "KUBECONFIG": ""})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def kubectl_traffic(cluster) -> dict[str, int]:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster.kubeconfig), "-n", NS, "get", "isvc",
                          "fraud-detection", "-o", "json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    comp = json.loads(out.stdout)["status"]["components"]["predictor"]
    return {("latest" if t.get("latestRevision") else t["revisionName"]): t["percent"] for t in comp["traffic"]}


def patches(cluster, since, expect=None, last=None):
    """PATCHes of fraud-detection since a mark (the emulator logs a request just after answering it)."""
    import time

    deadline = time.monotonic() + 2
    while True:
        found = [e for e in cluster.writes(since) if e["path"] == ISVC]
        done = (expect is None or len(found) >= expect) and (last is None or (found and found[-1]["status"] == last))
        if done or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_isvc_lists_json(cluster, capsys):
    code, out, _ = run(cluster, capsys, "isvc", "--json")
    assert code == 0
    items = {i["name"]: i for i in json.loads(out)["items"]}
    fd = items["fraud-detection"]
    assert fd["canaryTrafficPercent"] == 20 and fd["stableStorageUri"].endswith("/v1")
    assert sorted(t["percent"] for t in fd["traffic"]) == [20, 80]
    assert items["churn-model"]["deploymentMode"] == "RawDeployment"
    code, out, _ = run(cluster, capsys, "isvc")
    assert "fraud-detection" in out and "RawDeployment" in out


def test_canary_20_30_100_promote_rollback(cluster, capsys):
    steps = [(("canary", "fraud-detection", "30"), "30", 30),
             (("canary", "fraud-detection", "100"), "100", 100),
             (("promote", "fraud-detection"), "", 100),
             (("rollback", "fraud-detection"), "0", 0)]
    for argv, spec_value, latest in steps:
        mark = cluster.mark()
        code, out, err = run(cluster, capsys, *argv, "--yes", "--wait", "15")
        assert code == 0, (argv, out, err)
        assert "traffic now" in out
        assert len(patches(cluster, mark, 1)) == 1, argv
        assert kubectl_canary(cluster) == spec_value, argv
        assert kubectl_traffic(cluster)["latest"] == latest, argv
    split = kubectl_traffic(cluster)
    assert sorted(split.values()) == [0, 100]


def test_dry_run_and_no_yes_send_nothing(cluster, capsys):
    mark = cluster.mark()
    code, out, _ = run(cluster, capsys, "canary", "fraud-detection", "40", "--dry-run")
    assert code == 0 and '"canaryTrafficPercent": 40' in out and '"resourceVersion"' in out
    code, out, _ = run(cluster, capsys, "promote", "fraud-detection")
    assert code == 2 and "--yes" in out
    code, out, _ = run(cluster, capsys, "canary", "fraud-detection", "--step", "10", "--dry-run", "--json")
    assert json.loads(out)["plan"]["patch"]["spec"]["predictor"]["canaryTrafficPercent"] == 30
    assert cluster.writes(mark) == []


@pytest.mark.parametrize("bad", ["-1", "101", "33.5", "abc", "", "1e2"])
def test_bad_percent_refused_without_requests(cluster, capsys, bad):
    mark = cluster.mark()
    code, _, err = run(cluster, capsys, "canary", "fraud-detection", bad, "--yes")
    assert code == 2 and "percent" in err
    assert cluster.srv.request_log[mark:] == []


def test_raw_deployment_unsupported(cluster, capsys):
    mark = cluster.mark()
    code, _, err = run(cluster, capsys, "canary", "churn-model", "30", "--yes")
    assert code == 2 and "Serverless" in err
    assert cluster.writes(mark) == []


def test_readonly_refuses(cluster, capsys):
    mark = cluster.mark()
    for argv in (("canary", "fraud-detection", "30"), ("promote", "fraud-detection"),
                 ("rollback", "fraud-detection"), ("min-replicas", "fraud-detection", "2")):
        code, _, err = run(cluster, capsys, *argv, "--yes", "--readonly")
        assert code == 2 and "read-only" in err, argv
    assert cluster.writes(mark) == []


def test_viewer_gets_forbidden(cluster, capsys):
    code, _, err = run(cluster, capsys, "canary", "fraud-detection", "30", "--yes", context="mlopstui-sandbox-viewer")
    assert code == 1 and ("forbidden" in err.lower() or "RBAC" in err)


def test_concurrent_edit_detected_not_overwritten(cluster):
    from mlopstui import config
    from mlopstui.actions.serving import SetCanary
    from mlopstui.backends.kube import INFERENCESERVICES
    from mlopstui.context import AppContext

    ctx = AppContext.create(config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox",
                                        namespace=NS))
    try:
        action = SetCanary(ctx, NS, "fraud-detection", delta=10)
        plan = action.plan()
        assert plan.patch["spec"]["predictor"]["canaryTrafficPercent"] == 30
        k = cluster.kube()
        before = cluster.mark()
        k.merge_patch(INFERENCESERVICES, "fraud-detection", {"spec": {"predictor": {"canaryTrafficPercent": 60}}}, NS)
        patches(cluster, before, expect=1)  # the emulator logs a request just after answering: wait for it
        mark = cluster.mark()
        with pytest.raises(MlopsError) as ei:
            action.apply(plan, readonly=False, audit=ctx.audit)
        assert ei.value.kind is Kind.CONFLICT
        assert k.get(INFERENCESERVICES, "fraud-detection", NS)["spec"]["predictor"]["canaryTrafficPercent"] == 60
        again = action.replan()
        assert any("canaryTrafficPercent: 20 -> 60" in c for c in action.changes)
        assert any("someone else" in n for n in again.notes)
        # a step (+10) is recomputed from the new state (60 -> 70), and the plan says so (issue 12, defect 9)
        assert again.patch["spec"]["predictor"]["canaryTrafficPercent"] == 70
        assert any("re-planned: step +10 recomputed from the new state (60%): 70% now, not the 30%" in n
                   for n in again.notes), again.notes
        assert not any("step +10 from 20%" in n for n in again.notes)
        action.apply(again, readonly=False, audit=ctx.audit)
        sent = [e["status"] for e in patches(cluster, mark, 2, last=200)]
        assert sent[0] == 409 and sent[-1] == 200 and sent.count(200) == 1, sent
        assert action.follow(timeout=15).ok
        k.close()
    finally:
        ctx.close(final=True)


def test_set_canary_model_makes_new_revision(cluster, capsys):
    mark = cluster.mark()
    code, out, err = run(cluster, capsys, "set-model", "fraud-detection", "s3://models/fraud-detection/v3",
                         "--percent", "10", "--yes", "--wait", "15")
    assert code == 0, (out, err)
    assert len(patches(cluster, mark, 1)) == 1
    code, out, _ = run(cluster, capsys, "isvc", "fraud-detection", "--json")
    s = json.loads(out)
    assert s["storageUri"] == "s3://models/fraud-detection/v3" and s["canaryTrafficPercent"] == 10
    assert s["latestCreatedRevision"].endswith("00003")
    assert {t["percent"] for t in s["traffic"]} == {10, 90}

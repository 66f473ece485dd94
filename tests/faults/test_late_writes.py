"""Every write verb, its answer lost: the write reaches the server (the fault proxy forwards it and the
server applies it) but the answer comes after the client's timeout. The verb re-reads what it wrote and
reports "applied" (exit 0), audited with outcome "applied" -- never "failed" or a guess. With the write
lost (never forwarded) the same re-read says "not applied" (exit 3).

Kubernetes writes go through `mlopstui.cli.main` against the API emulator behind a
`support.fault_servers.FaultServer` ("late-write" / "lost-write"); LakeFS writes through the actions
against the LakeFS emulator behind the same proxy. InferenceService writes: test_fault_matrix.py; repair:
tests/integration/test_repair.py (it needs the seeded platform).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml

from mlopstui.cli import main
from mlopstui.errors import Kind, MlopsError
from support.argo_fixtures import load_workflow
from support.cli_env import isolate
from support.fault_servers import FaultServer, kubeconfig_for

NS = "mlops"
# The verb's --deadline cuts the write's own call to what is left of it, so the write times out within
# DEADLINE; the re-read after it gets its own seconds (actions.base: deadline.extend) with the per-call
# timeout (3 s: reads under load). What comes before the write (the plan's reads) must fit in DEADLINE:
# 0.1-0.3 s for one verb, but `install` plans with a server-side dry run per object (over 1.4 s at a load
# of 10), so it keeps 10 s and its write is cut by the 3 s per-call timeout.
DEADLINE = 2.0
DEADLINES = {"install": 10.0}
HOLD = max(DEADLINES.values()) + 3.0  # the proxy holds a write's answer longer than any write waits
LAKEFS_TIMEOUT = 2.0  # the LakeFS client's per-call timeout (no verb deadline there): the write's and the re-read's


def _workflow(name: str, fixture: str) -> dict:
    return load_workflow(fixture, NS, name)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    s = KubeApiServer(str(tmp_path_factory.mktemp("late-api")), port=0, run_controllers=False).start()
    store, reg = s.store, s.registry
    store.create(reg.get("", "v1", "namespaces"), "", {"metadata": {"name": NS}})
    wf = reg.get("argoproj.io", "v1alpha1", "workflows")
    for name in ("wf-stop", "wf-terminate", "wf-suspend", "wf-resubmit", "wf-lost"):
        store.create(wf, NS, _workflow(name, "steps-failed-retries.yaml"))  # Running
    suspended = _workflow("wf-resume", "steps-failed-retries.yaml")
    suspended["spec"]["suspend"] = True
    store.create(wf, NS, suspended)
    store.create(wf, NS, _workflow("wf-retry", "steps-retry-formulate.yaml"))  # Succeeded: retry a node
    store.create(reg.get("argoproj.io", "v1alpha1", "workflowtemplates"), NS, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "train"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "python:3.12"}}]}})
    store.create(reg.get("batch", "v1", "cronjobs"), NS, {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "feast-materialize"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "m", "image": "feast:0.40",
                                                      "command": ["feast", "materialize-incremental"]}]}}}}}})
    yield s
    s.stop()


@pytest.fixture
def env(tmp_path, monkeypatch):
    return isolate(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def late(api):
    srv = FaultServer("late-write", upstream=api.url, hold=HOLD)
    yield srv
    srv.stop()


def run(api, proxy: FaultServer, env: Path, argv: list[str], deadline: float = DEADLINE) -> tuple[int, str, str]:
    kcfg = kubeconfig_for(proxy.url, env / "kubeconfig", token=api.token("admin"), namespace=NS)
    cfg = env / "config.yaml"
    cfg.write_text(yaml.safe_dump({"namespace": NS, "kube_timeout": 3.0, "probe_timeout": 0.5}))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--config", str(cfg), "--kubeconfig", kcfg, "--deadline", str(deadline)])
    return code, out.getvalue(), err.getvalue()


def _get(api, group, version, plural, name):
    return api.store.get(api.registry.get(group, version, plural), NS, name)


def _last_audit(env: Path) -> dict:
    return json.loads((env / "audit.jsonl").read_text().splitlines()[-1])


def _wf(api, name):
    return _get(api, "argoproj.io", "v1alpha1", "workflows", name)


def _created(api, label_value_of_plan) -> list[dict]:
    rt = api.registry.get("argoproj.io", "v1alpha1", "workflows")
    return [o for o in api.store.list(rt, NS)[0] if label_value_of_plan(o)]


KUBE_WRITES = {
    "stop": (["stop", "wf-stop", "--yes"], lambda api: _wf(api, "wf-stop")["spec"].get("shutdown") == "Stop"),
    "terminate": (["terminate", "wf-terminate", "--yes"],
                  lambda api: _wf(api, "wf-terminate")["spec"].get("shutdown") == "Terminate"),
    "suspend": (["suspend", "wf-suspend", "--yes"], lambda api: _wf(api, "wf-suspend")["spec"].get("suspend") is True),
    "resume": (["resume", "wf-resume", "--yes"], lambda api: not _wf(api, "wf-resume")["spec"].get("suspend")),
    "retry": (["retry", "wf-retry", "--node", "hello2a", "--yes"],
              lambda api: "finishedAt" not in _wf(api, "wf-retry")["status"]),  # reset: it runs again
    "resubmit": (["resubmit", "wf-resubmit", "--yes"], lambda api: _created(api, lambda o: (
        o["metadata"].get("labels") or {}).get("workflows.argoproj.io/resubmitted-from-workflow") == "wf-resubmit")),
    "submit": (["submit", "--from", "workflowtemplate/train", "--yes"], lambda api: _created(api, lambda o: (
        o["spec"].get("workflowTemplateRef") or {}).get("name") == "train")),
    "materialize": (["materialize", "--cronjob", "feast-materialize", "--yes"], lambda api: [
        j for j in api.store.list(api.registry.get("batch", "v1", "jobs"), NS)[0]
        if j["metadata"]["name"].startswith("feast-materialize-")]),
    "install": (["install", "redis", "-n", NS, "--yes"],
                lambda api: api.store.list(api.registry.get("apps", "v1", "statefulsets"), NS)[0]),
}


@pytest.mark.parametrize("verb", list(KUBE_WRITES))
def test_kubernetes_write_answered_late_is_reported_applied(api, late, env, verb):
    argv, applied = KUBE_WRITES[verb]
    assert not applied(api)
    code, out, err = run(api, late, env, argv, DEADLINES.get(verb, DEADLINE))
    text = out + err
    assert "Traceback" not in text and "internal error" not in text, text
    assert code == 0, text
    assert applied(api), text
    assert "applied" in text and "timed out" in text and "re-read" in text, text
    entry = _last_audit(env)
    assert entry["ok"] is True
    assert entry.get("outcome") == "applied" or (entry.get("answer") or {}).get("outcome") == "applied", entry


def test_kubernetes_write_lost_is_reported_not_applied(api, env):
    lost = FaultServer("lost-write", upstream=api.url, hold=HOLD)
    try:
        code, out, err = run(api, lost, env, ["suspend", "wf-lost", "--yes"])
    finally:
        lost.stop()
    assert code == 3 and "not applied" in err and lost.hostport in err, (out, err)
    assert not _wf(api, "wf-lost")["spec"].get("suspend")
    assert _last_audit(env)["outcome"] == "not applied"


# -- LakeFS -------------------------------------------------------------------------------------------
KEY, SECRET = "AKIAIOSFOLATEWRITE", "late-write-test-secret"


@pytest.fixture(scope="module")
def lakefs(tmp_path_factory):
    from mlopstui.backends.lakefs import Credentials, LakeFSClient
    from mlopstui.sandbox.lakefs import LakeFSServer

    srv = LakeFSServer(tmp_path_factory.mktemp("lakefs"), access_key_id=KEY, secret_access_key=SECRET).start()
    with LakeFSClient(srv.url, Credentials(KEY, SECRET, "test"), timeout=10) as direct:
        http = direct._http
        http.post("/repositories", json={"name": "repo", "storage_namespace": "local://repo"}).raise_for_status()

        def put_commit(branch, path, data, msg):
            http.post(f"/repositories/repo/branches/{branch}/objects", params={"path": path},
                      files={"content": ("f", data)}).raise_for_status()
            http.post(f"/repositories/repo/branches/{branch}/commits", json={"message": msg}).raise_for_status()

        put_commit("main", "a.csv", b"x\n1\n", "base")
        for b in ("side", "old"):
            direct.create_branch("repo", b, "main")
        put_commit("side", "b.csv", b"y\n2\n", "side change")
        put_commit("main", "c.csv", b"z\n3\n", "to revert")
    proxy = FaultServer("late-write", protocol="lakefs", upstream=srv.url, hold=HOLD)
    client = LakeFSClient(proxy.url, Credentials(KEY, SECRET, "test"), timeout=LAKEFS_TIMEOUT, source=proxy.hostport)
    yield srv, client
    client.close()
    proxy.stop()
    srv.stop()


def _lakefs_action(name, client):
    from mlopstui.actions import data as d

    head = client.branch("repo", "main").commit_id
    return {"branch": lambda: d.CreateBranch(client, "repo", "feature", "main"),
            "branch-delete": lambda: d.DeleteBranch(client, "repo", "old"),
            "merge": lambda: d.MergeBranch(client, "repo", "side", "main"),
            "revert": lambda: d.RevertCommit(client, "repo", "main", head)}[name]()


@pytest.mark.parametrize("name", ["branch", "branch-delete", "revert", "merge"])
def test_lakefs_write_answered_late_is_reported_applied(lakefs, tmp_path, name):
    from mlopstui.actions.base import AuditLog

    srv, client = lakefs
    action = _lakefs_action(name, client)
    plan = action.plan()
    before = len(srv.writes())
    audit = AuditLog(tmp_path / "audit.jsonl")
    result = action.apply(plan, readonly=False, audit=audit)
    assert result.ok and "applied" in result.message and "timed out" in result.message, result.message
    assert len(srv.writes()) == before + 1  # the one write, applied; nothing sent again
    assert audit.entries()[-1]["outcome"] == "applied"


def test_lakefs_write_lost_is_reported_not_applied(lakefs, tmp_path):
    from mlopstui.actions.data import CreateBranch
    from mlopstui.backends.lakefs import Credentials, LakeFSClient

    srv, _ = lakefs
    lost = FaultServer("lost-write", protocol="lakefs", upstream=srv.url, hold=HOLD)
    try:
        with LakeFSClient(lost.url, Credentials(KEY, SECRET, "test"), timeout=LAKEFS_TIMEOUT) as c:
            action = CreateBranch(c, "repo", "never", "main")
            with pytest.raises(MlopsError) as e:
                action.apply(action.plan(), readonly=False, audit=None)
    finally:
        lost.stop()
    assert e.value.kind is Kind.TIMEOUT and "not applied" in e.value.message

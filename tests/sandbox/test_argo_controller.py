"""The emulator's workflow controller: steps, DAG, parameters, retryStrategy, status as Argo writes it,
pod logs per container; and the Retry action against it (the controller re-runs what the retry reset)."""

from __future__ import annotations

import sys
import time

import pytest

from mlopstui.models import pipelines as m
from mlopstui.sandbox.kubeapi.server import KubeApiServer

NS = "ml"
PY = sys.executable


def _wait(pred, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("argo-ctl")), port=0).start()
    s.store.create(s.registry.get("", "v1", "namespaces"), "", {"metadata": {"name": NS}})
    yield s
    s.stop()


def _wf(api, name):
    return api.store.get(api.registry.get("argoproj.io", "v1alpha1", "workflows"), NS, name)


def _create(api, body):
    rt = api.registry.get("argoproj.io", "v1alpha1", "workflows")
    return api.store.create(rt, NS, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", **body})


def _done(api, name):
    return lambda: (_wf(api, name).get("status") or {}).get("phase") in ("Succeeded", "Failed", "Error") \
        and _wf(api, name)


def test_steps_with_parameters_and_a_failing_retry(api):
    _create(api, {"metadata": {"name": "steps-a"}, "spec": {
        "entrypoint": "main", "arguments": {"parameters": [{"name": "who", "value": "world"}]},
        "templates": [
            {"name": "main", "steps": [
                [{"name": "hello", "template": "say", "arguments": {"parameters": [
                    {"name": "msg", "value": "hello {{workflow.parameters.who}}"}]}}],
                [{"name": "boom", "template": "fail"}, {"name": "echo", "template": "say", "arguments": {
                    "parameters": [{"name": "msg", "value": "{{steps.hello.outputs.parameters.said}}"}]}}]]},
            {"name": "say", "inputs": {"parameters": [{"name": "msg"}]},
             "container": {"image": "python:3.12", "command": ["python", "-c"],
                           "args": ["import sys; print(sys.argv[1]); open('/tmp/said','w').write(sys.argv[1])",
                                    "{{inputs.parameters.msg}}"]},
             "outputs": {"parameters": [{"name": "said", "valueFrom": {"path": "/tmp/said"}}]}},
            {"name": "fail", "retryStrategy": {"limit": 1},
             "container": {"image": "python:3.12", "command": ["python", "-c", "import sys; print('bad'); sys.exit(3)"]}},
        ]}})
    wf = _wait(_done(api, "steps-a"), 60)
    st = wf["status"]
    assert st["phase"] == "Failed" and st["progress"] == "2/4"
    model = m.parse_workflow(wf)
    for n in model.nodes.values():  # ids as Argo derives them
        assert n.id == m.node_id("steps-a", n.name)
    boom = model.find_node("boom")
    assert boom.type == "Retry" and boom.retries == 1 and boom.message == "No more retries left"
    echo = model.find_node("echo")
    assert echo.phase == "Succeeded" and echo.inputs[0].value == "hello world"
    attempt = model.find_node("boom(1)")
    assert attempt.message == "Error (exit code 3)" and attempt.pod == f"steps-a-fail-{m.fnv32a(attempt.name)}"
    kube_log = api.store.get_log(NS, model.find_node("hello").pod)
    assert kube_log.strip() == "hello world"
    assert "Starting Workflow Executor" in api.store.get_log(NS, model.find_node("hello").pod + "/wait")
    pod = api.store.get(api.registry.get("", "v1", "pods"), NS, attempt.pod)
    assert pod["status"]["phase"] == "Failed"
    assert pod["metadata"]["labels"][m.L_WORKFLOW] == "steps-a"
    names = [r.node.display_name for r in m.node_tree(model)]
    assert names[:2] == ["steps-a", "hello"] and names.index("boom") < names.index("boom(0)") < names.index("boom(1)")
    assert set(names) == {"steps-a", "hello", "boom", "boom(0)", "boom(1)", "echo"}


def test_dag_suspend_and_retry_through_the_action(api, tmp_path, monkeypatch):
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    _create(api, {"metadata": {"name": "dag-a"}, "spec": {
        "entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "a", "template": "ok"},
                {"name": "b", "template": "flaky", "dependencies": ["a"]},
                {"name": "c", "template": "ok", "depends": "b"}]}},
            {"name": "ok", "container": {"image": "alpine", "command": ["python", "-c", "print('ok')"]}},
            {"name": "flaky", "container": {"image": "alpine", "command": [
                "python", "-c", f"import os,sys; p={str(marker)!r}; e=os.path.exists(p); "
                                "e and os.remove(p); sys.exit(1 if e else 0)"]}}]}})
    wf = _wait(_done(api, "dag-a"), 60)
    assert wf["status"]["phase"] == "Failed"
    model = m.parse_workflow(wf)
    assert model.find_node("c") is None  # never started after b failed
    b = model.find_node("b")
    assert b.phase == "Failed"
    # retry as `argo retry`: the failed pod deleted, the workflow replaced; the controller runs b and c
    from mlopstui.actions.pipelines import Retry
    from mlopstui.config import load
    from mlopstui.context import AppContext

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with AppContext.create(load(None, kubeconfig=api.kubeconfig_path, namespace=NS)) as ctx:
        action = Retry(ctx, NS, "dag-a")
        plan = action.plan()
        assert plan.patch["podsToDelete"] == [b.pod]
        n = len(api.request_log)
        action.apply(plan, readonly=False, audit=ctx.audit)
        sent = [(e["method"], e["path"].split("?")[0]) for e in api.request_log[n:] if e["method"] != "GET"]
        assert sent == [(r["method"], r["path"]) for r in plan.patch["requests"]]
        wf = _wait(_done(api, "dag-a"), 60)
        assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
        assert wf["status"]["progress"] == "3/3"


def test_kubectl_shows_the_printer_columns(api):
    import subprocess
    from pathlib import Path

    _create(api, {"metadata": {"name": "tiny"}, "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "container": {"image": "python", "command": ["python", "-c", "print(1)"]}}]}})
    _wait(_done(api, "tiny"), 30)
    kubectl = Path(sys.executable).parent / "kubectl"
    out = subprocess.run([str(kubectl), "--kubeconfig", api.kubeconfig_path, "-n", NS, "get", "wf", "tiny"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == ["tiny", "Succeeded"]
    pod = m.parse_workflow(_wf(api, "tiny")).pod_nodes()[0].pod
    logs = subprocess.run([str(kubectl), "--kubeconfig", api.kubeconfig_path, "-n", NS, "logs", pod, "-c", "init"],
                          capture_output=True, text=True, timeout=30)
    assert logs.returncode == 0 and "Starting Workflow Executor" in logs.stdout


def test_cron_workflow_fires_on_its_schedule_and_keeps_status(api):
    from datetime import UTC, datetime, timedelta

    cw_rt = api.registry.get("argoproj.io", "v1alpha1", "cronworkflows")
    now = datetime.now(UTC)
    past = (now - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # three missed minutes, and none to come for the next 57: "* * * * *" fired once more when the test
    # crossed a minute boundary after the first run had finished (two runs; a flake in CI)
    schedule = ",".join(str((now - timedelta(minutes=k)).minute) for k in (3, 2, 1)) + " * * * *"
    api.store.create(cw_rt, NS, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {"name": "every-minute"},
        "spec": {"schedules": [schedule], "concurrencyPolicy": "Forbid", "workflowSpec": {
            "entrypoint": "main", "templates": [
                {"name": "main", "container": {"image": "python", "command": ["python", "-c", "print(2)"]}}]}},
        "status": {"lastScheduledTime": past}})
    wf_rt = api.registry.get("argoproj.io", "v1alpha1", "workflows")

    def fired():
        return [w for w in api.store.list(wf_rt, NS, None)[0]
                if (w["metadata"].get("labels") or {}).get(m.L_CRON) == "every-minute"]

    runs = _wait(fired, 30)
    assert len(runs) == 1  # one run for the missed minutes, not one per minute
    name = runs[0]["metadata"]["name"]
    _wait(_done(api, name), 30)
    cw = _wait(lambda: (api.store.get(cw_rt, NS, "every-minute").get("status") or {}).get("succeeded") == 1
               and api.store.get(cw_rt, NS, "every-minute"), 30)
    parsed = m.parse_cron_workflow(cw)
    assert parsed.last_scheduled > m.parse_time(past) and parsed.active == []
    assert m.parse_workflow(_wf(api, name)).cron == "every-minute"

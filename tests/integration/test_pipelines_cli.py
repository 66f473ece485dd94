"""The Pipelines verbs against the Kubernetes API emulator over HTTP (no controllers: the objects are the
upstream fixtures as they are). Writes are checked in the emulator's request log."""

from __future__ import annotations

import copy
import json

import pytest

from mlopstui.cli import main
from mlopstui.sandbox.kubeapi.server import KubeApiServer
from support.argo_fixtures import load_workflow

NS = "argo"


def _load(name: str) -> dict:
    return load_workflow(name, NS)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("argo-api")), port=0, run_controllers=False).start()
    from mlopstui.sandbox.kubeapi.registry import Registry  # noqa: F401  (types are built in)

    store, reg = s.store, s.registry
    store.create(reg.get("", "v1", "namespaces"), "", {"metadata": {"name": NS}})
    wf_rt = reg.get("argoproj.io", "v1alpha1", "workflows")
    for f in ("steps-retry-formulate.yaml", "many-items.yaml", "dag-retry-succeeded.yaml"):
        store.create(wf_rt, NS, _load(f))
    kfp = _load("kfp-add-numbers.yaml")
    kfp["metadata"]["name"] = "add-numbers-x7k2p"
    store.create(wf_rt, NS, kfp)
    pod_rt = reg.get("", "v1", "pods")
    for node in ("1044844302", "2627784879", "2644562498"):
        pod = f"steps-4k5vn-whalesay-{node}"
        store.create(pod_rt, NS, {"metadata": {"name": pod, "labels": {"workflows.argoproj.io/workflow": "steps-4k5vn"}},
                                  "spec": {"containers": [{"name": "main", "image": "docker/whalesay"}]}})
        store.set_log(NS, pod, f"hello from {node}\n\x1b[31mred\x1b[0m\n")
    store.create(reg.get("argoproj.io", "v1alpha1", "workflowtemplates"), NS, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "train"},
        "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "lr", "value": "0.1"}]},
                 "templates": [{"name": "main", "container": {"image": "python:3.12", "command": ["true"]}}]}})
    yield s
    s.stop()


def run(api, capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--kubeconfig", api.kubeconfig_path, "-n", NS])
    out, err = capsys.readouterr()
    return code, out, err


def writes(api, since: int) -> list[tuple[str, str]]:
    return [(e["method"], e["path"].split("?")[0]) for e in api.request_log[since:]
            if e["method"] not in ("GET",)]


def test_workflows_list_and_detail(api, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    code, out, _ = run(api, capsys, "workflows", "--json")
    assert code == 0
    items = {w["name"]: w for w in json.loads(out)["items"]}
    assert items["steps-4k5vn"]["phase"] == "Succeeded" and items["steps-4k5vn"]["progress"] == "3/3"
    assert items["add-numbers-x7k2p"]["kfp"] == {"runId": "123e4567-e89b-12d3-a456-426655440000",
                                                 "runName": "add numbers, nightly", "pipeline": "add-numbers",
                                                 "recurringRun": None}
    code, out, _ = run(api, capsys, "workflows")
    assert code == 0 and "add-numbers / add numbers, nightly (123e4567)" in out
    code, out, _ = run(api, capsys, "workflow", "steps-4k5vn", "--no-runs")
    assert code == 0
    assert "steps-4k5vn-whalesay-2627784879" in out and "hello2b" in out
    # the key in the bucket of status.artifactRepositoryRef (the artifact-repositories ConfigMap)
    assert "s3://my-bucket/steps-4k5vn/steps-4k5vn-whalesay-1044844302/main.log" in out
    code, out, _ = run(api, capsys, "workflow-logs", "steps-4k5vn", "hello1")
    assert code == 0 and "hello from 1044844302" in out and "\x1b" not in out
    code, out, err = run(api, capsys, "workflow", "nope")
    assert code == 1 and "workflow nope not found in namespace argo" in err
    code, out, err = run(api, capsys, "workflow-templates")
    assert code == 0 and "lr=0.1" in out


def test_bad_input_is_refused_with_no_write(api, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    n = len(api.request_log)
    for argv, text in ((["stop", "nope", "--yes"], "workflow nope not found"),
                       (["resubmit", "steps-4k5vn", "-p", "nope=1", "--yes"], "has no parameter nope"),
                       (["resubmit", "steps-4k5vn", "-p", "bad", "--yes"], "expected NAME=VALUE"),
                       (["submit", "--from", "workflowtemplate/missing", "--yes"], "WorkflowTemplate missing not found"),
                       (["submit", "--from", "train", "-p", "x=1", "--yes"], "has no parameter x"),
                       (["stop", "steps-4k5vn", "--yes"], "cannot shutdown a completed workflow"),
                       (["retry", "steps-4k5vn", "--yes"], "cannot retry workflow steps-4k5vn in phase Succeeded"),
                       (["suspend", "Bad_Name", "--yes"], "invalid workflow name")):
        code, _, err = run(api, capsys, *argv)
        assert code == 2, (argv, err)
        assert text in err, (argv, err)
    code, _, err = run(api, capsys, "--readonly", "retry", "steps-4k5vn", "--node", "hello2a", "--yes")
    assert code == 2 and "read-only" in err
    assert writes(api, n) == []


def test_retry_deletes_exactly_the_planned_pods(api, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    code, out, _ = run(api, capsys, "retry", "steps-4k5vn", "--node", "hello2a", "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)["plan"]
    planned = [(r["method"], r["path"]) for r in plan["patch"]["requests"]]
    assert planned == [("DELETE", "/api/v1/namespaces/argo/pods/steps-4k5vn-whalesay-2627784879"),
                       ("PUT", "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/steps-4k5vn")]
    n = len(api.request_log)
    code, out, _ = run(api, capsys, "retry", "steps-4k5vn", "--node", "hello2a", "--yes", "--json")
    assert code == 0, out
    assert writes(api, n) == planned
    wf = api.store.get(api.registry.get("argoproj.io", "v1alpha1", "workflows"), NS, "steps-4k5vn")
    assert len(wf["status"]["nodes"]) == 5 and wf["status"]["nodes"]["steps-4k5vn"]["phase"] == "Running"
    audit = (tmp_path / "mlopstui" / "audit.jsonl").read_text()
    assert '"action": "retry"' in audit


def test_resubmit_submit_and_patches(api, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    wf_rt = api.registry.get("argoproj.io", "v1alpha1", "workflows")
    running = copy.deepcopy(_load("steps-failed-retries.yaml"))
    running["metadata"]["name"] = "running-wf"
    api.store.create(wf_rt, NS, running)
    for verb, field, value in (("suspend", "suspend", True), ("resume", "suspend", None),
                               ("stop", "shutdown", "Stop")):
        n = len(api.request_log)
        code, out, err = run(api, capsys, verb, "running-wf", "--yes")
        assert code == 0, err
        assert writes(api, n) == [("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/running-wf")]
        assert api.store.get(wf_rt, NS, "running-wf")["spec"].get(field) == value
    n = len(api.request_log)
    code, out, err = run(api, capsys, "resubmit", "running-wf", "--yes", "--json")
    assert code == 0, err
    created = json.loads(out)["result"]["data"]["workflow"]
    new = api.store.get(wf_rt, NS, created)
    assert new["metadata"]["labels"]["workflows.argoproj.io/resubmitted-from-workflow"] == "running-wf"
    assert "shutdown" not in new["spec"]
    code, out, err = run(api, capsys, "submit", "--from", "workflowtemplate/train", "-p", "lr=0.5", "--yes", "--json")
    assert code == 0, err
    sub = api.store.get(wf_rt, NS, json.loads(out)["result"]["data"]["workflow"])
    assert sub["spec"]["workflowTemplateRef"] == {"name": "train"}
    assert sub["spec"]["arguments"]["parameters"] == [{"name": "lr", "value": "0.5"}]
    assert [w[0] for w in writes(api, n)] == ["POST", "POST"]


def test_a_controller_status_write_is_not_a_conflict_but_a_spec_change_is(api, tmp_path, monkeypatch):
    """Between plan and apply the controller rewrites a running workflow's status (no status subresource):
    the PATCH meets a 409, re-reads, sees only status moved and re-sends; a changed spec is refused."""
    from mlopstui.actions.pipelines import Suspend
    from mlopstui.config import load
    from mlopstui.context import AppContext
    from mlopstui.errors import Kind, MlopsError

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    wf_rt = api.registry.get("argoproj.io", "v1alpha1", "workflows")
    obj = _load("steps-failed-retries.yaml")
    obj["metadata"]["name"] = "busy-wf"
    api.store.create(wf_rt, NS, obj)
    with AppContext.create(load(None, kubeconfig=api.kubeconfig_path, namespace=NS)) as ctx:

        def touch(field, value):
            cur = copy.deepcopy(api.store.get(wf_rt, NS, "busy-wf"))
            cur[field[0]][field[1]] = value
            api.store.update(wf_rt, NS, "busy-wf", cur)

        action = Suspend(ctx, NS, "busy-wf")
        plan = action.plan()
        touch(("status", "progress"), "1/4")  # the controller
        n = len(api.request_log)
        action.apply(plan, readonly=False, audit=None)
        assert [e["status"] for e in api.request_log[n:] if e["method"] == "PATCH"] == [409, 200]
        assert api.store.get(wf_rt, NS, "busy-wf")["spec"]["suspend"] is True
        assert api.store.get(wf_rt, NS, "busy-wf")["status"]["progress"] == "1/4"  # the controller's write kept

        from mlopstui.actions.pipelines import Resume

        action = Resume(ctx, NS, "busy-wf")
        plan = action.plan()
        touch(("spec", "parallelism"), 2)  # someone else
        with pytest.raises(MlopsError) as e:
            action.apply(plan, readonly=False, audit=None)
        assert e.value.kind is Kind.CONFLICT and "nothing was overwritten" in e.value.message
        assert api.store.get(wf_rt, NS, "busy-wf")["spec"]["suspend"] is True

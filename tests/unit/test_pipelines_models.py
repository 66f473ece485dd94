"""Argo Workflow objects from upstream fixtures parsed into the tree, phases and retry plan upstream shows.

Expected answers come from upstream's own tests and code (named per test); the fixtures' headers give
repository, path and commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import pipelines as m
from mlopstui.models.features import cron_next

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "argo"


def load(name: str) -> dict:
    return yaml.safe_load((FIX / name).read_text())


def test_node_ids_and_pod_names_are_upstreams_hashes():
    # many-items: node `many-items-z26lj[0].sleep(9:nine)` has id many-items-z26lj-2619926859 (Workflow.NodeID)
    assert m.node_id("many-items-z26lj", "many-items-z26lj[0].sleep(9:nine)") == "many-items-z26lj-2619926859"
    assert m.node_id("many-items-z26lj", "many-items-z26lj") == "many-items-z26lj"
    wf = m.parse_workflow(load("steps-retry-formulate.yaml"))
    # the main-logs artifact key names the pod: steps-4k5vn/steps-4k5vn-whalesay-1044844302/main.log
    hello1 = wf.nodes["steps-4k5vn-1044844302"]
    assert hello1.pod == "steps-4k5vn-whalesay-1044844302"
    assert hello1.output_artifacts[0].key == f"steps-4k5vn/{hello1.pod}/main.log"
    for n in wf.nodes.values():
        assert m.node_id(wf.name, n.name) == n.id


def test_index_ordering_and_durations_as_argo_get():
    # get_test.go IndexOrdering: sleep(9:nine) 19s, sleep(10:ten) 23s, sleep(11:eleven) 22s, in index order
    wf = m.parse_workflow(load("many-items.yaml"))
    rows = m.node_tree(wf)
    names = [r.node.display_name for r in rows]
    assert names[0] == "many-items-z26lj"
    assert names.index("sleep(9:nine)") < names.index("sleep(10:ten)") < names.index("sleep(11:eleven)")
    by = {r.node.display_name: r.node for r in rows}
    assert m.short_duration(by["sleep(9:nine)"].duration(0)) == "19s"
    assert m.short_duration(by["sleep(10:ten)"].duration(0)) == "23s"
    assert m.short_duration(by["sleep(11:eleven)"].duration(0)) == "22s"
    # the StepGroup [0] is folded away: 1 root + 13 pods
    assert len(rows) == 14 and "[0]" not in names
    assert wf.phase == "Succeeded" and wf.computed_progress() == "13/13"


def test_steps_tree_folds_step_groups_and_keeps_retries():
    wf = m.parse_workflow(load("steps-failed-retries.yaml"))
    rows = m.node_tree(wf, ascii_only=True)
    shown = [(r.prefix, r.node.display_name, r.node.phase) for r in rows]
    assert shown[0] == ("", "failed-retries-tjjsc", "Running")
    kinds = {r.node.display_name: r.node.type for r in rows}
    # both Retry nodes have two attempts, so they are shown with their children (fail(0), fail(1))
    assert kinds["fail"] == "Retry" and kinds["delayed-fail"] == "Retry"
    retry = next(r.node for r in rows if r.node.display_name == "fail")
    assert retry.retries == 1 and retry.message == "No more retries left" and retry.phase == "Failed"
    assert [r.node.display_name for r in rows][1:] == ["delayed-fail", "delayed-fail(0)", "delayed-fail(1)",
                                                      "fail", "fail(0)", "fail(1)"]
    assert all(r.node.type != "StepGroup" for r in rows)
    # the step group [0] (the root's only child) is folded into its first member's prefix: `└─┬─` in UTF-8
    assert [r.prefix for r in rows] == ["", "`-+-", "  | |-", "  | `-", "  `-", "    |-", "    `-"]
    assert wf.computed_progress() == "0/4"


def test_dag_retry_single_success():
    wf = m.parse_workflow(load("dag-retry-succeeded.yaml"))
    rows = m.node_tree(wf)
    names = [r.node.display_name for r in rows]
    assert names == ["dag-with-retries-4wkh8", "step1", "step1(0)", "step1(1)", "step1(2)"]
    step1 = wf.find_node("step1")
    assert step1.type == "Retry" and step1.retries == 2 and step1.phase == "Succeeded"
    assert wf.nodes["dag-with-retries-4wkh8-2172006682"].pod == "dag-with-retries-4wkh8-randomly-fail-2172006682"


def test_kfp_run_names_from_labels_and_annotations():
    obj = load("kfp-add-numbers.yaml")
    obj["metadata"]["name"] = "add-numbers-x7k2p"
    wf = m.parse_workflow(obj)
    assert wf.kfp.is_kfp
    assert wf.kfp.run_id == "123e4567-e89b-12d3-a456-426655440000"
    assert wf.kfp.run_name == "add numbers, nightly"
    assert wf.kfp.pipeline == "add-numbers"
    assert wf.summary()["kfp"]["pipeline"] == "add-numbers"
    assert not m.parse_workflow(load("many-items.yaml")).kfp.is_kfp


def test_retry_of_a_running_workflow_is_refused():
    with pytest.raises(MlopsError) as e:
        m.retry_plan(load("steps-failed-retries.yaml"))
    assert e.value.kind is Kind.INVALID and "Running" in e.value.message


def test_retry_steps_chosen_node_as_upstream():
    # TestStepsRetryWorkflow: 1 pod deleted, 5 nodes left, the root and [1] Running, the rest Succeeded
    obj = load("steps-retry-formulate.yaml")
    plan = m.retry_plan(obj, node_ids=["steps-4k5vn-2627784879"], now=1_700_000_000)
    nodes = plan.workflow["status"]["nodes"]
    assert len(plan.pods_to_delete) == 1 and plan.pods_to_delete == ["steps-4k5vn-whalesay-2627784879"]
    assert len(nodes) == 5
    running = {"steps-4k5vn-4053927188", "steps-4k5vn"}
    for nid, n in nodes.items():
        assert n["phase"] == ("Running" if nid in running else "Succeeded"), nid
    assert "steps-4k5vn-2627784879" not in nodes["steps-4k5vn-4053927188"]["children"]
    assert "phase" not in plan.workflow["status"]  # WorkflowUnknown until the controller picks it up
    assert m.L_COMPLETED not in plan.workflow["metadata"]["labels"]


def test_retry_nested_dag_failed_node_as_upstream():
    # TestFormulateRetryWorkflow "Nested DAG without Node Selected"
    obj = {"metadata": {"name": "my-nested-dag-2", "labels": {}}, "status": {"phase": "Failed", "nodes": {
        "my-nested-dag-2": {"id": "my-nested-dag-2", "name": "my-nested-dag-2", "phase": "Succeeded",
                            "type": "DAG", "children": ["1"]},
        "1": {"id": "1", "phase": "Succeeded", "type": "TaskGroup", "boundaryID": "my-nested-dag-2",
              "children": ["2", "4"]},
        "2": {"id": "2", "phase": "Succeeded", "type": "Pod", "boundaryID": "1", "children": ["3"]},
        "3": {"id": "3", "phase": "Succeeded", "type": "Pod", "boundaryID": "2"},
        "4": {"id": "4", "phase": "Failed", "type": "Pod", "boundaryID": "1"}}}}
    plan = m.retry_plan(obj)
    nodes = plan.workflow["status"]["nodes"]
    assert len(nodes) == 4
    assert nodes["my-nested-dag-2"]["phase"] == "Running" and nodes["1"]["phase"] == "Running"
    assert nodes["2"]["phase"] == "Succeeded" and nodes["3"]["phase"] == "Succeeded"
    assert nodes["1"]["children"] == ["2"]
    assert len(plan.pods_to_delete) == 1


def test_resubmit_and_submit_manifests():
    obj = load("steps-retry-formulate.yaml")
    obj["spec"]["shutdown"] = "Stop"
    obj["spec"]["arguments"] = {"parameters": [{"name": "message", "value": "a"},
                                               {"name": "mode", "value": "x", "enum": ["x", "y"]}]}
    new = m.resubmit_manifest(obj, {"message": "b"})
    assert new["metadata"]["generateName"] == "steps-"
    assert new["metadata"]["labels"] == {m.L_RESUBMITTED_FROM: "steps-4k5vn"}
    assert "shutdown" not in new["spec"]
    assert new["spec"]["arguments"]["parameters"][0] == {"name": "message", "value": "b"}
    for bad in ({"nope": "1"}, {"mode": "z"}):
        with pytest.raises(MlopsError) as e:
            m.resubmit_manifest(obj, bad)
        assert e.value.kind is Kind.INVALID
    wt = {"metadata": {"name": "train", "namespace": "mlops"},
          "spec": {"arguments": {"parameters": [{"name": "lr", "value": "0.1"}]}}}
    sub = m.submit_manifest("WorkflowTemplate", wt, {"lr": "0.5"})
    assert sub["spec"] == {"workflowTemplateRef": {"name": "train"},
                           "arguments": {"parameters": [{"name": "lr", "value": "0.5"}]}}
    assert sub["metadata"]["labels"] == {m.L_TEMPLATE: "train"}
    with pytest.raises(MlopsError):
        m.parse_parameters(["novalue"])
    assert m.parse_parameters(["a=b=c"]) == {"a": "b=c"}


def test_cron_workflow_next_run():
    cw = m.parse_cron_workflow({"metadata": {"name": "nightly", "namespace": "mlops"},
                                "spec": {"schedules": ["0 2 * * *"], "workflowSpec": {}},
                                "status": {"lastScheduledTime": "2026-11-30T02:00:00Z"}})
    now = m.parse_time("2026-12-01T08:30:00Z")
    assert m.rfc3339(cw.next_run(now)) == "2026-12-02T02:00:00Z"
    assert cron_next("*/15 * * * *", m.parse_time("2026-12-01T08:31:10Z")) == m.parse_time("2026-12-01T08:45:00Z")
    assert cron_next("0 0 * * 0", m.parse_time("2026-12-01T08:00:00Z")) == m.parse_time("2026-12-06T00:00:00Z")
    cw.suspended = True
    assert cw.next_run(now) is None

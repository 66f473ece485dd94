"""Pipelines area, driven by Pilot against the Kubernetes API emulator and its workflow controller: the failed
workflow's node tree, a node's log, and a retry from the TUI whose writes (in the emulator's request log)
are exactly the ones the plan listed; the controller then runs the reset nodes to success."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.models import pipelines as m
from mlopstui.screens.confirm import ConfirmPlan
from mlopstui.widgets.filter_table import FilterTable
from support.ui import status_text, wait_for  # noqa: E402

NS = "mlops"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "KUBECONFIG", "FEAST_REPO_PATH"):
        monkeypatch.delenv(var, raising=False)
    srv = KubeApiServer(str(tmp_path / "kube"), port=0).start()
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    srv.store.create(srv.registry.get("", "v1", "namespaces"), "", {"metadata": {"name": NS}})
    flaky = (f"import os,sys; p={str(marker)!r}; e=os.path.exists(p); print('checking features'); "
             "e and print('ERROR feature view stale'); e and os.remove(p); sys.exit(1 if e else 0)")
    srv.store.create(srv.registry.get("argoproj.io", "v1alpha1", "workflows"), NS, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "nightly-check"},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": [{"name": "prepare", "template": "ok"},
                                               {"name": "validate", "template": "flaky", "dependencies": ["prepare"]}]}},
            {"name": "ok", "container": {"image": "python:3.12", "command": [sys.executable, "-c", "print('ok')"]}},
            {"name": "flaky", "container": {"image": "python:3.12", "command": ["python", "-c", flaky]}}]}})
    deadline = time.monotonic() + 30
    wf_rt = srv.registry.get("argoproj.io", "v1alpha1", "workflows")
    while (srv.store.get(wf_rt, NS, "nightly-check").get("status") or {}).get("phase") != "Failed":
        assert time.monotonic() < deadline, "the workflow did not fail in time"
        time.sleep(0.1)
    yield srv
    srv.stop()


async def test_retry_the_failed_workflow_from_the_tui(cluster, tmp_path):
    settings = config.load(None, kubeconfig=cluster.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"), probe_timeout=1.0, refresh_interval=3600.0)
    app = MlopsApp(settings)
    wf_rt = cluster.registry.get("argoproj.io", "v1alpha1", "workflows")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "pipelines"
                       and f"{NS}/nightly-check" in app.screen.query_one("#pl-table", FilterTable).visible_keys())
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "WorkflowDetailScreen"
                       and app.screen.wf is not None)
        detail = app.screen
        tree = detail.query_one("#wf-tree", FilterTable)
        wf = detail.wf
        validate = wf.find_node("validate")
        assert validate.phase == "Failed" and validate.id in tree.visible_keys()
        tree.move_cursor(row=tree.get_row_index(validate.id))
        await pilot.press("l")  # the node's main log in the log view (search, follow, containers)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PodLogScreen"
                       and any("ERROR feature view stale" in x for x in app.screen.view().plain_lines()))
        assert app.screen.container == "main"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail)

        mark = len(cluster.request_log)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        plan = app.screen.plan
        plan_text = str(app.screen.query_one("#plan-text").render())
        assert f"deletes pod {validate.pod}" in plan_text
        assert plan.patch["podsToDelete"] == [validate.pod]
        assert not [e for e in cluster.request_log[mark:] if e["method"] != "GET"]  # planning wrote nothing
        await pilot.press("y")
        await wait_for(pilot, lambda: "done: retried" in status_text(app))
        sent = [(e["method"], e["path"].split("?")[0]) for e in cluster.request_log[mark:] if e["method"] != "GET"]
        assert sent == [(r["method"], r["path"]) for r in plan.patch["requests"]]
        assert sent == [("DELETE", f"/api/v1/namespaces/{NS}/pods/{validate.pod}"),
                        ("PUT", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows/nightly-check")]
        # the controller runs the reset node again; this time it passes
        deadline = time.monotonic() + 30
        while (cluster.store.get(wf_rt, NS, "nightly-check").get("status") or {}).get("phase") != "Succeeded":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: detail.wf is not None and detail.wf.phase == "Succeeded")
        assert m.parse_workflow(cluster.store.get(wf_rt, NS, "nightly-check")).progress == "2/2"

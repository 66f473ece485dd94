"""Watch, not poll (issue 20): with every Kubernetes-fed area visited, an idle TUI makes no list call (the
emulator's request log over an idle window), and a watch the API server breaks (a dropped connection,
then 410 Gone on the too-old resourceVersion) recovers by itself, the Stack showing the change made
while it was down. Against the sandbox's Kubernetes API emulator over HTTP, with its controllers."""

from __future__ import annotations

import asyncio
import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.backends import kube as k
from mlopstui.backends.stack import LISTED
from mlopstui.widgets.filter_table import FilterTable
from support.serving import NS, serving_cluster

IDLE_S = 20.0  # the idle window (the issue asks 5 minutes in the bench; a timer tick is 5 s)
PLURALS = {v.plural for v in vars(k).values() if isinstance(v, k.Res)}


@pytest.fixture
def cluster(tmp_path):
    with serving_cluster(tmp_path) as c:
        kube = c.kube()
        try:
            kube.create(k.CRONJOBS, {"metadata": {"name": "feast-materialize"}, "spec": {
                "schedule": "*/10 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "m", "image": "feast:0.40",
                                                              "command": ["feast", "materialize-incremental"]}]}}}}}},
                        NS)
            kube.create(k.CONFIGMAPS, {"metadata": {"name": "settings"}, "data": {"a": "1"}}, NS)
        finally:
            kube.close()
        yield c


def make_app(cluster, tmp_path):
    settings = config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"))
    return MlopsApp(settings)


async def wait_for(pilot, cond, timeout=30.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not in time: {what}")


def list_calls(cluster, since: int) -> list[str]:
    """GETs of a collection that are not watches (`kubectl get` without -w), from the emulator's log."""
    out = []
    for e in list(cluster.srv.request_log)[since:]:
        last = e["path"].rstrip("/").rsplit("/", 1)[-1]
        if e["method"] == "GET" and last in PLURALS and "watch=" not in (e.get("query") or ""):
            out.append(f"{e['path']}?{e.get('query') or ''}")
    return out


def age_line(stack) -> str:
    return str(stack.query_one("#stack-age").render())


async def visit_every_kubernetes_area(app, pilot):
    stack = app.screen
    await wait_for(pilot, lambda: stack.report is not None, what="the Stack's first report")
    await pilot.press("5")  # Pipelines: Workflows
    await wait_for(pilot, lambda: app.screen.loaded_at is not None, what="the Pipelines list")
    await pilot.press("3")  # Features: materialization CronJobs / Jobs
    await wait_for(pilot, lambda: "cronjob/feast-materialize" in app.screen.query_one(
        "#jobs-table", FilterTable).visible_keys(), what="the materialization CronJob")
    await pilot.press("4")  # Serving
    await wait_for(pilot, lambda: "live" in str(app.screen.query_one("#isvc-info").render()), what="Serving live")
    await pilot.press("1")
    await wait_for(pilot, lambda: "watch live" in age_line(stack), what="the Stack's watches live")
    return stack


async def test_idle_tui_makes_no_list_call_after_the_first_lists(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        stack = await visit_every_kubernetes_area(app, pilot)
        assert app.ctx.informers.lists >= 10  # the first lists: one per kind, shared by the areas
        await asyncio.sleep(1.0)  # the first rebuilds settle
        mark = len(cluster.srv.request_log)
        lists_before = app.ctx.informers.lists
        end = time.monotonic() + IDLE_S  # longer than the probe interval (5 s) and the API check (5 s)
        while time.monotonic() < end:
            await pilot.pause()
            await asyncio.sleep(0.25)
        assert list_calls(cluster, mark) == []
        assert app.ctx.informers.lists == lists_before
        # what did happen meanwhile: watches (resumed from their resourceVersion) and the API check
        seen = {e["path"] for e in list(cluster.srv.request_log)[mark:]}
        assert "/version" in seen
        assert "watch live" in age_line(stack)


async def test_first_rows_come_from_lists_on_one_connection_and_the_watches_after_them(cluster, tmp_path):
    """The start's order (bench/bench_startup.py, issue 20's first Stack rows): the Stack's first lists go
    one after another over one connection (Informers.prime), the rows are painted, and only then do the
    watches open (their threads and handshakes would share the GIL with the paint), as do the key bar and
    the API check (/version). The caches still become live and the header says the API is up."""
    import gc

    from mlopstui import memory

    app = make_app(cluster, tmp_path)
    mark = len(cluster.srv.request_log)
    memory.pause_for_startup()  # as the CLI does before it imports the app: the app resumes it
    try:
        assert not gc.isenabled()
        async with app.run_test(size=(100, 30)) as pilot:
            stack = app.screen
            await wait_for(pilot, lambda: stack.first_rows_at is not None, what="the first rows")
            await pilot.pause()
            assert gc.isenabled()  # resumed once they were painted, not at the 5 s bound
            await wait_for(pilot, lambda: "watch live" in age_line(stack), what="the Stack's watches live")
            await wait_for(pilot, lambda: app.api_state[0] is True, what="the API check")
            painted = stack.first_rows_at
            log = list(cluster.srv.request_log)[mark:]
            paths = {res.path(None) for res, _ in LISTED}
            first_lists = [e for e in log if e["method"] == "GET" and "watch=" not in (e.get("query") or "")
                           and e["path"] in paths]
            watches = [e for e in log if "watch=" in (e.get("query") or "")]
            assert {e["path"] for e in first_lists} == paths, first_lists
            assert len({e["peer"] for e in first_lists}) == 1, first_lists
            assert max(e["time"] for e in first_lists) <= painted
            assert watches and min(e["time"] for e in watches) >= painted
            version = [e for e in log if e["path"] == "/version"]
            assert version and min(e["time"] for e in version) >= painted
            assert stack.query("Footer")  # the key bar came after the rows
    finally:
        memory.startup_done()


async def test_broken_watch_recovers_by_itself_and_the_stack_shows_what_changed(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: "watch live" in age_line(stack), what="the Stack's watches live")
        assert stack.report.component("mlflow") is not None and not stack.report.component("mlflow").installed
        lists = app.ctx.informers.lists
        cluster.srv.drop_watches(hold=True)  # the connection drops and the API server answers 503 meanwhile
        try:
            await wait_for(pilot, lambda: "stale since" in age_line(stack), what="stale shown")
            kube = cluster.kube()
            try:  # a change made while the watch is down
                kube.create(k.DEPLOYMENTS, {"metadata": {"name": "mlflow", "labels": {"app": "mlflow"}}, "spec": {
                    "replicas": 1, "selector": {"matchLabels": {"app": "mlflow"}},
                    "template": {"metadata": {"labels": {"app": "mlflow"}}, "spec": {"containers": [
                        {"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v2.16.2"}]}}}}, NS)
            finally:
                kube.close()
            cluster.srv.store.compact()  # and the history it would resume from is gone: 410 Gone next
        finally:
            cluster.srv.release_watches()
        # nobody presses anything: the caches relist on the 410, the Stack rebuilds
        await wait_for(pilot, lambda: stack.report.component("mlflow").installed, timeout=60,
                       what="the Deployment made while the watch was down")
        await wait_for(pilot, lambda: "watch live" in age_line(stack), timeout=30, what="live again")
        assert app.ctx.informers.lists > lists  # relisted (410), not polled

"""Server strings that look like Textual/Rich markup render literally, in every area, through Pilot.

Textual parses a str as markup in Static/Label updates, notifications, Tree labels and DataTable cells and
column labels: a server's `[/x]` raised MarkupError (the app crashed), `[bold]` restyled the rest and
`[@click=app.quit]` made a clickable action. Seeded here (with an OSC besides) into an experiment name, a
run name and tag, an InferenceService's condition, a Workflow's message and a LakeFS commit message; each
area must show `[/x][bold]x[@click=app.quit]` as it is, without the OSC, and keep running.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.widgets.filter_table import FilterTable
from support.cli_env import isolate
from support.fault_servers import MARKUP, FaultServer, kubeconfig_for

SHOWN = f"fraud-exp{MARKUP}"  # HOSTILE once its OSC is dropped


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


async def wait_for(pilot, cond, timeout=15.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def table_text(screen, selector: str = "FilterTable") -> str:
    out = []
    for table in screen.query(selector):
        if isinstance(table, FilterTable):
            out += [str(c.label) for c in table.columns.values()]
            out += [str(getattr(c, "plain", c)) for r in range(table.row_count) for c in table.get_row_at(r)]
    return " ".join(out)


def widget_text(screen, *ids: str) -> str:
    return " ".join(str(w.render()) for i in ids for w in screen.query(i))


def assert_literal(app, text: str) -> None:
    assert app.is_running
    assert MARKUP in text, text[-600:]
    assert "\x1b" not in text and "pwned" not in text, repr(text[-600:])


def make_app(tmp_path, kube: FaultServer, **settings) -> MlopsApp:
    kcfg = kubeconfig_for(kube.url, tmp_path / "kubeconfig")
    return MlopsApp(config.load(None, kubeconfig=kcfg, namespace="mlops", kube_timeout=2.0, probe_timeout=1.0,
                                audit_log=str(tmp_path / "audit.jsonl"), **settings))


@pytest.mark.asyncio
async def test_experiments_runs_and_a_notification_show_markup_literally(tmp_path):
    mlflow, kube = FaultServer("hostile", protocol="mlflow"), FaultServer("refuse")
    try:
        app = make_app(tmp_path, kube, endpoints={"mlflow": mlflow.url})
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ExperimentsScreen", what="Experiments")
            table = app.screen.query_one("#experiments", FilterTable)
            await wait_for(pilot, lambda: table.row_count > 0, what="an experiment row")
            await pilot.pause()
            assert_literal(app, table_text(app.screen))  # the name and the tag
            assert SHOWN in table_text(app.screen)

            app.run_command(f"exp {MARKUP}")  # `:exp NAME` with no such experiment: a notification
            await wait_for(pilot, lambda: any(MARKUP in n.message for n in app._notifications), what="notified")
            await pilot.pause()
            assert app.is_running

            table.focus()
            await pilot.press("enter")  # the runs of the experiment: run name, user, tags
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", what="Runs")
            await wait_for(pilot, lambda: MARKUP in table_text(app.screen), what="the run's row")
            assert_literal(app, table_text(app.screen))

            await pilot.press("enter")  # the run: its params and tags, its head line
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen", what="run detail")
            await wait_for(pilot, lambda: MARKUP in table_text(app.screen), what="the run's data")
            await pilot.pause()
            assert_literal(app, table_text(app.screen) + widget_text(app.screen, "#run-head"))
    finally:
        mlflow.stop()
        kube.stop()


@pytest.mark.asyncio
async def test_serving_shows_an_isvc_condition_literally(tmp_path):
    kube = FaultServer("hostile")
    try:
        app = make_app(tmp_path, kube)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ServingScreen", what="Serving")
            await wait_for(pilot, lambda: MARKUP in table_text(app.screen) + widget_text(app.screen, "#isvc-detail"),
                           what="the InferenceService's condition")
            await pilot.pause()
            assert_literal(app, table_text(app.screen) + widget_text(app.screen, "#isvc-detail"))
    finally:
        kube.stop()


@pytest.mark.asyncio
async def test_pipelines_show_a_workflow_message_literally(tmp_path):
    kube = FaultServer("hostile")
    try:
        app = make_app(tmp_path, kube)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PipelinesScreen", what="Pipelines")
            await wait_for(pilot, lambda: MARKUP in table_text(app.screen), what="the workflow's message")
            assert_literal(app, table_text(app.screen))
            app.screen.query_one(FilterTable).focus()
            await pilot.press("enter")  # the workflow: its head (message) and node table (node messages)
            await wait_for(pilot, lambda: MARKUP in widget_text(app.screen, "#wf-head"), what="the workflow head")
            await pilot.pause()
            assert_literal(app, table_text(app.screen) + widget_text(app.screen, "#wf-head"))
    finally:
        kube.stop()


@pytest.mark.asyncio
async def test_data_shows_a_lakefs_commit_message_literally(tmp_path):
    from mlopstui.backends.lakefs import Credentials, LakeFSClient
    from mlopstui.sandbox.lakefs import LakeFSServer
    from support.fault_servers import HOSTILE

    key, secret = "AKIAIOSFOMARKUP", "markup-test-secret"
    srv = LakeFSServer(tmp_path / "lakefs", access_key_id=key, secret_access_key=secret).start()
    kube = FaultServer("refuse")
    try:
        with LakeFSClient(srv.url, Credentials(key, secret, "test")) as c:
            http = c._http
            http.post("/repositories", json={"name": "repo", "storage_namespace": "local://repo"}).raise_for_status()
            http.post("/repositories/repo/branches/main/objects", params={"path": "a.csv"},
                      files={"content": ("f", b"x\n1\n")}).raise_for_status()
            http.post("/repositories/repo/branches/main/commits", json={"message": HOSTILE}).raise_for_status()
        app = make_app(tmp_path, kube, endpoints={"lakefs": srv.url},
                       lakefs={"access_key_id": key, "secret_access_key": secret})
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("6")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data")
            main = app.screen.query_one("#main-table", FilterTable)
            await wait_for(pilot, lambda: "branch:main" in main.visible_keys(), what="branches")
            main.focus()
            main.move_cursor(row=main.get_row_index("branch:main"))
            await pilot.press("l")
            await wait_for(pilot, lambda: MARKUP in table_text(app.screen), what="the commit log")
            await pilot.pause()
            assert_literal(app, table_text(app.screen))
    finally:
        kube.stop()
        srv.stop()

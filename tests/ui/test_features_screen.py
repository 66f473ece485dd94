"""The Features area driven by Pilot against the sandbox (real Feast repo, real API emulator)."""

from __future__ import annotations

import asyncio

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.backends.kube import JOBS, KubeClient
from mlopstui.screens.confirm import ConfirmPlan
from mlopstui.screens.features import FeaturesScreen, FeatureViewScreen
from mlopstui.widgets.filter_table import FilterTable


def make_app(sandbox, tmp_path, **flags) -> MlopsApp:
    settings = config.load(str(sandbox.config_path), audit_log=str(tmp_path / "audit.jsonl"), **flags)
    return MlopsApp(settings)


def job_names(sandbox) -> set[str]:
    kube = KubeClient.from_settings(str(sandbox.kubeconfig), sandbox.context, sandbox.namespace)
    try:
        return {j["metadata"]["name"] for j in kube.list(JOBS, sandbox.namespace)}
    finally:
        kube.close()


async def wait_for(pilot, cond, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)


def cells(table: FilterTable) -> list[list[str]]:
    return [[getattr(c, "plain", str(c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_views_listed_with_freshness_and_detail_at_80x24(sandbox, tmp_path):
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, FeaturesScreen)
        views = screen.query_one("#views-table", FilterTable)
        await wait_for(pilot, lambda: views.row_count >= 2)
        rows = {r[0]: r for r in cells(views)}
        assert set(rows) >= {"customer_stats", "transaction_stats"}
        assert rows["transaction_stats"][1] == "✓ fresh"  # glyph and word, readable with NO_COLOR
        assert rows["transaction_stats"][3] == "2d"
        jobs = screen.query_one("#jobs-table", FilterTable)
        await wait_for(pilot, lambda: "cronjob/feast-materialize" in jobs.visible_keys())
        assert "project on_prem_mlops" in str(screen.query_one("#feast-info").render())

        views.focus()
        views.move_cursor(row=views.get_row_index("transaction_stats"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FeatureViewScreen))
        detail = app.screen
        assert "txn_count_24h" in str(detail.query_one("#fv-detail").render())
        sample = detail.query_one("#fv-sample")
        await wait_for(pilot, lambda: "online sample for customer_id=" in str(sample.render()))
        assert "merchant_risk" in str(sample.render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, FeaturesScreen))


async def test_m_shows_the_job_manifest_and_n_creates_nothing(sandbox, tmp_path):
    before = job_names(sandbox)
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        screen = app.screen
        jobs = screen.query_one("#jobs-table", FilterTable)
        await wait_for(pilot, lambda: "cronjob/feast-materialize" in jobs.visible_keys())
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        text = str(app.screen.query_one("#plan-text").render())
        assert "feast-materialize-manual-" in text
        assert "cronjob.kubernetes.io/instantiate" in text
        assert "materialize-incremental" in text
        assert '"kind": "CronJob"' in text  # the ownerReference
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FeaturesScreen))
        await pilot.pause(0.5)
        assert "cancelled" in str(screen.query_one("#status").render())
    assert job_names(sandbox) == before


async def test_m_then_y_creates_the_job_and_follows_it_to_succeeded(sandbox, tmp_path):
    before = job_names(sandbox)
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        screen = app.screen
        jobs = screen.query_one("#jobs-table", FilterTable)
        await wait_for(pilot, lambda: "cronjob/feast-materialize" in jobs.visible_keys())
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        await pilot.press("y")
        panel = screen.query_one("#job-panel")
        await wait_for(pilot, lambda: "feast-materialize-manual-" in str(panel.render()))
        await wait_for(pilot, lambda: screen.following is None, timeout=240)
        assert ": Succeeded" in str(panel.render()), str(panel.render())
        created = job_names(sandbox) - before
        assert len(created) == 1
        name = created.pop()
        await wait_for(pilot, lambda: f"job/{name}" in jobs.visible_keys())
        jobs.focus()
        jobs.move_cursor(row=jobs.get_row_index(f"job/{name}"))
        await pilot.press("l")  # the Job pod's log in the log view
        from mlopstui.screens.logs import PodLogScreen

        await wait_for(pilot, lambda: isinstance(app.screen, PodLogScreen) and app.screen.view().line_count > 0)
        assert app.screen.pod.startswith(name) and not app.screen.following  # a finished pod: nothing to follow
        await pilot.press("escape")

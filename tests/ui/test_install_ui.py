"""Install from the Stack screen with Pilot: select a missing component, `i`, confirm, objects exist."""

from __future__ import annotations

import asyncio

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.screens.confirm import ConfirmPlan
from mlopstui.widgets.filter_table import FilterTable

NS = "install-ui"


@pytest.fixture
def emu(tmp_path):
    from mlopstui.backends.kube import NAMESPACES, KubeClient
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kubeapi"), run_controllers=True).start()
    try:
        KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", NS).create(
            NAMESPACES, {"metadata": {"name": NS}})
        yield srv
    finally:
        srv.stop()


def real_writes(srv, since: int) -> list[dict]:
    return [e for e in srv.request_log[since:]
            if e["method"] in ("POST", "PUT", "PATCH", "DELETE") and "dryRun=All" not in (e.get("query") or "")]


def status_text(app) -> str:
    for screen in reversed(app.screen_stack):
        found = screen.query("#status")
        if found:
            return str(found.first().render())
    return ""


async def wait_for(pilot, cond, timeout=20.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in time; status: {status_text(pilot.app)!r}")


@pytest.mark.asyncio
async def test_install_redis_from_the_stack_screen(emu, tmp_path):
    from mlopstui.backends.kube import SERVICES, STATEFULSETS, KubeClient

    settings = config.load(None, kubeconfig=emu.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"))
    app = MlopsApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "report", None) is not None
                       and app.screen.state is not None)
        stack = app.screen
        assert not stack.report.component("redis").installed
        table = stack.query_one("#components", FilterTable)
        table.move_cursor(row=table.get_row_index("redis"))
        await pilot.pause()
        assert stack.selected_component() == "redis"
        mark = len(emu.request_log)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        plan_text = str(app.screen.query_one("#plan-text").render())
        assert "--maxmemory" in plan_text and "noeviction" in plan_text and "StatefulSet" in plan_text
        assert real_writes(emu, mark) == []  # only the dry run so far
        await pilot.press("y")
        await wait_for(pilot, lambda: "installed redis" in status_text(app))
        kube = KubeClient.from_settings(emu.kubeconfig_path, "mlopstui-sandbox", NS)
        sts = kube.get(STATEFULSETS, "feast-redis-master", NS)
        assert sts["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlopstui"
        assert kube.get(SERVICES, "feast-redis-master", NS)["metadata"]["name"] == "feast-redis-master"
        assert len(real_writes(emu, mark)) == 2
        # the sweep that follows shows it installed; a second `i` only says so
        await wait_for(pilot, lambda: stack.report.component("redis").installed)
        assert "installed redis" in status_text(app)
        table.move_cursor(row=table.get_row_index("redis"))
        await pilot.pause()
        mark = len(emu.request_log)
        await pilot.press("i")
        await wait_for(pilot, lambda: "already installed" in status_text(app))
        assert not isinstance(app.screen, ConfirmPlan)
        assert real_writes(emu, mark) == []

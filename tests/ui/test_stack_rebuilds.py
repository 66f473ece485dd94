"""A burst of watch events is one rebuild, and one that changes nothing shown writes nothing to the Stack's
tables (issue 20, at scale: 500 pod updates must not rebuild 500 times). Counted, not timed: the Stack's
rebuild workers (StackScreen.rebuilds) and the components table's writes (FilterTable.full_renders /
cells_written). Against the sandbox's Kubernetes API emulator over HTTP (tests/support/serving.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.backends import kube as k
from mlopstui.screens.stack import REBUILD_COALESCE_S
from mlopstui.widgets.filter_table import FilterTable
from support.serving import NS, serving_cluster
from support.ui import wait_for

N = 40  # pods of no component, each relabelled once


@pytest.fixture
def cluster(tmp_path):
    with serving_cluster(tmp_path) as c:
        kube = c.kube()
        try:
            for i in range(N):
                kube.create(k.PODS, {"metadata": {"name": f"batch-{i}", "labels": {"app": "batch"}}, "spec": {
                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}, NS)
        finally:
            kube.close()
        yield c


def settled(stack) -> bool:
    return not stack._rebuilding and stack._rebuild_timer is None and not stack._dirty \
        and not stack._cache_posted


def relabel(cluster) -> float:
    """N pod updates as fast as the API takes them (8 at a time); returns how long the burst took."""
    kube = cluster.kube()
    t0 = time.monotonic()
    try:
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: kube.merge_patch(k.PODS, f"batch-{i}", {"metadata": {"labels": {"burst": str(i)}}},
                                                     NS), range(N)))
    finally:
        kube.close()
    return time.monotonic() - t0


async def test_a_burst_of_pod_updates_is_one_rebuild_and_writes_nothing_shown(cluster, tmp_path):
    settings = config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"))
    app = MlopsApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.report is not None and "watch live" in str(
            stack.query_one("#stack-age").render()))
        await asyncio.sleep(1.0)
        await wait_for(pilot, lambda: settled(stack))
        table = stack.query_one("#components", FilterTable)
        rebuilds, renders, cells = stack.rebuilds, table.full_renders, table.cells_written
        changes = app.ctx.informers.changes
        took = await asyncio.to_thread(relabel, cluster)
        await wait_for(pilot, lambda: app.ctx.informers.changes >= changes + N)
        await wait_for(pilot, lambda: stack.rebuilds > rebuilds and settled(stack))
        # coalesced: one rebuild per REBUILD_COALESCE_S of burst (and one for the events after it), not one
        # per event
        assert stack.rebuilds - rebuilds <= 1 + int(took / REBUILD_COALESCE_S) + 1
        assert stack.rebuilds - rebuilds < N / 4
        # the pods belong to no component: the table's rows are the same, nothing was written to it
        assert (table.full_renders, table.cells_written) == (renders, cells)
        pods = stack.report.snapshot.of("Pod")  # and the report is built on the updated pods
        assert sorted(p["metadata"]["labels"].get("burst", "") for p in pods
                      if p["metadata"]["name"].startswith("batch-")) == sorted(str(i) for i in range(N))


async def test_the_first_screen_starts_one_sweep(cluster, tmp_path):
    """Textual calls each class's on_mount itself: the Stack's (columns) and the area base's (the first
    refresh_data) run once each, so one sweep starts (a second one read and built everything again)."""
    settings = config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"))
    settings.refresh_interval = 3600.0  # no periodic sweep within the test
    app = MlopsApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.report is not None and not stack.pending)
        await asyncio.sleep(0.5)
        await wait_for(pilot, lambda: settled(stack))
        assert stack._sweep_id == 1
        # the start's other caches (the namespaces, for :ns, listed by the API check after the rows) are no
        # reason to build the Stack again: nothing it reads changed
        await wait_for(pilot, lambda: app.api_state[0] is True and app.namespaces)
        await asyncio.sleep(REBUILD_COALESCE_S * 3)
        await wait_for(pilot, lambda: settled(stack))
        assert stack.rebuilds == 0

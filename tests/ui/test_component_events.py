"""Issue 14: a component's events are listed in time order, oldest first as `kubectl events` does, and the
header says so. Events are created through the API with times out of creation order, in the shapes a
kubelet (count + first/last timestamps) and an events.k8s.io/v1 recorder (eventTime, series) write."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from support.ui import wait_for

NS = "mlops"


def _ts(t: float, micro: bool = False) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.timeout(300)
async def test_component_events_oldest_first(sandbox):
    from mlopstui.backends.kube import EVENTS, KubeClient

    base = time.time() - 900
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lakefs", "namespace": NS}
    made = [  # created newest first: the listing order is not the time order
        {"reason": "T14Fourth", "lastTimestamp": _ts(base + 300), "firstTimestamp": _ts(base + 50), "count": 2},
        {"reason": "T14First", "eventTime": _ts(base, True), "reportingController": "t14",
         "reportingInstance": "t14-1", "action": "Test"},
        {"reason": "T14Third", "eventTime": _ts(base + 60, True), "reportingController": "t14",
         "reportingInstance": "t14-1", "action": "Test", "series": {"count": 3, "lastObservedTime": _ts(base + 200, True)}},
        {"reason": "T14Second", "firstTimestamp": _ts(base + 100)},
    ]
    kube = KubeClient.from_settings(str(sandbox.kubeconfig), "mlopstui-sandbox", NS)
    names = []
    try:
        for i, extra in enumerate(made):
            body = {"metadata": {"name": f"lakefs.t14-{i}-{int(base)}"}, "involvedObject": obj, "type": "Normal",
                    "message": f"event {extra['reason']}", **extra}
            names.append(kube.create(EVENTS, body, NS)["metadata"]["name"])
        app = MlopsApp(config.load(sandbox.config_path))
        async with app.run_test(size=(200, 50)) as pilot:
            await wait_for(pilot, lambda: getattr(app.screen, "report", None) is not None, timeout=120)
            table = app.screen.query_one("#components")
            await wait_for(pilot, lambda: "lakefs" in table.visible_keys())
            table.move_cursor(row=table.get_row_index("lakefs"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ComponentScreen"
                           and app.screen.events_at is not None, timeout=60)
            detail = str(app.screen.query_one("#comp-detail").render())
            assert "oldest first, as kubectl events" in detail
            seen = [r for line in detail.splitlines() for r in ("T14First", "T14Second", "T14Third", "T14Fourth")
                    if f" {r} " in line]
            assert seen == ["T14First", "T14Second", "T14Third", "T14Fourth"], detail
            line = next(x for x in detail.splitlines() if " T14Fourth " in x)
            assert "(x2 over " in line  # kubectl's LAST SEEN for a repeated event
    finally:
        for n in names:
            kube.delete(EVENTS, n, NS)
        kube.close()

"""The rollout view (Serving › R) driven by Pilot against the whole sandbox; the emulator's writes log checked.

Start from the view and watch it step to the promotion; abort while it measures: the loop halts before its
next write and the confirmed rollback is the only PATCH, carrying the plan's resourceVersion; leaving the
view pauses the rollout (the annotation says why); read-only refuses and sends nothing; with live traffic
the sparklines sample the sandbox's Prometheus per revision.
"""

from __future__ import annotations

import json

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.sandbox import manager
from mlopstui.screens.confirm import ConfirmPlan, PromptValue
from mlopstui.widgets.filter_table import FilterTable
from support.rollout import ANN, isvc, isvc_patches, restore_canary, state, writes
from support.ui import status_text, wait_for

pytestmark = pytest.mark.integration
NS = "mlops"


def make_app(sandbox, **flags):
    # synthetic requests: the gates have numbers without a traffic generator; few needed
    settings = config.load(str(sandbox.config_path), rollout={"signal": "synthetic", "min_requests": 3}, **flags)
    return MlopsApp(settings)


async def open_rollout(app, pilot):
    from mlopstui.screens.rollout import RolloutScreen

    await pilot.press("4")
    await wait_for(pilot, lambda: app.screen.query(FilterTable) and app.screen.query_one(FilterTable).row_count >= 1,
                   timeout=30)
    table = app.screen.query_one(FilterTable)
    table.move_cursor(row=table.get_row_index(f"{NS}/fraud-detection"))
    await pilot.pause()
    await pilot.press("R")
    await wait_for(pilot, lambda: isinstance(app.screen, RolloutScreen) and app.screen.isvc is not None, timeout=30)
    return app.screen


async def start(app, pilot, screen, text: str):
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
    app.screen.query_one("#prompt-input").value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), timeout=30)
    plan = app.screen.plan
    assert plan.action == "rollout-step" and plan.patch["spec"]["predictor"]["canaryTrafficPercent"] == 10
    await pilot.press("y")
    return plan


async def test_start_from_the_view_steps_and_promotes(sandbox, capsys):
    app = make_app(sandbox)
    with restore_canary(sandbox, capsys):
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_rollout(app, pilot)
            assert "no rollout recorded" in str(screen.query_one("#ro-head").render())
            mark = len(writes(sandbox))
            await start(app, pilot, screen, "10,50,100 1s")
            await wait_for(pilot, lambda: screen.state is not None and screen.state.phase == "running", timeout=60)
            assert "10%" in str(screen.query_one("#ro-steps").render())
            await wait_for(pilot, lambda: screen.loop is None and screen.state is not None
                           and screen.state.phase == "promoted", timeout=120)
            steps = [e["percent"] for e in screen.events if e["event"] == "step"]
            assert steps == [10, 50]
            assert [e["verdict"] for e in screen.events if e["event"] == "gates"] == ["pass", "pass"]
            assert "synthetic" in screen.source
            # the gates' measures feed the sparklines when the signal is not sampled
            assert screen.query_one("#sp-canary-rate").data and screen.query_one("#sp-stable-rate").data
            gates = str(screen.query_one("#ro-gates").render())
            assert "ok   error-rate" in gates and "min-requests" in gates
            done = len(writes(sandbox))
            await pilot.press("x")  # a finished rollout has nothing to abort
            await wait_for(pilot, lambda: "the rollout is promoted: nothing to abort" in status_text(app))
            assert isvc_patches(writes(sandbox)[done:]) == []
        patches = isvc_patches(writes(sandbox)[mark:])
        assert len(patches) == 3 and all(p["resourceVersion"] for p in patches)  # 10, 50, promote
        assert state(sandbox)["phase"] == "promoted"
        assert "canaryTrafficPercent" not in isvc(sandbox)["spec"]["predictor"]


async def test_abort_while_measuring_sends_exactly_the_confirmed_rollback(sandbox, capsys):
    app = make_app(sandbox)
    with restore_canary(sandbox, capsys):
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_rollout(app, pilot)
            await start(app, pilot, screen, "10,50,100 60s")
            await wait_for(pilot, lambda: any(e["event"] == "measuring" for e in screen.events), timeout=60)
            mark = len(writes(sandbox))
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), timeout=60)
            plan = app.screen.plan
            assert plan.action == "rollout-rollback" and screen.loop is None  # halted before its next write
            assert any(e["event"] == "halted" for e in screen.events)
            assert plan.patch["spec"]["predictor"]["canaryTrafficPercent"] == 0
            assert isvc_patches(writes(sandbox)[mark:]) == []  # nothing written by the halted loop
            await pilot.press("y")
            await wait_for(pilot, lambda: len(isvc_patches(writes(sandbox)[mark:])) >= 1, timeout=30)
            # the follow's message: the status traffic after the rollback
            await wait_for(pilot, lambda: "traffic now" in status_text(app) and "00002 0%" in status_text(app),
                           timeout=60)
        patches = isvc_patches(writes(sandbox)[mark:])
        assert len(patches) == 1 and patches[0]["status"] == 200
        assert patches[0]["resourceVersion"] == plan.patch["metadata"]["resourceVersion"]
        st = state(sandbox)
        assert st["phase"] == "rolled-back" and "aborted by the operator at step 10%" in st["reason"]
        assert isvc(sandbox)["spec"]["predictor"]["canaryTrafficPercent"] == 0
        audit = [json.loads(ln) for ln in (sandbox.dir / "audit.jsonl").read_text().splitlines()]
        assert audit[-1]["action"] == "rollout-rollback" and audit[-1]["ok"]


async def test_leaving_the_view_pauses_the_rollout_and_r_resumes_it(sandbox, capsys):
    app = make_app(sandbox)
    with restore_canary(sandbox, capsys):
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_rollout(app, pilot)
            await start(app, pilot, screen, "10,100 10s")
            await wait_for(pilot, lambda: any(e["event"] == "measuring" for e in screen.events), timeout=60)
            await pilot.press("escape")
            await wait_for(pilot, lambda: json.loads(isvc(sandbox)["metadata"]["annotations"][ANN])["phase"]
                           == "paused", timeout=60)
            st = state(sandbox)
            assert "the TUI's rollout view was closed" in st["reason"] and st["step"] == 0
            # back in the view: it shows the paused rollout; r plans the step, confirmed, and the loop continues
            screen = await open_rollout(app, pilot)
            await wait_for(pilot, lambda: screen.state is not None and screen.state.phase == "paused")
            mark = len(writes(sandbox))
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), timeout=30)
            assert app.screen.plan.patch["spec"]["predictor"]["canaryTrafficPercent"] == 10
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.loop is None and screen.state is not None
                           and screen.state.phase == "promoted", timeout=120)
            assert screen.events[0]["event"] == "resumed"
        # 10% was applied before the pause: the resume measures it and sends only the promotion
        assert len(isvc_patches(writes(sandbox)[mark:])) == 1


async def test_readonly_refuses_start_and_abort(sandbox, capsys):
    app = make_app(sandbox, readonly=True)
    mark = len(writes(sandbox))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rollout(app, pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), timeout=30)
        assert "read-only" in str(app.screen.query_one(".readonly").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: "refused" in status_text(app) and "read-only" in status_text(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: "no rollout recorded" in status_text(app))
    assert isvc_patches(writes(sandbox)[mark:]) == []


@pytest.mark.skipif(manager.prometheus_binary() is None,
                    reason="no prometheus binary: the sandbox runs no Prometheus")
async def test_sparklines_sample_prometheus_per_revision(sandbox):
    """With live traffic the view reads the sandbox's Prometheus: the last minutes at once (a range query),
    then a sample every 2 s, canary and stable req/s."""
    import asyncio
    import os
    import subprocess
    import sys

    import yaml

    from mlopstui.backends.discovery import Endpoint
    from mlopstui.backends.prometheus import PrometheusClient
    from mlopstui.models import promql

    url = yaml.safe_load(sandbox.config_path.read_text())["endpoints"]["prometheus"]
    prom = PrometheusClient(Endpoint("prometheus", url, "config"))
    traffic = subprocess.Popen([sys.executable, "-m", "mlopstui", "sandbox", "traffic", "--dir", str(sandbox.dir),
                                "--rps", "30", "--duration", "90"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, **sandbox.env})
    try:
        st = isvc(sandbox)["status"]["components"]["predictor"]
        stable = next(t["revisionName"] for t in st["traffic"] if not t.get("latestRevision"))
        q = promql.istio_rate_queries(NS, [stable], 30).requests
        for _ in range(60):  # until Prometheus holds a few minutes' worth of points for the stable revision
            import time

            now = time.time()
            rows = prom.query_range(q, now - 180, now, 2)
            if rows and sum(v is not None and v > 0 for _, v in rows[0][1]) >= 5:
                break
            await asyncio.sleep(1)
        else:
            pytest.fail("Prometheus has no request rate for the stable revision")
        app = MlopsApp(config.load(str(sandbox.config_path)))  # rollout.signal auto: Prometheus is configured
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_rollout(app, pilot)
            await wait_for(pilot, lambda: len(screen.query_one("#sp-stable-rate").data) >= 1, timeout=60)
            # the first answer already holds the history, not one point
            assert len(screen.query_one("#sp-stable-rate").data) >= 5
            assert screen.source.startswith("prometheus: prometheus http://")
            assert screen.query_one("#sp-stable-rate").data[-1] > 0
            await wait_for(pilot, lambda: len(screen.query_one("#sp-canary-rate").data) >= 1, timeout=60)
    finally:
        traffic.kill()
        traffic.wait()

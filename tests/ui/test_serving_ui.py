"""The Serving area driven by Pilot against the Kubernetes API emulator (request log checked)."""

from __future__ import annotations

import asyncio

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402
from mlopstui.screens.confirm import ConfirmPlan, PromptValue  # noqa: E402
from mlopstui.widgets.filter_table import FilterTable  # noqa: E402
from support.serving import NS, fraud, serving_cluster  # noqa: E402

ISVC = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/fraud-detection"


@pytest.fixture
def cluster(tmp_path):
    with serving_cluster(tmp_path) as c:
        yield c


def make_app(cluster, tmp_path, **flags):
    settings = config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"), **flags)
    return MlopsApp(settings)


async def wait_for(pilot, cond, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in time; status: {status_text(pilot.app)!r}")


def status_text(app) -> str:
    for screen in reversed(app.screen_stack):
        found = screen.query("#status")
        if found:
            return str(found.first().render())
    return ""


def patches(cluster, since=0, last=None):
    """PATCHes of fraud-detection since a mark (the emulator logs a request just after answering it)."""
    import time

    deadline = time.monotonic() + 2
    while True:
        found = [e for e in cluster.writes(since) if e["path"] == ISVC]
        if last is None or (found and found[-1]["status"] == last) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def assert_one_patch(found) -> None:
    """Exactly one PATCH took effect. A controller's status write between plan and apply bumps the
    resourceVersion, as on a real cluster: the PATCH then meets a 409 and, since only status moved, is sent
    again with the fresh resourceVersion (actions/serving.py). Those refused attempts come first."""
    statuses = [e["status"] for e in found]
    assert statuses and statuses[-1] == 200 and all(s == 409 for s in statuses[:-1]), statuses
    assert len(statuses) <= 3, statuses


async def open_serving(app, pilot):
    await pilot.press("4")
    await wait_for(pilot, lambda: app.screen.query(FilterTable) and app.screen.query_one(FilterTable).row_count >= 2)
    table = app.screen.query_one(FilterTable)
    table.move_cursor(row=table.get_row_index(f"{NS}/fraud-detection"))
    await pilot.pause()
    return app.screen


async def test_list_shows_split_and_detail_at_80x24(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        table = screen.query_one(FilterTable)
        cells = [str(c) for c in table.get_row(f"{NS}/fraud-detection")]
        assert "20%" in cells and "Serverless" in cells
        assert any("20" in c and "█" in c for c in cells)
        raw = [str(c) for c in table.get_row(f"{NS}/churn-model")]
        assert "Raw" in raw
        detail = str(screen.query_one("#isvc-detail").render())
        assert "s3://models/fraud-detection/v1" in detail  # stable
        assert "s3://models/fraud-detection/v2" in detail  # canary
        assert "80%" in detail and "fraud-detection-predictor-00001" in detail


async def test_plus_presses_batch_into_one_patch(cluster, tmp_path):
    """+/- move a pending percent shown in the status line, with no time window: later presses still adjust it
    (none goes into a dialog), enter plans it, one PATCH."""
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        screen.FOLLOW_TIMEOUT = 10
        mark = cluster.mark()
        await pilot.press("plus", "plus", "minus")
        await wait_for(pilot, lambda: "20 % → 30 % pending" in status_text(app))
        await asyncio.sleep(1.0)  # past any time window: nothing opens by itself
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmPlan) and "enter to plan, esc to cancel" in status_text(app)
        await pilot.press("plus")  # still adjusts the pending value
        await wait_for(pilot, lambda: "20 % → 40 % pending" in status_text(app))
        assert not isinstance(app.screen, ConfirmPlan)
        assert patches(cluster, mark) == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        text = str(app.screen.query_one("#plan-text").render())
        assert '"canaryTrafficPercent": 40' in text and '"resourceVersion"' in text
        assert patches(cluster, mark) == []
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        assert "40%" in status_text(app)
        assert_one_patch(patches(cluster, mark, last=200))
        comp = cluster.status_of("fraud-detection")["status"]["components"]["predictor"]
        assert {t["percent"] for t in comp["traffic"]} == {40, 60}
        assert cluster.srv.store is not None


async def test_pending_canary_esc_cancels_and_minus_at_zero_asks_nothing(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        mark = cluster.mark()
        await pilot.press("plus")
        await wait_for(pilot, lambda: "20 % → 30 % pending" in status_text(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "cancelled: nothing sent" in status_text(app))
        assert screen._pending_canary is None and app.screen is screen
        await pilot.press("minus", "minus", "minus")  # 20 -> 0: clamped at 0, one more does not go below
        await wait_for(pilot, lambda: "20 % → 0 % pending" in status_text(app))
        await pilot.press("minus")
        await wait_for(pilot, lambda: "20 % → 0 % pending" in status_text(app))
        await pilot.press("escape")
        await pilot.pause()
        # a canary at 0 %: `-` is a no-op, said so in the status line, with no dialog and no pending value
        k = cluster.kube()
        body = fraud("zero-canary", "s3://models/zero/v1", canary=0)
        from mlopstui.backends.kube import INFERENCESERVICES

        k.create(INFERENCESERVICES, body, NS)
        k.close()
        table = screen.query_one(FilterTable)
        await wait_for(pilot, lambda: f"{NS}/zero-canary" in table.visible_keys())
        table.move_cursor(row=table.get_row_index(f"{NS}/zero-canary"))
        await pilot.pause()
        await pilot.press("minus")
        await wait_for(pilot, lambda: "already 0 %: nothing to change" in status_text(app))
        assert screen._pending_canary is None and not isinstance(app.screen, ConfirmPlan)
        await pilot.press("enter")  # nothing pending: enter opens the details as always
        await wait_for(pilot, lambda: app.screen is not screen)
        assert not isinstance(app.screen, ConfirmPlan)
        assert cluster.writes(mark) == []  # no PATCH


async def test_exact_percent_bad_input_sends_nothing(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        mark = cluster.mark()
        for bad in ("-1", "101", "33.5", "abc", "", "1e2"):
            await pilot.press("equals_sign")
            await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
            box = app.screen.query_one("#prompt-input")
            box.value = bad
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, PromptValue))
            assert "refused" in status_text(app) and "invalid" in status_text(app), bad
            assert not isinstance(app.screen, ConfirmPlan)
        assert cluster.writes(mark) == []


async def test_exact_percent_then_promote_then_rollback(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        screen.FOLLOW_TIMEOUT = 10
        mark = cluster.mark()
        await pilot.press("equals_sign")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "100"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        assert_one_patch(patches(cluster, mark, last=200))
        mark = cluster.mark()
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        assert '"canaryTrafficPercent": null' in str(app.screen.query_one("#plan-text").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app) and "100%" in status_text(app), timeout=15)
        assert_one_patch(patches(cluster, mark, last=200))
        assert "canaryTrafficPercent" not in cluster.status_of("fraud-detection")["spec"]["predictor"]
        mark = cluster.mark()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app) and "0%" in status_text(app), timeout=15)
        assert_one_patch(patches(cluster, mark, last=200))
        comp = cluster.status_of("fraud-detection")["status"]["components"]["predictor"]
        latest = [t for t in comp["traffic"] if t.get("latestRevision")]
        assert latest[0]["percent"] == 0
        assert sum(t["percent"] for t in comp["traffic"] if not t.get("latestRevision")) == 100


async def test_cancel_sends_nothing(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        mark = cluster.mark()
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        await pilot.press("n")
        await wait_for(pilot, lambda: "cancelled" in status_text(app))
        assert cluster.writes(mark) == []


async def test_concurrent_edit_is_detected_and_reasked(cluster, tmp_path):
    from mlopstui.backends.kube import INFERENCESERVICES

    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        screen.FOLLOW_TIMEOUT = 10
        await pilot.press("equals_sign")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "30"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        # someone else changes the canary between our read and our write
        k = cluster.kube()
        k.merge_patch(INFERENCESERVICES, "fraud-detection", {"spec": {"predictor": {"canaryTrafficPercent": 50}}},
                      NS)
        k.close()
        mark = cluster.mark()
        await pilot.press("y")
        # the stale write is refused (409), the screen re-reads and asks again showing the change
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan) and "someone else" in
                       str(app.screen.query_one("#plan-text").render()), timeout=10)
        text = str(app.screen.query_one("#plan-text").render())
        assert "canaryTrafficPercent: 20 -> 50" in text
        assert [e["status"] for e in patches(cluster, mark)] == [409]
        assert cluster.status_of("fraud-detection")["spec"]["predictor"]["canaryTrafficPercent"] == 50
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        sent = [e["status"] for e in patches(cluster, mark, last=200)]
        # one write applied; any extra 409 is a status-only change by the controller, re-sent as confirmed
        assert sent[0] == 409 and sent[-1] == 200 and sent.count(200) == 1, sent
        assert cluster.status_of("fraud-detection")["spec"]["predictor"]["canaryTrafficPercent"] == 30


@pytest.mark.parametrize("name,mode", [("churn-model", "RawDeployment"), ("mesh-model", "ModelMesh")])
async def test_raw_deployment_canary_is_unsupported(cluster, tmp_path, name, mode):
    if mode == "ModelMesh":
        from mlopstui.backends.kube import INFERENCESERVICES

        k = cluster.kube()
        body = fraud(name, "s3://models/mesh/v1")
        body["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "ModelMesh"}
        k.create(INFERENCESERVICES, body, NS)
        k.close()
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        table = screen.query_one(FilterTable)
        await wait_for(pilot, lambda: f"{NS}/{name}" in screen.isvcs)
        table.move_cursor(row=table.get_row_index(f"{NS}/{name}"))
        await pilot.pause()
        mark = cluster.mark()
        for key in ("plus", "minus", "p", "b"):
            await pilot.press(key)
            await pilot.pause()
            assert "Serverless" in status_text(app) and "unsupported" in status_text(app)
            assert mode in status_text(app) and "nothing was sent" in status_text(app)
            assert not isinstance(app.screen, ConfirmPlan)
        await asyncio.sleep(0.8)  # later: still nothing
        await pilot.pause()
        assert cluster.writes(mark) == []


async def test_readonly_refuses_every_action(cluster, tmp_path):
    app = make_app(cluster, tmp_path, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        mark = cluster.mark()
        for keys in (("plus", "enter"), ("p",), ("b",)):
            await pilot.press(*keys)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), timeout=5)
            assert "read-only" in str(app.screen.query_one(".readonly").render())
            await pilot.press("y")
            await wait_for(pilot, lambda: "refused" in status_text(app) and "read-only" in status_text(app))
        assert cluster.writes(mark) == []


async def test_enter_opens_details_with_revisions_and_actions_work_there(cluster, tmp_path):
    from mlopstui.screens.isvc_detail import IsvcDetailScreen

    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IsvcDetailScreen)
                       and app.screen.query_one("#rev-table", FilterTable).row_count == 2)
        screen = app.screen
        screen.FOLLOW_TIMEOUT = 10
        rows = {k: [str(c) for c in screen.query_one("#rev-table", FilterTable).get_row(k)]
                for k in screen.query_one("#rev-table", FilterTable).visible_keys()}
        assert rows["fraud-detection-predictor-00001"][1:3] == ["80%", "s3://models/fraud-detection/v1"]
        assert rows["fraud-detection-predictor-00002"][1:3] == ["20%", "s3://models/fraud-detection/v2"]
        assert "Ready=True" in str(screen.query_one("#isvc-full").render())
        mark = cluster.mark()
        await pilot.press("minus")
        await wait_for(pilot, lambda: "20 % → 10 % pending" in status_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        assert '"canaryTrafficPercent": 10' in str(app.screen.query_one("#plan-text").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        assert_one_patch(patches(cluster, mark, last=200))
        await wait_for(pilot, lambda: "10%" in [str(c) for c in screen.query_one("#rev-table", FilterTable)
                                                .get_row("fraud-detection-predictor-00002")])
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ServingScreen"


async def test_set_model_prompts_and_patches_storage_uri(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        screen.FOLLOW_TIMEOUT = 10
        mark = cluster.mark()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "s3://models/fraud-detection/v3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue) and
                       app.screen.query_one("#prompt-input").value == "10")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        text = str(app.screen.query_one("#plan-text").render())
        assert '"storageUri": "s3://models/fraud-detection/v3"' in text and '"canaryTrafficPercent": 10' in text
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        assert_one_patch(patches(cluster, mark, last=200))
        spec = cluster.status_of("fraud-detection")["spec"]["predictor"]
        assert spec["model"]["storageUri"].endswith("/v3") and spec["canaryTrafficPercent"] == 10


async def test_min_replicas_refuses_bad_input_then_patches(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        screen.FOLLOW_TIMEOUT = 10
        mark = cluster.mark()
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "abc"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "refused" in status_text(app))
        assert patches(cluster, mark) == []
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        assert '"minReplicas": 2' in str(app.screen.query_one("#plan-text").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: "done:" in status_text(app), timeout=15)
        assert len(patches(cluster, mark, last=200)) >= 1
        assert cluster.status_of("fraud-detection")["spec"]["predictor"]["minReplicas"] == 2


async def test_test_request_reaches_model_servers_through_ingress(sandbox):
    """Against the whole sandbox: `t` with a typed input, v1 then v2, and a burst."""
    from mlopstui.screens.isvc_detail import IsvcDetailScreen

    app = MlopsApp(config.load(str(sandbox.config_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IsvcDetailScreen) and app.screen.isvc is not None)
        screen = app.screen

        def out() -> str:
            return str(screen.query_one("#infer-out").render())

        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "[[250.0, 3, 0.7, 9, 40.0, 120.5]]"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "HTTP 200" in out(), timeout=20)
        assert "ingress" in out() and "fraud-detection-predictor-" in out() and " ms" in out()
        await pilot.press("v", "t")
        await wait_for(pilot, lambda: "v2 HTTP 200" in out(), timeout=20)
        assert "fraud_probability" in out()
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
        app.screen.query_one("#prompt-input").value = "20"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "20 requests" in out(), timeout=40)
        assert "%" in out() and "fraud-detection-predictor-" in out()


def isvc_lists(cluster, since: int) -> list[dict]:
    """GETs of the InferenceService collection that are lists, not watches."""
    return [e for e in list(cluster.srv.request_log)[since:] if e["method"] == "GET"
            and e["path"].endswith("/inferenceservices") and "watch=" not in e["query"]]


async def test_list_follows_the_watch_no_relisting_and_shows_stale_then_live(cluster, tmp_path):
    from mlopstui.backends.kube import INFERENCESERVICES

    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_serving(app, pilot)
        info = lambda: str(screen.query_one("#isvc-info").render())  # noqa: E731
        await wait_for(pilot, lambda: "live" in info())
        mark = cluster.mark()
        k = cluster.kube()
        try:  # a change made elsewhere (kubectl, another operator) shows up by watch event
            k.merge_patch(INFERENCESERVICES, "fraud-detection", {"spec": {"predictor": {"canaryTrafficPercent": 35}}},
                          NS)
        finally:
            k.close()
        table = screen.query_one(FilterTable)
        await wait_for(pilot, lambda: "35%" in [str(c) for c in table.get_row(f"{NS}/fraud-detection")])
        await asyncio.sleep(max(app.ctx.settings.refresh_interval, 2.0) + 0.5)  # a window longer than a timer tick
        await pilot.pause()
        assert isvc_lists(cluster, mark) == []  # watch only: nothing re-listed on a timer
        cluster.srv.drop_watches(hold=True)  # the API server goes away: the data stays, marked stale
        try:
            await wait_for(pilot, lambda: "stale since" in info())
            assert table.row_count >= 2
        finally:
            cluster.srv.release_watches()
        await wait_for(pilot, lambda: "live" in info(), timeout=20)  # the retry backoff: 0.5 s doubling

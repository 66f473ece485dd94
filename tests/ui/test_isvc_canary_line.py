"""Issue 14: the detail of a promoted or RawDeployment InferenceService shows no stale canary line.

Driven with Pilot against the emulator (its InferenceService controller plays KServe: a promote, i.e.
canaryTrafficPercent removed, gives the latest revision 100 % as KServe's status does)."""

from __future__ import annotations

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.backends.kube import INFERENCESERVICES
from support.serving import NS, serving_cluster
from support.ui import wait_for


@pytest.fixture
def cluster(tmp_path):
    with serving_cluster(tmp_path) as c:
        yield c


def make_app(cluster, tmp_path) -> MlopsApp:
    return MlopsApp(config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                                audit_log=str(tmp_path / "audit.jsonl")))


async def open_serving(app, pilot) -> None:
    from mlopstui.widgets.filter_table import FilterTable

    await pilot.press("4")
    await wait_for(pilot, lambda: app.screen.query(FilterTable) and app.screen.query_one(FilterTable).row_count >= 2)


def _canary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("canary ")]


async def _detail_of(app, pilot, key: str) -> str:
    from mlopstui.screens.isvc_detail import IsvcDetailScreen
    from mlopstui.widgets.filter_table import FilterTable

    table = app.screen.query_one(FilterTable)
    await wait_for(pilot, lambda: key in table.visible_keys())
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, IsvcDetailScreen)
                   and "resourceVersion" in str(app.screen.query_one("#isvc-full").render()))
    return str(app.screen.query_one("#isvc-full").render())


async def test_canary_line_only_while_a_split_is_in_effect(cluster, tmp_path):
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        # the seed: v2 is a canary at 20 %: the detail names it
        text = await _detail_of(app, pilot, f"{NS}/fraud-detection")
        assert _canary_lines(text) and "s3://models/fraud-detection/v2" in _canary_lines(text)[0]
        await pilot.press("escape")
        # RawDeployment: one model, never a canary line
        text = await _detail_of(app, pilot, f"{NS}/churn-model")
        assert _canary_lines(text) == [], text
        assert "model   s3://models/churn-model/v1" in text
        await pilot.press("escape")
    # promoted (KServe's promote: canaryTrafficPercent removed; the latest revision takes 100 %)
    k = cluster.kube()
    k.merge_patch(INFERENCESERVICES, "fraud-detection", {"spec": {"predictor": {"canaryTrafficPercent": None}}}, NS)
    k.close()
    cluster.wait_traffic("fraud-detection", lambda comp: [t.get("percent") for t in comp.get("traffic") or []] == [100])
    app = make_app(cluster, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_serving(app, pilot)
        text = await _detail_of(app, pilot, f"{NS}/fraud-detection")
        assert _canary_lines(text) == [], text
        assert "s3://models/fraud-detection/v2" in text and "promoted" in text

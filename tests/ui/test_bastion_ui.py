"""The TUI in the sandbox's kubeconfig-only mode (the bastion): the Stack shows each probe's route,
Experiments lists runs and previews an artifact through the API proxy, Features reads the online store
through a port-forward. No endpoint URL is configured; see tests/integration/test_bastion.py."""

from __future__ import annotations

import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from support.ui import stack_probes_answered

ENDPOINT_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "FEAST_REPO_PATH", "REDIS_URL", "KUBERNETES_SERVICE_HOST")


async def wait_for(pilot, cond, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - widget not mounted yet
            pass
    raise AssertionError("condition not met in time")


@pytest.mark.timeout(600)
async def test_stack_experiments_and_features_with_only_a_kubeconfig(sandbox, monkeypatch):
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    for key, value in sandbox.kubeconfig_only_env.items():
        monkeypatch.setenv(key, value)
    app = MlopsApp(config.load(sandbox.kubeconfig_only_config))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: stack_probes_answered(app))
        rows = {c.id: c.probe for c in app.screen.report.components}
        assert rows["mlflow"].ok and rows["mlflow"].summary.endswith("via API proxy")
        assert rows["redis"].ok and rows["redis"].summary.endswith("via port-forward")
        def table_shows_routes() -> bool:  # the table, at 80x24, shortened; cells repaint after the report
            shot = app.export_screenshot().replace("&#160;", " ")
            return "200" in shot and "[proxy]" in shot and "[fwd]" in shot

        await wait_for(pilot, table_shows_routes, timeout=30.0)
        keys = app.screen.query_one("#components").visible_keys()
        await pilot.press(*(["down"] * keys.index("mlflow")), "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ComponentScreen")
        summary = app.screen.query_one("#comp-summary")
        await wait_for(pilot, lambda: "via API proxy" in str(summary.render()))
        assert "(from service mlops/mlflow-server:5000 via API proxy)" in str(summary.render())
        await pilot.press("escape")

        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0)
        assert "via API proxy" in str(app.screen.query_one("#mlflow-source").render())
        await pilot.press("colon", *"exp lab", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen"
                       and app.screen.query_one("#runs").row_count > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen" and app.screen.detail)
        detail = app.screen
        await pilot.press("right_square_bracket", "right_square_bracket")  # Artifacts
        tree = detail.query_one("#art-tree")
        await wait_for(pilot, lambda: any(str(n.label).startswith("model.txt") for n in tree.root.children))
        tree.move_cursor(next(n for n in tree.root.children if str(n.label).startswith("model.txt")))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "dummy model weights" in detail.preview_text)

        await pilot.press("3")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeaturesScreen"
                       and getattr(app.screen, "online", None) is not None, timeout=300)
        online = app.screen.online
        assert online.ok and "via port-forward" in online.address

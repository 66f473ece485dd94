"""Repair from the Doctor screen, driven by Pilot against the Kubernetes API emulator (request log checked):
d opens the findings, the FIX column marks the fixable ones, f plans the fix, y applies it (one PATCH),
and a finding without an automatic fix says why in the status line."""

from __future__ import annotations

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402
from mlopstui.backends import kube as k  # noqa: E402
from mlopstui.screens.confirm import ConfirmPlan  # noqa: E402
from mlopstui.widgets.filter_table import FilterTable  # noqa: E402
from support.stack_env import apply_objects, seed_objects, wait_ready  # noqa: E402
from support.ui import status_text, wait_for  # noqa: F401 - also used by test_pipelines_ui

NS = "mlops"
LLM = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
       "metadata": {"name": "llm-ranker", "namespace": NS},
       "spec": {"predictor": {"minReplicas": 0, "model": {
           "modelFormat": {"name": "pytorch"}, "storageUri": "s3://models/llm",
           "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "24Gi"}}}}}}
FIXABLE = "isvc-min-replicas-zero|InferenceService mlops/llm-ranker"
UNFIXABLE = "mlflow-client-no-s3-endpoint|Job mlops/train-fraud-model"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/llm-ranker"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "KUBECONFIG", "FEAST_REPO_PATH"):
        monkeypatch.delenv(var, raising=False)
    srv = KubeApiServer(str(tmp_path / "kube"), port=0).start()
    try:
        kube = k.KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", NS)
        apply_objects(kube, seed_objects() + [LLM])
        wait_ready(kube)
        kube.close()
        yield srv
    finally:
        srv.stop()


def assert_one_patch(log) -> None:
    """Exactly one PATCH took effect. A controller's status write between plan and apply bumps the
    resourceVersion, as on a real cluster: the repair's PATCH then meets a 409 and, since only status moved,
    is sent again with the fresh resourceVersion (actions/repair.py). Those refused attempts come first."""
    writes = [(e["method"], e["path"], e["status"]) for e in log if e["method"] != "GET"]
    assert writes and writes[-1] == ("PATCH", PATH, 200), writes
    assert all(w == ("PATCH", PATH, 409) for w in writes[:-1]), writes
    assert len(writes) <= 3, writes


async def select(pilot, key):
    table = pilot.app.screen.query_one("#doctor", FilterTable)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


async def test_fix_a_finding_from_the_doctor_screen(cluster, tmp_path):
    settings = config.load(None, kubeconfig=cluster.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"), probe_timeout=1.0)
    app = MlopsApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "report", None) is not None)
        await pilot.press("d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DoctorScreen"
                       and FIXABLE in app.screen.query_one("#doctor", FilterTable).visible_keys())
        doctor = app.screen
        table = doctor.query_one("#doctor", FilterTable)
        assert str(table.get_row(FIXABLE)[1]) == "f" and str(table.get_row(UNFIXABLE)[1]) == "-"

        # no automatic fix: the status line says why, nothing is sent
        mark = len(cluster.request_log)
        await select(pilot, UNFIXABLE)
        await pilot.press("f")
        await wait_for(pilot, lambda: "no automatic fix" in status_text(app))
        assert "immutable" in status_text(app) and not isinstance(app.screen, ConfirmPlan)
        doctor._paint(doctor.stack.report, doctor.stack.fixes)  # a data update (sweep, watch) repaints the list:
        await pilot.pause()  # what `f` said of the selected finding stays (it was overwritten before)
        assert "no automatic fix" in status_text(app) and "immutable" in status_text(app)

        await select(pilot, FIXABLE)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        plan_text = str(app.screen.query_one("#plan-text").render())
        assert '"minReplicas": 1' in plan_text and '"resourceVersion"' in plan_text
        assert not [e for e in cluster.request_log[mark:] if e["method"] != "GET"]
        await pilot.press("y")
        await wait_for(pilot, lambda: "repaired:" in status_text(app))
        assert_one_patch(cluster.request_log[mark:])
        kube = k.KubeClient.from_settings(cluster.kubeconfig_path, "mlopstui-sandbox", NS)
        assert kube.get(k.INFERENCESERVICES, "llm-ranker", NS)["spec"]["predictor"]["minReplicas"] == 1
        kube.close()
        # the re-sweep drops the finding from the list
        await wait_for(pilot, lambda: FIXABLE not in doctor.query_one("#doctor", FilterTable).visible_keys())


async def test_fix_the_highlighted_finding_from_the_stack_screen(cluster, tmp_path):
    """`f` on the Stack screen repairs the finding highlighted in its findings pane; the result stays in the
    status line through the sweep that follows, which no longer lists the finding."""
    settings = config.load(None, kubeconfig=cluster.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                           audit_log=str(tmp_path / "audit.jsonl"), probe_timeout=1.0)
    app = MlopsApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "report", None) is not None)
        stack = app.screen
        await pilot.press("a")  # every component's findings in the pane
        findings = stack.query_one("#findings", FilterTable)
        await wait_for(pilot, lambda: FIXABLE in findings.visible_keys())
        findings.move_cursor(row=findings.get_row_index(FIXABLE))
        sweeps = stack.sweeps
        mark = len(cluster.request_log)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
        assert '"minReplicas": 1' in str(app.screen.query_one("#plan-text").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: stack.sweeps > sweeps and FIXABLE not in findings.visible_keys())
        assert "repaired:" in status_text(app)
        assert_one_patch(cluster.request_log[mark:])

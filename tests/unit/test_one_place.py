"""One place per rule: where two layers need the same answer they call the same function (issue 17)."""

from __future__ import annotations

import pytest

from mlopstui.doctor.rules import serving as rules
from mlopstui.models import serving as m


def _isvc(annotation: str | None = None, status_mode: str | None = None) -> dict:
    meta = {"name": "fraud", "namespace": "mlops",
            "annotations": {m.DEPLOYMENT_MODE_ANNOTATION: annotation} if annotation else {}}
    return {"metadata": meta, "spec": {"predictor": {}},
            "status": {"deploymentMode": status_mode} if status_mode else {}}


@pytest.mark.parametrize("annotation, status_mode", [
    (None, None), ("RawDeployment", None), ("Standard", None), ("ModelMesh", None), ("bogus", None),
    # KServe's order (controller utils.GetDeploymentMode): the mode recorded in status wins
    ("Serverless", "RawDeployment"), ("RawDeployment", "Serverless"), (None, "Standard"),
])
def test_the_doctor_and_the_serving_model_detect_the_mode_alike(annotation, status_mode):
    obj = _isvc(annotation, status_mode)
    s = m.parse_isvc(obj, [])
    assert rules.deployment_mode(obj) == s.deployment_mode
    assert rules.is_raw(obj) == (s.mode_class == "RawDeployment")
    assert rules.is_serverless(obj) == s.serverless == s.canary_supported


def test_one_refusal_text_for_a_canary_on_raw_deployment():
    from mlopstui.doctor import Snapshot, run
    from mlopstui.errors import MlopsError

    obj = _isvc("RawDeployment")
    obj["spec"]["predictor"] = {"canaryTrafficPercent": 10}
    found = [f for f in run(Snapshot.build([{"kind": "InferenceService", **obj}], {}))
             if f.id == "isvc-canary-raw-deployment"]
    with pytest.raises(MlopsError) as ei:
        m.require_canary_support(m.parse_isvc(obj, []))
    assert found and m.UNSUPPORTED_RAW in found[0].explanation and m.UNSUPPORTED_RAW in ei.value.message


def test_one_way_to_carry_a_resource_version():
    from mlopstui.doctor import fixes
    from mlopstui.models.objects import with_resource_version

    patch = {"metadata": {"annotations": {"a": "b"}}, "spec": {"x": 1}}
    out = with_resource_version(patch, "42")
    assert out == {"metadata": {"annotations": {"a": "b"}, "resourceVersion": "42"}, "spec": {"x": 1}}
    assert "resourceVersion" not in patch["metadata"] and with_resource_version(patch, None) == patch
    assert m.with_resource_version is fixes.with_resource_version is with_resource_version


def test_one_renderer_for_an_inferenceservice_in_the_tui_and_the_cli():
    from mlopstui.commands.serving import detail_text
    from mlopstui.screens import serving as screen

    obj = _isvc(None, "Serverless")
    obj["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "RevisionFailed"}]
    s = m.parse_isvc(obj, [])
    assert screen.detail_lines is m.detail_lines
    text = detail_text(s)
    assert text == "\n".join(m.detail_lines(s, full=True))
    assert "ready ✗ NO" in text and "Ready=False" in text and "True" not in text.split("conditions:")[0]


def test_one_renderer_for_a_finding():
    from mlopstui.doctor import Finding, Severity
    from mlopstui.screens.component import render_finding

    f = Finding("isvc-x", Severity.ERROR, "kserve", "it is wrong", ("InferenceService mlops/fraud",), "seen",
                "because", "do this")
    assert render_finding(f).plain == f.render() + "\n"
    assert f.render().splitlines()[0] == "✗ ERROR isvc-x [kserve]" and f.render().endswith("  fix:      do this")

"""Pure Serving logic: parsing the InferenceService, percent validation, patches, convergence."""

import pytest

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import serving as m
from mlopstui.models.serving import request_body


def isvc_dict(canary=20, traffic=None, raw=False, old_style=False, gen=3, observed=3):
    pred = {"minReplicas": 1, "maxReplicas": 3}
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/fraud-detection/v2",
             "runtime": "kserve-sklearnserver"}
    if old_style:
        pred["sklearn"] = {"storageUri": "s3://models/fraud-detection/v2"}
    else:
        pred["model"] = model
    if canary is not None:
        pred["canaryTrafficPercent"] = canary
    ann = {"serving.kserve.io/deploymentMode": "RawDeployment"} if raw else {}
    if traffic is None:
        traffic = [{"revisionName": "fraud-detection-predictor-00002", "percent": 20, "latestRevision": True,
                    "tag": "latest"},
                   {"revisionName": "fraud-detection-predictor-00001", "percent": 80, "latestRevision": False,
                    "tag": "prev"}]
    return {
        "metadata": {"name": "fraud-detection", "namespace": "mlops", "resourceVersion": "42", "generation": gen,
                     "creationTimestamp": "2026-11-28T10:00:00Z", "annotations": ann},
        "spec": {"predictor": pred},
        "status": {"url": "http://fraud-detection.mlops.example.com", "observedGeneration": observed,
                   "conditions": [{"type": "Ready", "status": "True"},
                                  {"type": "PredictorReady", "status": "False", "reason": "RevisionFailed",
                                   "message": "Container failed"}],
                   "components": {"predictor": {
                       "latestCreatedRevision": "fraud-detection-predictor-00002",
                       "latestReadyRevision": "fraud-detection-predictor-00002",
                       "latestRolledoutRevision": "fraud-detection-predictor-00001",
                       "previousRolledoutRevision": None, "traffic": traffic}}},
    }


REVS = [{"metadata": {"name": "fraud-detection-predictor-00001",
                      "annotations": {"internal.serving.kserve.io/storage-initializer-sourceuri":
                                      "s3://models/fraud-detection/v1"}}},
        {"metadata": {"name": "fraud-detection-predictor-00002"},
         "spec": {"containers": [{"env": [{"name": "STORAGE_URI", "value": "s3://models/fraud-detection/v2"}]}]}}]


def test_parse_isvc_fields():
    s = m.parse_isvc(isvc_dict(), REVS)
    assert (s.name, s.namespace, s.resource_version, s.ready) == ("fraud-detection", "mlops", "42", True)
    assert s.serverless and s.model_format == "sklearn" and s.runtime == "kserve-sklearnserver"
    assert s.canary_percent == 20 and s.latest_percent == 20
    assert s.stable_revision == "fraud-detection-predictor-00001"
    assert s.stable_storage_uri == "s3://models/fraud-detection/v1"
    assert s.storage_uri == "s3://models/fraud-detection/v2"
    assert (s.min_replicas, s.max_replicas) == (1, 3)
    assert [c.type for c in s.failing_conditions()] == ["PredictorReady"]
    assert s.created == 1795860000.0
    assert "00002 20% (latest) / 00001 80%" == s.traffic_text()


def test_raw_and_old_style():
    s = m.parse_isvc(isvc_dict(canary=None, traffic=[], raw=True, old_style=True))
    assert not s.serverless and s.storage_uri == "s3://models/fraud-detection/v2" and s.model_format == "sklearn"
    assert "no split" in m.split_bar(s)
    patch = m.canary_model_patch(s, "s3://x/v3", 10)
    assert patch == {"spec": {"predictor": {"sklearn": {"storageUri": "s3://x/v3"}, "canaryTrafficPercent": 10}}}


@pytest.mark.parametrize("text,value", [("0", 0), ("100", 100), (" 30 ", 30), ("45%", 45), (7, 7)])
def test_parse_percent_ok(text, value):
    assert m.parse_percent(text) == value


@pytest.mark.parametrize("text", ["-1", "101", "33.5", "abc", "", "1e2", "+5", None, True, "0x10", "١٢"])
def test_parse_percent_refused(text):
    with pytest.raises(MlopsError) as ei:
        m.parse_percent(text)
    assert ei.value.kind is Kind.INVALID and ei.value.message


@pytest.mark.parametrize("text", ["10%", " 20 ", "20\n", "0" * 5000 + "1", "9" * 5000, "+5", "1e2", "٣٠"],
                         ids=["pct", "spaces", "newline", "zeros", "digits", "plus", "exp", "arabic"])
def test_parse_percent_strict_refuses(text):
    """The CLI's form (its help says "a whole number 0..100"): digits only, and no traceback on 5000 digits."""
    with pytest.raises(MlopsError) as exc:
        m.parse_percent(text, strict=True)
    assert exc.value.kind is Kind.INVALID and len(exc.value.message) < 200



def test_patches_carry_resource_version():
    assert m.canary_patch(30, "42") == {"spec": {"predictor": {"canaryTrafficPercent": 30}},
                                        "metadata": {"resourceVersion": "42"}}
    assert m.promote_patch("7")["spec"]["predictor"] == {"canaryTrafficPercent": None}
    assert m.rollback_patch()["spec"]["predictor"] == {"canaryTrafficPercent": 0}
    assert m.min_replicas_patch(2)["spec"]["predictor"] == {"minReplicas": 2}


def test_step_and_clamp():
    assert m.stepped(20, 10) == 30 and m.stepped(95, 10) == 100 and m.stepped(5, -10) == 0
    assert m.stepped(None, -10) == 90  # unset acts as 100


def test_convergence():
    s = m.parse_isvc(isvc_dict())
    assert m.traffic_converged(s, 20)[0]
    done, why = m.traffic_converged(s, 30)
    assert not done and "20%" in why and "30%" in why
    # KServe copies the child's observedGeneration (kserve/kserve#6081): a lower value is not "not reconciled"
    copied = m.parse_isvc(isvc_dict(gen=4, observed=3))
    assert m.traffic_converged(copied, 20)[0]
    one = m.parse_isvc(isvc_dict(canary=None, traffic=[{"revisionName": "fraud-detection-predictor-00002",
                                                        "percent": 100, "latestRevision": True}]))
    assert m.traffic_converged(one, None)[0]
    done, why = m.traffic_converged(one, None, after_revision="fraud-detection-predictor-00002")
    assert not done and "not been created" in why


def test_describe_changes_and_bar():
    a = m.parse_isvc(isvc_dict(canary=20))
    b = m.parse_isvc(isvc_dict(canary=50))
    assert "canaryTrafficPercent: 20 -> 50" in m.describe_changes(a, b)
    assert "status only" in m.describe_changes(a, a)[0]
    assert m.bar(30, 10) == "███░░░░░░░"


def test_storage_uri_and_replicas_validation():
    assert m.validate_storage_uri(" s3://m/v3 ") == "s3://m/v3"
    for bad in ("", "models/v3", "s3://a b"):
        with pytest.raises(MlopsError):
            m.validate_storage_uri(bad)
    assert m.parse_replicas("2") == 2
    for bad in ("-1", "1.5", "x", ""):
        with pytest.raises(MlopsError):
            m.parse_replicas(bad)


def test_request_bodies():
    rows = [[1.0, 2.0], [3.0, 4.0]]
    assert request_body(rows, "v1") == {"instances": rows}
    v2 = request_body({"instances": rows}, "v2")
    assert v2["inputs"][0]["shape"] == [2, 2] and v2["inputs"][0]["data"] == [1.0, 2.0, 3.0, 4.0]
    assert request_body(v2, "v1") == {"instances": rows}
    assert request_body('{"v1": {"instances": [[9]]}}', "v1") == {"instances": [[9]]}
    with pytest.raises(MlopsError):
        request_body("not json", "v1")

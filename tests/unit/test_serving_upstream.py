"""Serving against KServe's own published objects (tests/fixtures/upstream/kserve/*.yaml).

Each row states what upstream documentation says the object means: who gets what percent, ready / not
ready / unknown (with the reason), whether the split has converged on what the spec asks for, and the
deployment mode. The expected values come from the docs quoted in each fixture's header (or, where the
header says "built", from KServe's Go types and controllers), never from our own output.
"""

from __future__ import annotations

import pytest

from mlopstui.errors import MlopsError
from mlopstui.models import serving as m
from support.serving_upstream import (  # noqa: F401
    FIXTURES,
    MEANINGS,
    MODE_CLASS,
    Meaning,
    config_default,
    load,
    objects,
    parsed,
    suffix,
)


def test_at_least_ten_distinct_upstream_shapes():
    names = sorted(p.stem for p in FIXTURES.glob("*.yaml") if p.stem != "inferenceservices-crd")
    assert names == sorted(MEANINGS)
    assert len(MEANINGS) >= 10
    for n in names:
        lines = (FIXTURES / f"{n}.yaml").read_text().splitlines()
        head = lines[:next(i for i, x in enumerate(lines) if not x.startswith("#"))]
        assert head[0].startswith("# repository: ") and head[1].startswith("# path: "), n
        assert any(x.startswith("# commit: ") for x in head), n


@pytest.mark.parametrize("name", sorted(MEANINGS))
def test_model_tells_what_upstream_says(name):
    want = MEANINGS[name]
    s = parsed(name)
    assert s.mode_class == MODE_CLASS[want.mode]
    assert s.canary_supported == (want.mode == "serverless")
    assert s.ready_state == want.ready
    assert s.ready == {"True": True, "False": False, "Unknown": None}[want.ready]
    if want.reason:
        assert want.reason in f"{s.ready_reason} {s.ready_message}"
    if want.mode != "serverless":
        assert s.split() == {} and s.canary_revision is None
        # canary actions are refused, with the mode in the words, and nothing is built to send
        with pytest.raises(MlopsError) as ei:
            m.require_canary_support(s)
        assert s.deployment_mode in ei.value.message and "nothing was sent" in ei.value.message
        return
    assert {suffix(k): v for k, v in s.split().items()} == want.split
    assert (suffix(s.canary_revision), s.canary_share) == want.canary
    if want.rolling_out is None:
        assert s.rolling_out is None
    else:
        rev, word = want.rolling_out
        assert suffix(s.rolling_out) == rev and word in s.rollout_reason
        assert f"rolling out: {s.rolling_out} not ready" in "\n".join(m.status_lines(s))
    done, why = m.traffic_converged(s, s.canary_percent)
    assert done is want.converged, why
    if want.stable_uri is not None:
        assert (s.stable_storage_uri or "unknown") == want.stable_uri


def test_rollout_in_progress_never_counts_the_ready_revision_as_canary():
    """Issue point 1: `latestRevision: true` names 00004 (latest ready), the canary is 00005 (latest created)."""
    s = parsed("rollout-new-revision-not-ready")
    text = s.traffic_text()
    assert "00004 100%" in text and "00005 0%" in text and "not ready" in text
    assert "10%" not in text and m.split_bar(s).endswith("  0")
    done, why = m.traffic_converged(s, 10)
    assert not done and "rolling out: sklearn-iris-predictor-default-00005 not ready" in why
    # promoting now: the plan must warn that the revision to promote is not ready
    notes = m.promote_warnings(s)
    assert notes and "00005" in notes[0] and "not ready" in notes[0]
    assert m.promote_warnings(parsed("canary-split-10")) == []


def test_stable_model_comes_from_the_revision_not_the_spec():
    """Issue point 5: the spec already names model-5 (the canary); the stable revision 00004 serves model-4."""
    s = parsed("rollout-new-revision-not-ready")
    assert s.storage_uri.endswith("model-5") and s.stable_storage_uri.endswith("model-4")
    obj = objects("canary-split-10", "InferenceService")[0]
    unread = m.parse_isvc(obj, [])  # Revisions not readable: say unknown, never the spec's URI
    assert unread.stable_storage_uri is None
    assert "stable  unknown" in "\n".join(m.status_lines(unread))


def test_mode_precedence_follows_kserve():
    """utils.GetDeploymentMode: status.deploymentMode, then the annotation, then inferenceservice-config."""
    obj = objects("config-default-standard", "InferenceService")[0]
    assert m.parse_isvc(obj).mode_class == "Serverless"  # nothing known: KServe's shipped default (Serverless)
    s = m.parse_isvc(obj, default_mode="Standard")
    assert (s.mode_class, s.mode_source) == ("RawDeployment", "inferenceservice-config")
    ann = objects("raw-deployment-annotation", "InferenceService")[0]
    assert m.parse_isvc(ann, default_mode="Serverless").mode_source == "annotation"
    st = objects("raw-deployment-status-mode", "InferenceService")[0]
    assert m.parse_isvc(st, default_mode="Serverless").mode_source == "status"
    assert m.default_mode_from_config({"deploy": '{"defaultDeploymentMode": "Knative"}'}) == "Knative"
    assert m.default_mode_from_config({"deploy": "not json"}) is None

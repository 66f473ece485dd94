"""Serving against KServe's own published objects (tests/fixtures/upstream/kserve/*.yaml).

Each row states what upstream documentation says the object means: who gets what percent, ready / not
ready / unknown (with the reason), whether the split has converged on what the spec asks for, and the
deployment mode. The expected values come from the docs quoted in each fixture's header (or, where the
header says "built", from KServe's Go types and controllers), never from our own output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from mlopstui.models import serving as m

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "kserve"


def load(name: str) -> dict:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


def objects(name: str, kind: str) -> list[dict]:
    return [o for o in load(name)["objects"] if o["kind"] == kind]


def config_default(name: str) -> str | None:
    for cm in objects(name, "ConfigMap"):
        if cm["metadata"]["name"] == "inferenceservice-config":
            return m.default_mode_from_config(cm.get("data") or {})
    return None


def parsed(name: str) -> m.InferenceService:
    return m.parse_isvc(objects(name, "InferenceService")[0], objects(name, "Revision"),
                        default_mode=config_default(name))


@dataclass(frozen=True)
class Meaning:
    """What upstream says the object means."""

    mode: str  # "serverless" | "raw" | "modelmesh"
    ready: str  # "True" | "False" | "Unknown"
    reason: str = ""  # a word the Ready reason/message must contain ("" = none checked)
    split: dict[str, int] = field(default_factory=dict)  # revision suffix -> percent actually served
    canary: tuple[str, int] | None = None  # (latestCreatedRevision suffix, its share)
    rolling_out: tuple[str, str] | None = None  # (revision suffix not ready yet, word of its reason)
    converged: bool | None = None  # the split matches what the spec asks for (None: no split in this mode)
    stable_uri: str | None = None  # the model the stable revision serves ("unknown" when unreadable)
    # `kubectl get isvc` row as documented (URL omitted): READY, PREV, LATEST, PREVROLLEDOUT, LATESTREADY
    row: tuple[str, str, str, str, str] | None = None


MEANINGS: dict[str, Meaning] = {
    # canary-example.md: "100% traffic goes to the initial model with service revision 1"
    "canary-first-rollout": Meaning("serverless", "True", split={"00001": 100}, canary=("00001", 100),
                                    converged=True, stable_uri="unknown",
                                    row=("True", "", "100", "", "sklearn-iris-predictor-default-00001")),
    # "traffic is split between the latest ready revision 2 and the previously rolled out revision 1" (10 %)
    "canary-split-10": Meaning("serverless", "True", split={"00001": 90, "00002": 10}, canary=("00002", 10),
                               converged=True, stable_uri="gs://kfserving-examples/models/sklearn/1.0/model",
                               row=("True", "90", "10", "sklearn-iris-predictor-default-00001",
                                    "sklearn-iris-predictor-default-00002")),
    # "Now all traffic goes to the revision 2 for the new model"
    "canary-promoted": Meaning("serverless", "True", split={"00002": 100}, canary=("00002", 100), converged=True,
                               row=("True", "", "100", "", "sklearn-iris-predictor-default-00002")),
    # "now 100% traffic goes to the previous good model (model v1) for revision generation 1"
    "canary-rollback-pinned": Meaning("serverless", "True", split={"00001": 100, "00002": 0}, canary=("00002", 0),
                                      converged=True,
                                      row=("True", "100", "0", "sklearn-iris-predictor-default-00001",
                                           "sklearn-iris-predictor-default-00002")),
    # rollout README, tag routing: latest tag -> 00003 at 10 %, prev tag -> 00001 at 90 %
    "tag-routing-prev-latest": Meaning("serverless", "True", split={"00003": 10, "00001": 90},
                                       canary=("00003", 10), converged=True),
    # Go types: Knative resolves latestRevision: true to the latest READY revision (00004): 00005 gets nothing
    # yet, and the split asked for (10 % canary) is not there. KServe's own printer columns still print 90/10
    # (both on 00004): the row is what the CRD's JSONPaths give, which is why we do not read them.
    "rollout-new-revision-not-ready": Meaning(
        "serverless", "Unknown", reason="OutOfDate", split={"00004": 100, "00005": 0}, canary=("00005", 0),
        rolling_out=("00005", "Deploying"), converged=False, stable_uri="gs://kserve-examples/models/sklearn/1.0/model-4",
        row=("Unknown", "90", "10", "sklearn-iris-predictor-default-00004", "sklearn-iris-predictor-default-00004")),
    # issue #1601: 'Latest created revision "...-00002" has failed'; 00001 keeps all traffic
    "rollout-revision-failed": Meaning("serverless", "False", reason="RevisionFailed", split={"00001": 100, "00002": 0},
                                       canary=("00002", 0), rolling_out=("00002", "RevisionFailed"),
                                       converged=False),
    # debugging.md: latest created revision READY Unknown, REASON Deploying; nothing served yet
    "first-revision-deploying-unknown": Meaning("serverless", "Unknown", reason="Deploying", split={},
                                                canary=("00001", 0), rolling_out=("00001", "Deploying"),
                                                converged=False),
    # issue #4626: deploymentMode RawDeployment in status, all conditions True
    "raw-deployment-status-mode": Meaning("raw", "True"),
    # issue #3817: the mode only in the annotation (KServe before status.deploymentMode)
    "raw-deployment-annotation": Meaning("raw", "True"),
    # PropagateRawStatus: Progressing=True (not NewReplicaSetAvailable) -> PredictorReady Unknown, Ready Unknown
    "raw-standard-progressing-unknown": Meaning("raw", "Unknown", reason="PredictorReady"),
    # modelmesh-serving predictors/README.md: PredictorReady False, Ready False while the runtime pod starts
    "modelmesh-loading": Meaning("modelmesh", "False"),
    # modelmesh-serving predictors/README.md: READY True, URL grpc://modelmesh-serving...:8033, no PREV/LATEST
    "modelmesh-ready-transition": Meaning("modelmesh", "True", row=("True", "", "", "", "")),
    # issue #6081: observedGeneration (2) is the Knative Service's counter, the object is at generation 3 and
    # fully Ready: the 30/70 split the spec asks for is there
    "copied-observed-generation": Meaning("serverless", "True", split={"00003": 30, "00002": 70},
                                          canary=("00003", 30), converged=True),
    # inferenceservice-config says Standard; no annotation, no status.deploymentMode
    "config-default-standard": Meaning("raw", "True"),
}

MODE_CLASS = {"serverless": "Serverless", "raw": "RawDeployment", "modelmesh": "ModelMesh"}


def suffix(rev: str | None) -> str | None:
    return None if rev is None else rev.rsplit("-", 1)[-1]


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
        with pytest.raises(m.MlopsError) as ei:
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

"""KServe's own published objects (tests/fixtures/upstream/kserve/*.yaml) and what upstream documentation says
each means: shared by the model tests (tests/unit/test_serving_upstream.py) and the emulator fidelity tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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

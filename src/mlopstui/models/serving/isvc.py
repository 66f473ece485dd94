"""The InferenceService view model and its parsing: deployment modes (annotation, status, the cluster's
default), revisions, conditions, traffic targets, and whether the status converged. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopstui.units import parse_time

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
# KServe's deployment modes (pkg/constants: Serverless/RawDeployment are the legacy names of Knative/Standard)
SERVERLESS_MODES = ("serverless", "knative")
RAW_MODES = ("rawdeployment", "standard")
MODELMESH_MODES = ("modelmesh",)
KNOWN_MODES = {"serverless": "Serverless", "knative": "Knative", "rawdeployment": "RawDeployment",
               "standard": "Standard", "modelmesh": "ModelMesh"}
SHIPPED_DEFAULT_MODE = "Serverless"  # kserve config/configmap/inferenceservice.yaml: deploy.defaultDeploymentMode
# KServe's cluster configuration: its name, and the namespaces it is installed in (standalone; Kubeflow)
ISVC_CONFIG = ("inferenceservice-config", ("kserve", "kubeflow"))
MODE_SOURCE_WORDS = {"status": "from status.deploymentMode", "annotation": "from the deploymentMode annotation",
                     "inferenceservice-config": "the cluster default in inferenceservice-config",
                     "assumed": "assumed: no status, annotation or readable inferenceservice-config; KServe ships "
                                "Serverless"}  # (namespace, name) of KServe's cluster configuration
# where a Revision says which model it serves: KServe's storage-initializer annotation (pkg/constants
# StorageInitializerSourceUriInternalAnnotationKey) and the older public key (the sandbox writes KServe's)
REVISION_URI_KEYS = ("internal.serving.kserve.io/storage-initializer-sourceuri",
                     "serving.kserve.io/storage-initializer-sourceuri")
# conditions that carry why a new revision is not ready yet, most specific first
ROLLOUT_CONDITIONS = ("PredictorConfigurationReady", "LatestDeploymentReady", "PredictorReady", "Ready")
# the framework keys of the old-style predictor spec (spec.predictor.sklearn.storageUri ...)
FRAMEWORK_KEYS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "lightgbm", "pmml",
                  "paddle", "huggingface")

UNSUPPORTED_RAW = ("KServe canary rollout works only in Serverless (Knative) mode; a RawDeployment InferenceService "
                   "cannot split traffic")
UNSUPPORTED = {
    "RawDeployment": UNSUPPORTED_RAW,
    "ModelMesh": ("KServe canary rollout works only in Serverless (Knative) mode; a ModelMesh InferenceService has "
                  "no revisions and no traffic split (ModelMesh swaps the model in place)"),
}


@dataclass(frozen=True)
class TrafficTarget:
    revision: str
    percent: int
    latest: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "True"


@dataclass
class InferenceService:
    name: str
    namespace: str
    resource_version: str = ""
    generation: int = 0
    observed_generation: int | None = None
    created: float | None = None
    ready: bool | None = None  # True / False / None (Unknown, or no Ready condition)
    ready_state: str = "Unknown"  # the Ready condition's status: "True" | "False" | "Unknown"
    ready_reason: str = ""
    ready_message: str = ""
    url: str | None = None
    deployment_mode: str = "Serverless"
    mode_source: str = "assumed"  # status | annotation | inferenceservice-config | assumed
    model_format: str = ""
    runtime: str = ""
    storage_uri: str | None = None  # what the spec says now (the latest / canary revision)
    stable_storage_uri: str | None = None  # what the stable (non-latest) revision serves, when known
    canary_percent: int | None = None  # spec.predictor.canaryTrafficPercent (None: not set)
    traffic: list[TrafficTarget] = field(default_factory=list)
    latest_created: str | None = None
    latest_ready: str | None = None
    latest_rolledout: str | None = None
    previous_rolledout: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    conditions: list[Condition] = field(default_factory=list)
    revision_uris: dict[str, str] = field(default_factory=dict)
    revision_reasons: dict[str, str] = field(default_factory=dict)  # not-ready Revision -> its reason
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def mode_class(self) -> str:
        """Serverless, RawDeployment or ModelMesh, whatever name (legacy or new) the cluster uses."""
        return mode_class(self.deployment_mode)

    @property
    def serverless(self) -> bool:
        return self.mode_class == "Serverless"

    @property
    def canary_supported(self) -> bool:
        return self.serverless

    def split(self) -> dict[str, int]:
        """Revision -> percent it is actually served (traffic entries summed per revision, in status order).

        The latestCreatedRevision appears with 0 when it is not in the traffic list (not ready yet)."""
        if not self.serverless:
            return {}
        out: dict[str, int] = {}
        for t in self.traffic:
            out[t.revision] = out.get(t.revision, 0) + t.percent
        if out and self.canary_revision and self.canary_revision not in out:
            out[self.canary_revision] = 0
        return out

    @property
    def canary_revision(self) -> str | None:
        """The revision a canary percent applies to: the latestCreatedRevision (Serverless only).

        Knative puts `latestRevision: true` on the entry of the latest READY revision, so that flag names the
        previous revision while a new one is rolling out; only latestCreatedRevision names the canary."""
        if not self.serverless:
            return None
        return self.latest_created or self.latest_ready

    @property
    def canary_share(self) -> int:
        """The percent the canary (latestCreatedRevision) actually gets: 0 while it is not ready."""
        return self.percent_of(self.canary_revision)

    @property
    def rolling_out(self) -> str | None:
        """The latestCreatedRevision while it is not the latestReadyRevision (created, not ready yet)."""
        if self.serverless and self.latest_created and self.latest_created != self.latest_ready:
            return self.latest_created
        return None

    @property
    def rollout_reason(self) -> str:
        """Why the rolling-out revision is not ready: its Revision's condition, else the InferenceService's."""
        rev = self.rolling_out
        if rev and self.revision_reasons.get(rev):
            return self.revision_reasons[rev]
        for ctype in ROLLOUT_CONDITIONS:
            c = self.condition(ctype)
            if c is not None and not c.ok and (c.reason or c.message):
                return condition_words(c)
        return "no reason reported"

    @property
    def stable_revision(self) -> str | None:
        """The revision holding the non-canary share: biggest target not on the canary, else the rolled-out one."""
        others: dict[str, int] = {}
        for t in self.traffic:
            if t.revision != self.canary_revision:
                others[t.revision] = others.get(t.revision, 0) + t.percent
        if others:
            return max(others.items(), key=lambda kv: kv[1])[0]
        return self.latest_rolledout

    def percent_of(self, revision: str | None) -> int:
        return sum(t.percent for t in self.traffic if revision and t.revision == revision)

    @property
    def latest_percent(self) -> int | None:
        """The traffic share of the canary (latestCreatedRevision) as status reports it (None: no traffic)."""
        if not self.traffic:
            return None
        return self.canary_share

    @property
    def canary_active(self) -> bool:
        """A split is set or in effect (Serverless): a canary percent below 100, traffic on a revision other
        than the latest, or a latest revision still rolling out. False once promoted."""
        if not self.serverless:
            return False
        if self.canary_percent is not None and self.canary_percent < 100:
            return True
        if self.rolling_out:
            return True
        return any(t.percent > 0 and t.revision != self.canary_revision for t in self.traffic)

    @property
    def effective_canary(self) -> int:
        """canaryTrafficPercent as it acts: absent means the latest revision takes 100%."""
        return 100 if self.canary_percent is None else self.canary_percent

    def condition(self, ctype: str) -> Condition | None:
        for c in self.conditions:
            if c.type == ctype:
                return c
        return None

    def failing_conditions(self) -> list[Condition]:
        return [c for c in self.conditions if not c.ok]

    def traffic_text(self) -> str:
        if not self.serverless:
            return f"100% ({self.mode_class}: no split)"
        split = self.split()
        if not split:
            return "-"
        parts = []
        for rev, pct in split.items():
            mark = ""
            if rev == self.canary_revision:
                mark = " (latest, not ready)" if rev == self.rolling_out else " (latest)"
            parts.append(f"{short_revision(rev, self.name)} {pct}%{mark}")
        return " / ".join(parts)

    def ready_text(self) -> str:
        """`True`, `False (reason: message)`, `Unknown (reason)`."""
        words = condition_words(Condition("Ready", self.ready_state, self.ready_reason, self.ready_message))
        return self.ready_state + (f" ({words})" if words else "")

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (for --json)."""
        return {
            "name": self.name, "namespace": self.namespace, "ready": self.ready, "readyState": self.ready_state,
            "readyReason": self.ready_reason, "readyMessage": self.ready_message, "url": self.url,
            "deploymentMode": self.deployment_mode, "deploymentModeSource": self.mode_source,
            "modeClass": self.mode_class, "canarySupported": self.canary_supported,
            "modelFormat": self.model_format, "runtime": self.runtime,
            "storageUri": self.storage_uri, "stableStorageUri": self.stable_storage_uri,
            "canaryTrafficPercent": self.canary_percent,
            "traffic": [{"revisionName": t.revision, "percent": t.percent, "latestRevision": t.latest,
                         "tag": t.tag} for t in self.traffic],
            "split": [{"revisionName": r, "percent": p} for r, p in self.split().items()],
            "canaryRevision": self.canary_revision, "canaryShare": self.canary_share if self.serverless else None,
            "stableRevision": self.stable_revision if self.serverless else None,
            "rollingOut": ({"revisionName": self.rolling_out, "reason": self.rollout_reason}
                           if self.rolling_out else None),
            "converged": (dict(zip(("done", "why"), traffic_converged(self, self.canary_percent), strict=True))
                          if self.serverless else None),
            "latestCreatedRevision": self.latest_created, "latestReadyRevision": self.latest_ready,
            "latestRolledoutRevision": self.latest_rolledout,
            "previousRolledoutRevision": self.previous_rolledout,
            "minReplicas": self.min_replicas, "maxReplicas": self.max_replicas,
            "conditions": [{"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
                           for c in self.conditions],
            "resourceVersion": self.resource_version,
        }


# -- parsing ---------------------------------------------------------------------------------------
def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def predictor_model(predictor: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(key, model spec): "model" for the new style, the framework key for the old style."""
    if isinstance(predictor.get("model"), dict):
        return "model", predictor["model"]
    for k in FRAMEWORK_KEYS:
        if isinstance(predictor.get(k), dict):
            return k, predictor[k]
    return None, {}


def condition_words(c: Condition) -> str:
    """`reason: message` of a condition (either may be missing)."""
    return ": ".join(x for x in (c.reason, c.message) if x)


def default_mode_from_config(data: dict[str, Any]) -> str | None:
    """deploy.defaultDeploymentMode of the inferenceservice-config ConfigMap's data (None: not readable)."""
    import json

    try:
        deploy = json.loads(data.get("deploy") or "")
    except (TypeError, ValueError):
        return None
    mode = deploy.get("defaultDeploymentMode") if isinstance(deploy, dict) else None
    return mode if isinstance(mode, str) and mode else None


def mode_class(mode: str | None) -> str:
    """Serverless, RawDeployment or ModelMesh for a deploymentMode in its legacy or new name."""
    low = (mode or "").lower()
    if low in RAW_MODES:
        return "RawDeployment"
    if low in MODELMESH_MODES:
        return "ModelMesh"
    return "Serverless"


def isvc_mode(obj: dict[str, Any], default_mode: str | None = None) -> tuple[str, str]:
    """(deploymentMode, where it came from) of an InferenceService object: the one detection, used by
    parse_isvc and the doctor."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return resolve_mode((obj.get("status") or {}).get("deploymentMode"), annotations.get(DEPLOYMENT_MODE_ANNOTATION),
                        default_mode)


def resolve_mode(status_mode: Any, annotation: Any, default_mode: str | None) -> tuple[str, str]:
    """(mode, where it came from), in KServe's order (controller utils.GetDeploymentMode): the mode recorded in
    status, then a known annotation value, then the cluster's inferenceservice-config default."""
    if isinstance(status_mode, str) and status_mode:
        return status_mode, "status"
    if isinstance(annotation, str) and annotation.lower() in KNOWN_MODES:
        return KNOWN_MODES[annotation.lower()], "annotation"
    if default_mode:
        return default_mode, "inferenceservice-config"
    return SHIPPED_DEFAULT_MODE, "assumed"


def revision_not_ready_reason(rev: dict[str, Any]) -> str | None:
    """`reason: message` of a Knative Revision's Ready condition when it is not True."""
    for c in (rev.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and str(c.get("status")) != "True":
            return condition_words(Condition("Ready", str(c.get("status")), c.get("reason") or "",
                                             c.get("message") or "")) or f"Ready={c.get('status')}"
    return None


def revision_storage_uri(rev: dict[str, Any]) -> str | None:
    meta = rev.get("metadata") or {}
    tmeta = ((rev.get("spec") or {}).get("template") or {}).get("metadata") or {}
    for ann in (meta.get("annotations") or {}, tmeta.get("annotations") or {}):
        for k in REVISION_URI_KEYS:
            if ann.get(k):
                return ann[k]
    for c in (rev.get("spec") or {}).get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == "STORAGE_URI" and e.get("value"):
                return e["value"]
    return None


def parse_isvc(obj: dict[str, Any], revisions: list[dict[str, Any]] | None = None,
               default_mode: str | None = None) -> InferenceService:
    """revisions: the Knative Revisions of this InferenceService that could be read; default_mode: the
    cluster's inferenceservice-config defaultDeploymentMode when it could be read."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    predictor = spec.get("predictor") or {}
    key, model = predictor_model(predictor)
    fmt = (model.get("modelFormat") or {}).get("name") or (key if key not in (None, "model") else "") or ""
    if (model.get("modelFormat") or {}).get("version"):
        fmt += f":{model['modelFormat']['version']}"
    mode, mode_source = isvc_mode(obj, default_mode)
    comp = (status.get("components") or {}).get("predictor") or {}
    traffic = [TrafficTarget(revision=t.get("revisionName") or t.get("configurationName") or "?",
                             percent=_int(t.get("percent")) or 0, latest=bool(t.get("latestRevision")),
                             tag=t.get("tag"))
               for t in comp.get("traffic") or []]
    conditions = [Condition(c.get("type", ""), str(c.get("status", "Unknown")), c.get("reason") or "",
                            c.get("message") or "")
                  for c in status.get("conditions") or []]
    ready_c = next((c for c in conditions if c.type == "Ready"), None)
    name = meta.get("name", "")
    rev_uris: dict[str, str] = {}
    rev_reasons: dict[str, str] = {}
    for rev in revisions or []:
        rname = (rev.get("metadata") or {}).get("name")
        uri = revision_storage_uri(rev)
        if rname and uri:
            rev_uris[rname] = uri
        why = revision_not_ready_reason(rev)
        if rname and why:
            rev_reasons[rname] = why
    isvc = InferenceService(
        name=name,
        namespace=meta.get("namespace", ""),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=_int(meta.get("generation")) or 0,
        observed_generation=_int(status.get("observedGeneration")),
        created=parse_time(meta.get("creationTimestamp")),
        ready=None if ready_c is None or ready_c.status not in ("True", "False") else ready_c.ok,
        ready_state=ready_c.status if ready_c is not None and ready_c.status in ("True", "False") else "Unknown",
        ready_reason=ready_c.reason if ready_c else "no Ready condition reported",
        ready_message=ready_c.message if ready_c else "",
        url=status.get("url") or comp.get("url"),
        deployment_mode=mode,
        mode_source=mode_source,
        model_format=fmt,
        runtime=model.get("runtime") or "",
        storage_uri=model.get("storageUri") or predictor.get("storageUri"),
        canary_percent=_int(predictor.get("canaryTrafficPercent")),
        traffic=traffic,
        latest_created=comp.get("latestCreatedRevision"),
        latest_ready=comp.get("latestReadyRevision"),
        latest_rolledout=comp.get("latestRolledoutRevision"),
        previous_rolledout=comp.get("previousRolledoutRevision"),
        min_replicas=_int(predictor.get("minReplicas")),
        max_replicas=_int(predictor.get("maxReplicas")),
        conditions=conditions,
        revision_uris=rev_uris,
        revision_reasons=rev_reasons,
        raw=obj,
    )
    if isvc.serverless:
        # the stable model is what the stable revision serves, read from its Knative Revision; the spec names
        # the latest (canary) model, which may not be rolled out yet. Unreadable: None ("unknown").
        stable = isvc.stable_revision
        isvc.stable_storage_uri = rev_uris.get(stable) if stable else None
    else:
        isvc.stable_storage_uri = isvc.storage_uri  # one model, no revisions
    return isvc


def short_revision(revision: str | None, isvc_name: str) -> str:
    """`fraud-detection-predictor-00002` -> `00002` (shorter columns at 80x24)."""
    if not revision:
        return "-"
    for prefix in (f"{isvc_name}-predictor-default-", f"{isvc_name}-predictor-"):
        if revision.startswith(prefix):
            return revision[len(prefix):]
    return revision


def traffic_converged(isvc: InferenceService, canary: int | None,
                      after_revision: str | None = None) -> tuple[bool, str]:
    """Whether status traffic matches canary (None = promoted: the latest revision takes 100%).

    Decided from the conditions, the revision names and the traffic list. status.observedGeneration is not
    used: KServe copies the child's counter there (kserve/kserve issue 6081), so it need not equal
    metadata.generation even when everything is reconciled.
    after_revision: the latestCreatedRevision before a change that makes a new revision; a newer one must be
    created (and, when it should get traffic, ready). Returns (done, why not / the split).
    """
    if not isvc.serverless:
        if isvc.ready_state == "True":
            return True, f"Ready ({isvc.mode_class}: no split)"
        return False, f"Ready is {isvc.ready_text()}"
    want = 100 if canary is None else canary
    if after_revision is not None and (not isvc.latest_created or isvc.latest_created == after_revision):
        return False, "the new revision has not been created yet"
    if isvc.rolling_out and want > 0:
        return False, (f"rolling out: {isvc.rolling_out} not ready ({isvc.rollout_reason}); "
                       f"traffic {isvc.traffic_text()}")
    if not isvc.traffic:
        return False, "status reports no traffic yet"
    total = sum(t.percent for t in isvc.traffic)
    if total != 100:
        return False, f"traffic adds up to {total}%"
    have = isvc.canary_share
    if have != want:
        return False, f"latest revision has {have}% (want {want}%): {isvc.traffic_text()}"
    route = isvc.condition("PredictorRouteReady") or isvc.condition("RoutesReady")
    if route is not None and route.status != "True":
        return False, f"route not ready ({route.type}={route.status} {condition_words(route)})".rstrip()
    if want > 0 and isvc.ready_state != "True":
        return False, f"Ready is {isvc.ready_text()}: {isvc.traffic_text()}"
    return True, isvc.traffic_text()

"""InferenceService view model, traffic arithmetic, percent validation and patch builders (pure).

Nothing here does I/O: the backend hands in dicts from the API server (and the Knative Revisions
it found), the actions build their merge patches with the builders below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.objects import with_resource_version
from mlopstui.units import (
    clock,
    parse_time,  # noqa: F401 - the one timestamp parser (also models.X.parse_time)
)

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


# -- input validation ------------------------------------------------------------------------------
_INT_RE = re.compile(r"^[0-9]+$")


def parse_percent(text: Any, *, strict: bool = False) -> int:
    """An exact canary percent: an integer 0..100 written as digits. Anything else is refused.

    strict (the CLI, whose help says "a whole number"): digits only, no spaces, no '%'. The TUI's
    prompt is lenient about " 30 " and "30%" that a person types.
    """
    hint = "type a whole number from 0 to 100 (no sign, decimals, exponents" + (", spaces or %)" if strict else ")")
    if isinstance(text, bool):
        raise MlopsError(Kind.INVALID, f"not a percent: {text!r}", hint=hint)
    if isinstance(text, int):
        s = str(text)
    else:
        s = "" if text is None else str(text)
        if not strict:
            s = s.strip()
            if s.endswith("%"):
                s = s[:-1].strip()
    if not s:
        raise MlopsError(Kind.INVALID, "no percent given", hint=hint)
    shown = s if len(s) <= 20 else s[:12] + f"... ({len(s)} characters)"
    if not _INT_RE.fullmatch(s):
        raise MlopsError(Kind.INVALID, f"not a whole percent: {shown!r}", hint=hint)
    if len(s if strict else s.lstrip("0")) > 3:  # before int(): 5000 digits exceed Python's int parsing limit
        raise MlopsError(Kind.INVALID, f"percent out of range: {shown}", hint=hint)
    value = int(s.lstrip("0") or "0")
    if value > 100:
        raise MlopsError(Kind.INVALID, f"percent out of range: {value}", hint=hint)
    return value


def parse_replicas(text: Any, upper: int = 1000) -> int:
    """A replica count: an integer 0..upper written as digits."""
    s = "" if text is None else str(text).strip()
    if not s:
        raise MlopsError(Kind.INVALID, "no replica count given", hint="type a whole number, e.g. 1")
    if not _INT_RE.fullmatch(s) or len(s.lstrip("0")) > 6:
        shown = s if len(s) <= 20 else s[:12] + f"... ({len(s)} characters)"
        raise MlopsError(Kind.INVALID, f"not a whole replica count in range: {shown!r}",
                         hint=f"type a whole number 0..{upper}, e.g. 1")
    value = int(s.lstrip("0") or "0")
    if value > upper:
        raise MlopsError(Kind.INVALID, f"replica count out of range: {value}", hint=f"at most {upper}")
    return value


def validate_storage_uri(text: Any) -> str:
    s = "" if text is None else str(text).strip()
    if not s:
        raise MlopsError(Kind.INVALID, "no storageUri given", hint="e.g. s3://models/fraud-detection/v3")
    from mlopstui.text import control_chars

    bad = control_chars(s)
    if bad:
        raise MlopsError(Kind.INVALID, f"storageUri holds control characters ({', '.join(bad)}); nothing was sent",
                         hint="type the URI again without terminal escapes")
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", s) or any(c.isspace() for c in s):
        raise MlopsError(Kind.INVALID, f"not a storage URI: {s!r}",
                         hint="scheme://path, e.g. s3://models/fraud-detection/v3 or pvc://claim/path")
    return s


def clamp_percent(value: int) -> int:
    return max(0, min(100, int(value)))


def stepped(current: int | None, delta: int) -> int:
    """The canary percent after moving by delta (current None acts as 100), clamped to 0..100."""
    return clamp_percent((100 if current is None else current) + delta)


def require_canary_support(isvc: InferenceService) -> None:
    """Refuse canary actions (canary percent, promote, rollback) outside Serverless, before anything is built."""
    if isvc.canary_supported:
        return
    why = UNSUPPORTED.get(isvc.mode_class, UNSUPPORTED_RAW)
    raise MlopsError(Kind.UNSUPPORTED,
                     f"{isvc.name} is a {isvc.deployment_mode} InferenceService (mode from {isvc.mode_source}): "
                     f"{why}; nothing was sent",
                     hint="redeploy it in Serverless mode (Knative) to roll out by canary")


def rollout_warning(isvc: InferenceService) -> str | None:
    """Words for a plan made while the latest created revision is not ready."""
    rev = isvc.rolling_out
    if not rev:
        return None
    stable = isvc.stable_revision or isvc.latest_ready or "the previous revision"
    return (f"revision {rev} (latestCreatedRevision) is not ready ({isvc.rollout_reason}): it gets no traffic "
            f"until it is; {stable} keeps serving")


def promote_warnings(isvc: InferenceService) -> list[str]:
    w = rollout_warning(isvc)
    return [f"WARNING: promoting {isvc.rolling_out}, which is not ready: " + w] if w else []


# -- patches ---------------------------------------------------------------------------------------
def canary_patch(percent: int, resource_version: str | None = None) -> dict[str, Any]:
    return with_resource_version({"spec": {"predictor": {"canaryTrafficPercent": clamp_percent(percent)}}},
                                 resource_version)


def promote_patch(resource_version: str | None = None) -> dict[str, Any]:
    """Merge-patch null removes canaryTrafficPercent: the latest revision takes 100%."""
    return with_resource_version({"spec": {"predictor": {"canaryTrafficPercent": None}}}, resource_version)


def rollback_patch(resource_version: str | None = None) -> dict[str, Any]:
    """canaryTrafficPercent 0: the previous rolled-out revision takes 100%."""
    return canary_patch(0, resource_version)


def min_replicas_patch(n: int, resource_version: str | None = None) -> dict[str, Any]:
    return with_resource_version({"spec": {"predictor": {"minReplicas": int(n)}}}, resource_version)


def canary_model_patch(isvc: InferenceService, storage_uri: str, percent: int | None,
                       resource_version: str | None = None) -> dict[str, Any]:
    """New storageUri (a new revision) with `percent` of traffic; None leaves the canary share unset (100%)."""
    key, _ = predictor_model((isvc.raw.get("spec") or {}).get("predictor") or {})
    pred: dict[str, Any] = {key or "model": {"storageUri": storage_uri}}
    pred["canaryTrafficPercent"] = None if percent is None else clamp_percent(percent)
    return with_resource_version({"spec": {"predictor": pred}}, resource_version)


# -- expected traffic and convergence -----------------------------------------------------------------
def expected_split(isvc: InferenceService, canary: int | None, new_revision: bool = False) -> str:
    """What the split should become, in words, for the plan."""
    if canary is None or canary >= 100:
        return "latest revision" + (" (new)" if new_revision else "") + " 100%"
    stable = isvc.latest_ready if new_revision else isvc.stable_revision
    if stable == isvc.latest_created and not new_revision:
        stable = isvc.previous_rolledout or stable
    if canary == 0:
        return f"{stable or 'previous rolled-out revision'} 100%, latest revision 0%"
    return (f"latest revision{' (new)' if new_revision else ''} {canary}%, "
            f"{stable or 'previous rolled-out revision'} {100 - canary}%")


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


def status_lines(isvc: InferenceService) -> list[str]:
    """What the status means, in words (shared by the CLI detail and the TUI panels)."""
    lines = [f"ready   {isvc.ready_text()}",
             f"mode    {isvc.deployment_mode} ({isvc.mode_class}; {MODE_SOURCE_WORDS.get(isvc.mode_source, isvc.mode_source)})"]
    if not isvc.serverless:
        lines.append(f"model   {isvc.storage_uri or '-'} (one model: no revisions, no traffic split)")
        return lines
    lines.append(f"stable  {isvc.stable_storage_uri or 'unknown'}"
                 f"{' (' + isvc.stable_revision + ')' if isvc.stable_revision else ''}")
    lines.append(f"latest  {isvc.storage_uri or '-'} (spec; revision {isvc.canary_revision or '-'})")
    if isvc.rolling_out:
        lines.append(f"rolling out: {isvc.rolling_out} not ready ({isvc.rollout_reason}); it gets 0%")
    done, why = traffic_converged(isvc, isvc.canary_percent)
    lines.append(f"split   {'converged' if done else 'not converged'}: {why}")
    lines += rollout_lines(isvc)
    return lines


def rollout_lines(isvc: InferenceService, now: float | None = None) -> list[str]:
    """The progressive rollout recorded in the annotation mlopstui.dev/rollout (see models/rollout.py)."""

    from mlopstui.models import rollout

    text = ((isvc.raw.get("metadata") or {}).get("annotations") or {}).get(rollout.ANNOTATION)
    if not text:
        return []
    try:
        st = rollout.RolloutState.from_annotation(text)
    except MlopsError as exc:
        return [f"rollout annotation {rollout.ANNOTATION} unreadable: {exc.message}"]
    if st is None:
        return []
    lines = [st.summary_text(clock() if now is None else now).replace("NAME", isvc.name)]
    gates = [f"{g.get('gate')} {'ok' if g.get('ok') else 'FAIL' if g.get('ok') is False else 'wait'}"
             for g in st.gates if isinstance(g, dict)]
    if gates:
        src = (st.measured or {}).get("source") or "?"
        lines.append(f"gates   {', '.join(gates)} ({src})")
    return lines


def describe_changes(before: InferenceService, after: InferenceService) -> list[str]:
    """What someone else changed between two reads (for the 409 re-ask)."""
    out: list[str] = []

    def cmp(label: str, a: Any, b: Any) -> None:
        if a != b:
            out.append(f"{label}: {a if a is not None else '(unset)'} -> {b if b is not None else '(unset)'}")

    cmp("canaryTrafficPercent", before.canary_percent, after.canary_percent)
    cmp("storageUri", before.storage_uri, after.storage_uri)
    cmp("minReplicas", before.min_replicas, after.min_replicas)
    cmp("maxReplicas", before.max_replicas, after.max_replicas)
    cmp("latestCreatedRevision", before.latest_created, after.latest_created)
    cmp("traffic", before.traffic_text(), after.traffic_text())
    if not out:
        out.append(f"resourceVersion {before.resource_version} -> {after.resource_version} "
                   "(metadata or status only)")
    return out


def bar(percent: int, width: int = 10) -> str:
    """A text bar: `███████░░░` for 70%."""
    p = clamp_percent(percent)
    filled = round(p * width / 100)
    return "█" * filled + "░" * (width - filled)


def split_bar(isvc: InferenceService, width: int = 10) -> str:
    """The canary share as a bar with its number: `██░░░░░░░░ 20%`."""
    if not isvc.serverless:
        return f"{'raw' if isvc.mode_class == 'RawDeployment' else 'modelmesh'}: no split"
    lp = isvc.latest_percent
    if lp is None:
        return "-"
    if len(isvc.traffic) == 1 and lp == 100:
        return f"{bar(100, width)} 100"
    return f"{bar(lp, width)} {lp:>3}"


# -- inference requests (pure: the body and path for a protocol) -------------------------------------------
def request_body(sample: Any, protocol: str) -> dict[str, Any]:
    """A request body for the protocol from a sample.

    A sample may be: {"v1": {...}, "v2": {...}}; a v1 body {"instances": [...]}; a v2 body
    {"inputs": [...]}; or a bare list of rows. v1 rows are converted to a v2 FP64 tensor and back.
    """
    if isinstance(sample, str):
        try:
            sample = json.loads(sample)
        except ValueError as exc:
            raise MlopsError(Kind.INVALID, f"input is not JSON: {exc}",
                             hint='e.g. [[120.0, 3, 0.4, 2, 80.0, 12.5]] or {"instances": [...]}') from None
    if isinstance(sample, dict) and protocol in sample and isinstance(sample[protocol], dict):
        return sample[protocol]
    if isinstance(sample, dict) and isinstance(sample.get("v1"), dict) and protocol == "v2":
        sample = sample["v1"]
    if isinstance(sample, dict) and isinstance(sample.get("v2"), dict) and protocol == "v1":
        sample = sample["v2"]
    rows: Any = None
    if isinstance(sample, list):
        rows = sample
    elif isinstance(sample, dict) and "instances" in sample:
        if protocol == "v1":
            return sample
        rows = sample["instances"]
    elif isinstance(sample, dict) and "inputs" in sample:
        if protocol == "v2":
            return sample
        inp = sample["inputs"][0] if sample["inputs"] else {}
        data, shape = inp.get("data") or [], inp.get("shape") or []
        if len(shape) == 2 and shape[1]:
            rows = [data[i:i + shape[1]] for i in range(0, len(data), shape[1])]
        else:
            rows = [data]
    if rows is None:
        raise MlopsError(Kind.INVALID, "the sample is neither rows, a v1 body nor a v2 body",
                         hint='set settings.inference_sample, e.g. {"instances": [[...]]}')
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    if protocol == "v1":
        return {"instances": rows}
    flat = [x for r in rows for x in r]
    return {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0]) if rows else 0],
                        "datatype": "FP64", "data": flat}]}


def infer_path(model: str, protocol: str) -> str:
    if protocol == "v2":
        return f"/v2/models/{model}/infer"
    return f"/v1/models/{model}:predict"


def test_body(sample: Any, protocol: str) -> dict[str, Any]:
    """The body of a test request from the typed input or settings.inference_sample: MlopsError (CONFIG: no
    input; INVALID: not JSON / not rows or a body) before anything is sent."""
    if sample is None:
        raise MlopsError(Kind.CONFIG, "no request input: type one or set settings.inference_sample",
                         hint='e.g. [[120.0, 3, 0.4, 2, 80.0, 12.5]] or {"instances": [...]}')
    return request_body(sample, protocol)


test_body.__test__ = False  # not a pytest test


# -- the renderer: one InferenceService in words (TUI detail, drill-in, CLI) ---------------------------
def detail_lines(s: InferenceService, width: int = 12, full: bool = False) -> list[str]:
    """One InferenceService in words: the Serving screen's detail panel, and with full=True (every condition on
    its own line, the split's convergence, where the mode came from) the drill-in and `mlopstui isvc NAME`."""
    ready = ready_word(s.ready) + (f" ({s.ready_reason})" if s.ready is not True and s.ready_reason else "")
    lines = [f"{s.namespace}/{s.name}  ready {ready}  {s.deployment_mode}  "
             f"{s.model_format or '-'}{' / ' + s.runtime if s.runtime else ''}",
             f"url     {s.url or '-'}",
             f"stable  {(s.stable_storage_uri or 'unknown') if s.serverless else (s.storage_uri or '-')}",
             f"canary  {s.storage_uri or '-'}  canaryTrafficPercent "
             f"{'unset' if s.canary_percent is None else str(s.canary_percent) + '%'}"]
    if s.serverless:
        for rev, pct in s.split().items():
            mark = ""
            if rev == s.canary_revision:
                mark = " (latest, not ready)" if rev == s.rolling_out else " (latest)"
            lines.append(f"  {bar(pct, width)} {pct:>3}% {rev}{mark}")
        if s.rolling_out:
            lines.append(f"rolling out: {s.rolling_out} not ready ({s.rollout_reason})")
        lines.append(f"latestReady {short_revision(s.latest_ready, s.name)}  rolledout "
                     f"{short_revision(s.latest_rolledout, s.name)}  previous "
                     f"{short_revision(s.previous_rolledout, s.name)}")
    else:
        lines.append(f"  {s.mode_class}: no traffic split (canary needs Serverless mode)")
    replicas = (f"replicas min {'-' if s.min_replicas is None else s.min_replicas} max "
                f"{'-' if s.max_replicas is None else s.max_replicas}")
    bad = s.failing_conditions()
    if full:
        lines.append(f"mode    {s.deployment_mode} ({s.mode_class}; "
                     f"{MODE_SOURCE_WORDS.get(s.mode_source, s.mode_source)})")
        if s.serverless:
            done, why = traffic_converged(s, s.canary_percent)
            lines.append(f"split {'converged' if done else 'not converged'}: {why}")
            lines += rollout_lines(s)
        lines.append(replicas)
        lines.append("conditions:")
        for c in s.conditions:
            lines.append(f"  {c.type}={c.status}{'  ' + c.reason if c.reason else ''}"
                         f"{': ' + c.message if c.message else ''}")
    else:
        if not s.conditions:
            state = "conditions: none reported"
        elif not bad:
            state = f"conditions: all {len(s.conditions)} True"
        else:
            state = "conditions: " + ", ".join(f"{c.type}={c.status}{' (' + c.reason + ')' if c.reason else ''}"
                                               for c in bad)
        lines.append(f"{replicas}   {state}")
        for c in bad:
            if c.message:
                lines.append(f"  {c.type}: {c.message}")
    return lines


def ready_word(v: bool | None) -> str:
    return "? unknown" if v is None else ("✓ yes" if v else "✗ NO")

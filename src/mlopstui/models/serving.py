"""InferenceService view model, traffic arithmetic, percent validation and patch builders (pure).

Nothing here does I/O: the backend hands in dicts from the API server (and the Knative Revisions
it found), the actions build their merge patches with the builders below.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from typing import Any

from mlopstui.errors import Kind, MlopsError

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
RAW_MODES = ("rawdeployment", "standard")  # "Standard" is the newer name of RawDeployment
# where a Revision says which model it serves (the sandbox annotates it; KServe puts the storage URI on
# the pod template annotation its storage initializer reads)
REVISION_URI_KEYS = ("sandbox.mlopstui.dev/storage-uri", "serving.kserve.io/storage-initializer-sourceuri")
# the framework keys of the old-style predictor spec (spec.predictor.sklearn.storageUri ...)
FRAMEWORK_KEYS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "lightgbm", "pmml",
                  "paddle", "huggingface")

UNSUPPORTED_RAW = ("KServe canary rollout works only in Serverless mode; a RawDeployment InferenceService "
                   "cannot split traffic")


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
    ready: bool | None = None
    url: str | None = None
    deployment_mode: str = "Serverless"
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
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def serverless(self) -> bool:
        return self.deployment_mode.lower() not in RAW_MODES

    @property
    def stable_revision(self) -> str | None:
        """The revision holding the non-canary share: biggest non-latest target, else the rolled-out one."""
        others = [t for t in self.traffic if not t.latest and t.revision != self.latest_created]
        if others:
            return max(others, key=lambda t: t.percent).revision
        return self.latest_rolledout

    def percent_of(self, revision: str | None) -> int:
        return sum(t.percent for t in self.traffic if revision and t.revision == revision)

    @property
    def latest_percent(self) -> int | None:
        """The traffic share of the latest revision as reported by status (None: no traffic in status)."""
        if not self.traffic:
            return None
        return sum(t.percent for t in self.traffic if t.latest or t.revision == self.latest_created)

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
            return "100% (RawDeployment: no split)"
        if not self.traffic:
            return "-"
        return " / ".join(f"{short_revision(t.revision, self.name)} {t.percent}%" + (" (latest)" if t.latest else "")
                          for t in self.traffic)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (for --json)."""
        return {
            "name": self.name, "namespace": self.namespace, "ready": self.ready, "url": self.url,
            "deploymentMode": self.deployment_mode, "modelFormat": self.model_format, "runtime": self.runtime,
            "storageUri": self.storage_uri, "stableStorageUri": self.stable_storage_uri,
            "canaryTrafficPercent": self.canary_percent,
            "traffic": [{"revisionName": t.revision, "percent": t.percent, "latestRevision": t.latest,
                         "tag": t.tag} for t in self.traffic],
            "latestCreatedRevision": self.latest_created, "latestReadyRevision": self.latest_ready,
            "latestRolledoutRevision": self.latest_rolledout,
            "previousRolledoutRevision": self.previous_rolledout,
            "minReplicas": self.min_replicas, "maxReplicas": self.max_replicas,
            "conditions": [{"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
                           for c in self.conditions],
            "resourceVersion": self.resource_version,
        }


# -- parsing ---------------------------------------------------------------------------------------
def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, TypeError):
        return None


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


def parse_isvc(obj: dict[str, Any], revisions: list[dict[str, Any]] | None = None) -> InferenceService:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    predictor = spec.get("predictor") or {}
    key, model = predictor_model(predictor)
    fmt = (model.get("modelFormat") or {}).get("name") or (key if key not in (None, "model") else "") or ""
    if (model.get("modelFormat") or {}).get("version"):
        fmt += f":{model['modelFormat']['version']}"
    annotations = meta.get("annotations") or {}
    mode = annotations.get(DEPLOYMENT_MODE_ANNOTATION) or status.get("deploymentMode") or "Serverless"
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
    for rev in revisions or []:
        rname = (rev.get("metadata") or {}).get("name")
        uri = revision_storage_uri(rev)
        if rname and uri:
            rev_uris[rname] = uri
    isvc = InferenceService(
        name=name,
        namespace=meta.get("namespace", ""),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=_int(meta.get("generation")) or 0,
        observed_generation=_int(status.get("observedGeneration")),
        created=parse_time(meta.get("creationTimestamp")),
        ready=None if ready_c is None else ready_c.ok,
        url=status.get("url") or comp.get("url"),
        deployment_mode=mode,
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
        raw=obj,
    )
    stable = isvc.stable_revision
    if stable and stable != isvc.latest_created:
        isvc.stable_storage_uri = rev_uris.get(stable)
    elif isvc.latest_percent in (None, 100) or not isvc.serverless:
        isvc.stable_storage_uri = isvc.storage_uri
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


# -- patches ---------------------------------------------------------------------------------------
def with_resource_version(patch: dict[str, Any], resource_version: str | None) -> dict[str, Any]:
    out = dict(patch)
    if resource_version:
        out["metadata"] = {**(patch.get("metadata") or {}), "resourceVersion": resource_version}
    return out


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
    """Whether status traffic matches canary (None = promoted: latest takes 100%).

    after_revision: the latestCreatedRevision before a change that makes a new revision; the new one
    must be created and ready first. Returns (done, why not).
    """
    if isvc.observed_generation is not None and isvc.observed_generation < isvc.generation:
        return False, (f"the controller has not reconciled generation {isvc.generation} yet "
                       f"(status is for {isvc.observed_generation})")
    if after_revision is not None:
        if not isvc.latest_created or isvc.latest_created == after_revision:
            return False, "the new revision has not been created yet"
        if isvc.latest_ready != isvc.latest_created:
            return False, f"revision {isvc.latest_created} is not ready yet (ready: {isvc.latest_ready or '-'})"
    if not isvc.traffic:
        return False, "status reports no traffic yet"
    total = sum(t.percent for t in isvc.traffic)
    want = 100 if canary is None else canary
    have = isvc.latest_percent or 0
    if total != 100:
        return False, f"traffic adds up to {total}%"
    if have != want:
        return False, f"latest revision has {have}% (want {want}%): {isvc.traffic_text()}"
    return True, isvc.traffic_text()


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
        return "raw: no split"
    lp = isvc.latest_percent
    if lp is None:
        return "-"
    if len(isvc.traffic) == 1 and lp == 100:
        return f"{bar(100, width)} 100"
    return f"{bar(lp, width)} {lp:>3}"

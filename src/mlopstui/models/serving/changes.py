"""What a change to an InferenceService may be: percent, replica and storage-URI checks, the refusals of
modes without canaries, and the merge patches (canary, promote, rollback, minReplicas, canary model).
Pure: no I/O."""

from __future__ import annotations

import re
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.objects import with_resource_version
from mlopstui.models.serving.isvc import UNSUPPORTED, UNSUPPORTED_RAW, InferenceService, predictor_model

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

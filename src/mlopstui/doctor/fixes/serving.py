"""Fixes for InferenceServices: minReplicas, minScale, canary on RawDeployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    MERGE,
    FixSpec,
    _meta,
    _No,
    _one_target,
    _Opts,
    _rv,
    fixer,
)
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.models.objects import with_resource_version


# -- InferenceServices ----------------------------------------------------------------------------------
def _isvc(finding: Finding, snap: Snapshot, opts: _Opts) -> dict[str, Any]:
    obj = _one_target(finding, snap, opts)
    if obj.get("kind") != "InferenceService":
        raise _No(f"{ref(obj)} is not an InferenceService")
    return obj


def _isvc_fix(finding: Finding, isvc: Mapping[str, Any], patch: dict[str, Any], summary: str, risk: str,
              notes: list[str], before: dict, after: dict) -> FixSpec:
    m = _meta(isvc)
    return FixSpec(finding.id, finding.key, "InferenceService", m.get("namespace", ""), m.get("name", ""),
                   with_resource_version(patch, _rv(isvc)), MERGE, summary, risk, notes, _rv(isvc), before, after)


def _revision_note(isvc: Mapping[str, Any]) -> list[str]:
    from mlopstui.doctor.rules.serving import is_raw

    pred = (isvc.get("spec") or {}).get("predictor") or {}
    if is_raw(isvc):
        return ["RawDeployment: the predictor Deployment is updated in place"]
    note = "a predictor spec change makes KServe create a new revision"
    if pred.get("canaryTrafficPercent") is not None:
        note += (f"; with canaryTrafficPercent {pred['canaryTrafficPercent']} set, the new revision takes the "
                 "canary share and the last rolled-out revision keeps the rest")
    return [note]


@fixer("isvc-min-replicas-zero")
def fix_min_replicas_zero(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import large_model_reason

    isvc = _isvc(finding, snap, opts)
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    if pred.get("minReplicas") != 0:
        raise _No(f"{ref(isvc)}: spec.predictor.minReplicas is {pred.get('minReplicas')}, not 0")
    large = large_model_reason(pred)
    notes = ["keeps one predictor pod warm: no cold start (model download and load) on the first request"]
    risk = "low"
    if "GPU" in large:
        risk = "medium"
        notes.append("the model requests a GPU: one GPU stays allocated even when idle")
    notes += _revision_note(isvc)
    return _isvc_fix(finding, isvc, {"spec": {"predictor": {"minReplicas": 1}}},
                     f"minReplicas 0 -> 1 on {ref(isvc)}", risk, notes,
                     {"spec.predictor.minReplicas": 0}, {"spec.predictor.minReplicas": 1})


@fixer("isvc-ineffective-minscale")
def fix_ineffective_minscale(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import BAD_MINSCALE, COMPONENTS

    isvc = _isvc(finding, snap, opts)
    spec = isvc.get("spec") or {}
    patch: dict[str, Any] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    wanted = 1
    anns = _meta(isvc).get("annotations") or {}
    if BAD_MINSCALE in anns:
        patch["metadata"] = {"annotations": {BAD_MINSCALE: None}}
        before[f"metadata.annotations.{BAD_MINSCALE}"] = anns[BAD_MINSCALE]
        after[f"metadata.annotations.{BAD_MINSCALE}"] = None
        wanted = _int_or(anns[BAD_MINSCALE], wanted)
    for comp in COMPONENTS:
        canns = ((spec.get(comp) or {}).get("annotations")) or {}
        if BAD_MINSCALE in canns:
            patch.setdefault("spec", {}).setdefault(comp, {})["annotations"] = {BAD_MINSCALE: None}
            before[f"spec.{comp}.annotations.{BAD_MINSCALE}"] = canns[BAD_MINSCALE]
            after[f"spec.{comp}.annotations.{BAD_MINSCALE}"] = None
            if comp == "predictor":
                wanted = _int_or(canns[BAD_MINSCALE], wanted)
    if not patch:
        raise _No(f"{ref(isvc)} no longer carries {BAD_MINSCALE}")
    wanted = max(1, wanted)
    cur = (spec.get("predictor") or {}).get("minReplicas")
    notes = [f"removes {BAD_MINSCALE} (not a Knative key: it never kept a pod warm) with merge-patch null"]
    if cur is None or cur < wanted:
        patch.setdefault("spec", {}).setdefault("predictor", {})["minReplicas"] = wanted
        before["spec.predictor.minReplicas"] = cur
        after["spec.predictor.minReplicas"] = wanted
        notes.append(f"sets spec.predictor.minReplicas {wanted} (what the annotation meant); KServe generates "
                     "autoscaling.knative.dev/min-scale from it")
        notes += _revision_note(isvc)
    else:
        notes.append(f"spec.predictor.minReplicas is already {cur}: left as it is")
    return _isvc_fix(finding, isvc, patch,
                     f"remove {BAD_MINSCALE} from {ref(isvc)}" + (
                         f", minReplicas {cur if cur is not None else 'unset'} -> {wanted}"
                         if "spec.predictor.minReplicas" in after else ""),
                     "low", notes, before, after)


def _int_or(v: Any, default: int) -> int:
    try:
        return int(str(v).strip())
    except ValueError:
        return default


@fixer("isvc-canary-raw-deployment")
def fix_canary_raw(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import COMPONENTS, is_raw
    from mlopstui.models.serving import UNSUPPORTED_RAW

    isvc = _isvc(finding, snap, opts)
    if not is_raw(isvc):
        raise _No(f"{ref(isvc)} is in Serverless mode now: canaryTrafficPercent works there")
    spec = isvc.get("spec") or {}
    patch: dict[str, Any] = {"spec": {}}
    before, after = {}, {}
    for comp in COMPONENTS:
        pct = (spec.get(comp) or {}).get("canaryTrafficPercent")
        if pct is not None:
            patch["spec"][comp] = {"canaryTrafficPercent": None}
            before[f"spec.{comp}.canaryTrafficPercent"] = pct
            after[f"spec.{comp}.canaryTrafficPercent"] = None
    if not before:
        raise _No(f"{ref(isvc)} has no canaryTrafficPercent any more")
    return _isvc_fix(finding, isvc, patch, f"remove the ignored canaryTrafficPercent from {ref(isvc)}", "low",
                     [f"{UNSUPPORTED_RAW}: the field was ignored and the latest spec already takes 100%; "
                      "removing it changes no traffic, it only stops the false impression",
                      "to roll out by canary, redeploy in Serverless mode (needs Knative)"], before, after)

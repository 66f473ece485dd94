"""KServe InferenceServices: scale-to-zero, the seed's ineffective annotation, canary on RawDeployment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.models.serving import UNSUPPORTED, UNSUPPORTED_RAW, isvc_mode, mode_class
from mlopstui.units import quantity_bytes

BAD_MINSCALE = "serving.knative.dev/minScale"
COMPONENTS = ("predictor", "transformer", "explainer")


def deployment_mode(isvc: dict[str, Any]) -> str:
    return isvc_mode(isvc)[0]


def is_raw(isvc: dict[str, Any]) -> bool:
    return mode_class(deployment_mode(isvc)) == "RawDeployment"


def is_serverless(isvc: dict[str, Any]) -> bool:
    """Served through Knative: not RawDeployment/Standard, not ModelMesh (which runs its own pods)."""
    return mode_class(deployment_mode(isvc)) == "Serverless"


def _bytes(q: Any) -> float:
    return quantity_bytes(q) or 0


def large_model_reason(pred: dict[str, Any]) -> str:
    """Why this predictor counts as a large model ('' if it does not)."""
    model = pred.get("model") or next((v for k, v in pred.items() if isinstance(v, dict) and "storageUri" in v), {})
    res = (model or {}).get("resources") or {}
    for part in ("limits", "requests"):
        vals = res.get(part) or {}
        if any("gpu" in k for k in vals):
            return f"requests a GPU ({part})"
        if _bytes(vals.get("memory")) >= 4 * 1024**3:
            return f"memory {part} {vals.get('memory')}"
    return ""


@rule("isvc-min-replicas-zero", "kserve", "InferenceService scales to zero")
def min_replicas_zero(snap: Snapshot) -> Iterator[Finding]:
    for isvc in snap.of("InferenceService"):
        if not is_serverless(isvc):  # Knative scales to zero; RawDeployment and ModelMesh do not
            continue
        pred = (isvc.get("spec") or {}).get("predictor") or {}
        if pred.get("minReplicas") != 0:
            continue
        large = large_model_reason(pred)
        yield Finding(
            "isvc-min-replicas-zero", Severity.ERROR if large else Severity.WARNING, "kserve",
            f"{ref(isvc)}: minReplicas 0 (scale to zero{', large model' if large else ''})", (ref(isvc),),
            "spec.predictor.minReplicas: 0" + (f"; {large}" if large else ""),
            "Knative scales the predictor to zero when idle; the first request then waits for a pod, the "
            "model download from S3 and loading (minutes for large models) and gets a 504 timeout.",
            "Set spec.predictor.minReplicas: 1 (KServe's default since 2020) for models that must answer "
            "at once.")


@rule("isvc-ineffective-minscale", "kserve", "InferenceService carries the ineffective serving.knative.dev/minScale")
def ineffective_minscale(snap: Snapshot) -> Iterator[Finding]:
    for isvc in snap.of("InferenceService"):
        spec = isvc.get("spec") or {}
        places = []
        if BAD_MINSCALE in ((isvc.get("metadata") or {}).get("annotations") or {}):
            places.append("metadata.annotations")
        for comp in COMPONENTS:
            if BAD_MINSCALE in (((spec.get(comp) or {}).get("annotations")) or {}):
                places.append(f"spec.{comp}.annotations")
        if not places:
            continue
        cur = (spec.get("predictor") or {}).get("minReplicas")
        yield Finding(
            "isvc-ineffective-minscale", Severity.WARNING, "kserve",
            f"{ref(isvc)}: annotation {BAD_MINSCALE} has no effect", (ref(isvc),),
            f"{BAD_MINSCALE} in {', '.join(places)}; spec.predictor.minReplicas "
            f"{'not set' if cur is None else cur}",
            f"{BAD_MINSCALE} is not a Knative key (the real one is autoscaling.knative.dev/min-scale, which "
            "KServe regenerates from minReplicas), so it does not keep a pod warm; it only gives a false "
            "sense of safety.",
            "Remove the annotation and set spec.predictor.minReplicas: 1.")


@rule("isvc-canary-raw-deployment", "kserve", "canaryTrafficPercent on a RawDeployment InferenceService")
def canary_on_raw(snap: Snapshot) -> Iterator[Finding]:
    for isvc in snap.of("InferenceService"):
        if is_serverless(isvc):  # RawDeployment and ModelMesh cannot split traffic
            continue
        spec = isvc.get("spec") or {}
        for comp in COMPONENTS:
            pct = (spec.get(comp) or {}).get("canaryTrafficPercent")
            if pct is None:
                continue
            yield Finding(
                "isvc-canary-raw-deployment", Severity.ERROR, "kserve",
                f"{ref(isvc)}: canaryTrafficPercent {pct} is ignored in {deployment_mode(isvc)} mode", (ref(isvc),),
                f"deploymentMode {deployment_mode(isvc)}; spec.{comp}.canaryTrafficPercent: {pct}",
                f"{UNSUPPORTED.get(mode_class(deployment_mode(isvc)), UNSUPPORTED_RAW)}: the latest spec takes "
                "100% of traffic, so the 'canary' is a full rollout.",
                "Remove canaryTrafficPercent, or switch the InferenceService to Serverless mode "
                "(serving.kserve.io/deploymentMode: Serverless, needs Knative) to split traffic.")


@rule("isvc-serverless-without-knative", "knative", "Serverless InferenceServices without Knative Serving")
def serverless_without_knative(snap: Snapshot) -> Iterator[Finding]:
    if snap.installed("knative"):
        return
    serverless = [isvc for isvc in snap.of("InferenceService") if is_serverless(isvc)]
    if not serverless or not (snap.of("Deployment") or snap.of("StatefulSet")):
        return
    yield Finding(
        "isvc-serverless-without-knative", Severity.ERROR, "knative",
        f"{len(serverless)} Serverless InferenceService(s) but Knative Serving is not installed",
        tuple(ref(i) for i in serverless), "no Knative Serving workloads found (activator, autoscaler, controller)",
        "KServe's Serverless mode creates Knative Services; without Knative Serving they never become ready.",
        "Install Knative Serving (with net-istio), or annotate the InferenceServices "
        "serving.kserve.io/deploymentMode: RawDeployment.")

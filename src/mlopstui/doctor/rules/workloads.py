"""Workloads and live probes: OOMKilled, crash loops, not ready, failed Jobs, unreachable endpoints."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import component_for
from mlopstui.models.stack import CATALOG_BY_ID, ProbeState, pod_status, pods_of, workload_status


def _owned(snap: Snapshot):
    """(workload, its pod statuses) for workloads, Jobs, CronJobs; plus bare pods on their own. Computed once
    per snapshot (three rules read it)."""
    return snap.memo("owned-pods", lambda: list(_owned_pods(snap)))


def _owned_pods(snap: Snapshot):
    claimed: set[str] = set()
    by_ns = snap.pods_by_namespace()
    for w in snap.of("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
        if w.get("kind") == "Job" and (w.get("metadata") or {}).get("ownerReferences"):
            continue
        pods = pods_of(w, by_ns)
        claimed.update(ref(p) for p in pods)
        yield w, [pod_status(p) for p in pods]
    for p in snap.of("Pod"):
        if ref(p) not in claimed and not (p.get("metadata") or {}).get("ownerReferences"):
            yield p, [pod_status(p)]


def _redis_hint(comp: str) -> str:
    return (" For Redis, also set maxmemory below the limit so materialization cannot outgrow it."
            if comp == "redis" else "")


@rule("workload-oomkilled", "cluster", "Workloads OOMKilled")
def oomkilled(snap: Snapshot) -> Iterator[Finding]:
    for w, pods in _owned(snap):
        hit = [p for p in pods if p.reason == "OOMKilled" or p.last_terminated == "OOMKilled"]
        if not hit:
            continue
        comp = component_for(snap, w)
        yield Finding(
            "workload-oomkilled", Severity.ERROR, comp, f"{ref(w)}: OOMKilled", (ref(w),) + tuple(ref_pod(p) for p in hit),
            "; ".join(f"pod {p.name}: {'OOMKilled now' if p.reason == 'OOMKilled' else 'last terminated OOMKilled'}"
                      f", {p.restarts} restarts" for p in hit[:3]),
            "The kernel killed the container for exceeding its memory limit (or the node ran out); it "
            "restarts with empty in-memory state and drops in-flight work.",
            "Raise resources.limits.memory to what the workload needs, or bound its memory use." + _redis_hint(comp))


def ref_pod(p) -> str:
    return f"Pod {p.namespace}/{p.name}"


@rule("workload-crashloop", "cluster", "Workloads crash-looping")
def crashloop(snap: Snapshot) -> Iterator[Finding]:
    for w, pods in _owned(snap):
        hit = [p for p in pods if p.problem == "CrashLoopBackOff"]
        if not hit:
            continue
        yield Finding(
            "workload-crashloop", Severity.ERROR, component_for(snap, w), f"{ref(w)}: {hit[0].reason}",
            (ref(w),) + tuple(ref_pod(p) for p in hit),
            "; ".join(f"pod {p.name}: {p.reason}, {p.restarts} restarts"
                      + (f", last exit {p.last_terminated}" if p.last_terminated else "") for p in hit[:3]),
            "The container keeps exiting right after start; Kubernetes waits longer between each restart.",
            "Read its logs (l in the drill-in, or kubectl logs --previous) for the startup error; common "
            "causes here: a wrong database host or password in a URI, a missing env var, no memory.")


@rule("workload-not-ready", "cluster", "Workloads not ready")
def not_ready(snap: Snapshot) -> Iterator[Finding]:
    for w in snap.of("Deployment", "StatefulSet", "DaemonSet"):
        ws = workload_status(w, snap.pods_by_namespace())
        if ws.is_ready or ws.problem:  # crash loops / OOM have their own findings
            continue
        if not snap.watched(w) and snap.component_of(w) is None:
            continue
        reasons = sorted({p.status for p in ws.pods if p.status not in ("Running",)})
        yield Finding(
            "workload-not-ready", Severity.ERROR if ws.ready == 0 else Severity.WARNING,
            component_for(snap, w), f"{ref(w)}: {ws.ready}/{ws.desired} ready", (ref(w),),
            f"{ws.ready} of {ws.desired} replicas ready" + (f"; pods: {', '.join(reasons)}" if reasons else
                                                             ("; no pods" if not ws.pods else "")),
            "Requests to this component fail or are served by fewer replicas than intended.",
            "Check the pods' events and logs (enter on the component); look for Pending (no node fits), "
            "image pull errors, or failing readiness probes.")


@rule("job-failed", "cluster", "Jobs that failed")
def job_failed(snap: Snapshot) -> Iterator[Finding]:
    latest: dict[str, dict] = {}
    for j in snap.of("Job"):
        owners = (j.get("metadata") or {}).get("ownerReferences") or []
        key = f"{owners[0].get('kind')}/{owners[0].get('name')}" if owners else ref(j)
        prev = latest.get(key)
        if prev is None or (j["metadata"].get("creationTimestamp") or "") >= (prev["metadata"].get("creationTimestamp") or ""):
            latest[key] = j
    for j in latest.values():
        st = j.get("status") or {}
        failed = any(c.get("type") == "Failed" and c.get("status") == "True" for c in st.get("conditions") or [])
        if not failed:
            continue
        owners = (j.get("metadata") or {}).get("ownerReferences") or []
        ns = j["metadata"].get("namespace")
        objs = (ref(j),)
        comp = component_for(snap, j)
        if owners:
            cj = next((c for c in snap.of("CronJob") if c["metadata"].get("name") == owners[0].get("name")
                       and c["metadata"].get("namespace") == ns), None)
            if cj is not None:
                objs = (ref(cj), ref(j))
                comp = component_for(snap, cj)
        reason = next((c.get("reason", "") + ": " + c.get("message", "") for c in st.get("conditions") or []
                       if c.get("type") == "Failed"), "")
        yield Finding(
            "job-failed", Severity.WARNING, comp, f"{objs[0]}: last run failed", objs,
            f"{ref(j)} failed ({st.get('failed', 0)} failed pods){'; ' + reason if reason.strip(': ') else ''}",
            "The latest run of this job did not complete" + (
                " (for Feast materialization: the online store is stale)" if comp == "feast" else "") + ".",
            "Read the failed pod's logs (l in the drill-in); re-run it once fixed.")


@rule("probe-failed", "cluster", "Components whose live probe fails")
def probe_failed(snap: Snapshot) -> Iterator[Finding]:
    for cid, p in snap.probes.items():
        if p.state not in (ProbeState.FAILED, ProbeState.TIMEOUT):
            continue
        if not snap.installed(cid) and p.source != "config":
            continue
        spec = CATALOG_BY_ID.get(cid)
        title = spec.title if spec else cid
        objs = tuple(ref(w) for w in snap.components.get(cid, []))
        what = "does not answer in time" if p.state is ProbeState.TIMEOUT else "probe failed"
        yield Finding(
            "probe-failed", Severity.ERROR, cid, f"{title} {what}: {p.summary}", objs,
            f"{p.kind} probe of {p.target} (from {p.source}): {p.detail or p.summary}",
            f"{title} is installed but its endpoint does not work from here; whatever depends on it fails.",
            "Check that its pods are ready and its Service has endpoints; if the address is wrong, set "
            f"endpoints.{spec.endpoint if spec and spec.endpoint else cid} in the config.")

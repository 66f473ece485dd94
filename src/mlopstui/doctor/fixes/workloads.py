"""Fixes for workloads: restart, OOM, failed Jobs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    CREATE,
    RESTARTED_AT,
    STRATEGIC,
    FixSpec,
    _meta,
    _No,
    _one_target,
    _Opts,
    _pod_template_fix,
    _rv,
    double_quantity,
    find_object,
    fixer,
    pod_bearer,
)
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.models.objects import with_resource_version


# -- workloads: restart, OOM, failed Jobs -----------------------------------------------------------------
@fixer("workload-crashloop", "workload-not-ready")
def fix_restart(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    obj = _one_target(finding, snap, opts)
    kind = obj.get("kind")
    if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        raise _No(f"{ref(obj)}: rollout restart works on Deployments, StatefulSets and DaemonSets only; "
                  + ("a Job's pods are not restarted in place: fix the cause and re-run it" if kind in ("Job", "CronJob")
                     else "re-create it once the cause is fixed"))
    stamp = opts.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    m = _meta(obj)
    patch = with_resource_version({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}, _rv(obj))
    old = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    notes = ["exactly what `kubectl rollout restart` sends: a pod template annotation, so the controller "
             "replaces every pod (rolling, respecting the update strategy)",
             "a restart fixes only transient causes (a dependency that was down, a stuck process): read the logs "
             "first (l in the component drill-in)"]
    pending = "Pending" in finding.evidence
    if pending:
        notes.append("its pods are Pending (no node fits them): a restart does not make room")
    risk = "low" if kind == "Deployment" and int((obj.get("spec") or {}).get("replicas", 1) or 1) > 1 else "medium"
    if risk == "medium":
        notes.append("a single replica / stateful pods: the component is briefly unavailable while pods are replaced")
    return FixSpec(finding.id, finding.key, kind, m.get("namespace", ""), m.get("name", ""), patch, STRATEGIC,
                   f"rollout restart {ref(obj)}", risk, notes, _rv(obj),
                   {RESTARTED_AT: old.get(RESTARTED_AT)}, {RESTARTED_AT: stamp})


def _oom_containers(snap: Snapshot, obj: Mapping[str, Any]) -> list[str]:
    from mlopstui.models.stack import pods_of

    names: list[str] = []
    for p in pods_of(obj, snap.pods_by_namespace()):
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            for st in ((cs.get("state") or {}).get("terminated"), ((cs.get("lastState") or {}).get("terminated"))):
                if st and st.get("reason") == "OOMKilled" and cs.get("name") not in names:
                    names.append(cs.get("name"))
    return names


@fixer("workload-oomkilled")
def fix_oomkilled(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.models.stack import containers_of

    workloads = [r for r in finding.objects if not r.startswith("Pod ")]
    refs = [opts.obj_ref] if opts.obj_ref and not opts.obj_ref.startswith("Pod ") else workloads
    obj = find_object(snap, refs[0]) if refs else None
    if obj is None:
        raise _No(f"{refs[0] if refs else 'the workload'} is not in the cluster snapshot")
    target, notes = pod_bearer(snap, obj)
    containers = [c for c in containers_of(target) if c.get("name")]
    names = _oom_containers(snap, obj) or ([containers[0]["name"]] if len(containers) == 1 else [])
    if not names:
        raise _No(f"{ref(obj)} has several containers and the pods do not say which one was OOMKilled")
    changes: dict[str, dict[str, Any]] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for c in containers:
        if c["name"] not in names:
            continue
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if not limit:
            hint = (" (for Redis use the redis-no-memory-limit fix: limit plus maxmemory)"
                    if snap.component_of(target) == "redis" else "")
            raise _No(f"container '{c['name']}' of {ref(target)} has no memory limit: it was killed because the "
                      f"node ran out of memory, so doubling is meaningless; set a limit deliberately{hint}")
        doubled = double_quantity(str(limit))
        if doubled is None:
            raise _No(f"cannot read the memory limit {limit!r} of container '{c['name']}'")
        change: dict[str, Any] = {"limits": {"memory": doubled}}
        req = ((c.get("resources") or {}).get("requests") or {}).get("memory")
        changes[c["name"]] = {"resources": change}
        before[f"{c['name']}.limits.memory"] = limit
        after[f"{c['name']}.limits.memory"] = doubled
        if req:
            notes.append(f"container '{c['name']}': request {req} unchanged (the scheduler still reserves only that)")
    notes.insert(0, "limits x2: " + ", ".join(f"{k} {before[k]} -> {after[k]}" for k in before))
    notes.append("more memory hides a leak for a while: check whether usage grows without bound")
    if snap.component_of(target) == "redis":
        notes.append("for Redis, keep maxmemory below the new limit (redis-no-maxmemory)")
    return _pod_template_fix(finding, target, changes,
                             f"raise the memory limit of {', '.join(changes)} in {ref(target)} x2", "medium", notes,
                             before, after)


@fixer("job-failed")
def fix_job_failed(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.models.features import job_from_cronjob, manual_job_name

    cj = next((find_object(snap, r) for r in finding.objects if r.startswith("CronJob ")), None)
    if cj is None:
        job_ref = finding.objects[0] if finding.objects else "the Job"
        raise _No(f"{job_ref} is not owned by a CronJob and a Job cannot be re-run in place (its pod template is "
                  "immutable): fix the cause, delete the Job and create it again")
    m = _meta(cj)
    name = manual_job_name(m.get("name", "job"), opts.now)
    manifest = job_from_cronjob(cj, name)
    notes = ["the Job `kubectl create job --from=cronjob/" + m.get("name", "") + "` creates",
             "re-running helps only if the cause of the failure is gone: read the failed pod's logs first"]
    risk = "medium"
    active = [a.get("name") for a in (cj.get("status") or {}).get("active") or []]
    if active:
        risk = "high"
        notes.append(f"a Job of this CronJob is still running ({', '.join(filter(None, active))}); its "
                     "concurrencyPolicy does not apply to manual Jobs")
    if snap.component_of(cj) == "feast":
        notes.append("materialization writes every entity row into the online store: watch Redis memory")
    return FixSpec(finding.id, finding.key, "Job", m.get("namespace", ""), name, manifest, CREATE,
                   f"re-run {ref(cj)} as Job {name}", risk, notes, _rv(cj), None, None, source=ref(cj))

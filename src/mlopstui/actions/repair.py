"""Repair: apply a doctor finding's automatic fix (doctor/fixes/) as one write.

plan() reads the cluster and the findings through the Stack sweep (backends/stack.py), picks the
finding (by key, or by rule id and object), builds the FixSpec from the snapshot, then re-reads the
live object and rebuilds the fix from it when it moved on. The Plan carries the exact patch with the
resourceVersion it was computed from; apply() sends ONE write. A concurrent edit makes the API server
answer 409: if only status moved (a controller), the same patch is sent again with the fresh
resourceVersion; otherwise the conflict error is raised and nothing is overwritten.

Secret values are never read into a plan: S3 credentials are added as secretKeyRef (name and key);
when the key names of a namespace's Secrets are needed, only the key names are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlopstui.actions.base import Action, Plan, Result, observe_object, observe_patch
from mlopstui.doctor import fixes
from mlopstui.errors import Kind, MlopsError

if TYPE_CHECKING:
    from mlopstui.backends.kube import Res
    from mlopstui.context import AppContext
    from mlopstui.doctor import Finding, Snapshot
    from mlopstui.models.stack import ProbeResult
    from mlopstui.models.stack.report import StackReport


def res_for(kind: str) -> Res:
    from mlopstui.backends import kube as k

    table = {"Deployment": k.DEPLOYMENTS, "StatefulSet": k.STATEFULSETS, "DaemonSet": k.DAEMONSETS,
             "CronJob": k.CRONJOBS, "Job": k.JOBS, "InferenceService": k.INFERENCESERVICES, "Secret": k.SECRETS}
    if kind not in table:
        raise MlopsError(Kind.UNSUPPORTED, f"mlopstui cannot write a {kind}")
    return table[kind]


@dataclass
class Assessment:
    """A finding and what repair can do about it."""

    finding: Finding
    fix: fixes.FixSpec | None
    reason: str  # why there is no automatic fix ("" when there is one)

    def to_dict(self) -> dict[str, Any]:
        f = self.finding
        return {"id": f.id, "key": f.key, "severity": f.severity.value, "component": f.component,
                "summary": f.summary, "objects": list(f.objects), "fixable": self.fix is not None,
                "fix": self.fix.summary if self.fix else None, "risk": self.fix.risk if self.fix else None,
                "reason": self.reason or None}


def assess(report: StackReport) -> list[Assessment]:
    """Every finding of a report with its automatic fix or the reason there is none (pure)."""
    out = []
    for f in report.findings:
        res = fixes.explain(f, report.snapshot)
        out.append(Assessment(f, res if isinstance(res, fixes.FixSpec) else None,
                              res.reason if isinstance(res, fixes.NoFix) else ""))
    return out


def select_finding(findings: list[Finding], finding_id: str | None = None, *, key: str | None = None,
                   obj_ref: str | None = None) -> Finding:
    """The finding by key, or by rule id (and object when the id alone is ambiguous)."""
    if key:
        for f in findings:
            if f.key == key:
                return f
        raise MlopsError(Kind.NOT_FOUND, "that finding is no longer reported: nothing to repair",
                         hint="re-run the doctor (ctrl+r / mlopstui doctor)")
    if not finding_id:
        raise MlopsError(Kind.INVALID, "which finding? give a rule id (mlopstui repair lists them)")
    same = [f for f in findings if f.id == finding_id]
    if obj_ref:
        same = [f for f in same if obj_ref in f.objects]
    if not same:
        where = f" for {obj_ref}" if obj_ref else ""
        raise MlopsError(Kind.NOT_FOUND, f"the doctor does not report {finding_id}{where} now: nothing to repair",
                         hint="mlopstui repair (no argument) lists the current findings")
    if len(same) > 1:
        objs = "; ".join(", ".join(f.objects) for f in same)
        raise MlopsError(Kind.INVALID, f"{finding_id} is reported for several objects ({objs})",
                         hint="pick one with --object KIND/NAMESPACE/NAME")
    return same[0]


def parse_object(text: str | None) -> str | None:
    """KIND/NS/NAME (CLI form) or 'Kind ns/name' (finding form) -> 'Kind ns/name'."""
    if not text:
        return None
    if " " in text:
        return text
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise MlopsError(Kind.INVALID, f"--object {text!r}: expected KIND/NAMESPACE/NAME, e.g. "
                         "Deployment/mlops/mlflow-server")
    kind = {k.lower(): k for k in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod",
                                   "InferenceService", "Workflow")}.get(parts[0].lower(), parts[0])
    if parts[0].lower() in ("isvc", "inferenceservices"):
        kind = "InferenceService"
    return f"{kind} {parts[1]}/{parts[2]}"


class Repair(Action):
    """Apply the automatic fix of one doctor finding."""

    name = "repair"

    def __init__(self, ctx: AppContext, finding_id: str | None = None, *, key: str | None = None,
                 obj_ref: str | None = None, report: StackReport | None = None,
                 probes: dict[str, ProbeResult] | None = None, now: datetime | None = None):
        self.ctx = ctx
        self.finding_id = finding_id
        self.key = key
        self.obj_ref = parse_object(obj_ref)
        self.report = report
        self.probes = probes
        self.now = now
        self.finding: Finding | None = None
        self.spec: fixes.FixSpec | None = None
        self.source: dict[str, Any] | None = None  # the live object the fix was computed from

    # -- reading ------------------------------------------------------------------------------------
    def _report(self) -> StackReport:
        from mlopstui.backends.stack import collect_cluster, sweep
        from mlopstui.models.stack.report import build_report

        if self.report is not None:
            return self.report
        if self.probes is None:
            report = sweep(self.ctx)
        else:
            report = build_report(self.ctx.settings, collect_cluster(self.ctx), dict(self.probes))
        if report.state.error is not None:
            err = report.state.error
            raise MlopsError(err.kind, f"cannot read the cluster: {err.message}", hint=err.hint)
        self.report = report
        return report

    def _with_secret_keys(self, snap: Snapshot, finding: Finding) -> Snapshot:
        """For the credentials fix: the key names (never the values) of the namespace's Secrets."""
        from mlopstui.backends.kube import SECRETS

        if finding.id != "mlflow-client-no-s3-credentials":
            return snap
        obj = fixes.find_object(snap, self.obj_ref or (finding.objects[0] if finding.objects else ""))
        ns = ((obj or {}).get("metadata") or {}).get("namespace")
        if not ns or fixes.credential_secret(snap, ns) is not None:
            return snap
        try:
            secrets = self.ctx.kube.list(SECRETS, ns)
        except MlopsError:
            return snap  # not allowed to list Secrets: the fix says none is known
        stubs = [{"kind": "Secret", "metadata": {"name": s["metadata"]["name"], "namespace": ns},
                  "data": dict.fromkeys((s.get("data") or {}), "")} for s in secrets]
        del secrets
        objs = [o for objs in snap.objects.values() for o in objs] + stubs
        from mlopstui.doctor import Snapshot as Snap

        return Snap.build(objs, snap.probes, catalog=snap.catalog, watched_namespaces=snap.watched_namespaces,
                          taken_at=snap.taken_at)

    def _explain(self, finding: Finding, snap: Snapshot) -> fixes.FixSpec:
        out = fixes.explain(finding, snap, obj_ref=self.obj_ref, now=self.now)
        if isinstance(out, fixes.NoFix):
            raise MlopsError(Kind.UNSUPPORTED, f"no automatic fix for {finding.id}: {out.reason}; nothing was sent",
                             hint=f"by hand: {finding.fix}")
        return out

    def _live_source(self, spec: fixes.FixSpec) -> tuple[str, dict[str, Any]]:
        """(ref, live object) of what the fix was computed from."""
        ref = spec.source or spec.target
        kind, ns, name = fixes.parse_ref(ref)
        obj = self.ctx.kube.get(res_for(kind), name, ns)
        obj.setdefault("kind", kind)
        return ref, obj

    # -- plan / apply -------------------------------------------------------------------------------
    def plan(self) -> Plan:
        report = self._report()
        finding = select_finding(report.findings, self.finding_id, key=self.key, obj_ref=self.obj_ref)
        self.finding = finding
        snap = self._with_secret_keys(report.snapshot, finding)
        spec = self._explain(finding, snap)
        _ref, live = self._live_source(spec)
        live_rv = (live.get("metadata") or {}).get("resourceVersion")
        if live_rv != spec.resource_version:  # it moved on since the sweep: compute from what is there now
            spec = self._explain(finding, fixes.with_object(snap, live))
        self.spec, self.source = spec, live
        return self._plan_for(spec)

    def _plan_for(self, spec: fixes.FixSpec) -> Plan:
        res = res_for(spec.kind)
        notes = list(spec.notes)
        f = self.finding
        if f is not None:
            notes.insert(0, f"finding {f.id}: {f.summary}")
        if spec.operation == "patch":
            notes.append(f"sent with metadata.resourceVersion {spec.resource_version}: a concurrent change is "
                         "refused (409), not overwritten")
        else:
            notes.append(f"made from {spec.source} at resourceVersion {spec.resource_version}: if its jobTemplate "
                         "changes before apply, nothing is created")
        before: dict[str, Any] = {"resourceVersion": spec.resource_version}
        if spec.before is not None:
            before.update({"was": spec.before, "will be": spec.after})
            for key, was in spec.before.items():
                notes.append(f"{key}: {_show(was)} -> {_show((spec.after or {}).get(key))}")
        return Plan(action=self.name, summary=spec.summary, target=f"{res.full_name}/{spec.namespace}/{spec.name}",
                    context=self.ctx.context_name, patch=spec.patch, patch_type=spec.patch_type, risk=spec.risk,
                    notes=notes, before=before)

    def _apply(self, plan: Plan) -> Result:
        spec = self.spec
        if spec is None:
            raise MlopsError(Kind.INVALID, "repair: apply() without plan()")
        if spec.operation == "create":
            return self._create(plan, spec)
        res = res_for(spec.kind)
        path = res.path(spec.namespace, spec.name)
        made = self._prepare(spec)
        try:
            return self._patch(plan, spec, res, path)
        except MlopsError as exc:
            if made:
                exc.message += f" ({', '.join(made)} was created first and is left in place; the workload is " \
                               "unchanged)"
            raise

    def _prepare(self, spec: fixes.FixSpec) -> list[str]:
        """Create what the patch refers to (a Secret), one write each; an existing object stops the repair."""
        made = []
        for manifest in spec.prepare:
            m = manifest.get("metadata") or {}
            what = f"{manifest.get('kind')} {m.get('namespace')}/{m.get('name')}"
            try:
                self.ctx.kube.create(res_for(str(manifest.get("kind"))), manifest, m.get("namespace"))
            except MlopsError as exc:
                if exc.kind is Kind.CONFLICT or "already exists" in exc.message:
                    raise MlopsError(Kind.CONFLICT, f"{what} already exists: nothing was changed",
                                     hint="delete or rename it, or reference it by hand", source="kubernetes") \
                        from None
                raise
            made.append(what)
        return made

    def _patch(self, plan: Plan, spec: fixes.FixSpec, res: Res, path: str) -> Result:
        for _attempt in range(3):
            rv = ((plan.patch or {}).get("metadata") or {}).get("resourceVersion")
            try:
                obj = self.ctx.kube.request("PATCH", path, body=plan.patch, content_type=plan.patch_type)
            except MlopsError as exc:
                if exc.kind is not Kind.CONFLICT:
                    raise
                fresh = self._only_status_changed(res, spec)
                if fresh is None:
                    raise MlopsError(Kind.CONFLICT,
                                     f"{spec.target} changed since it was read (resourceVersion {rv}); nothing was "
                                     "overwritten", hint="re-plan the repair and check the fix again",
                                     source="kubernetes") from None
                new_rv = (fresh.get("metadata") or {}).get("resourceVersion")
                plan.patch = {**plan.patch, "metadata": {**(plan.patch.get("metadata") or {}),
                                                         "resourceVersion": new_rv}}
                plan.notes.append(f"resourceVersion {rv} -> {new_rv}: only status changed (a controller); the same "
                                  "patch was sent again")
                continue
            new_rv = (obj.get("metadata") or {}).get("resourceVersion")
            return Result(True, f"patched {spec.target} (resourceVersion {rv} -> {new_rv})",
                          data={"kind": spec.kind, "namespace": spec.namespace, "name": spec.name,
                                "resourceVersion": new_rv, "finding": spec.finding_id})
        raise MlopsError(Kind.CONFLICT, f"{spec.target} keeps changing; nothing was overwritten",
                         hint="try again in a moment", source="kubernetes")

    def observe(self, plan: Plan) -> bool | None:
        """The patched fields hold the planned values (a created Job exists with its planned spec)."""
        spec = self.spec
        if spec is None:
            return None
        res = res_for(spec.kind if spec.operation == "patch" else "Job")
        if spec.operation == "create":
            return observe_object(self.ctx.kube, res, plan.patch, spec.namespace)
        return observe_patch(self.ctx.kube, res, spec.name, spec.namespace, plan.patch,
                             strategic=plan.patch_type == fixes.STRATEGIC)

    @staticmethod
    def _user_part(o: dict[str, Any]) -> Any:
        meta = o.get("metadata") or {}
        return (o.get("spec"), meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"))

    def _only_status_changed(self, res: Res, spec: fixes.FixSpec) -> dict[str, Any] | None:
        """After a 409: the fresh object when only status moved since plan(), else None."""
        fresh = self.ctx.kube.get(res, spec.name, spec.namespace)
        if self.source is not None and self._user_part(self.source) == self._user_part(fresh):
            self.source = fresh
            return fresh
        return None

    def _create(self, plan: Plan, spec: fixes.FixSpec) -> Result:
        ref, live = self._live_source(spec)

        def template(o: dict[str, Any] | None) -> Any:
            return ((o or {}).get("spec") or {}).get("jobTemplate")

        if template(live) != template(self.source):
            raise MlopsError(Kind.CONFLICT, f"{ref} changed since it was read (its jobTemplate); nothing was created",
                             hint="re-plan the repair and check the Job again", source="kubernetes")
        created = self.ctx.kube.create(res_for("Job"), plan.patch, spec.namespace)
        meta = created.get("metadata") or {}
        return Result(True, f"created Job {spec.namespace}/{meta.get('name')} from {ref}",
                      data={"kind": "Job", "namespace": spec.namespace, "name": meta.get("name"),
                            "uid": meta.get("uid"), "finding": spec.finding_id})


def _show(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, list):
        return " ".join(str(x) for x in v) or "[]"
    return str(v)

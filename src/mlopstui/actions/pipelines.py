"""Argo Workflow actions, done through the Kubernetes API as the `argo` CLI does without an Argo Server
(workflow/util/util.go at argoproj/argo-workflows f016ad89eb):

- stop / terminate: merge patch `spec.shutdown: Stop|Terminate` (StopWorkflow / TerminateWorkflow);
  a completed workflow is refused ("cannot shutdown a completed workflow").
- suspend / resume: `spec.suspend: true` / removed (SuspendWorkflow / ResumeWorkflow; resume also
  marks running Suspend nodes Succeeded); a completed workflow cannot be suspended.
- resubmit: a new Workflow from the old spec (FormulateResubmitWorkflow), parameters overridable.
- retry: FormulateRetryWorkflow: the pods of the reset nodes are deleted, then the Workflow is replaced
  (PUT) with the reset status; the plan names every pod it deletes.
- submit: a Workflow from a WorkflowTemplate (`workflowTemplateRef`), ClusterWorkflowTemplate or
  CronWorkflow (`argo submit --from`).

Every write carries the resourceVersion plan() read; a concurrent change answers 409 and nothing is
overwritten. Unknown names and bad parameters are refused in plan(), before any request that writes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlopstui.actions.base import Action, Plan, Result, observe_patch
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import pipelines as m
from mlopstui.models.objects import with_resource_version

if TYPE_CHECKING:
    from mlopstui.context import AppContext

MERGE_PATCH = "application/merge-patch+json"
WRITE_ID_LABEL = "mlopstui.io/write-id"


def _target(ns: str, name: str) -> str:
    return f"workflows.argoproj.io/{ns}/{name}"


class WorkflowAction(Action):
    """Base: reads the Workflow in plan(); subclasses build the write."""

    name = "workflow"

    def __init__(self, ctx: AppContext, namespace: str | None, workflow: str):
        self.ctx = ctx
        self.namespace = namespace or ctx.namespace
        self.workflow = m.check_name(workflow)
        self.current: m.Workflow | None = None

    def read(self) -> m.Workflow:
        from mlopstui.backends.argo import get_workflow

        self.current = get_workflow(self.ctx.kube, self.namespace, self.workflow)
        return self.current

    def _completed(self, wf: m.Workflow) -> bool:
        return wf.phase in m.WF_DONE

    def _rv_note(self, wf: m.Workflow) -> str:
        return (f"sent with metadata.resourceVersion {wf.resource_version}: a concurrent change is refused (409), "
                "not overwritten")


class _PatchAction(WorkflowAction):
    def build(self, wf: m.Workflow) -> tuple[dict[str, Any], str, str, list[str]]:
        raise NotImplementedError

    def plan(self) -> Plan:
        wf = self.read()
        patch, summary, risk, notes = self.build(wf)
        patch = with_resource_version(patch, wf.resource_version)
        return Plan(action=self.name, summary=summary, target=_target(self.namespace, self.workflow),
                    context=self.ctx.context_name, patch=patch, patch_type=MERGE_PATCH, risk=risk,
                    notes=[*notes, f"now: {wf.display_phase}, progress {wf.progress or '-'}", self._rv_note(wf)],
                    before={"phase": wf.phase, "suspend": wf.suspended, "shutdown": wf.shutdown or None,
                            "resourceVersion": wf.resource_version})

    def _apply(self, plan: Plan) -> Result:
        """PATCH with the read resourceVersion. The controller rewrites a running workflow's status (on the
        object: no status subresource) all the time; a 409 where only status moved re-sends the same patch
        with the fresh resourceVersion (at most 3 times); a change to spec, labels or annotations is
        refused, nothing overwritten."""
        from mlopstui.backends.kube import ARGO_WORKFLOWS

        body = {k: v for k, v in plan.patch.items() if k != "metadata"}
        rv = first_rv = (plan.patch.get("metadata") or {}).get("resourceVersion")
        base = self.current.raw if self.current is not None else {}
        for _attempt in range(3):
            try:
                obj = self.ctx.kube.merge_patch(ARGO_WORKFLOWS, self.workflow, body, self.namespace,
                                                resource_version=rv)
            except MlopsError as exc:
                if exc.kind is not Kind.CONFLICT:
                    raise
                fresh = self.ctx.kube.get(ARGO_WORKFLOWS, self.workflow, self.namespace)
                if _user_part(fresh) != _user_part(base):
                    raise MlopsError(Kind.CONFLICT, f"{self.workflow} was changed since it was read "
                                                    f"(resourceVersion {first_rv}); nothing was overwritten",
                                     hint="check the change and plan again", source="kubernetes") from None
                rv = (fresh.get("metadata") or {}).get("resourceVersion")
                plan.notes.append(f"resourceVersion {first_rv} -> {rv}: only status changed (the controller); "
                                  "the same patch was re-sent")
                continue
            new_rv = (obj.get("metadata") or {}).get("resourceVersion")
            return Result(True, f"{self.name}: patched {self.namespace}/{self.workflow} "
                                f"(resourceVersion {rv} -> {new_rv})", data={"resourceVersion": new_rv})
        raise MlopsError(Kind.CONFLICT, f"{self.workflow} keeps changing; nothing was overwritten",
                         hint="try again in a moment", source="kubernetes")


    def observe(self, plan: Plan) -> bool | None:
        from mlopstui.backends.kube import ARGO_WORKFLOWS

        return observe_patch(self.ctx.kube, ARGO_WORKFLOWS, self.workflow, self.namespace, plan.patch)


def _user_part(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in (m.L_PHASE, m.L_COMPLETED)}
    return obj.get("spec"), labels, meta.get("annotations"), meta.get("deletionTimestamp")


class Stop(_PatchAction):
    name = "stop"
    strategy = "Stop"

    def build(self, wf: m.Workflow):
        if self._completed(wf):
            raise MlopsError(Kind.INVALID, f"cannot shutdown a completed workflow ({wf.name} is {wf.phase})",
                             hint="nothing was sent")
        if wf.shutdown == self.strategy:
            raise MlopsError(Kind.INVALID, f"{wf.name} already has spec.shutdown {self.strategy}",
                             hint="nothing was sent")
        how = ("running steps finish, exit handlers run, nothing new starts" if self.strategy == "Stop"
               else "running pods are killed, exit handlers do not run")
        return ({"spec": {"shutdown": self.strategy}}, f"{self.name} workflow {wf.name}: {how}",
                "medium" if self.strategy == "Stop" else "high", [])


class Terminate(Stop):
    name = "terminate"
    strategy = "Terminate"


class Suspend(_PatchAction):
    name = "suspend"

    def build(self, wf: m.Workflow):
        if self._completed(wf):
            raise MlopsError(Kind.INVALID, f"cannot suspend completed workflows ({wf.name} is {wf.phase})",
                             hint="nothing was sent")
        if wf.suspended:
            raise MlopsError(Kind.INVALID, f"{wf.name} is already suspended", hint="nothing was sent")
        return ({"spec": {"suspend": True}}, f"suspend workflow {wf.name}: no new steps start until resumed",
                "low", ["running pods keep running"])


class Resume(_PatchAction):
    name = "resume"

    def build(self, wf: m.Workflow):
        active = [n for n in wf.nodes.values() if n.type == "Suspend" and n.phase == "Running"]
        if not wf.suspended and not active:
            raise MlopsError(Kind.INVALID, f"{wf.name} is not suspended", hint="nothing was sent")
        patch: dict[str, Any] = {"spec": {"suspend": None}}
        notes = []
        if active:
            now = m.rfc3339(time.time())
            patch["status"] = {"nodes": {n.id: {"phase": "Succeeded", "finishedAt": now, "message": None}
                                         for n in active}}
            notes.append("resumes suspend steps: " + ", ".join(n.display_name for n in active))
        return patch, f"resume workflow {wf.name}", "low", notes


class Resubmit(WorkflowAction):
    name = "resubmit"

    def __init__(self, ctx: AppContext, namespace: str | None, workflow: str, parameters: dict[str, str] | None = None):
        super().__init__(ctx, namespace, workflow)
        self.parameters = dict(parameters or {})

    def plan(self) -> Plan:
        from mlopstui.backends.argo import get_workflow_raw

        raw = get_workflow_raw(self.ctx.kube, self.namespace, self.workflow)
        self.current = m.parse_workflow(raw)
        manifest, marked = _write_id(m.resubmit_manifest(raw, self.parameters))
        params = {p.get("name"): p.get("value") for p in (manifest["spec"].get("arguments") or {}).get("parameters") or []}
        notes = [f"parameters: {', '.join(f'{k}={v}' for k, v in params.items()) or 'none'}"
                 + (" (changed: " + ", ".join(sorted(self.parameters)) + ")" if self.parameters else ""),
                 "a new Workflow: the old one and its pods are left as they are", marked]
        if self.current.template and "workflowTemplateRef" in manifest["spec"]:
            notes.append(f"runs workflowtemplate/{self.current.template} as it is now")
        return Plan(action=self.name, summary=f"create a new Workflow {manifest['metadata']['generateName']}* "
                                              f"from {self.namespace}/{self.workflow}",
                    target=f"workflows.argoproj.io/{self.namespace}/{manifest['metadata']['generateName']}*",
                    context=self.ctx.context_name, patch=manifest, patch_type="Workflow manifest (POST)",
                    risk="medium", notes=notes)

    def _apply(self, plan: Plan) -> Result:
        return _create(self.ctx, self.namespace, plan.patch, f"resubmitted {self.workflow} as")

    def observe(self, plan: Plan) -> bool | None:
        return _observe_created(self.ctx, self.namespace, plan.patch)


class Retry(WorkflowAction):
    name = "retry"

    def __init__(self, ctx: AppContext, namespace: str | None, workflow: str,
                 parameters: dict[str, str] | None = None, nodes: list[str] | None = None):
        super().__init__(ctx, namespace, workflow)
        self.parameters = dict(parameters or {})
        self.nodes = list(nodes or [])
        self.body: dict[str, Any] | None = None

    def plan(self) -> Plan:
        from mlopstui.backends.argo import get_workflow_raw
        from mlopstui.backends.kube import ARGO_WORKFLOWS, PODS

        raw = get_workflow_raw(self.ctx.kube, self.namespace, self.workflow)
        wf = self.current = m.parse_workflow(raw)
        ids = []
        for ref in self.nodes:
            node = wf.find_node(ref)
            if node is None:
                raise MlopsError(Kind.INVALID, f"workflow {wf.name} has no node {ref!r}", hint="nothing was sent")
            ids.append(node.id)
        rp = m.retry_plan(raw, self.parameters, now=time.time(), node_ids=ids)
        self.body = rp.workflow
        requests = [{"method": "DELETE", "path": PODS.path(self.namespace, p)} for p in rp.pods_to_delete]
        requests.append({"method": "PUT", "path": ARGO_WORKFLOWS.path(self.namespace, self.workflow),
                         "resourceVersion": wf.resource_version,
                         "change": "status reset: nodes deleted and reset as listed; spec.shutdown cleared"
                                   + ("; parameters " + ", ".join(f"{k}={v}" for k, v in self.parameters.items())
                                      if self.parameters else "")})
        notes = [f"deletes pod {p}" for p in rp.pods_to_delete] or ["deletes no pod"]
        notes += [f"removes node {n} (the controller runs it again)" for n in rp.nodes_deleted]
        notes += [f"resets node {n} to Running" for n in rp.nodes_reset]
        notes.append(self._rv_note(wf))
        return Plan(action=self.name, summary=f"retry workflow {wf.name} ({wf.phase}): "
                                              f"{len(rp.pods_to_delete)} pod(s) deleted, "
                                              f"{len(rp.nodes_deleted)} node(s) re-run",
                    target=_target(self.namespace, self.workflow), context=self.ctx.context_name,
                    patch={"requests": requests, "podsToDelete": rp.pods_to_delete,
                           "nodesDeleted": rp.nodes_deleted, "nodesReset": rp.nodes_reset},
                    patch_type="requests", risk="medium", notes=notes,
                    before={"phase": wf.phase, "resourceVersion": wf.resource_version})

    def _apply(self, plan: Plan) -> Result:
        from mlopstui.backends.kube import ARGO_WORKFLOWS, PODS

        if self.body is None:
            raise MlopsError(Kind.ERROR, "retry: apply without a plan")
        kube = self.ctx.kube
        rv = self.body["metadata"]["resourceVersion"]
        fresh = kube.get(ARGO_WORKFLOWS, self.workflow, self.namespace)
        if (fresh.get("metadata") or {}).get("resourceVersion") != rv:
            raise MlopsError(Kind.CONFLICT, f"{self.workflow} changed since it was read (resourceVersion {rv}); "
                                            "nothing was deleted or overwritten",
                             hint="plan the retry again", source="kubernetes")
        deleted = []
        self._put_sent = False
        for p in plan.patch["podsToDelete"]:
            try:
                kube.delete(PODS, p, self.namespace)
                deleted.append(p)
            except MlopsError as exc:
                if exc.kind is not Kind.NOT_FOUND:
                    raise
        self._put_sent = True
        obj = kube.request("PUT", ARGO_WORKFLOWS.path(self.namespace, self.workflow), body=self.body)
        new_rv = (obj.get("metadata") or {}).get("resourceVersion")
        return Result(True, f"retried {self.namespace}/{self.workflow}: deleted {len(deleted)} pod(s), "
                            f"resourceVersion {rv} -> {new_rv}",
                      data={"deletedPods": deleted, "resourceVersion": new_rv})


    def observe(self, plan: Plan) -> bool | None:
        """The reset replaces status: applied when the resourceVersion moved and status.finishedAt is no
        longer the failed run's (a retried workflow runs again: finishedAt cleared, or a later one)."""
        from mlopstui.backends.kube import ARGO_WORKFLOWS

        if not getattr(self, "_put_sent", False):
            self.observed = "the answer of a pod deletion timed out before the workflow was reset: some pods " \
                            "of the listed ones may be deleted, the workflow is not reset"
            return None
        rv = self.body["metadata"]["resourceVersion"] if self.body else None
        try:
            obj = self.ctx.kube.get(ARGO_WORKFLOWS, self.workflow, self.namespace)
        except MlopsError:
            return None
        if (obj.get("metadata") or {}).get("resourceVersion") == rv:
            return False
        old = ((self.current.raw if self.current else {}).get("status") or {}).get("finishedAt")
        return (obj.get("status") or {}).get("finishedAt") != old or None


class Submit(Action):
    """`argo submit --from workflowtemplate/NAME|clusterworkflowtemplate/NAME|cronwf/NAME -p k=v`."""

    name = "submit"
    KINDS = {"workflowtemplate": "WorkflowTemplate", "wftmpl": "WorkflowTemplate", "template": "WorkflowTemplate",
             "clusterworkflowtemplate": "ClusterWorkflowTemplate", "cwftmpl": "ClusterWorkflowTemplate",
             "cronwf": "CronWorkflow", "cronworkflow": "CronWorkflow", "cwf": "CronWorkflow"}

    def __init__(self, ctx: AppContext, namespace: str | None, source: str, parameters: dict[str, str] | None = None):
        self.ctx = ctx
        self.namespace = namespace or ctx.namespace
        kind, sep, name = source.partition("/")
        if not sep:
            kind, name = "workflowtemplate", source
        if kind.lower() not in self.KINDS:
            raise MlopsError(Kind.INVALID, f"cannot submit from {source!r}",
                             hint="use workflowtemplate/NAME, clusterworkflowtemplate/NAME or cronwf/NAME")
        self.kind = self.KINDS[kind.lower()]
        self.source = m.check_name(name, self.kind)
        self.parameters = dict(parameters or {})

    def plan(self) -> Plan:
        from mlopstui.backends import argo

        if self.kind == "CronWorkflow":
            src = argo.get_cron_workflow_raw(self.ctx.kube, self.namespace, self.source)
        else:
            src = argo.get_template_raw(self.ctx.kube, self.namespace, self.source,
                                        cluster=self.kind == "ClusterWorkflowTemplate")
        manifest, marked = _write_id(m.submit_manifest(self.kind, src, self.parameters))
        manifest["metadata"]["namespace"] = self.namespace
        declared = ((src.get("spec") or {}).get("workflowSpec") if self.kind == "CronWorkflow"
                    else src.get("spec")) or {}
        params = [m.Param.parse(p) for p in (declared.get("arguments") or {}).get("parameters") or []]
        shown = ", ".join(f"{p.name}={self.parameters.get(p.name, p.effective)}" for p in params) or "none"
        return Plan(action=self.name, summary=f"create a Workflow {self.source}-* from "
                                              f"{self.kind.lower()}/{self.source}",
                    target=f"workflows.argoproj.io/{self.namespace}/{self.source}-*", context=self.ctx.context_name,
                    patch=manifest, patch_type="Workflow manifest (POST)", risk="medium",
                    notes=[f"parameters: {shown}", marked])

    def _apply(self, plan: Plan) -> Result:
        return _create(self.ctx, self.namespace, plan.patch, "submitted")

    def observe(self, plan: Plan) -> bool | None:
        return _observe_created(self.ctx, self.namespace, plan.patch)


def _write_id(manifest: dict) -> tuple[dict, str]:
    """The manifest with a label unique to this write: a generateName create whose answer is lost can then be
    found (the name is the server's)."""
    import secrets

    wid = secrets.token_hex(6)
    meta = manifest.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), WRITE_ID_LABEL: wid}
    return manifest, f"labelled {WRITE_ID_LABEL}={wid}: after a lost answer, a re-read finds the Workflow it made"


def _observe_created(ctx: AppContext, namespace: str, manifest: dict) -> bool | None:
    from mlopstui.backends.kube import ARGO_WORKFLOWS

    wid = ((manifest.get("metadata") or {}).get("labels") or {}).get(WRITE_ID_LABEL)
    if not wid:
        return None
    try:
        return bool(ctx.kube.list(ARGO_WORKFLOWS, namespace, label_selector=f"{WRITE_ID_LABEL}={wid}"))
    except MlopsError:
        return None


def _create(ctx: AppContext, namespace: str, manifest: dict, verb: str) -> Result:
    from mlopstui.backends.kube import ARGO_WORKFLOWS

    created = ctx.kube.create(ARGO_WORKFLOWS, manifest, namespace)
    meta = created.get("metadata") or {}
    return Result(True, f"{verb} {namespace}/{meta.get('name')}",
                  data={"namespace": namespace, "workflow": meta.get("name"), "uid": meta.get("uid")})


ACTIONS = {"stop": Stop, "terminate": Terminate, "suspend": Suspend, "resume": Resume}

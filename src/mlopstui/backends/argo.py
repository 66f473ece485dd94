"""Argo Workflows (and the KFP runs it executes) through the Kubernetes API, as the `argo` CLI does
without an Argo Server: workflows.argoproj.io objects, their pods and pod logs. Returns models.pipelines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopstui.backends.kube import (
    ARGO_CLUSTER_WORKFLOW_TEMPLATES,
    ARGO_CRON_WORKFLOWS,
    ARGO_WORKFLOW_TEMPLATES,
    ARGO_WORKFLOWS,
    PODS,
    KubeClient,
    Res,
)
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import pipelines as m

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlopstui.backends.informer import Informers
    from mlopstui.backends.mlflow import MlflowBackend
    from mlopstui.models.experiments import RunRow

KIND_NAMES = {"workflow": ARGO_WORKFLOWS, "cronworkflow": ARGO_CRON_WORKFLOWS,
              "workflowtemplate": ARGO_WORKFLOW_TEMPLATES, "clusterworkflowtemplate": ARGO_CLUSTER_WORKFLOW_TEMPLATES}
_WHAT = {ARGO_WORKFLOWS.plural: "workflow", ARGO_CRON_WORKFLOWS.plural: "CronWorkflow",
         ARGO_WORKFLOW_TEMPLATES.plural: "WorkflowTemplate",
         ARGO_CLUSTER_WORKFLOW_TEMPLATES.plural: "ClusterWorkflowTemplate"}


def _not_installed(exc: MlopsError, res: Res) -> MlopsError:
    return MlopsError(Kind.NOT_FOUND, f"Argo Workflows is not installed here: the API has no {res.full_name}",
                      hint="install Argo Workflows (its CRDs and workflow-controller), or pick another context",
                      source="kubernetes")


def _list(kube: KubeClient, res: Res, namespace: str | None, all_namespaces: bool) -> list[dict[str, Any]]:
    try:
        return kube.list(res, namespace, all_namespaces=all_namespaces)
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise _not_installed(exc, res) from None
        raise


def _get(kube: KubeClient, res: Res, name: str, namespace: str | None) -> dict[str, Any]:
    m.check_name(name, _WHAT[res.plural])
    try:
        return kube.get(res, name, namespace)
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            where = "" if not res.namespaced else f" in namespace {namespace or kube.namespace}"
            raise MlopsError(Kind.NOT_FOUND, f"{_WHAT[res.plural]} {name} not found{where}",
                             hint=f"list them with `mlopstui {_verb(res)}`; nothing was sent",
                             source="kubernetes") from None
        raise


def _verb(res: Res) -> str:
    return {"workflows": "workflows", "cronworkflows": "cron-workflows"}.get(res.plural, "workflow-templates")


def _by_time(wfs: list[m.Workflow]) -> list[m.Workflow]:
    """Newest first, as `argo list` sorts (running before finished at the same start)."""
    return sorted(wfs, key=lambda w: (w.started or w.created or 0.0), reverse=True)


def list_workflows(kube: KubeClient, namespace: str | None = None, *, all_namespaces: bool = False
                   ) -> list[m.Workflow]:
    return _by_time([m.parse_workflow(o) for o in _list(kube, ARGO_WORKFLOWS, namespace, all_namespaces)])


def get_workflow_raw(kube: KubeClient, namespace: str | None, name: str) -> dict[str, Any]:
    return _get(kube, ARGO_WORKFLOWS, name, namespace)


def get_workflow(kube: KubeClient, namespace: str | None, name: str) -> m.Workflow:
    return m.parse_workflow(get_workflow_raw(kube, namespace, name))


def list_cron_workflows(kube: KubeClient, namespace: str | None = None, *, all_namespaces: bool = False
                        ) -> list[m.CronWorkflow]:
    items = [m.parse_cron_workflow(o) for o in _list(kube, ARGO_CRON_WORKFLOWS, namespace, all_namespaces)]
    return sorted(items, key=lambda c: (c.namespace, c.name))


def get_cron_workflow_raw(kube: KubeClient, namespace: str | None, name: str) -> dict[str, Any]:
    return _get(kube, ARGO_CRON_WORKFLOWS, name, namespace)


def list_workflow_templates(kube: KubeClient, namespace: str | None = None, *, all_namespaces: bool = False,
                            cluster: bool = True) -> list[m.WorkflowTemplate]:
    items = [m.parse_workflow_template(o) for o in _list(kube, ARGO_WORKFLOW_TEMPLATES, namespace, all_namespaces)]
    if cluster:
        try:
            items += [m.parse_workflow_template(o, cluster=True)
                      for o in kube.list(ARGO_CLUSTER_WORKFLOW_TEMPLATES)]
        except MlopsError as exc:
            if exc.kind not in (Kind.NOT_FOUND, Kind.FORBIDDEN):
                raise
    return sorted(items, key=lambda t: (t.cluster, t.namespace, t.name))


def watched_view(informers: Informers, view: str, namespace: str | None, *, all_namespaces: bool = False,
                 listener: Callable[[], None] | None = None, timeout: float = 10.0) -> list[Any]:
    """The Pipelines list of a view ("workflows", "cron", "templates") from the shared watch caches
    (backends/stack_watch.py): listed once, then watched; no request while they are live."""
    from mlopstui.backends.stack_watch import objects_of

    res = {"workflows": ARGO_WORKFLOWS, "cron": ARGO_CRON_WORKFLOWS, "templates": ARGO_WORKFLOW_TEMPLATES}[view]
    ns = None if all_namespaces else (namespace or informers.kube.namespace)
    try:
        items = objects_of(informers, res, ns, listener=listener, timeout=timeout)
    except MlopsError as exc:
        raise (_not_installed(exc, res) if exc.kind is Kind.NOT_FOUND else exc) from None
    if items is None:
        raise _not_installed(MlopsError(Kind.NOT_FOUND, res.full_name), res)
    if view == "workflows":
        return _by_time([m.parse_workflow(o) for o in items])
    if view == "cron":
        return sorted((m.parse_cron_workflow(o) for o in items), key=lambda c: (c.namespace, c.name))
    out = [m.parse_workflow_template(o) for o in items]
    try:
        out += [m.parse_workflow_template(o, cluster=True) for o in objects_of(
            informers, ARGO_CLUSTER_WORKFLOW_TEMPLATES, None, listener=listener, timeout=timeout) or []]
    except MlopsError as exc:
        if exc.kind not in (Kind.NOT_FOUND, Kind.FORBIDDEN):
            raise
    return sorted(out, key=lambda t: (t.cluster, t.namespace, t.name))


def get_template_raw(kube: KubeClient, namespace: str | None, name: str, cluster: bool = False) -> dict[str, Any]:
    return _get(kube, ARGO_CLUSTER_WORKFLOW_TEMPLATES if cluster else ARGO_WORKFLOW_TEMPLATES, name, namespace)


def workflow_pods(kube: KubeClient, wf: m.Workflow) -> list[dict[str, Any]]:
    return kube.list(PODS, wf.namespace, label_selector=f"{m.L_WORKFLOW}={wf.name}")


def node_for(wf: m.Workflow, ref: str | None) -> m.Node:
    """The Pod node a log request means: given by id/name/display name/pod, else the only or last pod."""
    pods = wf.pod_nodes()
    if ref:
        node = wf.find_node(ref)
        if node is None:
            raise MlopsError(Kind.NOT_FOUND, f"workflow {wf.name} has no node {ref!r}",
                             hint="its pod nodes: " + (", ".join(n.display_name for n in pods) or "none"))
        if node.type != "Pod":
            raise MlopsError(Kind.INVALID, f"node {node.display_name} is a {node.type} node: it has no pod",
                             hint="its pod nodes: " + (", ".join(n.display_name for n in pods) or "none"))
        return node
    if not pods:
        raise MlopsError(Kind.NOT_FOUND, f"workflow {wf.name} has no pod nodes yet",
                         hint="wait until its first step starts")
    return sorted(pods, key=lambda n: n.started or 0)[-1]


POD_GONE_HINT = "pods are deleted by the workflow's podGC or by a retry; its main.log may be in the artifact repository"


def node_log(kube: KubeClient, wf: m.Workflow, node: m.Node, container: str = "main",
             tail_lines: int | None = 500) -> str:
    if container not in m.CONTAINERS:
        raise MlopsError(Kind.INVALID, f"unknown container {container!r}", hint="one of: main, init, wait")
    try:
        text = kube.pod_log(node.pod, wf.namespace, tail_lines=tail_lines, container=container)
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise MlopsError(Kind.NOT_FOUND, f"the pod {node.pod} of node {node.display_name} is gone",
                             hint=POD_GONE_HINT, source="kubernetes") from None
        raise
    return m.clean_text(text)


# -- MLflow runs a workflow created ----------------------------------------------------------------
def linked_runs(mlflow: MlflowBackend, wf: m.Workflow, max_experiments: int = 200) -> list[RunRow]:
    """Runs tagged `argo.workflow.uid = <uid>` (or, for KFP, the run id), across experiments."""
    keys = [v for v in (wf.uid, wf.kfp.run_id) if v]
    if not keys:
        return []
    exps = [e.experiment_id for e in mlflow.search_experiments(max_total=max_experiments)]
    out: list[RunRow] = []
    seen: set[str] = set()
    for i in range(0, len(exps), 100):  # MLflow takes at most 100 experiment ids per search
        chunk = exps[i:i + 100]
        for key in keys:
            rows, _ = mlflow.search_runs(chunk, filter=f"tags.`{m.TAG_WORKFLOW_UID}` = '{_quote(key)}'",
                                         max_results=200)
            for r in rows:
                if r.run_id not in seen:
                    seen.add(r.run_id)
                    out.append(r)
    return out


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\'")

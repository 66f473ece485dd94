"""Argo Workflows and Kubeflow Pipelines runs as plain data (pure: no I/O).

Facts from upstream (argoproj/argo-workflows f016ad89eb, kubeflow/pipelines 7b70c7b95f; fixtures under
tests/fixtures/upstream/argo/ record them):
- A Workflow's `status.nodes` is a map id -> NodeStatus (type Pod, Steps, StepGroup, DAG, TaskGroup,
  Retry, Skipped, Suspend, ...). Node ids are `<workflow>-<fnv32a(node name)>` (the root's id is the
  workflow name), pod names (v2, the default) `<workflow>-<template>-<fnv32a(node name)>`
  (workflow/util/pod_name.go).
- `argo get` renders the tree from boundaries (DAG/Steps own the nodes whose boundaryID they are) and
  non-boundary parents (StepGroup/Retry own their children), siblings ordered by startedAt, then by the
  `(i:item)` index, then by name; a Retry node with one child and every StepGroup are folded away
  (cmd/argo/commands/common/get.go). Durations print as "19s", "3m", "2h" (util/humanize).
- Progress "N/M" sums the executable nodes (Pod, Container, HTTP, Plugin, Suspend); succeeded/skipped
  nodes count complete (workflow/progress/updater.go).
- `argo retry` (workflow/util/util.go FormulateRetryWorkflow): only Failed/Error workflows; failed
  execution nodes without a succeeded descendant are deleted with everything below them, their
  ancestors up to the root reset to Running; the pods of deleted Pod nodes are deleted; the Workflow is
  then updated (PUT) with the new status. `argo resubmit` (FormulateResubmitWorkflow): a new Workflow
  with the old spec (shutdown cleared), generateName, user labels plus
  `workflows.argoproj.io/resubmitted-from-workflow`, and the old annotations.
- Kubeflow Pipelines v2 runs are Argo Workflows: label `pipeline/runid` (run id), annotation
  `pipelines.kubeflow.org/run_name` (the run's display name), the pipeline name as the drivers'
  `--pipeline_name` argument and as generateName (`<pipeline>-`); pods carry
  `pipelines.kubeflow.org/v2_component: "true"`. Scheduled runs add
  `scheduledworkflows.kubeflow.org/scheduledWorkflowName`
  (backend/src/common/util/consts.go, backend/src/apiserver/template/v2_template.go,
  backend/src/v2/compiler/argocompiler/argo.go).

MLflow runs a workflow created are found by the tag `argo.workflow.uid` (also `argo.workflow.name` and
`argo.workflow.namespace`): a pipeline step sets them from `{{workflow.uid}}` / `{{workflow.name}}`, as
the sandbox's lifecycle pipeline does. KFP replaces `{{workflow.uid}}` with the run id, so for a KFP run
the same tag holds the run id.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.units import parse_time  # noqa: F401 - the one timestamp parser (also models.X.parse_time)

# -- labels, annotations, tags ---------------------------------------------------------------------
L_WORKFLOW = "workflows.argoproj.io/workflow"  # on pods: the workflow's name
L_PHASE = "workflows.argoproj.io/phase"
L_COMPLETED = "workflows.argoproj.io/completed"
L_ARCHIVING = "workflows.argoproj.io/workflow-archiving-status"
L_CRON = "workflows.argoproj.io/cron-workflow"
L_TEMPLATE = "workflows.argoproj.io/workflow-template"
L_CLUSTER_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
L_RESUBMITTED_FROM = "workflows.argoproj.io/resubmitted-from-workflow"
L_CREATOR_PREFIX = "workflows.argoproj.io/creator"
A_NODE_NAME = "workflows.argoproj.io/node-name"
A_NODE_ID = "workflows.argoproj.io/node-id"
A_POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"
KFP_RUN_ID = "pipeline/runid"
KFP_RUN_NAME = "pipelines.kubeflow.org/run_name"
KFP_V2_COMPONENT = "pipelines.kubeflow.org/v2_component"
KFP_SCHEDULED = "scheduledworkflows.kubeflow.org/scheduledWorkflowName"

TAG_WORKFLOW_UID = "argo.workflow.uid"
TAG_WORKFLOW_NAME = "argo.workflow.name"
TAG_WORKFLOW_NAMESPACE = "argo.workflow.namespace"

EXECUTABLE = ("Pod", "Container", "HTTP", "Plugin", "Suspend")
EXECUTION_RENDER = ("Pod", "Skipped", "Suspend", "HTTP", "Plugin")
BOUNDARY = ("DAG", "Steps")
NON_BOUNDARY_PARENT = ("StepGroup", "Retry")
GROUP = ("DAG", "TaskGroup", "StepGroup", "Steps")
DONE = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
WF_DONE = ("Succeeded", "Failed", "Error")
CONTAINERS = ("main", "init", "wait")

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_PARAM_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def clean_text(text: object, keep_newlines: bool = True) -> str:
    """A server's string made safe for the terminal (mlopstui.text: whole escape sequences, an OSC's
    payload too, and control characters dropped)."""
    from mlopstui.text import clean, clean_line

    return clean(text) if keep_newlines else clean_line(text)


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(workflow: str, node_name: str) -> str:
    """Workflow.NodeID: the root node's id is the workflow name, others `<wf>-<fnv32a(name)>`."""
    return workflow if node_name == workflow else f"{workflow}-{fnv32a(node_name)}"


def pod_name(workflow: str, node_name: str, template: str, nid: str, version: str = "v2") -> str:
    """util.GeneratePodName."""
    if version == "v1":
        return nid
    if workflow == node_name:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[:242]}-{fnv32a(node_name)}"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_duration(seconds: float | None) -> str:
    """humanize.RelativeDurationShort: 0s, 19s, 3m, 2h, 4d."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def recover_index(display_name: str) -> int:
    """util.RecoverIndexFromNodeName: `sleep(9:nine)` -> 9, else -1."""
    a, b = display_name.find("("), display_name.find(":")
    if a < 0 or b < 0:
        return -1
    try:
        return int(display_name[a + 1:b])
    except ValueError:
        return -1


# -- parameters and artifacts ----------------------------------------------------------------------
@dataclass
class Param:
    name: str
    value: str | None = None
    default: str | None = None
    enum: list[str] = field(default_factory=list)
    description: str = ""

    @classmethod
    def parse(cls, p: dict) -> Param:
        v = p.get("value")
        d = p.get("default")
        return cls(str(p.get("name", "")), None if v is None else str(v), None if d is None else str(d),
                   [str(x) for x in p.get("enum") or []], str(p.get("description") or ""))

    @property
    def effective(self) -> str | None:
        return self.value if self.value is not None else self.default


@dataclass
class Artifact:
    name: str
    path: str = ""
    kind: str = ""  # s3, http, git, raw, ...
    bucket: str = ""
    key: str = ""
    endpoint: str = ""

    @classmethod
    def parse(cls, a: dict) -> Artifact:
        s3 = a.get("s3") or {}
        kind = next((k for k in ("s3", "gcs", "http", "git", "raw", "artifactory", "hdfs", "oss", "azure")
                     if k in a), "")
        return cls(str(a.get("name", "")), str(a.get("path") or ""), kind, str(s3.get("bucket") or ""),
                   str(s3.get("key") or ""), str(s3.get("endpoint") or ""))

    @property
    def location(self) -> str:
        if self.kind == "s3":
            if self.bucket:
                return f"s3://{self.bucket}/{self.key}"
            return f"s3 key {self.key}" if self.key else "s3 (default repository)"
        return self.kind or "-"


def _io(d: dict | None) -> tuple[list[Param], list[Artifact]]:
    d = d or {}
    return ([Param.parse(p) for p in d.get("parameters") or [] if isinstance(p, dict)],
            [Artifact.parse(a) for a in d.get("artifacts") or [] if isinstance(a, dict)])


# -- nodes -----------------------------------------------------------------------------------------
@dataclass
class Node:
    id: str
    name: str
    display_name: str
    type: str
    phase: str
    template: str = ""
    template_ref: str = ""  # "name/template" of a templateRef
    boundary_id: str = ""
    children: list[str] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    message: str = ""
    progress: str = ""
    host_node: str = ""
    inputs: list[Param] = field(default_factory=list)
    input_artifacts: list[Artifact] = field(default_factory=list)
    outputs: list[Param] = field(default_factory=list)
    output_artifacts: list[Artifact] = field(default_factory=list)
    exit_code: str | None = None
    pod: str = ""  # pod name (Pod nodes)
    retries: int = 0  # Retry nodes: attempts beyond the first

    def duration(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else now) - self.started

    @property
    def template_label(self) -> str:
        return self.template_ref or self.template

    def summary(self, now: float | None = None) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "displayName": self.display_name, "type": self.type,
                "phase": self.phase, "template": self.template_label, "pod": self.pod or None,
                "startedAt": rfc3339(self.started) if self.started else None,
                "finishedAt": rfc3339(self.finished) if self.finished else None,
                "duration": None if now is None else self.duration(now), "message": self.message or None,
                "retries": self.retries, "progress": self.progress or None,
                "inputs": {"parameters": [p.__dict__ for p in self.inputs],
                           "artifacts": [a.__dict__ for a in self.input_artifacts]},
                "outputs": {"parameters": [p.__dict__ for p in self.outputs],
                            "artifacts": [a.__dict__ for a in self.output_artifacts],
                            "exitCode": self.exit_code}}


def parse_node(nid: str, n: dict, workflow: str, pod_version: str = "v2") -> Node:
    ref = n.get("templateRef") or {}
    template_ref = f"{ref.get('name', '')}/{ref.get('template', '')}" if ref else ""
    template_for_pod = ref.get("template") if ref else (n.get("templateName") or "")
    inputs, in_arts = _io(n.get("inputs"))
    outputs, out_arts = _io(n.get("outputs"))
    exit_code = (n.get("outputs") or {}).get("exitCode")
    node = Node(id=str(n.get("id") or nid), name=str(n.get("name") or nid),
                display_name=str(n.get("displayName") or n.get("name") or nid), type=str(n.get("type") or ""),
                phase=str(n.get("phase") or ""), template=str(n.get("templateName") or ""),
                template_ref=template_ref, boundary_id=str(n.get("boundaryID") or ""),
                children=[str(c) for c in n.get("children") or []], started=parse_time(n.get("startedAt")),
                finished=parse_time(n.get("finishedAt")), message=str(n.get("message") or ""),
                progress=str(n.get("progress") or ""), host_node=str(n.get("hostNodeName") or ""),
                inputs=inputs, input_artifacts=in_arts, outputs=outputs, output_artifacts=out_arts,
                exit_code=None if exit_code is None else str(exit_code))
    if node.type == "Pod":
        node.pod = pod_name(workflow, node.name, template_for_pod or "", node.id, pod_version)
    if node.type == "Retry":
        node.retries = max(0, len(node.children) - 1)
    return node


# -- workflows -------------------------------------------------------------------------------------
@dataclass
class Kfp:
    run_id: str = ""
    run_name: str = ""
    pipeline: str = ""
    recurring_run: str = ""

    @property
    def is_kfp(self) -> bool:
        return bool(self.run_id or self.run_name)


@dataclass
class Workflow:
    namespace: str
    name: str
    uid: str = ""
    phase: str = ""
    progress: str = ""
    started: float | None = None
    finished: float | None = None
    created: float | None = None
    message: str = ""
    template: str = ""  # WorkflowTemplate (or ClusterWorkflowTemplate) it was submitted from
    cron: str = ""  # CronWorkflow that created it
    resubmitted_from: str = ""
    kfp: Kfp = field(default_factory=Kfp)
    parameters: list[Param] = field(default_factory=list)
    entrypoint: str = ""
    suspended: bool = False
    shutdown: str = ""
    resource_version: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)
    pod_name_version: str = "v2"
    raw: dict = field(default_factory=dict, repr=False)

    def duration(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else now) - self.started

    @property
    def display_phase(self) -> str:
        """As `argo list` shows it: Running (Suspended), Running (Terminating)..."""
        phase = self.phase or "Pending"
        if phase not in WF_DONE:
            if self.shutdown:
                return f"{phase} ({'Stopping' if self.shutdown == 'Stop' else 'Terminating'})"
            if self.suspended:
                return f"{phase} (Suspended)"
        return phase

    @property
    def source(self) -> str:
        if self.cron:
            return f"cronwf/{self.cron}"
        if self.template:
            return f"template/{self.template}"
        if self.resubmitted_from:
            return f"resubmit/{self.resubmitted_from}"
        return "-"

    def summary(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "namespace": self.namespace, "name": self.name, "uid": self.uid, "phase": self.phase,
            "displayPhase": self.display_phase, "progress": self.progress or None,
            "startedAt": rfc3339(self.started) if self.started else None,
            "finishedAt": rfc3339(self.finished) if self.finished else None,
            "duration": None if now is None else self.duration(now), "message": self.message or None,
            "workflowTemplate": self.template or None, "cronWorkflow": self.cron or None,
            "resubmittedFrom": self.resubmitted_from or None, "suspended": self.suspended,
            "shutdown": self.shutdown or None, "resourceVersion": self.resource_version,
            "parameters": {p.name: p.effective for p in self.parameters},
        }
        if self.kfp.is_kfp:
            out["kfp"] = {"runId": self.kfp.run_id or None, "runName": self.kfp.run_name or None,
                          "pipeline": self.kfp.pipeline or None, "recurringRun": self.kfp.recurring_run or None}
        return out

    # -- nodes --
    def pod_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.type == "Pod"]

    def find_node(self, ref: str) -> Node | None:
        """By id, name, display name or pod name (first match in that order)."""
        if ref in self.nodes:
            return self.nodes[ref]
        for attr in ("name", "display_name", "pod"):
            hits = [n for n in self.nodes.values() if getattr(n, attr) == ref]
            if hits:
                return sorted(hits, key=lambda n: n.started or 0)[-1]
        return None

    def computed_progress(self) -> str:
        """The progress the controller computes (updater.go), from the nodes."""
        n = m = 0
        for node in self.nodes.values():
            if node.type not in EXECUTABLE:
                continue
            p = node.progress or "0/1"
            try:
                a, b = (int(x) for x in p.split("/"))
            except ValueError:
                continue
            if node.phase in ("Succeeded", "Skipped", "Omitted"):
                a = b
            n, m = n + a, m + b
        return f"{n}/{m}"


def parse_workflow(obj: dict) -> Workflow:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    labels = meta.get("labels") or {}
    ann = meta.get("annotations") or {}
    name = str(meta.get("name") or "")
    ref = spec.get("workflowTemplateRef") or {}
    template = labels.get(L_TEMPLATE) or labels.get(L_CLUSTER_TEMPLATE) or ref.get("name") or ""
    pod_version = ann.get(A_POD_NAME_FORMAT) or "v2"
    wf = Workflow(
        namespace=str(meta.get("namespace") or ""), name=name, uid=str(meta.get("uid") or ""),
        phase=str(st.get("phase") or ""), progress=str(st.get("progress") or ""),
        started=parse_time(st.get("startedAt")), finished=parse_time(st.get("finishedAt")),
        created=parse_time(meta.get("creationTimestamp")), message=str(st.get("message") or ""),
        template=str(template), cron=str(labels.get(L_CRON) or ""),
        resubmitted_from=str(labels.get(L_RESUBMITTED_FROM) or ""),
        kfp=Kfp(run_id=str(labels.get(KFP_RUN_ID) or ""), run_name=str(ann.get(KFP_RUN_NAME) or ""),
                recurring_run=str(labels.get(KFP_SCHEDULED) or "")),
        parameters=[Param.parse(p) for p in (spec.get("arguments") or {}).get("parameters") or []
                    if isinstance(p, dict)],
        entrypoint=str(spec.get("entrypoint") or ""), suspended=bool(spec.get("suspend")),
        shutdown=str(spec.get("shutdown") or ""), resource_version=str(meta.get("resourceVersion") or ""),
        pod_name_version=pod_version, raw=obj)
    if wf.kfp.is_kfp:
        wf.kfp.pipeline = kfp_pipeline_name(obj)
    for nid, n in (st.get("nodes") or {}).items():
        if isinstance(n, dict):
            wf.nodes[str(nid)] = parse_node(str(nid), n, name, pod_version)
    repo = ((st.get("artifactRepositoryRef") or {}).get("artifactRepository") or {}).get("s3") or {}
    for node in wf.nodes.values():  # keys without a bucket are in the workflow's artifact repository
        for a in node.input_artifacts + node.output_artifacts:
            if a.kind == "s3" and not a.bucket and repo.get("bucket"):
                a.bucket, a.endpoint = str(repo["bucket"]), str(repo.get("endpoint") or "")
    for node in wf.nodes.values():  # a Retry's attempts are its children named `<name>(i)`
        if node.type == "Retry":
            attempts = [c for c in node.children if c in wf.nodes and wf.nodes[c].name.startswith(node.name + "(")]
            node.retries = max(0, len(attempts) - 1)
    return wf


def kfp_pipeline_name(obj: dict) -> str:
    """The drivers' `--pipeline_name` argument, else generateName without its dash."""
    for t in (obj.get("spec") or {}).get("templates") or []:
        args = [str(a) for a in ((t.get("container") or {}).get("args") or [])]
        if "--pipeline_name" in args:
            i = args.index("--pipeline_name")
            if i + 1 < len(args) and "{{" not in args[i + 1]:
                return args[i + 1]
    gen = str((obj.get("metadata") or {}).get("generateName") or "")
    return gen[:-1] if gen.endswith("-") else gen


# -- the tree `argo get` shows ---------------------------------------------------------------------
@dataclass
class TreeRow:
    prefix: str  # "├─", "│ └─" ...
    node: Node
    depth: int


def node_tree(wf: Workflow, *, ascii_only: bool = False) -> list[TreeRow]:
    """The rows of `argo get`'s tree, in its order, with its folding (StepGroups, single-try Retries)."""
    nodes = wf.nodes
    nbp_children: dict[str, str] = {}
    for nid, n in nodes.items():
        if n.type in NON_BOUNDARY_PARENT:
            for c in n.children:
                nbp_children[c] = nid
    contained: dict[str, list[str]] = {nid: [] for nid in nodes}
    roots: list[str] = []
    for nid, n in nodes.items():
        if n.type not in BOUNDARY + NON_BOUNDARY_PARENT + EXECUTION_RENDER:
            continue
        if nid in nbp_children:
            contained[nbp_children[nid]].append(nid)
        elif not n.boundary_id:
            roots.append(nid)
        elif n.boundary_id in contained:
            contained[n.boundary_id].append(nid)

    def key(nid: str):
        n = nodes[nid]
        idx = recover_index(n.display_name)
        return (n.started if n.started is not None else float("-inf"), idx if idx >= 0 else float("inf"),
                n.display_name)

    for v in contained.values():
        v.sort(key=key)
    if ascii_only:
        last, mid, cont, blank, one, first = "`-", "|-", "| ", "  ", "--", "+-"
    else:
        last, mid, cont, blank, one, first = "└─", "├─", "│ ", "  ", "──", "┬─"
    rows: list[TreeRow] = []

    def filtered(n: Node) -> tuple[bool, bool]:
        if n.type == "Retry" and len(n.children) == 1:
            return True, False
        if n.type == "StepGroup":
            return True, True
        if n.type == "Skipped" and n.phase == "Omitted":
            return True, False
        return False, False

    def render(nid: str, depth: int, node_prefix: str, child_prefix: str, guard: set[str]) -> None:
        if nid in guard or len(rows) > 5000:
            return
        guard = guard | {nid}
        n = nodes[nid]
        is_filtered, child_indent = filtered(n)
        if not is_filtered:
            rows.append(TreeRow(node_prefix, n, depth))
        kids = contained.get(nid) or []
        for i, c in enumerate(kids):
            mx = len(kids) - 1
            part = subp = ""
            if is_filtered and child_indent:
                if mx == 0:
                    part, subp = one, blank
                elif i == 0:
                    part, subp = first, cont
                elif i == mx:
                    part, subp = last, blank
                else:
                    part, subp = mid, cont
            elif not is_filtered:
                part, subp = (last, blank) if i == mx else (mid, cont)
            if not is_filtered:
                render(c, depth + 1, child_prefix + part, child_prefix + subp, guard)
            else:
                render(c, depth, (node_prefix if i == 0 else child_prefix) + part, child_prefix + subp, guard)

    for r in sorted(roots, key=key):
        render(r, 0, "", "", set())
    return rows


# -- CronWorkflows and WorkflowTemplates -----------------------------------------------------------
@dataclass
class CronWorkflow:
    namespace: str
    name: str
    schedules: list[str]
    timezone: str = ""
    suspended: bool = False
    concurrency: str = ""
    last_scheduled: float | None = None
    active: list[str] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    created: float | None = None
    resource_version: str = ""
    parameters: list[Param] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)

    def next_run(self, now: float) -> float | None:
        from mlopstui.models.features import cron_next

        if self.suspended or (self.timezone and self.timezone not in ("UTC", "Etc/UTC")):
            return None
        times = [t for t in (cron_next(s, now) for s in self.schedules) if t is not None]
        return min(times) if times else None

    def summary(self, now: float) -> dict[str, Any]:
        nxt = self.next_run(now)
        return {"namespace": self.namespace, "name": self.name, "schedules": self.schedules,
                "timezone": self.timezone or None, "suspended": self.suspended,
                "concurrencyPolicy": self.concurrency or None,
                "lastScheduledTime": rfc3339(self.last_scheduled) if self.last_scheduled else None,
                "nextScheduledTime": rfc3339(nxt) if nxt else None, "active": self.active,
                "succeeded": self.succeeded, "failed": self.failed,
                "parameters": {p.name: p.effective for p in self.parameters}}


def parse_cron_workflow(obj: dict) -> CronWorkflow:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    schedules = [str(s) for s in spec.get("schedules") or []] or ([str(spec["schedule"])]
                                                                  if spec.get("schedule") else [])
    wspec = spec.get("workflowSpec") or {}
    return CronWorkflow(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""), schedules=schedules,
        timezone=str(spec.get("timezone") or ""), suspended=bool(spec.get("suspend")),
        concurrency=str(spec.get("concurrencyPolicy") or ""),
        last_scheduled=parse_time(st.get("lastScheduledTime")),
        active=[str(a.get("name")) for a in st.get("active") or [] if isinstance(a, dict)],
        succeeded=int(st.get("succeeded") or 0), failed=int(st.get("failed") or 0),
        created=parse_time(meta.get("creationTimestamp")), resource_version=str(meta.get("resourceVersion") or ""),
        parameters=[Param.parse(p) for p in (wspec.get("arguments") or {}).get("parameters") or []
                    if isinstance(p, dict)], raw=obj)


@dataclass
class WorkflowTemplate:
    namespace: str
    name: str
    entrypoint: str = ""
    templates: list[str] = field(default_factory=list)
    parameters: list[Param] = field(default_factory=list)
    created: float | None = None
    cluster: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"namespace": self.namespace or None, "name": self.name, "cluster": self.cluster,
                "entrypoint": self.entrypoint, "templates": self.templates,
                "parameters": {p.name: p.effective for p in self.parameters}}


def parse_workflow_template(obj: dict, cluster: bool = False) -> WorkflowTemplate:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return WorkflowTemplate(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
        entrypoint=str(spec.get("entrypoint") or ""),
        templates=[str(t.get("name")) for t in spec.get("templates") or [] if isinstance(t, dict)],
        parameters=[Param.parse(p) for p in (spec.get("arguments") or {}).get("parameters") or []
                    if isinstance(p, dict)],
        created=parse_time(meta.get("creationTimestamp")), cluster=cluster, raw=obj)


# -- pure planning helpers of the actions -----------------------------------------------------------
def check_name(name: str, what: str = "workflow") -> str:
    if not name or len(name) > 253 or not _NAME_RE.match(name):
        raise MlopsError(Kind.INVALID, f"invalid {what} name {name!r}: lowercase letters, digits, '-' and '.'",
                         hint="nothing was sent")
    return name


def parse_parameters(items: Iterable[str] | None) -> dict[str, str]:
    """`-p k=v` values (as `argo submit -p`): a name of letters, digits, `_.-`, then `=`, then the value."""
    out: dict[str, str] = {}
    for raw in items or []:
        k, sep, v = str(raw).partition("=")
        k = k.strip()
        if not sep or not k or not _PARAM_RE.match(k):
            raise MlopsError(Kind.INVALID, f"bad parameter {raw!r}: expected NAME=VALUE",
                             hint="e.g. -p learning_rate=0.1; nothing was sent")
        if any(ord(ch) < 32 and ch not in "\t" for ch in v):
            raise MlopsError(Kind.INVALID, f"bad parameter {k!r}: control characters in the value",
                             hint="nothing was sent")
        out[k] = v
    return out


def override_parameters(declared: list[dict], values: dict[str, str], what: str) -> list[dict]:
    """spec.arguments.parameters with `values` applied; a name not declared or outside an enum is refused."""
    params = copy.deepcopy(declared)
    names = {str(p.get("name")) for p in params}
    unknown = sorted(set(values) - names)
    if unknown:
        raise MlopsError(Kind.INVALID, f"{what} has no parameter {', '.join(unknown)}",
                         hint=f"its parameters: {', '.join(sorted(names)) or 'none'}; nothing was sent")
    for p in params:
        n = str(p.get("name"))
        if n in values:
            enum = [str(x) for x in p.get("enum") or []]
            if enum and values[n] not in enum:
                raise MlopsError(Kind.INVALID, f"parameter {n}={values[n]!r} is not one of {', '.join(enum)}",
                                 hint="nothing was sent")
            p["value"] = values[n]
            p.pop("valueFrom", None)
    return params


def resubmit_manifest(obj: dict, values: dict[str, str]) -> dict:
    """FormulateResubmitWorkflow (not memoized): the new Workflow to create."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    spec = copy.deepcopy(obj.get("spec") or {})
    spec.pop("shutdown", None)
    if spec.get("activeDeadlineSeconds") == 0:
        spec.pop("activeDeadlineSeconds")
    if spec.get("suspend"):
        spec.pop("suspend")
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if not k.startswith(L_CREATOR_PREFIX) and k not in (L_PHASE, L_COMPLETED, L_ARCHIVING)}
    labels[L_RESUBMITTED_FROM] = name
    new_meta: dict[str, Any] = {"generateName": meta.get("generateName") or f"{name}-", "labels": labels,
                                "namespace": meta.get("namespace")}
    if meta.get("annotations"):
        new_meta["annotations"] = dict(meta["annotations"])
    if meta.get("ownerReferences"):
        new_meta["ownerReferences"] = copy.deepcopy(meta["ownerReferences"])
    if values:
        args = spec.setdefault("arguments", {})
        args["parameters"] = override_parameters(args.get("parameters") or [], values, f"workflow {name}")
    return {"apiVersion": obj.get("apiVersion") or "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": new_meta, "spec": spec}


def submit_manifest(source_kind: str, source: dict, values: dict[str, str]) -> dict:
    """`argo submit --from workflowtemplate/NAME` or `--from cronwf/NAME`: the Workflow to create."""
    meta = source.get("metadata") or {}
    name = str(meta.get("name") or "")
    ns = meta.get("namespace")
    if source_kind == "CronWorkflow":
        spec = copy.deepcopy((source.get("spec") or {}).get("workflowSpec") or {})
        labels = {L_CRON: name}
        wmeta = copy.deepcopy((source.get("spec") or {}).get("workflowMetadata") or {})
        labels.update(wmeta.get("labels") or {})
        args = spec.setdefault("arguments", {})
        if values or args.get("parameters"):
            args["parameters"] = override_parameters(args.get("parameters") or [], values, f"cronwf/{name}")
        out_meta: dict[str, Any] = {"generateName": f"{name}-", "labels": labels, "namespace": ns}
        if wmeta.get("annotations"):
            out_meta["annotations"] = dict(wmeta["annotations"])
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": out_meta, "spec": spec}
    cluster = source_kind == "ClusterWorkflowTemplate"
    declared = ((source.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": name, **({"clusterScope": True} if cluster else {})}}
    if values:
        params = override_parameters(declared, values, f"workflowtemplate/{name}")
        spec["arguments"] = {"parameters": [{"name": p["name"], "value": p["value"]} for p in params
                                            if str(p.get("name")) in values]}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"generateName": f"{name}-", "namespace": ns,
                         "labels": {L_CLUSTER_TEMPLATE if cluster else L_TEMPLATE: name}},
            "spec": spec}


@dataclass
class RetryPlan:
    workflow: dict  # the updated Workflow (PUT)
    pods_to_delete: list[str]
    nodes_deleted: list[str]  # node names removed from status.nodes (recreated by the controller)
    nodes_reset: list[str]  # node names reset to Running


def _descendant_succeeded(nodes: dict[str, dict], node: dict, to_reset: set[str], seen: set[str]) -> bool:
    for c in node.get("children") or []:
        if c in seen or c not in nodes:
            continue
        seen.add(c)
        child = nodes[c]
        if (c not in to_reset and child.get("phase") == "Succeeded") or \
                _descendant_succeeded(nodes, child, to_reset, seen):
            return True
    return False


def retry_plan(obj: dict, values: dict[str, str] | None = None, now: float | None = None,
               node_ids: Iterable[str] = ()) -> RetryPlan:
    """FormulateRetryWorkflow as `argo retry` runs it; `node_ids` = `--restart-successful
    --node-field-selector id=...` (those nodes are re-run too, even when they succeeded)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    st = obj.get("status") or {}
    phase = st.get("phase") or ""
    selected = {str(i) for i in node_ids}
    if phase not in ("Failed", "Error") and not (phase == "Succeeded" and selected):
        raise MlopsError(Kind.INVALID, f"cannot retry workflow {name} in phase {phase or 'Pending'}",
                         hint="argo retries Failed or Error workflows (a Succeeded one only for chosen nodes); "
                              "nothing was sent")
    nodes: dict[str, dict] = {str(k): v for k, v in (st.get("nodes") or {}).items() if isinstance(v, dict)}
    for k, v in nodes.items():
        v.setdefault("id", k)
    missing = sorted(selected - set(nodes))
    if missing:
        raise MlopsError(Kind.NOT_FOUND, f"workflow {name} has no node {', '.join(missing)}", hint="nothing was sent")
    wf = parse_workflow(obj)
    parent: dict[str, str] = {}
    for nid in sorted(nodes):  # one parent per node, in a stable order (as upstream)
        for c in nodes[nid].get("children") or []:
            parent[c] = nid

    def children_of(nid: str) -> set[str]:
        out: set[str] = set()
        queue = list(nodes[nid].get("children") or [])
        while queue and len(out) < 100000:
            c = queue.pop(0)
            if c in out or c not in nodes:
                continue
            out.add(c)
            queue.extend(nodes[c].get("children") or [])
        return out

    to_delete_start = set(selected)
    for nid, n in nodes.items():
        if n.get("phase") in ("Failed", "Error") and n.get("type") in ("Container", "Pod", "HTTP", "Plugin"):
            target = n
            if (n.get("nodeFlag") or {}).get("retried") and nid in parent:
                target = nodes[parent[nid]]
            if not _descendant_succeeded(nodes, target, selected, set()):
                to_delete_start.add(nid)
    order: list[str] = []  # breadth-first from the root (dagSortedNodes)
    root = next((nid for nid, n in nodes.items() if n.get("name") == name), None)
    if root is not None:
        queue, seen = [root], {root}
        while queue:
            cur = queue.pop(0)
            order.append(cur)
            for c in nodes[cur].get("children") or []:
                if c in nodes and c not in seen:
                    seen.add(c)
                    queue.append(c)
    to_reset: set[str] = set()
    to_delete: set[str] = set()
    budget = [100000]

    def step() -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise MlopsError(Kind.INVALID, f"workflow {name}: its node graph has a cycle", hint="nothing was sent")

    def reset_until(cur: str | None, target: str) -> str:
        while cur is not None:
            step()
            if cur == target:
                to_reset.add(cur)
                return cur
            cur = parent.get(cur)
        raise MlopsError(Kind.INVALID, f"workflow {name}: boundary {target} is not an ancestor",
                         hint="nothing was sent")

    def reset_boundaries(cur: str | None) -> str | None:
        while cur is not None:
            step()
            p = parent.get(cur)
            if p is not None and nodes[p].get("type") == "Retry":
                to_reset.add(p)
                cur = p
            p = parent.get(cur)
            if p is not None and nodes[p].get("type") in ("StepGroup", "TaskGroup"):
                to_reset.add(p)
            boundary = nodes[cur].get("boundaryID") or ""
            if not boundary:
                return parent.get(cur)
            cur = reset_until(cur, boundary)
        return None

    def reset_path(start: str) -> None:  # resetPath
        to_delete.update(children_of(start) | {start})
        if start == root:
            return
        cur: str | None = start
        while cur is not None:
            step()
            n = nodes[cur]
            t = n.get("type")
            if t in GROUP:
                to_reset.add(cur)
                cur = reset_boundaries(cur)
                continue
            if t == "Retry" and n.get("phase") in ("Failed", "Error"):
                to_reset.add(cur)
            elif t == "Container":
                pod = cur
                while pod is not None and nodes[pod].get("type") != "Pod":
                    step()
                    pod = parent.get(pod)
                if pod is None:
                    raise MlopsError(Kind.INVALID, f"workflow {name}: container node without a pod",
                                     hint="nothing was sent")
                to_delete.update(children_of(pod) | {pod})
                cur = parent.get(pod)
                continue
            cur = parent.get(cur)

    for nid in order:
        if nid in to_delete_start and nid not in to_delete:
            reset_path(nid)
    when = rfc3339(now) if now is not None else None
    new = copy.deepcopy(obj)
    nm = new.setdefault("metadata", {})
    labels = nm.setdefault("labels", {})
    labels.pop(L_COMPLETED, None)
    labels.pop(L_ARCHIVING, None)
    nspec = new.setdefault("spec", {})
    nspec.pop("shutdown", None)
    if nspec.get("activeDeadlineSeconds") == 0:
        nspec.pop("activeDeadlineSeconds")
    if values:
        args = nspec.setdefault("arguments", {})
        args["parameters"] = override_parameters(args.get("parameters") or [], values, f"workflow {name}")
    nst = new.setdefault("status", {})
    conds = [c for c in nst.get("conditions") or [] if c.get("type") != "Completed"]
    nst["conditions"] = conds + [{"status": "False", "type": "Completed"}]
    nst.pop("phase", None)  # WorkflowUnknown: the controller takes it from here
    nst.pop("message", None)
    nst.pop("finishedAt", None)
    if when:
        nst["startedAt"] = when
    new_nodes: dict[str, dict] = {}
    for nid, n in nodes.items():
        if nid in to_delete:
            continue
        nn = copy.deepcopy(n)
        if nid in to_reset:
            if nn.get("phase") != "Skipped":
                nn["phase"] = "Running"
            nn.pop("message", None)
            nn.pop("finishedAt", None)
            if when:
                nn["startedAt"] = when
        nn["children"] = [c for c in nn.get("children") or [] if c not in to_delete]
        if "outboundNodes" in nn:
            nn["outboundNodes"] = [c for c in nn.get("outboundNodes") or [] if c not in to_delete]
        if not nn["children"]:
            nn.pop("children")
        new_nodes[nid] = nn
    nst["nodes"] = new_nodes
    pods = []
    for nid in sorted(to_delete, key=lambda i: order.index(i) if i in order else len(order)):
        n = wf.nodes.get(nid)
        if n is not None and n.type == "Pod" and n.pod and n.pod not in pods:
            pods.append(n.pod)
    return RetryPlan(new, pods, [nodes[i].get("name", i) for i in order if i in to_delete],
                     [nodes[i].get("name", i) for i in order if i in to_reset and i not in to_delete])

"""A Workflow as plain data: its nodes, parameters and artifacts, the KFP run it is, and the node tree
`argo get` renders (cmd/argo/commands/common/get.go). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopstui.models.pipelines.names import (
    A_POD_NAME_FORMAT,
    BOUNDARY,
    EXECUTABLE,
    EXECUTION_RENDER,
    KFP_RUN_ID,
    KFP_RUN_NAME,
    KFP_SCHEDULED,
    L_CLUSTER_TEMPLATE,
    L_CRON,
    L_RESUBMITTED_FROM,
    L_TEMPLATE,
    NON_BOUNDARY_PARENT,
    WF_DONE,
    pod_name,
    recover_index,
    rfc3339,
)
from mlopstui.units import parse_time


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

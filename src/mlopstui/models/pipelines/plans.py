"""The pure planning helpers of the pipeline actions: name and parameter checks, and what `argo retry`,
`argo resubmit` and `argo submit --from` formulate (workflow/util/util.go). Pure: no I/O."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.pipelines.names import (
    GROUP,
    L_ARCHIVING,
    L_CLUSTER_TEMPLATE,
    L_COMPLETED,
    L_CREATOR_PREFIX,
    L_CRON,
    L_PHASE,
    L_RESUBMITTED_FROM,
    L_TEMPLATE,
    NAME_RE,
    PARAM_RE,
    rfc3339,
)
from mlopstui.models.pipelines.workflow import parse_workflow


# -- pure planning helpers of the actions -----------------------------------------------------------
def check_name(name: str, what: str = "workflow") -> str:
    if not name or len(name) > 253 or not NAME_RE.match(name):
        raise MlopsError(Kind.INVALID, f"invalid {what} name {name!r}: lowercase letters, digits, '-' and '.'",
                         hint="nothing was sent")
    return name


def parse_parameters(items: Iterable[str] | None) -> dict[str, str]:
    """`-p k=v` values (as `argo submit -p`): a name of letters, digits, `_.-`, then `=`, then the value."""
    out: dict[str, str] = {}
    for raw in items or []:
        k, sep, v = str(raw).partition("=")
        k = k.strip()
        if not sep or not k or not PARAM_RE.match(k):
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

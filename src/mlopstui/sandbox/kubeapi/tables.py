"""`meta.k8s.io/v1` Table rendering for `kubectl get`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from .registry import ResourceType


def human_duration(seconds: float) -> str:
    """Like k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        s = 0
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - t).total_seconds())


def _cond(obj: dict, ctype: str) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c.get("status", "Unknown")
    return "Unknown"


def _pod_status(pod: dict) -> tuple[str, str, str]:
    st = pod.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or []) or len(cs)
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for c in cs:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason") and st.get("phase") == "Running":
            reason = state["terminated"]["reason"]
    if st.get("phase") == "Succeeded":
        reason = "Completed"
    elif st.get("phase") == "Failed":
        reason = st.get("reason") or "Error"
    return f"{ready}/{total}", reason, str(restarts)


def _ports(svc: dict) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


# -- CRD additionalPrinterColumns -------------------------------------------------------------------
_STEP_RE = re.compile(r"""\.([A-Za-z0-9_-]+)|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*('[^']*'|"[^"]*"|[^)\s]+)\)\]|\[(\*|-?\d+)\]""")


def _literal(text: str):
    if text[:1] in ("'", '"'):
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def jsonpath_values(obj, path: str) -> list:
    """The values a printer-column JSONPath selects (the subset CRDs use: fields, [n], [*], [?(@.f==v)])."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    values = [obj]
    pos = 0
    while pos < len(expr):
        mt = _STEP_RE.match(expr, pos)
        if mt is None:
            return []
        pos = mt.end()
        field, fkey, fval, index = mt.groups()
        out = []
        for v in values:
            if field is not None:
                if isinstance(v, dict) and field in v:
                    out.append(v[field])
            elif fkey is not None:
                want = _literal(fval)
                for item in v if isinstance(v, list) else []:
                    cur = item
                    for part in fkey.split("."):
                        cur = cur.get(part) if isinstance(cur, dict) else None
                    if cur == want and (type(cur) is type(want) or not isinstance(want, bool)):
                        out.append(item)
            elif index == "*":
                out.extend(v if isinstance(v, list) else (v.values() if isinstance(v, dict) else []))
            elif isinstance(v, list):
                i = int(index)
                if -len(v) <= i < len(v):
                    out.append(v[i])
        values = out
    return values


def printer_cell(ctype: str, obj: dict, path: str):
    """One cell the way the API server's CRD table convertor makes it: the first result; strings printed as
    jsonpath prints them; integer/number/boolean typed; date as an age; nothing found -> null."""
    found = jsonpath_values(obj, path)
    if not found or found[0] is None:
        return None
    value = found[0]
    if ctype == "date":
        return age(value) if isinstance(value, str) else None
    if ctype == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return None
    if ctype == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if ctype == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _columns_and_cells(rt: ResourceType):
    key = (rt.group, rt.plural)
    if key == ("", "pods"):
        return (["Ready", "Status", "Restarts"], lambda o: list(_pod_status(o)))
    if key in (("apps", "deployments"),):
        return (["Ready", "Up-to-date", "Available"], lambda o: [
            f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}",
            (o.get("status") or {}).get("updatedReplicas", 0), (o.get("status") or {}).get("availableReplicas", 0)])
    if key in (("apps", "statefulsets"),):
        return (["Ready"], lambda o: [
            f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}"])
    if key == ("apps", "replicasets"):
        return (["Desired", "Current", "Ready"], lambda o: [
            (o.get("spec") or {}).get("replicas", 1), (o.get("status") or {}).get("replicas", 0),
            (o.get("status") or {}).get("readyReplicas", 0)])
    if key == ("apps", "daemonsets"):
        return (["Desired", "Current", "Ready"], lambda o: [
            (o.get("status") or {}).get("desiredNumberScheduled", 0),
            (o.get("status") or {}).get("currentNumberScheduled", 0),
            (o.get("status") or {}).get("numberReady", 0)])
    if key == ("", "services"):
        def svc(o):
            spec = o.get("spec") or {}
            ext = ",".join(i.get("ip") or i.get("hostname", "") for i in
                           ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])
            if not ext:
                ext = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
            return [spec.get("type", "ClusterIP"), spec.get("clusterIP", "None"), ext, _ports(o)]
        return (["Type", "Cluster-IP", "External-IP", "Port(s)"], svc)
    if key == ("argoproj.io", "workflows"):  # the Workflow CRD's additionalPrinterColumns (Status, Message)
        return (["Status", "Message"], lambda o: [(o.get("status") or {}).get("phase", ""),
                                                  (o.get("status") or {}).get("message", "")])
    if key == ("", "namespaces"):
        return (["Status"], lambda o: [(o.get("status") or {}).get("phase", "Active")])
    if key == ("", "nodes"):
        return (["Status", "Roles", "Version"], lambda o: [
            "Ready" if _cond(o, "Ready") == "True" else "NotReady", "control-plane",
            ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")])
    if key == ("batch", "jobs"):
        def job(o):
            st = o.get("status") or {}
            status = "Running"
            if _cond(o, "Complete") == "True":
                status = "Complete"
            elif _cond(o, "Failed") == "True":
                status = "Failed"
            comp = f"{st.get('succeeded', 0)}/{(o.get('spec') or {}).get('completions', 1)}"
            dur = ""
            if st.get("startTime"):
                try:
                    a = datetime.strptime(st["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                    b = (datetime.strptime(st["completionTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                         if st.get("completionTime") else datetime.now(UTC))
                    dur = human_duration((b - a).total_seconds())
                except ValueError:
                    pass
            return [status, comp, dur]
        return (["Status", "Completions", "Duration"], job)
    if key == ("batch", "cronjobs"):
        return (["Schedule", "Suspend", "Active", "Last Schedule"], lambda o: [
            (o.get("spec") or {}).get("schedule", ""), str((o.get("spec") or {}).get("suspend", False)),
            len((o.get("status") or {}).get("active") or []),
            age((o.get("status") or {}).get("lastScheduleTime")) if (o.get("status") or {}).get(
                "lastScheduleTime") else "<none>"])
    if key == ("serving.knative.dev", "revisions"):
        return (["Config Name", "Generation", "Ready", "Reason"], lambda o: [
            (o.get("metadata", {}).get("labels") or {}).get("serving.knative.dev/configuration", ""),
            (o.get("metadata", {}).get("labels") or {}).get("serving.knative.dev/configurationGeneration", ""),
            _cond(o, "Ready"), ""])
    if key == ("", "configmaps"):
        return (["Data"], lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})])
    if key == ("", "secrets"):
        return (["Type", "Data"], lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})])
    if key == ("", "events"):
        return (["Type", "Reason", "Object", "Message"], lambda o: [
            o.get("type", ""), o.get("reason", ""),
            f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
            f"{(o.get('involvedObject') or {}).get('name', '')}", o.get("message", "")])
    return ([], lambda o: [])


def _column_defs(rt: ResourceType) -> tuple[list[dict], object]:
    """(columnDefinitions, row -> cells). A type with printer columns (a CRD's additionalPrinterColumns, or a
    built-in carrying its upstream CRD's) gets exactly those after Name; a CRD without them gets Name + Age."""
    name_col = {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    if rt.printer_columns:
        cols = [name_col] + [{"name": n, "type": t, "format": "", "description": d or n, "priority": p}
                             for n, t, _path, p, d in rt.printer_columns]

        def cells(o: dict) -> list:
            return [(o.get("metadata") or {}).get("name", ""),
                    *(printer_cell(t, o, path) for _n, t, path, _p, _d in rt.printer_columns)]
        return cols, cells
    extra_names, extra = ([], lambda o: []) if rt.from_crd else _columns_and_cells(rt)
    cols = [name_col]
    for n in extra_names:
        cols.append({"name": n, "type": "string", "format": "", "description": n, "priority": 0})
    cols.append({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0})

    def cells(o: dict) -> list:
        meta = o.get("metadata") or {}
        return [meta.get("name", ""), *extra(o), age(meta.get("creationTimestamp"))]
    return cols, cells


def to_table(rt: ResourceType, items: list[dict], resource_version: int | str, include: str = "Metadata") -> dict:
    cols, cells = _column_defs(rt)
    rows = []
    for o in items:
        meta = o.get("metadata") or {}
        row = {"cells": cells(o)}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": str(resource_version)}, "columnDefinitions": cols, "rows": rows}

"""Pods and workloads as `kubectl get` shows them: status, readiness, restarts, images, versions.
Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlopstui.units import clock, parse_time


def labels_match(want: Mapping[str, str], have: Mapping[str, str]) -> bool:
    return bool(want) and all((k in have) if v == "*" else have.get(k) == v for k, v in want.items())


def main_images(obj: Mapping[str, Any]) -> list[str]:
    """The images of the main containers (not init containers) of a workload; a Tenant's spec.image."""
    if obj.get("kind") == "Tenant":
        img = (obj.get("spec") or {}).get("image")
        return [str(img)] if img else []
    ps = pod_template_spec(obj) or {}
    return [str(c.get("image")) for c in ps.get("containers") or [] if c.get("image")]


def age_of(obj: Mapping[str, Any], now: float | None = None) -> float | None:
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return None if t is None else max(0.0, (now or clock()) - t)


@dataclass
class PodStatus:
    name: str
    namespace: str
    phase: str
    ready: int
    containers: int
    restarts: int
    node: str
    reason: str  # CrashLoopBackOff, OOMKilled, ImagePullBackOff ... or ""
    last_terminated: str  # reason of the last termination ("OOMKilled") or ""
    age: float | None
    owner: str  # "ReplicaSet/mlflow-server-abc" or ""

    @property
    def status(self) -> str:
        return self.reason or self.phase

    @property
    def problem(self) -> str:
        """The worst thing about this pod: CrashLoopBackOff, OOMKilled, or "" (an init container's count)."""
        reason = self.reason.removeprefix("Init:")
        if reason in ("CrashLoopBackOff", "OOMKilled"):
            return reason
        if self.last_terminated == "OOMKilled":
            return "OOMKilled"
        return ""


def _init_reason(istats: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(reason as kubectl prints it, last termination) for the init containers: Init:CrashLoopBackOff,
    Init:Error, Init:1/2 while one runs; ("", "") once all completed."""
    for i, cs in enumerate(istats):
        state = cs.get("state") or {}
        last = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason") or ""
        term = state.get("terminated")
        if isinstance(term, Mapping):
            if int(term.get("exitCode") or 0) == 0:
                continue
            return f"Init:{term.get('reason') or 'Error'}", last
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}", last
        return f"Init:{i}/{len(istats)}", last
    return "", ""


def pod_status(pod: Mapping[str, Any], now: float | None = None) -> PodStatus:
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    cstats = st.get("containerStatuses") or []
    istats = st.get("initContainerStatuses") or []
    reason, last = _init_reason(istats)
    for cs in cstats if not reason else ():
        state = cs.get("state") or {}
        if "waiting" in state and (state["waiting"] or {}).get("reason"):
            reason = reason or state["waiting"]["reason"]
        if "terminated" in state and (state["terminated"] or {}).get("reason"):
            reason = reason or state["terminated"]["reason"]
        lt = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason")
        if lt:
            last = last or lt
    if not reason and st.get("reason"):
        reason = st["reason"]
    owners = meta.get("ownerReferences") or []
    owner = f"{owners[0].get('kind')}/{owners[0].get('name')}" if owners else ""
    return PodStatus(
        name=meta.get("name", ""), namespace=meta.get("namespace", ""), phase=st.get("phase") or "Unknown",
        ready=sum(1 for cs in cstats if cs.get("ready")), containers=len(spec.get("containers") or []) or len(cstats),
        restarts=sum(int(cs.get("restartCount") or 0) for cs in [*istats, *cstats]), node=spec.get("nodeName") or "-",
        reason="" if reason == "Completed" else reason,
        last_terminated=last, age=age_of(pod, now), owner=owner)


def selector_of(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    sel = (spec.get("selector") or {})
    if isinstance(sel, dict) and "matchLabels" in sel:
        return dict(sel.get("matchLabels") or {})
    if obj.get("kind") == "Job":
        return dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
    if obj.get("kind") == "CronJob":
        return {}
    return {}


class PodsByNamespace(dict):
    """namespace -> its pods (in the order given), and each namespace's pods by label (key, value): pods_of
    looks at the pods carrying the selector's rarest label instead of every pod of the namespace (at scale,
    1,000 workloads x 25 pods a namespace were 55,000 label matches a report; bench/bench_scale.py)."""

    def __init__(self, pods: Iterable[Mapping[str, Any]]):
        super().__init__()
        self._by_label: dict[tuple[Any, str, str], list[Mapping[str, Any]]] = {}
        for p in pods:
            meta = p.get("metadata") or {}
            ns = meta.get("namespace")
            self.setdefault(ns, []).append(p)
            labels = meta.get("labels") or {}
            for k, v in labels.items() if isinstance(labels, Mapping) else ():
                if isinstance(k, str) and isinstance(v, str):  # a selector's values are strings
                    self._by_label.setdefault((ns, k, v), []).append(p)

    def candidates(self, ns: Any, sel: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """A subset of ns's pods, in order, holding every pod sel can match (labels_match still decides)."""
        best: Sequence[Mapping[str, Any]] | None = None
        for k, v in sel.items():
            if v == "*" or not isinstance(k, str) or not isinstance(v, str):
                continue  # "key present", or a value no label has as a string: not indexed
            found = self._by_label.get((ns, k, v), ())
            if best is None or len(found) < len(best):
                best = found
        return self.get(ns, ()) if best is None else best


def pods_of(obj: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods a workload selects (same namespace, matchLabels subset); CronJob: pods of its Jobs. pods: a
    list, or a mapping namespace -> its pods (Snapshot.pods_by_namespace, a PodsByNamespace: thousands of
    pods at scale)."""
    meta = obj.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name")
    index = pods if isinstance(pods, PodsByNamespace) else None
    if isinstance(pods, Mapping):
        pods = pods.get(ns, ())
    if obj.get("kind") == "CronJob":
        return [p for p in pods if (p.get("metadata") or {}).get("namespace") == ns
                and ((p.get("metadata") or {}).get("labels") or {}).get("job-name", "").startswith(f"{name}-")]
    sel = selector_of(obj)
    if not sel:
        return []
    if index is not None:
        pods = index.candidates(ns, sel)
    out = []
    for p in pods:
        pm = p.get("metadata") or {}
        if pm.get("namespace") == ns and labels_match(sel, pm.get("labels") or {}):
            out.append(p)
    return out


@dataclass
class WorkloadStatus:
    kind: str
    namespace: str
    name: str
    desired: int
    ready: int
    restarts: int
    problem: str  # CrashLoopBackOff / OOMKilled / "" (worst among its pods)
    age: float | None
    images: list[str]
    pods: list[PodStatus] = field(default_factory=list)
    note: str = ""  # CronJob: "last run 5m ago, suspended" etc.
    version: str = "-"
    version_source: str = ""  # "label" (app.kubernetes.io/version) | "image" (main container's tag) | ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def is_ready(self) -> bool:
        return self.ready >= self.desired


def images_of(obj: Mapping[str, Any]) -> list[str]:
    return [c.get("image", "") for c in containers_of(obj) if c.get("image")]


def pod_template_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside Pod / Deployment / StatefulSet / DaemonSet / Job / CronJob."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec") or {}
    return None


def containers_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every container (init containers too) of a workload, pod, or Argo Workflow template (of a Workflow,
    WorkflowTemplate, ClusterWorkflowTemplate or a CronWorkflow's workflowSpec)."""
    if obj.get("kind") in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"):
        out: list[Mapping[str, Any]] = []
        wspec = obj.get("spec") or {}
        if obj.get("kind") == "CronWorkflow":
            wspec = wspec.get("workflowSpec") or {}
        for t in wspec.get("templates") or []:
            for key in ("container", "script"):
                if isinstance(t.get(key), dict):
                    out.append({"name": t.get("name", key), **t[key]})
            for c in ((t.get("containerSet") or {}).get("containers") or []):
                out.append(c)
        return out
    ps = pod_template_spec(obj)
    if not ps:
        return []
    return list(ps.get("initContainers") or []) + list(ps.get("containers") or [])


def workload_status(obj: Mapping[str, Any], pods: Iterable[Mapping[str, Any]],
                    now: float | None = None) -> WorkloadStatus:
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    kind = obj.get("kind", "")
    mine = [pod_status(p, now) for p in pods_of(obj, pods)]
    note = ""
    if kind == "DaemonSet":
        desired, ready = int(st.get("desiredNumberScheduled") or 0), int(st.get("numberReady") or 0)
    elif kind == "CronJob":
        desired = ready = 0
        last = parse_time(st.get("lastScheduleTime"))
        bits = [f"schedule {spec.get('schedule', '?')}"]
        if last:
            bits.append(f"last run {int(((now or clock()) - last) // 60)}m ago")
        if spec.get("suspend"):
            bits.append("suspended")
        if st.get("active"):
            bits.append(f"{len(st['active'])} active")
        note = ", ".join(bits)
    elif kind == "FeatureStore":
        desired, ready = 1, 1 if str(st.get("phase", "")).lower() == "ready" else 0
        note = f"phase {st.get('phase', '?')}"
    elif kind == "Tenant":  # minio.min.io: the operator's view of all pools
        health = str(st.get("healthStatus") or "")
        desired, ready = 1, 1 if health == "green" or (not health and st.get("currentState") == "Initialized") else 0
        note = f"state {st.get('currentState', '?')}" + (f", health {health}" if health else "")
    else:
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        ready = int(st.get("readyReplicas") or 0)
    problems = [p.problem for p in mine if p.problem]
    problem = "CrashLoopBackOff" if "CrashLoopBackOff" in problems else (problems[0] if problems else "")
    version, vsrc = workload_version(obj)
    return WorkloadStatus(kind=kind, namespace=meta.get("namespace", ""), name=meta.get("name", ""),
                          desired=desired, ready=ready, restarts=sum(p.restarts for p in mine),
                          problem=problem, age=age_of(obj, now),
                          images=[str((obj.get("spec") or {}).get("image"))] if kind == "Tenant" else images_of(obj),
                          pods=mine, note=note, version=version, version_source=vsrc)


VERSION_LABEL = "app.kubernetes.io/version"


def workload_version(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(version, where from): the app.kubernetes.io/version label, else the first main container's image
    tag (never an init container's); a digest or a tag like latest/auto is returned as it is."""
    meta = obj.get("metadata") or {}
    tmpl = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    label = (meta.get("labels") or {}).get(VERSION_LABEL) or tmpl.get(VERSION_LABEL)
    if label:
        return str(label), "label"
    if obj.get("kind") == "FeatureStore" and (obj.get("status") or {}).get("feastVersion"):
        return str(obj["status"]["feastVersion"]), "status"
    imgs = main_images(obj)
    if imgs:
        return image_tag(imgs[0]), "image"
    return "-", ""


def image_tag(image: str) -> str:
    """quay.io/minio/minio:RELEASE.x -> RELEASE.x; repo:tag@sha256:... -> tag; repo@sha256:... -> sha256:abcd
    (short); no tag -> latest (what the runtime pulls)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    if digest:
        return digest[:19]
    return "latest"

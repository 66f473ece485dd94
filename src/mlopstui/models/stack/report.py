"""The Stack report: what a sweep read (ClusterState) plus the probe answers, rolled up into component
rows and the doctor's findings. Pure: no I/O (backends/stack.py reads the cluster and runs the probes).

    report = build_report(settings, state, probes)   # cheap enough to re-run as probe answers arrive
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlopstui.doctor import Finding, Snapshot
from mlopstui.doctor import run as run_doctor
from mlopstui.errors import MlopsError
from mlopstui.models.endpoints import Endpoint, discover
from mlopstui.models.stack.catalog import ComponentSpec, catalog_with_overrides
from mlopstui.models.stack.status import ComponentStatus, ProbeResult, pending_probe
from mlopstui.models.stack.workloads import containers_of, pod_template_spec, workload_status
from mlopstui.units import clock

if TYPE_CHECKING:
    from mlopstui.config import Settings


@dataclass
class ClusterState:
    objects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # partial failures, masked, for the status line
    error: MlopsError | None = None  # the cluster could not be read at all
    at: float = field(default_factory=clock)
    duration: float = 0.0
    namespace: str | None = None  # the one namespace read (-n), or None: all namespaces
    cache_version: int = -1  # from the watch caches (backends/stack_watch.py): stack_version() when read

    @property
    def scope(self) -> str:
        return f"namespace {self.namespace}" if self.namespace else "all namespaces"

    def services(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == "Service"]


MAX_CONFIGMAPS = 60


def referenced_configmaps(objects: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, name) of the ConfigMaps containers pull env from (envFrom / configMapKeyRef) or mount
    (volumes, projected volumes: the redis.conf a Bitnami Redis loads), env ones first."""
    env: set[tuple[str, str]] = set()
    mounted: set[tuple[str, str]] = set()
    for o in objects:
        ns = (o.get("metadata") or {}).get("namespace", "")
        for c in containers_of(o):
            for src in c.get("envFrom") or []:
                if "configMapRef" in src:
                    env.add((ns, (src["configMapRef"] or {}).get("name", "")))
            for e in c.get("env") or []:
                cm = ((e.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name")
                if cm:
                    env.add((ns, cm))
        for v in (pod_template_spec(o) or {}).get("volumes") or []:
            if isinstance(v.get("configMap"), dict) and v["configMap"].get("name"):
                mounted.add((ns, v["configMap"]["name"]))
            for src in (v.get("projected") or {}).get("sources") or []:
                if isinstance(src.get("configMap"), dict) and src["configMap"].get("name"):
                    mounted.add((ns, src["configMap"]["name"]))
    return (sorted(env) + sorted(mounted - env))[:MAX_CONFIGMAPS]


def resolve_endpoints(settings: Settings, catalog: Iterable[ComponentSpec], services: list[dict[str, Any]],
                      components: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Endpoint]:
    """Each component's endpoint: config, env, then the Services of the workloads the catalog found."""
    components = components or {}
    return {c.id: discover(c.endpoint, settings, services, list(components.get(c.id, [])))
            for c in catalog if c.endpoint}


def not_probeable(kind: str, url: str) -> str:
    """Why this endpoint cannot be probed this way ("" when it can): e.g. a file-based Feast registry."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if kind == "postgres" and not scheme.startswith("postgres"):
        return "not PostgreSQL" if scheme else "local file"
    if kind in ("http", "s3") and scheme not in ("http", "https"):
        return "not an HTTP URL"
    if kind == "redis" and scheme and scheme not in ("redis", "rediss", "unix"):
        return "not a Redis URL"
    return ""


@dataclass
class StackReport:
    components: list[ComponentStatus]
    findings: list[Finding]
    snapshot: Snapshot
    state: ClusterState
    at: float = field(default_factory=clock)

    @property
    def scope(self) -> str:
        """What the report covers: "all namespaces" or "namespace NS"."""
        return self.state.scope

    def component(self, cid: str) -> ComponentStatus | None:
        return next((c for c in self.components if c.id == cid), None)

    def findings_for(self, cid: str | None) -> list[Finding]:
        return [f for f in self.findings if cid is None or f.component == cid]

    def to_dict(self) -> dict[str, Any]:
        from mlopstui.secrets import scrub

        return scrub({
            "taken_at": self.at, "scope": self.scope, "cluster_error": self.state.error.to_dict() if self.state.error else None,
            "partial_errors": self.state.errors,
            "components": [c.to_dict() for c in self.components],
            "findings": {"error": sum(1 for f in self.findings if f.severity.value == "error"),
                         "warning": sum(1 for f in self.findings if f.severity.value == "warning"),
                         "info": sum(1 for f in self.findings if f.severity.value == "info")},
        })


# the last Snapshot's cluster part (objects by kind, the components' workloads, database roles, the rules'
# memoized views: none of them reads a probe), reused while the same cluster read comes again with other
# probe answers: a sweep publishes a report per batch of answers on one ClusterState (at scale the cluster
# part is most of a report's 150 ms; bench/bench_scale.py). The key: the state (weakly), its objects list
# (the same list, as long), its time, the catalog and the watched namespaces.
_CLUSTER_PART: tuple[tuple, Snapshot | None] = ((), None)


def _snapshot(state: ClusterState, probes: Mapping[str, ProbeResult], catalog: tuple[ComponentSpec, ...],
              watched: tuple[str, ...]) -> Snapshot:
    global _CLUSTER_PART
    import weakref
    from dataclasses import replace

    (key, snap) = _CLUSTER_PART
    if snap is not None and key[0]() is state and key[1] is state.objects \
            and key[2:] == (len(state.objects), state.at, catalog, watched):
        return replace(snap, probes=dict(probes))  # shares the cluster part (and its memo) with the last one
    snap = Snapshot.build(state.objects, probes, catalog=catalog, watched_namespaces=watched, taken_at=state.at)
    _CLUSTER_PART = ((weakref.ref(state), state.objects, len(state.objects), state.at, catalog, watched), snap)
    return snap


def build_report(settings: Settings, state: ClusterState, probes: Mapping[str, ProbeResult],
                 catalog: tuple[ComponentSpec, ...] | None = None,
                 between: Callable[[], None] | None = None) -> StackReport:
    """Pure: cluster objects + probe results -> component rows + doctor findings. between: called between
    the steps (each doctor rule, each component), e.g. time.sleep(0) in a worker: at scale a report is
    100+ ms of Python and the UI thread waits for the GIL meanwhile."""
    catalog = tuple(catalog or catalog_with_overrides(settings.components))
    snap = _snapshot(state, probes, catalog, tuple(settings.watched_namespaces))
    if between is not None:
        between()
    findings = run_doctor(snap, between=between)
    by_ns = snap.pods_by_namespace()
    endpoints = resolve_endpoints(settings, catalog, state.services(), snap.components)  # pure: no I/O
    rows = []
    for spec in catalog:
        if between is not None:
            between()
        workloads = [workload_status(o, by_ns) for o in snap.components.get(spec.id, [])]
        probe = probes.get(spec.id) or pending_probe(spec.id, spec.probe)
        mine = [f for f in findings if f.component == spec.id]
        ep = endpoints.get(spec.id)
        rows.append(ComponentStatus(spec, workloads, probe, mine, discovered=ep.display if ep and ep.url else ""))
    return StackReport(rows, findings, snap, state, at=state.at)

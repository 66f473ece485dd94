"""What the doctor looks at: cluster objects (plain dicts) plus probe results, frozen at one moment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlopstui.models.stack import (
    CATALOG,
    ComponentSpec,
    PodsByNamespace,
    ProbeResult,
    assign_workloads,
    database_references,
    refine_database_roles,
)
from mlopstui.units import clock

# the kinds a snapshot holds
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
COMPONENT_KINDS = WORKLOAD_KINDS + ("CronJob", "FeatureStore", "Tenant")
KINDS = WORKLOAD_KINDS + ("Pod", "Service", "Job", "CronJob", "Workflow", "InferenceService",
                          "FeatureStore", "Tenant", "ConfigMap", "Event")
REFERRER_KINDS = WORKLOAD_KINDS + ("CronJob", "Job", "Pod", "ConfigMap")


def ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind', '?')} {ns + '/' if ns else ''}{meta.get('name', '?')}"


@dataclass
class Snapshot:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    probes: dict[str, ProbeResult] = field(default_factory=dict)
    catalog: Sequence[ComponentSpec] = CATALOG
    watched_namespaces: tuple[str, ...] = ()  # empty: every namespace in the snapshot
    taken_at: float = field(default_factory=clock)
    components: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> workload objects
    # database workload ref -> who names it (the MLflow server's backend URI, Feast's feature_store.yaml)
    referrers: dict[str, str] = field(default_factory=dict)
    _owner: dict[str, str] = field(default_factory=dict, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: str, fn):  # noqa: ANN001 - rules share derived views (parsed commands) per snapshot
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    @classmethod
    def build(cls, objects: Iterable[Mapping[str, Any]], probes: Mapping[str, ProbeResult] | None = None,
              catalog: Sequence[ComponentSpec] = CATALOG, watched_namespaces: Sequence[str] = (),
              taken_at: float | None = None) -> Snapshot:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for o in objects:
            by_kind.setdefault(o.get("kind", "?"), []).append(dict(o))
        snap = cls(objects=by_kind, probes=dict(probes or {}), catalog=tuple(catalog),
                   watched_namespaces=tuple(watched_namespaces), taken_at=taken_at or clock())
        comp_objs = [o for k in COMPONENT_KINDS for o in by_kind.get(k, [])]
        snap.components = {k: list(v) for k, v in assign_workloads(snap.catalog, comp_objs).items()}
        refs = database_references([o for k in REFERRER_KINDS for o in by_kind.get(k, [])])
        snap.referrers = refine_database_roles(snap.components, by_kind.get("Service", []), refs)
        snap._owner = {ref(o): cid for cid, objs in snap.components.items() for o in objs}
        return snap

    # -- queries ---------------------------------------------------------------------------------
    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for k in kinds for o in self.objects.get(k, [])]

    def pods_by_namespace(self) -> dict[str, list[dict[str, Any]]]:
        """namespace -> its pods, for models.stack.pods_of: a workload looks only at its namespace's pods (and
        of those at the ones with its selector's labels: PodsByNamespace indexes them)."""
        return self.memo("pods-by-namespace", lambda: PodsByNamespace(self.objects.get("Pod", [])))

    def watched(self, obj: Mapping[str, Any]) -> bool:
        if not self.watched_namespaces:
            return True
        return (obj.get("metadata") or {}).get("namespace") in self.watched_namespaces

    def installed(self, component: str) -> bool:
        return bool(self.components.get(component))

    def component_of(self, obj: Mapping[str, Any]) -> str | None:
        return self._owner.get(ref(obj))

    def workloads_of(self, component: str, kinds: Sequence[str] = WORKLOAD_KINDS) -> list[dict[str, Any]]:
        return [o for o in self.components.get(component, []) if o.get("kind") in kinds]

    def probe(self, component: str) -> ProbeResult | None:
        return self.probes.get(component)

    def service(self, name: str, namespace: str) -> dict[str, Any] | None:
        for s in self.objects.get("Service", []):
            m = s.get("metadata") or {}
            if m.get("name") == name and m.get("namespace") == namespace:
                return s
        return None

    def services_selecting(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Services whose selector matches the workload's pod template labels."""
        meta = obj.get("metadata") or {}
        labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        out = []
        for s in self.objects.get("Service", []):
            sm, sel = s.get("metadata") or {}, (s.get("spec") or {}).get("selector") or {}
            if sm.get("namespace") == meta.get("namespace") and sel and all(labels.get(k) == v
                                                                            for k, v in sel.items()):
                out.append(s)
        return out

    def configmap(self, name: str, namespace: str) -> dict[str, Any] | None:
        for c in self.objects.get("ConfigMap", []):
            m = c.get("metadata") or {}
            if m.get("name") == name and m.get("namespace") == namespace:
                return c
        return None

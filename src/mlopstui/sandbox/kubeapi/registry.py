"""Resource types known to the emulator and the discovery documents built from them."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    singular: str = ""
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    subresources: tuple[str, ...] = ("status",)
    categories: tuple[str, ...] = ()
    # a CRD's additionalPrinterColumns: ((name, type, jsonPath, priority, description), ...); () = built-in
    # columns (tables.py) or, for a CRD without any, Name + Age like the API server
    printer_columns: tuple[tuple[str, str, str, int, str], ...] = ()
    from_crd: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`pods` or `inferenceservices.serving.kserve.io` as used in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _rt(group, version, kind, plural, namespaced=True, short=(), subresources=("status",), categories=(),
        columns=(), verbs=ALL_VERBS):
    return ResourceType(group, version, kind, plural, namespaced, tuple(short), kind.lower(),
                        tuple(verbs), tuple(subresources), tuple(categories), tuple(columns))


def printer_columns(version: dict) -> tuple[tuple[str, str, str, int, str], ...]:
    """A CRD version's additionalPrinterColumns as ResourceType.printer_columns."""
    return tuple((c.get("name", ""), c.get("type", "string"), c.get("jsonPath", ""), int(c.get("priority") or 0),
                  c.get("description", "")) for c in version.get("additionalPrinterColumns") or [] if c.get("jsonPath"))


# KServe's own InferenceService printer columns (kserve/kserve config/crd/minimal/serving.kserve.io_inferenceservices.yaml,
# commit aaac4e294dae2c7b1aa1886447793f3aa1c30912; tests/fixtures/upstream/kserve/inferenceservices-crd.yaml)
KSERVE_ISVC_COLUMNS = printer_columns({"additionalPrinterColumns": [
    {"jsonPath": ".status.url", "name": "URL", "type": "string"},
    {"jsonPath": ".status.conditions[?(@.type=='Ready')].status", "name": "Ready", "type": "string"},
    {"jsonPath": ".status.components.predictor.traffic[?(@.tag=='prev')].percent", "name": "Prev",
     "type": "integer"},
    {"jsonPath": ".status.components.predictor.traffic[?(@.latestRevision==true)].percent", "name": "Latest",
     "type": "integer"},
    {"jsonPath": ".status.components.predictor.traffic[?(@.tag=='prev')].revisionName",
     "name": "PrevRolledoutRevision", "type": "string"},
    {"jsonPath": ".status.components.predictor.traffic[?(@.latestRevision==true)].revisionName",
     "name": "LatestReadyRevision", "type": "string"},
    {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
]})

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """Sort key of Kubernetes version priority (apimachinery version.CompareKubeAwareVersionStrings): GA before
    beta before alpha, higher numbers first (v2 > v1 > v1beta2 > v1beta1 > v1alpha1), then other names
    alphabetically."""
    mt = _VERSION_RE.match(version)
    if not mt:
        return (3, 0, 0, version)
    major, stage, minor = int(mt.group(1)), mt.group(2), int(mt.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)


def preferred_version(versions: list[str]) -> str:
    return sorted(versions, key=version_priority)[0]


BUILTIN_TYPES: list[ResourceType] = [
    # core v1
    _rt("", "v1", "Namespace", "namespaces", False, ["ns"]),
    _rt("", "v1", "Pod", "pods", True, ["po"], ["status", "log"], ["all"]),
    _rt("", "v1", "Service", "services", True, ["svc"], ["status"], ["all"]),
    _rt("", "v1", "ConfigMap", "configmaps", True, ["cm"], ()),
    _rt("", "v1", "Secret", "secrets", True, (), ()),
    _rt("", "v1", "Event", "events", True, ["ev"], ()),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"], ()),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"]),
    _rt("", "v1", "Endpoints", "endpoints", True, ["ep"], ()),
    _rt("", "v1", "Node", "nodes", False, ["no"]),
    # apps/v1
    _rt("apps", "v1", "Deployment", "deployments", True, ["deploy"], ["status", "scale"], ["all"]),
    _rt("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], ["status", "scale"], ["all"]),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], ["status", "scale"], ["all"]),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], ["status"], ["all"]),
    # batch/v1
    _rt("batch", "v1", "Job", "jobs", True, (), ["status"], ["all"]),
    _rt("batch", "v1", "CronJob", "cronjobs", True, ["cj"], ["status"], ["all"]),
    # networking
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"]),
    # CRDs
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
        ["crd", "crds"]),
    # KServe
    _rt("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", True, ["isvc"],
        categories=["all"], columns=KSERVE_ISVC_COLUMNS),
    _rt("serving.kserve.io", "v1alpha1", "ServingRuntime", "servingruntimes", True, ()),
    _rt("serving.kserve.io", "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", False, ()),
    # Knative serving
    _rt("serving.knative.dev", "v1", "Service", "services", True, ["ksvc", "ksvcs"]),
    _rt("serving.knative.dev", "v1", "Revision", "revisions", True, ["rev"]),
    _rt("serving.knative.dev", "v1", "Route", "routes", True, ["rt"]),
    _rt("serving.knative.dev", "v1", "Configuration", "configurations", True, ["config", "cfg"]),
    # Istio
    _rt("networking.istio.io", "v1", "VirtualService", "virtualservices", True, ["vs"]),
    _rt("networking.istio.io", "v1", "Gateway", "gateways", True, ["gw"]),
    # Argo
    # Argo Workflows: as its CRDs (manifests/base/crds/minimal) declare them: no status subresource
    # (the controller writes status with the object)
    _rt("argoproj.io", "v1alpha1", "Workflow", "workflows", True, ["wf"], ()),
    _rt("argoproj.io", "v1alpha1", "CronWorkflow", "cronworkflows", True, ["cwf", "cronwf"], ()),
    _rt("argoproj.io", "v1alpha1", "WorkflowTemplate", "workflowtemplates", True, ["wftmpl"], ()),
    _rt("argoproj.io", "v1alpha1", "ClusterWorkflowTemplate", "clusterworkflowtemplates", False, ["clusterwftmpl",
                                                                                                 "cwft"], ()),
    # Feast operator
    _rt("feast.dev", "v1alpha1", "FeatureStore", "featurestores", True, ["feast"]),
    # authorization (answered by the server from rbac.py, never stored)
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, (), (),
        verbs=["create"]),
]


class Registry:
    """Thread-safe set of resource types; CRDs add and remove types at run time."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in BUILTIN_TYPES:
            self.add(rt)
        self._builtin = set(self._types)

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove(self, group: str, version: str, plural: str) -> None:
        with self._lock:
            if (group, version, plural) not in self._builtin:
                self._types.pop((group, version, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self.all():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    # ---- CRDs -------------------------------------------------------------------------------
    @staticmethod
    def types_from_crd(crd: dict) -> list[ResourceType]:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        out = []
        for v in spec.get("versions") or []:
            if not v.get("served", True):
                continue
            subs = []
            if "status" in (v.get("subresources") or {}):
                subs.append("status")
            if "scale" in (v.get("subresources") or {}):
                subs.append("scale")
            out.append(ResourceType(group, v["name"], names.get("kind", ""), names.get("plural", ""),
                                    namespaced, tuple(names.get("shortNames") or ()),
                                    names.get("singular") or names.get("kind", "").lower(),
                                    tuple(ALL_VERBS), tuple(subs), tuple(names.get("categories") or ()),
                                    printer_columns(v), True))
        return out

    def register_crd(self, crd: dict) -> None:
        for rt in self.types_from_crd(crd):
            self.add(rt)

    def unregister_crd(self, crd: dict) -> None:
        for rt in self.types_from_crd(crd):
            self.remove(rt.group, rt.version, rt.plural)

    # ---- discovery documents ----------------------------------------------------------------
    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rt in self.all():
            if rt.group:
                vs = out.setdefault(rt.group, [])
                if rt.version not in vs:
                    vs.append(rt.version)
        return out

    def api_versions_doc(self) -> dict:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}

    def api_group_list_doc(self) -> dict:
        groups = []
        for g, versions in sorted(self.groups().items()):
            vs = sorted(versions, key=version_priority)
            pref = vs[0]
            groups.append({
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{pref}", "version": pref},
            })
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group_doc(self, group: str) -> dict | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        vs = sorted(versions, key=version_priority)
        pref = vs[0]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{group}/{pref}", "version": pref}}

    def resource_list_doc(self, group: str, version: str) -> dict | None:
        types = [rt for rt in self.all() if rt.group == group and rt.version == version]
        if not types:
            return None
        resources = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry = {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced,
                     "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in rt.subresources:
                sub_entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": ["get", "patch", "update"]}
                if sub == "log":
                    sub_entry.update(kind="Pod", verbs=["get"])
                elif sub == "scale":
                    sub_entry.update(kind="Scale", group="autoscaling", version="v1")
                resources.append(sub_entry)
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

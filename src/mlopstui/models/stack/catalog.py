"""The Stack catalog: which components there are, how their workloads are recognised (names, labels,
images), and which database a component uses. Pure: no I/O."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlopstui.models.stack.workloads import containers_of, labels_match, main_images, pod_template_spec


@dataclass(frozen=True)
class Matcher:
    """How a component's workloads are recognised: workload names (globs), label sets (a value "*": the key
    is present) and/or the image of a main container (globs).

    namespaces restricts all three (empty: any namespace). kinds restricts the workload kinds.
    selector: a label selector from the settings ("app in (redis,valkey)", "tier=cache,app!=x"), as
    the API server evaluates it: the backend lists with labelSelector= and marks what came back
    (SELECTED_BY); it is never parsed here.
    """

    names: tuple[str, ...] = ()
    labels: tuple[Mapping[str, str], ...] = ()
    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet")
    selector: str = ""
    images: tuple[str, ...] = ()


# the label selectors the API server matched an object with (set by backends.stack on listed objects)
SELECTED_BY = "mlopstui.selectedBy"


@dataclass(frozen=True)
class ComponentSpec:
    id: str
    title: str
    role: str  # one line: what it is for
    matchers: tuple[Matcher, ...]
    probe: str = "none"  # http | s3 | redis | postgres | none
    endpoint: str | None = None  # key for discovery / settings.endpoints
    health_path: str = "/"
    version_path: str | None = None
    optional: bool = False  # not installed is fine (not a problem)
    accept_any_http: bool = False  # any HTTP answer means alive (ingress: 404 = no route, still up)
    # what a matching workload must not be: name globs, main-container image globs (operators, web consoles)
    exclude_names: tuple[str, ...] = ()
    exclude_images: tuple[str, ...] = ()
    # what a matching Deployment/StatefulSet must run: "mlflow-server" (`mlflow server`, not a client pod)
    runs: str = ""


def _m(*names: str, labels: Sequence[Mapping[str, str]] = (), ns: Sequence[str] = (),
       kinds: Sequence[str] = ("Deployment", "StatefulSet", "DaemonSet"), images: Sequence[str] = ()) -> Matcher:
    return Matcher(tuple(names), tuple(labels), tuple(ns), tuple(kinds), images=tuple(images))


CATALOG: tuple[ComponentSpec, ...] = (
    # the object store: the server pods, or a MinIO operator's Tenant and its pool StatefulSets; never the
    # operator itself, a web console, or a client (mc) Job
    ComponentSpec("s3", "Object store", "S3 artifacts and datasets (MinIO, Ceph RGW, SeaweedFS, any S3)",
                  (_m("minio", "minio-*", "rook-ceph-rgw*", "seaweedfs", "seaweedfs-s3", "s3",
                      labels=({"app.kubernetes.io/name": "minio"}, {"app": "minio"}, {"app": "rook-ceph-rgw"},
                              {"app": "seaweedfs"}, {"app.kubernetes.io/name": "seaweedfs"},
                              {"v1.min.io/tenant": "*"}),
                      images=("*/minio/minio:*", "*/minio/minio@*", "minio/minio:*", "*/bitnami*/minio:*",
                              "*chrislusf/seaweedfs:*", "*/ceph/ceph:*")),
                   _m("*", kinds=("Tenant",))),
                  probe="s3", endpoint="s3",
                  exclude_names=("*-console", "minio-operator", "*-operator", "*-provisioning"),
                  exclude_images=("*/operator:*", "*operator-sidecar*", "*object-browser*", "*minio/console*",
                                  "*/mc:*", "*minio-client*")),
    ComponentSpec("postgresql", "PostgreSQL", "MLflow backend store",
                  (_m("mlflow-db-postgresql", "mlflow-postgres*", "postgresql", "postgres",
                      labels=({"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "mlflow-db"},
                              {"app.kubernetes.io/name": "postgresql"}, {"app": "postgresql"},
                              {"app": "postgres"})),),
                  probe="postgres", endpoint="postgresql"),
    ComponentSpec("feast_registry", "Feast registry DB", "PostgreSQL holding the Feast registry",
                  (_m("feast-postgres*", "feast-registry-db*", "feast-db*",
                      labels=({"app": "feast-postgres"},)),),
                  probe="postgres", endpoint="feast_registry", optional=True),
    ComponentSpec("pgbouncer", "PgBouncer", "connection pooler in front of PostgreSQL",
                  (_m("pgbouncer", "*-pgbouncer", "pgbouncer-*",
                      labels=({"app.kubernetes.io/name": "pgbouncer"}, {"app": "pgbouncer"})),),
                  probe="postgres", endpoint="pgbouncer", optional=True),
    ComponentSpec("redis", "Redis", "Feast online store",
                  (_m("feast-redis-master", "redis-master", "redis", "feast-redis*", "*-redis-master",
                      labels=({"app.kubernetes.io/name": "redis"}, {"app": "redis"})),),
                  probe="redis", endpoint="redis"),
    ComponentSpec("mlflow", "MLflow", "experiment tracking server",
                  (_m("mlflow-server", "mlflow", "mlflow-tracking", "mlflow-tracking-server",
                      labels=({"app": "mlflow"}, {"app.kubernetes.io/name": "mlflow"})),),
                  probe="http", endpoint="mlflow", health_path="/health", version_path="/version",
                  runs="mlflow-server"),
    ComponentSpec("feast", "Feast", "feature server, registry server, materialization",
                  (_m("feast-feature-server", "feast-server", "feast-registry-server", "feast-ui",
                      labels=({"app.kubernetes.io/name": "feast-feature-server"},
                              {"app.kubernetes.io/managed-by": "feast-operator"},
                              {"app.kubernetes.io/name": "feast-operator"})),
                   _m("feast-*", labels=({"app": "feast-materialize"},), kinds=("CronJob",)),
                   _m("*", kinds=("FeatureStore",))),
                  probe="http", endpoint="feast_server", health_path="/health"),
    ComponentSpec("kserve", "KServe", "model serving controller",
                  (_m("kserve-controller-manager", "kserve-controller*", "kserve-localmodel-controller-manager",
                      "kserve-localmodelnode-agent", "llmisvc-controller-manager",
                      labels=({"control-plane": "kserve-controller-manager"},
                              {"app.kubernetes.io/name": "kserve"})),)),
    ComponentSpec("knative", "Knative Serving", "serverless autoscaling for KServe",
                  (_m("activator", "autoscaler", "controller", "webhook", "net-istio-*",
                      ns=("knative-serving",)),
                   _m(labels=({"app.kubernetes.io/name": "knative-serving"},))),
                  optional=True),
    # Istio's own docs install the gateway chart as istio-ingress (label istio: ingress) in istio-ingress;
    # KServe's and Kubeflow's installers as istio-ingressgateway in istio-system
    ComponentSpec("istio", "Istio ingress", "mesh control plane and ingress gateway",
                  (_m("istiod", "istio-ingressgateway", ns=("istio-system",)),
                   _m("istio-ingress", "istio-ingressgateway",
                      labels=({"istio": "ingressgateway"}, {"istio": "ingress"}, {"app": "istiod"}))),
                  probe="http", endpoint="ingress", accept_any_http=True, optional=True),
    ComponentSpec("argo", "Argo Workflows", "pipeline orchestration",
                  (_m("argo-server", "workflow-controller", "argo-workflows-*",
                      labels=({"app.kubernetes.io/name": "argo-workflows-server"},
                              {"app": "workflow-controller"})),),
                  probe="http", endpoint="argo", health_path="/api/v1/version", optional=True),
    ComponentSpec("kfp", "Kubeflow Pipelines", "pipeline orchestration",
                  (_m("ml-pipeline", "ml-pipeline-*", labels=({"app": "ml-pipeline"},)),),
                  probe="http", endpoint="kfp", health_path="/apis/v2beta1/healthz", optional=True),
    ComponentSpec("lakefs", "LakeFS", "data versioning over object storage",
                  (_m("lakefs", "lakefs-*", labels=({"app.kubernetes.io/name": "lakefs"}, {"app": "lakefs"})),),
                  probe="http", endpoint="lakefs", health_path="/_health", optional=True),
)

CATALOG_BY_ID: dict[str, ComponentSpec] = {c.id: c for c in CATALOG}


def apply_override(spec: ComponentSpec, override: Any) -> ComponentSpec:
    """settings.components[id] (namespace, selector, names) replaces the built-in matchers."""
    if override is None:
        return spec
    ns = (override.namespace,) if getattr(override, "namespace", None) else ()
    names = tuple(getattr(override, "names", None) or ())
    selector = getattr(override, "selector", None)
    if not names and not selector:
        # only a namespace: keep the built-in names/labels, restricted to it
        return ComponentSpec(**{**asdict_shallow(spec),
                                "matchers": tuple(Matcher(m.names, m.labels, ns or m.namespaces, m.kinds, m.selector, m.images)
                                                  for m in spec.matchers)})
    kinds = tuple(sorted({k for m in spec.matchers for k in m.kinds}))
    # the operator named the workloads: no built-in veto (what it runs, operator/console exclusions)
    return ComponentSpec(**{**asdict_shallow(spec), "matchers": (Matcher(names, (), ns, kinds, selector or ""),),
                            "exclude_names": (), "exclude_images": (), "runs": ""})


def asdict_shallow(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def catalog_with_overrides(overrides: Mapping[str, Any] | None) -> tuple[ComponentSpec, ...]:
    overrides = overrides or {}
    return tuple(apply_override(c, overrides.get(c.id)) for c in CATALOG)


def matches(m: Matcher, obj: Mapping[str, Any], *, by: str) -> bool:
    meta = obj.get("metadata") or {}
    if obj.get("kind") not in m.kinds:
        return False
    if m.namespaces and meta.get("namespace") not in m.namespaces:
        return False
    if by == "name":
        name = meta.get("name") or ""
        return any(fnmatch.fnmatchcase(name, pat) for pat in m.names)
    if by == "image":
        return bool(m.images) and any(fnmatch.fnmatchcase(img, pat) for img in main_images(obj) for pat in m.images)
    if m.selector:
        return m.selector in (obj.get(SELECTED_BY) or ())
    labels = meta.get("labels") or {}
    return any(labels_match(want, labels) for want in m.labels)


def excluded(spec: ComponentSpec, obj: Mapping[str, Any]) -> bool:
    """True when the object is what the component is not (an operator, a console, a client pod)."""
    name = (obj.get("metadata") or {}).get("name") or ""
    if any(fnmatch.fnmatchcase(name, pat) for pat in spec.exclude_names):
        return True
    imgs = main_images(obj)  # the first main container is what the workload is (sidecars do not count)
    if imgs and any(fnmatch.fnmatchcase(imgs[0], pat) for pat in spec.exclude_images):
        return True
    if spec.runs == "mlflow-server" and obj.get("kind") in ("Deployment", "StatefulSet"):
        from mlopstui.models.commandline import mlflow_server_args

        ps = pod_template_spec(obj) or {}
        return not any(mlflow_server_args(c) is not None for c in ps.get("containers") or [])
    return False


# assign_workloads' answer per object, for the catalog it was computed with: a watch rebuild at scale
# (1,000 workloads x 30 components: 200 ms of a 450 ms report, measured with bench/bench_scale.py) matches
# again only the objects that changed. (catalog, {(kind, namespace, name): (metadata, spec, resourceVersion,
# selected_by, component id)}); an entry holds the cache's own metadata/spec dicts and is used only while
# the object carries those same dicts (the informer replaces an object whole) and resourceVersion.
_ASSIGNED: tuple[Any, dict[tuple, tuple]] = ((), {})


def assign_workloads(catalog: Sequence[ComponentSpec],
                     objects: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each workload object goes to at most one component: an exact name beats a glob, beats labels, beats
    an image; ties go to the catalog order. A component's exclusions (operator, console, client pod) veto."""
    global _ASSIGNED
    out: dict[str, list[Mapping[str, Any]]] = {c.id: [] for c in catalog}
    memo_catalog, memo = _ASSIGNED
    if memo_catalog != catalog:
        memo = {}
        _ASSIGNED = (tuple(catalog), memo)
    objects = list(objects)
    if len(memo) > 2 * len(objects) + 1000:
        memo.clear()  # deleted objects' entries
    for obj in objects:
        meta, spec_ = obj.get("metadata") or {}, obj.get("spec")
        rv = meta.get("resourceVersion")
        key = (obj.get("kind"), meta.get("namespace"), meta.get("name"))
        selected = tuple(obj.get(SELECTED_BY) or ())
        hit = memo.get(key) if rv else None
        if hit is not None and hit[0] is meta and hit[1] is spec_ and hit[2] == rv and hit[3] == selected:
            if hit[4] is not None:
                out[hit[4]].append(obj)
            continue
        best_id = _assign_one(catalog, obj)
        if rv:
            memo[key] = (meta, spec_, rv, selected, best_id)
        if best_id is not None:
            out[best_id].append(obj)
    return out


def _assign_one(catalog: Sequence[ComponentSpec], obj: Mapping[str, Any]) -> str | None:
    best: tuple[int, int] | None = None
    best_id = None
    name = (obj.get("metadata") or {}).get("name") or ""
    for idx, spec in enumerate(catalog):
        vetoed: bool | None = None
        for m in spec.matchers:
            if matches(m, obj, by="name"):
                rank = 0 if name in m.names else 1
            elif matches(m, obj, by="labels"):
                rank = 2
            elif matches(m, obj, by="image"):
                rank = 3
            else:
                continue
            if best is None or (rank, idx) < best:
                if vetoed is None:
                    vetoed = excluded(spec, obj)
                if not vetoed:
                    best, best_id = (rank, idx), spec.id
    return best_id


# which database a workload's Service is, by who names it: (component id, how to read the reference)
DATABASE_ROLES = ("postgresql", "feast_registry")


def selects(svc: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether a Service's selector matches the workload's pod template labels (same namespace)."""
    sm, om = svc.get("metadata") or {}, obj.get("metadata") or {}
    sel = (svc.get("spec") or {}).get("selector") or {}
    labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    return bool(sel) and sm.get("namespace") == om.get("namespace") and all(labels.get(k) == v for k, v in sel.items())


def database_references(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """(service, namespace) -> {role: who names it}: the MLflow server's backend store URI names the MLflow
    database; Feast's feature_store.yaml (inline from the operator, or a ConfigMap) names its registry."""
    from mlopstui.models.commandline import (
        cluster_host,
        feast_registry_uri,
        feature_store_yaml,
        host_of,
        mlflow_server_args,
    )

    namespaces = {(o.get("metadata") or {}).get("namespace") for o in objects} - {None}
    out: dict[tuple[str, str], dict[str, str]] = {}

    def add(uri: str | None, ns: str, role: str, who: str) -> None:
        if not uri or "://" not in uri:
            return
        host, _port = host_of(uri)
        target = cluster_host(host or "", ns, namespaces)
        if target is not None:
            out.setdefault(target, {}).setdefault(role, who)

    for o in objects:
        meta = o.get("metadata") or {}
        ns = meta.get("namespace", "")
        if o.get("kind") == "ConfigMap":
            for key, text in (o.get("data") or {}).items():
                if key.endswith("feature_store.yaml") and isinstance(text, str):
                    add(feast_registry_uri(text), ns, "feast_registry", f"ConfigMap {ns}/{meta.get('name')}")
            continue
        for c in containers_of(o):
            who = f"{o.get('kind')} {ns}/{meta.get('name')}"
            flags = mlflow_server_args(c)
            if flags is not None:
                uri = flags.get("backend-store-uri")
                if not isinstance(uri, str):
                    uri = next((e.get("value") for e in c.get("env") or []
                                if e.get("name") == "MLFLOW_BACKEND_STORE_URI" and e.get("value")), None)
                add(uri, ns, "postgresql", who)
                continue
            text = feature_store_yaml(c)
            if text:
                add(feast_registry_uri(text), ns, "feast_registry", who)
    return out


def refine_database_roles(assigned: dict[str, list[Mapping[str, Any]]], services: Sequence[Mapping[str, Any]],
                          references: Mapping[tuple[str, str], Mapping[str, str]]) -> dict[str, str]:
    """Move a PostgreSQL workload to the role its referrers give it (a name glob only guesses): the database
    Feast's registry names is the Feast registry DB even when it is called `postgres`. Returns
    {workload ref: who names it} for the moved and confirmed ones."""
    why: dict[str, str] = {}
    if not references:
        return why
    by_ns: dict[str, list[Mapping[str, Any]]] = {}
    for svc in services:
        by_ns.setdefault((svc.get("metadata") or {}).get("namespace", ""), []).append(svc)
    for cid in DATABASE_ROLES:
        for obj in list(assigned.get(cid, [])):
            meta = obj.get("metadata") or {}
            roles: dict[str, str] = {}
            for svc in by_ns.get(meta.get("namespace", ""), ()):
                if selects(svc, obj):
                    sm = svc.get("metadata") or {}
                    roles.update(references.get((sm.get("name", ""), sm.get("namespace", "")), {}))
            if not roles:
                continue
            ref = f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
            want = cid if cid in roles else next(r for r in DATABASE_ROLES if r in roles)
            why[ref] = roles[want]
            if want != cid:
                assigned[cid].remove(obj)
                assigned.setdefault(want, []).append(obj)
    return why

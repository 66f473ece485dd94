"""The Stack area's plain data: the component catalog, workload/pod status, probe results, health roll-up.

Pure: no I/O. Backends turn cluster objects (dicts) and probe answers into these; the doctor reads them.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlopstui.units import (
    clock,
    parse_time,  # noqa: F401 - the one timestamp parser (also models.stack.parse_time)
)

# --------------------------------------------------------------------------------------------------
# catalog


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


def _labels_match(want: Mapping[str, str], have: Mapping[str, str]) -> bool:
    return bool(want) and all((k in have) if v == "*" else have.get(k) == v for k, v in want.items())


def main_images(obj: Mapping[str, Any]) -> list[str]:
    """The images of the main containers (not init containers) of a workload; a Tenant's spec.image."""
    if obj.get("kind") == "Tenant":
        img = (obj.get("spec") or {}).get("image")
        return [str(img)] if img else []
    ps = pod_template_spec(obj) or {}
    return [str(c.get("image")) for c in ps.get("containers") or [] if c.get("image")]


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
    return any(_labels_match(want, labels) for want in m.labels)


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


def assign_workloads(catalog: Sequence[ComponentSpec],
                     objects: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each workload object goes to at most one component: an exact name beats a glob, beats labels, beats
    an image; ties go to the catalog order. A component's exclusions (operator, console, client pod) veto."""
    out: dict[str, list[Mapping[str, Any]]] = {c.id: [] for c in catalog}
    for obj in objects:
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
        if best_id is not None:
            out[best_id].append(obj)
    return out


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


# --------------------------------------------------------------------------------------------------
# pods and workloads


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


def pods_of(obj: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods a workload selects (same namespace, matchLabels subset); CronJob: pods of its Jobs."""
    meta = obj.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name")
    if obj.get("kind") == "CronJob":
        return [p for p in pods if (p.get("metadata") or {}).get("namespace") == ns
                and ((p.get("metadata") or {}).get("labels") or {}).get("job-name", "").startswith(f"{name}-")]
    sel = selector_of(obj)
    if not sel:
        return []
    out = []
    for p in pods:
        pm = p.get("metadata") or {}
        if pm.get("namespace") == ns and _labels_match(sel, pm.get("labels") or {}):
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


# --------------------------------------------------------------------------------------------------
# probes


class ProbeState(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # answered, but something is off (403, near a limit)
    FAILED = "failed"  # refused, error
    TIMEOUT = "timeout"
    PENDING = "pending"
    SKIPPED = "skipped"  # nothing to probe (no endpoint, no probe for this component)


@dataclass
class ProbeResult:
    component: str
    kind: str  # http | s3 | redis | postgres | none
    target: str  # masked endpoint
    source: str  # where the endpoint came from
    state: ProbeState
    summary: str  # short, for the table: "200 /health 12ms", "PONG 1.2M/256M allkeys-lru"
    latency_ms: float | None = None
    version: str | None = None
    detail: str = ""  # the error text, masked
    data: dict[str, Any] = field(default_factory=dict)  # redis memory, pg connections, http status ...
    at: float = field(default_factory=clock)

    @property
    def ok(self) -> bool:
        return self.state in (ProbeState.OK, ProbeState.DEGRADED)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d


def pending_probe(component: str, kind: str, target: str = "-", source: str = "") -> ProbeResult:
    return ProbeResult(component, kind, target, source, ProbeState.PENDING, "probing ...")


def skipped_probe(component: str, kind: str, why: str, source: str = "", target: str = "-") -> ProbeResult:
    return ProbeResult(component, kind, target, source, ProbeState.SKIPPED, why)


# --------------------------------------------------------------------------------------------------
# components and health


class Health(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"
    ABSENT = "absent"  # not installed
    UNKNOWN = "unknown"


HEALTH_SYMBOL = {Health.OK: "✓", Health.WARN: "!", Health.ERROR: "✗", Health.ABSENT: "·", Health.UNKNOWN: "?"}
HEALTH_RANK = {Health.OK: 0, Health.ABSENT: 0, Health.UNKNOWN: 1, Health.WARN: 2, Health.ERROR: 3}


@dataclass
class ComponentStatus:
    spec: ComponentSpec
    workloads: list[WorkloadStatus]
    probe: ProbeResult
    findings: list[Any] = field(default_factory=list)  # doctor Findings, worst first
    discovered: str = ""  # the endpoint discovery found (masked): config, env, or the catalog's Service

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def installed(self) -> bool:
        return bool(self.workloads)

    @property
    def desired(self) -> int:
        return sum(w.desired for w in self.workloads)

    @property
    def ready(self) -> int:
        return sum(min(w.ready, w.desired) for w in self.workloads)

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self.workloads)

    @property
    def problem(self) -> str:
        for want in ("CrashLoopBackOff", "OOMKilled"):
            if any(w.problem == want for w in self.workloads):
                return want
        return ""

    @property
    def age(self) -> float | None:
        ages = [w.age for w in self.workloads if w.age is not None]
        return min(ages) if ages else None

    @property
    def version(self) -> str:
        return self.version_and_source[0]

    @property
    def version_source(self) -> str:
        """Where the version came from: "endpoint" (the live server answered), "label"
        (app.kubernetes.io/version), "image" (the main container's tag), "status", or ""."""
        return self.version_and_source[1]

    @property
    def version_and_source(self) -> tuple[str, str]:
        if self.probe.version:
            return self.probe.version, "endpoint"
        for w in self.workloads:
            if w.version != "-":
                return w.version, w.version_source
        return "-", ""

    @property
    def endpoint(self) -> str:
        """The endpoint found for this component (masked), or "-" (the probe may reach it by another route)."""
        if self.discovered and self.discovered != "-":
            return self.discovered
        return self.probe.target if self.probe.target and self.probe.target != "-" else "-"

    @property
    def worst_finding(self) -> Any | None:
        return self.findings[0] if self.findings else None

    @property
    def health(self) -> Health:
        return component_health(self)

    def to_dict(self) -> dict[str, Any]:
        wf = self.worst_finding
        return {
            "id": self.id, "title": self.spec.title, "role": self.spec.role, "installed": self.installed,
            "health": self.health.value, "ready": self.ready, "desired": self.desired, "restarts": self.restarts,
            "problem": self.problem or None, "age_seconds": self.age, "version": self.version,
            "version_source": self.version_source or None, "endpoint": self.endpoint,
            "probe": self.probe.to_dict(),
            "workloads": [{"kind": w.kind, "namespace": w.namespace, "name": w.name, "ready": w.ready,
                           "desired": w.desired, "restarts": w.restarts, "problem": w.problem or None,
                           "images": w.images, "note": w.note or None, "version": w.version,
                           "version_source": w.version_source or None} for w in self.workloads],
            "worst_finding": wf.to_dict() if wf is not None else None,
            "findings": len(self.findings),
        }


def component_health(c: ComponentStatus) -> Health:
    """Roll-up: absent when nothing is installed and nothing answers; error on crash/OOM, a failed probe,
    no ready replica, or an error finding; warn on partial readiness, restarts, degraded probe or a warning."""
    probe_answers = c.probe.state in (ProbeState.OK, ProbeState.DEGRADED)
    if not c.installed and not probe_answers:
        if c.probe.state in (ProbeState.FAILED, ProbeState.TIMEOUT) and c.probe.source == "config":
            return Health.ERROR  # configured explicitly, yet unreachable
        return Health.ABSENT
    level = Health.OK
    sev = c.worst_finding.severity.value if c.worst_finding is not None else None
    if (c.problem or c.probe.state in (ProbeState.FAILED, ProbeState.TIMEOUT)
            or (c.desired > 0 and c.ready == 0) or sev == "error"):
        return Health.ERROR
    if (c.ready < c.desired or c.probe.state is ProbeState.DEGRADED or sev == "warning"):
        level = Health.WARN
    if c.probe.state is ProbeState.PENDING and level is Health.OK:
        level = Health.UNKNOWN
    return level


def worst_health(items: Iterable[Health]) -> Health:
    out = Health.OK
    for h in items:
        if HEALTH_RANK[h] > HEALTH_RANK[out]:
            out = h
    return out


def since(ts: float | None, now: float | None = None) -> float | None:
    return None if ts is None else max(0.0, (now or clock()) - ts)

"""The installer's manifests: pure rendering of a stack component's Kubernetes objects from parameters.

No I/O. The install action (actions/install.py) reads what the cluster already has into `Facts`,
`resolve()` validates the operator's `--set key=value` parameters against them and fills in defaults,
and `render()` returns the objects in dependency order (Secret, Service, workload).

Every object carries the labels the Stack catalog (models/stack.py) recognises for its component, plus
`app.kubernetes.io/managed-by: mlopstui` and `mlopstui.dev/component: <id>`. Images are maintained
upstream images (never bitnami/ or bitnamilegacy/, never MinIO). Secret values never appear in a
rendered container spec: passwords reach containers through secretKeyRef only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlopstui import units
from mlopstui.errors import Kind, MlopsError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "mlopstui"
COMPONENT_LABEL = "mlopstui.dev/component"
FIELD_MANAGER = "mlopstui"

# maintained upstream images (verified tags): the official postgres and redis images, the MLflow
# project's own image in its -full variant (psycopg2 + boto3; available since MLflow 3.9), and
# edoburu/pgbouncer (maintained, env-configured)
IMAGES = {
    "postgresql": "postgres:18.6",
    "pgbouncer": "edoburu/pgbouncer:v1.25.2-p0",
    "redis": "redis:8.2.2",
    "mlflow": "ghcr.io/mlflow/mlflow:v3.16.1-full",
}
IMAGES["feast_registry"] = IMAGES["postgresql"]

# images the installer never renders (unmaintained or archived)
FORBIDDEN_IMAGE_ORGS = ("bitnami", "bitnamilegacy", "minio")

# components without a built-in install: where to get them instead
UPSTREAM: dict[str, str] = {
    "s3": ("no built-in object store: bring your own S3 endpoint (Ceph RGW, SeaweedFS, Garage, or a "
           "cloud S3) and point endpoints.s3 / MLFLOW_S3_ENDPOINT_URL at it. MinIO's community edition "
           "became source-only in Oct 2025 and its repository was archived in Apr 2026 (no patched images)"),
    "kserve": ("install KServe upstream: the KServe quick install (hack/quick_install.sh) or its Helm "
               "charts kserve-crd and kserve (oci://ghcr.io/kserve/charts), after cert-manager and "
               "Knative Serving with a networking layer"),
    "knative": ("install Knative Serving upstream: the release manifests serving-crds.yaml and "
                "serving-core.yaml plus net-istio, or the Knative Operator"),
    "istio": "install Istio upstream: istioctl install, or the Helm charts base, istiod and gateway",
    "argo": ("install Argo Workflows upstream: the release manifest install.yaml, or the "
             "argo/argo-workflows Helm chart"),
    "kfp": ("install Kubeflow Pipelines upstream: the standalone manifests "
            "(kustomize, manifests/kustomize/env/platform-agnostic) or the full Kubeflow platform"),
    "lakefs": ("install lakeFS upstream: the lakefs/lakefs Helm chart, with its own PostgreSQL and your "
               "S3 endpoint"),
    "feast": ("no built-in Feast install: deploy the Feast operator (FeatureStore resources) or a CronJob "
              "running `feast materialize-incremental` from your feature repository image; the Features "
              "area triggers and watches materializations"),
}

# Service names the stack's clients look for (backends/discovery.py), per role
POSTGRES_SERVICES = ("mlflow-db-postgresql", "postgresql", "postgres")
PGBOUNCER_SERVICES = ("pgbouncer",)
S3_SERVICES = ("minio", "minio-api", "rook-ceph-rgw", "s3", "seaweedfs-s3")
S3_SECRETS = ("minio-credentials", "s3-credentials", "mlflow-s3-credentials")


# --------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class Param:
    key: str
    default: str  # "" = none / discovered
    kind: str  # name | memory | cpu | int | choice | s3uri | url | text | hosts | image
    help: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installable:
    id: str
    title: str
    params: tuple[Param, ...]
    purpose: str  # one line, shown in --list and the plan

    def param(self, key: str) -> Param | None:
        return next((p for p in self.params if p.key == key), None)


def _pg_params(name: str, db: str, user: str) -> tuple[Param, ...]:
    return (
        Param("name", name, "name", "StatefulSet, Service and Secret prefix"),
        Param("image", IMAGES["postgresql"], "image", "container image (official postgres)"),
        Param("database", db, "name", "database created on first start"),
        Param("user", user, "name", "owner of the database"),
        Param("storage", "10Gi", "memory", "PersistentVolumeClaim size"),
        Param("storage_class", "", "text", "StorageClass (empty: the cluster default)"),
        Param("memory", "1Gi", "memory", "memory limit (and request)"),
        Param("cpu", "1", "cpu", "CPU limit"),
        Param("max_connections", "200", "int", "PostgreSQL max_connections", 10, 10000),
    )


INSTALLABLE: dict[str, Installable] = {
    "postgresql": Installable(
        "postgresql", "PostgreSQL", _pg_params("postgresql", "mlflow", "mlflow"),
        "the MLflow backend store (StatefulSet, official postgres image, a generated password, kept in a Secret)"),
    "feast_registry": Installable(
        "feast_registry", "Feast registry DB", _pg_params("feast-postgres", "feast_registry", "feast"),
        "PostgreSQL for the Feast SQL registry (same shape as postgresql)"),
    "pgbouncer": Installable(
        "pgbouncer", "PgBouncer",
        (Param("name", "pgbouncer", "name", "Deployment and Service name"),
         Param("image", IMAGES["pgbouncer"], "image", "container image"),
         Param("target", "", "name", "the PostgreSQL Service to pool (default: found in the namespace)"),
         Param("database", "", "name", "database (default: the PostgreSQL install's)"),
         Param("user", "", "name", "database user (default: the PostgreSQL install's)"),
         Param("db_secret", "", "name", "Secret holding the user's password (default: <target>-credentials)"),
         Param("db_secret_key", "password", "text", "key of the password in that Secret"),
         Param("replicas", "2", "int", "replicas", 1, 20),
         Param("pool_mode", "transaction", "choice", "pooling mode", choices=("transaction", "session")),
         Param("max_client_conn", "1000", "int", "client connections accepted", 10, 100000),
         Param("default_pool_size", "20", "int", "server connections per user/database", 1, 1000),
         Param("memory", "128Mi", "memory", "memory limit"),
         Param("cpu", "500m", "cpu", "CPU limit")),
        "connection pooler in front of PostgreSQL (many MLflow writers exhaust max_connections)"),
    "redis": Installable(
        "redis", "Redis",
        (Param("name", "feast-redis-master", "name", "StatefulSet and Service name (Feast's "
               "connection_string uses it)"),
         Param("image", IMAGES["redis"], "image", "container image (official redis)"),
         Param("memory", "2Gi", "memory", "memory limit (and request)"),
         Param("maxmemory_percent", "80", "int", "--maxmemory as a percentage of the memory limit", 10, 95),
         Param("policy", "noeviction", "choice", "--maxmemory-policy",
               choices=("noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu",
                        "volatile-ttl")),
         Param("cpu", "1", "cpu", "CPU limit"),
         Param("storage", "", "memory", "PVC size for AOF persistence (empty: none, rebuilt by "
               "materialization)"),
         Param("storage_class", "", "text", "StorageClass (empty: the cluster default)")),
        "the Feast online store, with a memory limit and maxmemory below it"),
    "mlflow": Installable(
        "mlflow", "MLflow",
        (Param("name", "mlflow-server", "name", "Deployment and Service name"),
         Param("image", IMAGES["mlflow"], "image", "container image (MLflow's own -full image)"),
         Param("replicas", "1", "int", "replicas", 1, 20),
         Param("workers", "4", "int", "server worker processes per pod", 1, 64),
         Param("port", "5000", "int", "Service and container port", 1, 65535),
         Param("db_host", "", "name", "backend store Service (default: PgBouncer if present, else "
               "PostgreSQL, in the namespace)"),
         Param("db_port", "5432", "int", "backend store port", 1, 65535),
         Param("database", "", "name", "database (default: the PostgreSQL install's)"),
         Param("db_user", "", "name", "database user (default: the PostgreSQL install's)"),
         Param("db_secret", "", "name", "Secret with the database password (default: "
               "<postgresql>-credentials)"),
         Param("db_secret_key", "password", "text", "key of the password in that Secret"),
         Param("artifact_root", "s3://mlflow-artifacts/", "s3uri", "--default-artifact-root"),
         Param("s3_endpoint", "", "url", "MLFLOW_S3_ENDPOINT_URL (default: an S3 Service found in the "
               "cluster, else endpoints.s3)"),
         Param("s3_secret", "", "name", "Secret with the S3 keys (default: minio-credentials / "
               "s3-credentials in the namespace)"),
         Param("s3_access_key_key", "access-key", "text", "key of the access key id in that Secret"),
         Param("s3_secret_key_key", "secret-key", "text", "key of the secret access key in that Secret"),
         Param("region", "us-east-1", "text", "AWS_DEFAULT_REGION"),
         Param("extra_hosts", "", "hosts", "more --allowed-hosts (ingress host names), comma separated"),
         Param("memory", "2Gi", "memory", "memory limit (and request)"),
         Param("cpu", "1", "cpu", "CPU limit")),
        "the tracking server (PostgreSQL backend, S3 artifacts, --allowed-hosts for its Service names)"),
}


def installable_ids() -> tuple[str, ...]:
    return tuple(INSTALLABLE)


def refusal(cid: str) -> str | None:
    """Why there is no built-in install for this component (None when there is one)."""
    if cid in INSTALLABLE:
        return None
    return UPSTREAM.get(cid, f"unknown component {cid!r}")


def parse_sets(items: Sequence[str] | None) -> dict[str, str]:
    """`["memory=2Gi", "name=x"]` -> {"memory": "2Gi", "name": "x"}; a malformed item is refused."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise MlopsError(Kind.INVALID, f"--set {item!r}: expected KEY=VALUE", hint="e.g. --set memory=2Gi")
        out[key.replace("-", "_")] = value.strip()
    return out


# -- quantities --------------------------------------------------------------------------------------
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DBNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def memory_bytes(text: str) -> int:
    """A Kubernetes memory quantity ("2Gi", "512Mi", "1G", "1048576") in bytes; invalid -> ValueError."""
    n = units.quantity_bytes(str(text).strip())
    if n is None:
        raise ValueError(f"{text!r} is not a memory quantity (e.g. 512Mi, 2Gi)")
    if n <= 0:
        raise ValueError(f"{text!r} must be a memory quantity more than zero")
    return n


def cpu_millis(text: str) -> int:
    n = units.cpu_millis(str(text).strip())
    if n is None:
        raise ValueError(f"{text!r} is not a CPU quantity (e.g. 500m, 1, 2)")
    if n < 1:
        raise ValueError(f"{text!r} must be at least 1m")
    return n


def _cpu_text(millis: int) -> str:
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def _validate(spec: Installable, p: Param, raw: str) -> Any:
    what = f"{spec.id} {p.key}={raw!r}"
    if p.kind == "int":
        if not re.fullmatch(r"-?\d+", raw.strip()):
            raise MlopsError(Kind.INVALID, f"{what}: not a whole number", hint=p.help)
        v = int(raw)
        if (p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum):
            raise MlopsError(Kind.INVALID, f"{what}: must be between {p.minimum} and {p.maximum}", hint=p.help)
        return v
    if p.kind in ("memory", "cpu"):
        if p.kind == "memory" and raw == "" and p.default == "":
            return ""
        try:
            (memory_bytes if p.kind == "memory" else cpu_millis)(raw)
        except ValueError as exc:
            raise MlopsError(Kind.INVALID, f"{spec.id} {p.key}: {exc}", hint=p.help) from None
        return raw
    if p.kind == "name":
        if raw == "":
            return ""
        pattern = _DBNAME if p.key in ("database", "user", "db_user") else _NAME
        if len(raw) > 63 or not pattern.match(raw):
            rule = ("letters, digits and _" if pattern is _DBNAME
                    else "lower case letters, digits and '-' (DNS label)")
            raise MlopsError(Kind.INVALID, f"{what}: must be {rule}, at most 63 characters", hint=p.help)
        return raw
    if p.kind == "choice":
        if raw not in p.choices:
            raise MlopsError(Kind.INVALID, f"{what}: must be one of {', '.join(p.choices)}", hint=p.help)
        return raw
    if p.kind == "s3uri":
        if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?", raw):
            raise MlopsError(Kind.INVALID, f"{what}: must be s3://BUCKET/[PREFIX]", hint=p.help)
        return raw if raw.endswith("/") else raw + "/"
    if p.kind == "url":
        if raw and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", raw):
            raise MlopsError(Kind.INVALID, f"{what}: must be an http(s) URL", hint=p.help)
        return raw.rstrip("/")
    if p.kind == "hosts":
        hosts = [h.strip() for h in raw.split(",") if h.strip()]
        for h in hosts:
            if not re.fullmatch(r"[A-Za-z0-9*.\-]+(:\d+)?", h):
                raise MlopsError(Kind.INVALID, f"{what}: {h!r} is not a host name", hint=p.help)
        return hosts
    if p.kind == "image":
        org = _image_org(raw)
        if not raw or any(ch.isspace() for ch in raw):
            raise MlopsError(Kind.INVALID, f"{what}: not an image reference", hint=p.help)
        if org in FORBIDDEN_IMAGE_ORGS:
            raise MlopsError(Kind.INVALID, f"{what}: {org}/ images get no more updates",
                             hint="use a maintained image (the default is one)")
        return raw
    if any(ch.isspace() for ch in raw) or len(raw) > 253:
        raise MlopsError(Kind.INVALID, f"{what}: no spaces, at most 253 characters", hint=p.help)
    return raw


def _image_org(image: str) -> str:
    parts = image.split("@", 1)[0].split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return parts[-2] if len(parts) >= 2 else "library"


# --------------------------------------------------------------------------------------------------
# what the stack already has


@dataclass
class Facts:
    """What the install action read (no secret values): Services and Secrets (names -> keys) of the
    target namespace, S3 Services anywhere, the configured S3 endpoint."""

    namespace: str
    services: list[dict[str, Any]] = field(default_factory=list)  # in the namespace
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # in the namespace: name -> data keys
    s3_services: list[dict[str, Any]] = field(default_factory=list)  # anywhere
    s3_endpoint: str | None = None  # settings.endpoints.s3
    s3_endpoint_source: str = ""

    def service(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.services if (s.get("metadata") or {}).get("name") == name), None)

    def service_labelled(self, key: str, value: str) -> dict[str, Any] | None:
        return next((s for s in self.services
                     if ((s.get("metadata") or {}).get("labels") or {}).get(key) == value), None)


def _svc_port(svc: Mapping[str, Any], default: int) -> int:
    ports = (svc.get("spec") or {}).get("ports") or []
    return int(ports[0].get("port") or default) if ports else default


def _find_postgres(facts: Facts) -> dict[str, Any] | None:
    for name in POSTGRES_SERVICES:
        if facts.service(name) is not None:
            return facts.service(name)
    return next((s for s in facts.services
                 if ((s.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL) == "postgresql"), None)


def _pg_defaults(svc: Mapping[str, Any] | None) -> tuple[str, str]:
    """(database, user) of a PostgreSQL Service we installed (from its labels), else MLflow's."""
    labels = ((svc or {}).get("metadata") or {}).get("labels") or {}
    return labels.get("mlopstui.dev/database", "mlflow"), labels.get("mlopstui.dev/user", "mlflow")


def _credentials(facts: Facts, target: str, secret: str, key: str, user: str, sets: Mapping[str, str],
                 user_param: str) -> tuple[str, str, str]:
    """(Secret, key, user) for the PostgreSQL behind Service ``target``. What was --set wins; else our own
    install's ``<target>-credentials``; else the Secret the Bitnami chart makes, named like the Service, with
    ``password`` (its custom user) or only ``postgres-password`` (then the user is postgres)."""
    if not secret:
        own = f"{target}-credentials"
        secret = target if own not in facts.secrets and target in facts.secrets else own
    keys = facts.secrets.get(secret) or ()
    key_set = any(k.endswith("secret_key") for k in sets)
    if not key_set and key not in keys and "postgres-password" in keys:
        return secret, "postgres-password", user if user_param in sets else "postgres"
    return secret, key, user  # a missing Secret or key: _need_secret says so, with the --set to use


def _need_secret(facts: Facts, name: str, key: str, what: str, param: str) -> None:
    keys = facts.secrets.get(name)
    if keys is None:
        raise MlopsError(Kind.NOT_FOUND, f"no Secret {facts.namespace}/{name} for {what}",
                         hint=f"create it, or name another with --set {param}=NAME")
    if key not in keys:
        raise MlopsError(Kind.INVALID, f"Secret {facts.namespace}/{name} has no key {key!r} "
                         f"(keys: {', '.join(keys) or 'none'})",
                         hint=f"name the key with --set {param}_key=KEY")


def validate(cid: str, sets: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter checked and defaulted, before anything is read (raises MlopsError)."""
    why = refusal(cid)
    if why is not None:
        raise MlopsError(Kind.UNSUPPORTED, f"{cid}: {why}")
    spec = INSTALLABLE[cid]
    unknown = sorted(set(sets) - {p.key for p in spec.params})
    if unknown:
        raise MlopsError(Kind.INVALID, f"{cid} has no parameter {', '.join(unknown)}",
                         hint="parameters: " + ", ".join(p.key for p in spec.params))
    out: dict[str, Any] = {}
    for p in spec.params:
        raw = sets.get(p.key, p.default)
        out[p.key] = _validate(spec, p, raw)
    if cid in ("postgresql", "feast_registry") and out["storage"] == "":
        raise MlopsError(Kind.INVALID, f"{cid} storage: a database needs a volume size", hint="e.g. 10Gi")
    return out


def resolve(cid: str, sets: Mapping[str, str], facts: Facts) -> dict[str, Any]:
    """Validated parameters with defaults filled in from the stack (raises MlopsError INVALID/NOT_FOUND)."""
    out = validate(cid, sets)
    out["namespace"] = facts.namespace
    if cid in ("postgresql", "feast_registry"):
        out["secret"] = f"{out['name']}-credentials"
    elif cid == "pgbouncer":
        svc = facts.service(out["target"]) if out["target"] else _find_postgres(facts)
        if svc is None:
            raise MlopsError(Kind.NOT_FOUND,
                             f"no PostgreSQL Service {out['target'] or 'found'} in namespace {facts.namespace}",
                             hint="install it first (mlopstui install postgresql) or --set target=SERVICE")
        out["target"] = svc["metadata"]["name"]
        out["target_port"] = _svc_port(svc, 5432)
        db, user = _pg_defaults(svc)
        out["database"] = out["database"] or db
        out["user"] = out["user"] or user
        out["db_secret"], out["db_secret_key"], out["user"] = _credentials(
            facts, out["target"], out["db_secret"], out["db_secret_key"], out["user"], sets, "user")
        _need_secret(facts, out["db_secret"], out["db_secret_key"], "the PostgreSQL password", "db_secret")
        if out["name"] == out["target"]:
            raise MlopsError(Kind.INVALID, f"pgbouncer name {out['name']} is the PostgreSQL Service's name")
    elif cid == "mlflow":
        if out["db_host"]:
            svc = facts.service(out["db_host"])
        else:
            svc = next((facts.service(n) for n in PGBOUNCER_SERVICES if facts.service(n) is not None), None) \
                or facts.service_labelled(COMPONENT_LABEL, "pgbouncer") or _find_postgres(facts)
        if svc is None:
            raise MlopsError(Kind.NOT_FOUND, f"no PostgreSQL or PgBouncer Service "
                             f"{out['db_host'] or 'found'} in namespace {facts.namespace}",
                             hint="install postgresql (and pgbouncer) first, or --set db_host=SERVICE")
        labels = (svc.get("metadata") or {}).get("labels") or {}
        out["db_host"] = svc["metadata"]["name"]
        out["db_via_pgbouncer"] = labels.get(COMPONENT_LABEL) == "pgbouncer" or out["db_host"] in PGBOUNCER_SERVICES
        if "db_port" not in sets:
            out["db_port"] = _svc_port(svc, 5432)
        pg_svc = facts.service(labels["mlopstui.dev/target"]) if labels.get("mlopstui.dev/target") else svc
        db, user = _pg_defaults(pg_svc if pg_svc is not None else svc)
        out["database"] = out["database"] or db
        out["db_user"] = out["db_user"] or user
        if not out["db_secret"] and labels.get("mlopstui.dev/db-auth-from"):
            out["db_secret"] = labels["mlopstui.dev/db-auth-from"]  # the PgBouncer we installed knows it
        out["db_secret"], out["db_secret_key"], out["db_user"] = _credentials(
            facts, (pg_svc or svc)["metadata"]["name"], out["db_secret"], out["db_secret_key"], out["db_user"],
            sets, "db_user")
        _need_secret(facts, out["db_secret"], out["db_secret_key"], "the database password", "db_secret")
        if not out["s3_endpoint"]:
            found = facts.s3_services[0] if facts.s3_services else None
            if found is not None:
                m = found["metadata"]
                out["s3_endpoint"] = f"http://{m['name']}.{m['namespace']}.svc.cluster.local:{_svc_port(found, 9000)}"
                out["s3_endpoint_source"] = f"service {m['namespace']}/{m['name']}"
            elif facts.s3_endpoint:
                out["s3_endpoint"] = facts.s3_endpoint.rstrip("/")
                out["s3_endpoint_source"] = facts.s3_endpoint_source or "config"
            else:
                raise MlopsError(Kind.NOT_FOUND, "no S3 endpoint: no S3 Service in the cluster and none configured",
                                 hint="--set s3_endpoint=http://HOST:PORT (any S3 server; MinIO community "
                                      "is archived)")
        else:
            out["s3_endpoint_source"] = "--set"
        if not out["s3_secret"]:
            out["s3_secret"] = next((n for n in S3_SECRETS if n in facts.secrets), "")
            if not out["s3_secret"]:
                raise MlopsError(Kind.NOT_FOUND, f"no S3 credentials Secret in {facts.namespace} "
                                 f"(looked for {', '.join(S3_SECRETS)})",
                                 hint="kubectl create secret generic s3-credentials --from-literal=access-key=... "
                                      "--from-literal=secret-key=... (or --set s3_secret=NAME)")
        _need_secret(facts, out["s3_secret"], out["s3_access_key_key"], "the S3 access key", "s3_secret")
        _need_secret(facts, out["s3_secret"], out["s3_secret_key_key"], "the S3 secret key", "s3_secret")
    return out


# --------------------------------------------------------------------------------------------------
# rendering


@dataclass
class Rendered:
    component: str
    namespace: str
    objects: list[dict[str, Any]]  # dependency order: Secret, Service, workload
    summary: str
    notes: list[str]


def labels_for(cid: str, name: str) -> dict[str, str]:
    """Labels the catalog's matchers recognise for the component (see models/stack.py CATALOG)."""
    base = {
        "postgresql": {"app.kubernetes.io/name": "postgresql"},
        "feast_registry": {"app": "feast-postgres", "app.kubernetes.io/name": "feast-registry-db"},
        "pgbouncer": {"app.kubernetes.io/name": "pgbouncer"},
        "redis": {"app.kubernetes.io/name": "redis"},
        "mlflow": {"app.kubernetes.io/name": "mlflow"},
    }[cid]
    return {**base, "app.kubernetes.io/instance": name, COMPONENT_LABEL: cid, MANAGED_BY_LABEL: MANAGED_BY}


def selector_for(cid: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": name, COMPONENT_LABEL: cid}


def _meta(cid: str, name: str, ns: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": {**labels_for(cid, name), **(extra or {})}}


def _resources(memory: str, cpu: str, cpu_request_share: int = 4) -> dict[str, Any]:
    req = max(10, cpu_millis(cpu) // cpu_request_share)
    return {"limits": {"memory": memory, "cpu": cpu}, "requests": {"memory": memory, "cpu": _cpu_text(req)}}


def _service(cid: str, name: str, ns: str, port: int, target: int | str, port_name: str,
             extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(cid, name, ns, extra_labels),
            "spec": {"type": "ClusterIP", "selector": selector_for(cid, name),
                     "ports": [{"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}]}}


def _pvc(size: str, storage_class: str, name: str = "data") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}


def _secret_ref(secret: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": secret, "key": key}}


def service_hosts(name: str, namespace: str, port: int) -> list[str]:
    """The Host headers in-cluster clients send to a Service: its DNS names, with and without the port."""
    names = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
    return names + [f"{n}:{port}" for n in names]


def render(cid: str, params: Mapping[str, Any], *, password: str | None = None) -> Rendered:
    """The component's objects. password: the generated database password for a new PostgreSQL Secret;
    None when the Secret already exists (it is reused, never regenerated) or not needed."""
    fn = {"postgresql": _postgresql, "feast_registry": _postgresql, "pgbouncer": _pgbouncer,
          "redis": _redis, "mlflow": _mlflow}[cid]
    rendered = fn(cid, dict(params), password)
    for obj in rendered.objects:
        for c in _containers(obj):
            if _image_org(c.get("image", "")) in FORBIDDEN_IMAGE_ORGS:  # defence in depth
                raise MlopsError(Kind.INVALID, f"refusing to render image {c['image']}")
    return rendered


def _containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def _postgresql(cid: str, p: dict[str, Any], password: str | None) -> Rendered:
    name, ns = p["name"], p["namespace"]
    objs: list[dict[str, Any]] = []
    if password is not None:
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": _meta(cid, p["secret"], ns),
                     "stringData": {"password": password}})
    extra = {"mlopstui.dev/database": p["database"], "mlopstui.dev/user": p["user"]}
    objs.append(_service(cid, name, ns, 5432, "postgresql", "tcp-postgresql", extra))
    labels = labels_for(cid, name)
    container = {
        "name": "postgresql", "image": p["image"],
        "args": ["-c", f"max_connections={p['max_connections']}"],
        "ports": [{"name": "postgresql", "containerPort": 5432}],
        "env": [{"name": "POSTGRES_USER", "value": p["user"]},
                {"name": "POSTGRES_DB", "value": p["database"]},
                {"name": "POSTGRES_PASSWORD", "valueFrom": _secret_ref(p["secret"], "password")}],
        # postgres 18+: PGDATA is /var/lib/postgresql/18/docker, the volume goes at /var/lib/postgresql
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}],
        "resources": _resources(p["memory"], p["cpu"]),
        "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", p["user"],
                                                "-d", p["database"]]},
                           "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", p["user"],
                                               "-d", p["database"]]},
                          "initialDelaySeconds": 30, "periodSeconds": 20, "timeoutSeconds": 5,
                          "failureThreshold": 6},
    }
    objs.append({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(cid, name, ns, extra),
        "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": selector_for(cid, name)},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"terminationGracePeriodSeconds": 60, "containers": [container]}},
                 "volumeClaimTemplates": [_pvc(p["storage"], p["storage_class"])]},
    })
    notes = [
        f"Secret/{p['secret']}; " + ("new, with a generated database password, shown as ***; never printed, "
                                     "logged or audited" if password is not None
                                     else "exists already: reused, not regenerated"),
        f"database {p['database']} owned by {p['user']}; max_connections {p['max_connections']}; "
        f"{p['storage']} volume",
        f"clients connect to {name}.{ns}.svc.cluster.local:5432 (put PgBouncer in front for many writers: "
        f"mlopstui install pgbouncer)",
    ]
    return Rendered(cid, ns, objs, f"install {INSTALLABLE[cid].title} {ns}/{name} ({p['image']})", notes)


def _pgbouncer(cid: str, p: dict[str, Any], password: str | None) -> Rendered:
    name, ns = p["name"], p["namespace"]
    # the Secret's name, under a key without "secret" in it (plans mask values of such keys)
    extra = {"mlopstui.dev/database": p["database"], "mlopstui.dev/user": p["user"],
             "mlopstui.dev/target": p["target"], "mlopstui.dev/db-auth-from": p["db_secret"]}
    labels = labels_for(cid, name)
    container = {
        "name": "pgbouncer", "image": p["image"],
        "ports": [{"name": "postgresql", "containerPort": 5432}],
        "env": [{"name": "DB_HOST", "value": f"{p['target']}.{ns}.svc.cluster.local"},
                {"name": "DB_PORT", "value": str(p["target_port"])},
                {"name": "DB_NAME", "value": p["database"]},
                {"name": "DB_USER", "value": p["user"]},
                {"name": "DB_PASSWORD", "valueFrom": _secret_ref(p["db_secret"], p["db_secret_key"])},
                {"name": "AUTH_TYPE", "value": "scram-sha-256"},
                {"name": "POOL_MODE", "value": p["pool_mode"]},
                {"name": "MAX_CLIENT_CONN", "value": str(p["max_client_conn"])},
                {"name": "DEFAULT_POOL_SIZE", "value": str(p["default_pool_size"])}],
        "resources": _resources(p["memory"], p["cpu"]),
        "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": 5432}, "initialDelaySeconds": 10, "periodSeconds": 20},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    objs = [
        _service(cid, name, ns, 5432, "postgresql", "tcp-postgresql", extra),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(cid, name, ns, extra),
         "spec": {"replicas": p["replicas"], "selector": {"matchLabels": selector_for(cid, name)},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
    ]
    server_conns = p["default_pool_size"] * p["replicas"]
    notes = [
        "why: many MLflow writers (hyperparameter sweeps, hundreds of pods) exhaust PostgreSQL's "
        "max_connections; PgBouncer multiplexes them onto a small pool",
        f"{p['pool_mode']} pooling: up to {p['max_client_conn']} clients per replica onto "
        f"{p['default_pool_size']} server connections each ({server_conns} in all at {p['replicas']} replicas: "
        "keep that below max_connections)",
        f"pools {p['target']}.{ns}:{p['target_port']} database {p['database']} as {p['user']}; its password, "
        f"from Secret/{p['db_secret']}; by secretKeyRef",
        f"route MLflow through it: --backend-store-uri postgresql+psycopg2://{p['user']}@{name}.{ns}.svc."
        f"cluster.local:5432/{p['database']} (mlopstui install mlflow picks it up)",
    ]
    return Rendered(cid, ns, objs, f"install PgBouncer {ns}/{name} in front of {p['target']} ({p['image']})",
                    notes)


def redis_maxmemory(memory: str, percent: int) -> int:
    """--maxmemory in bytes: percent of the container memory limit."""
    return memory_bytes(memory) * percent // 100


def _redis(cid: str, p: dict[str, Any], password: str | None) -> Rendered:
    name, ns = p["name"], p["namespace"]
    maxmem = redis_maxmemory(p["memory"], p["maxmemory_percent"])
    args = ["--maxmemory", str(maxmem), "--maxmemory-policy", p["policy"], "--protected-mode", "no"]
    if p["storage"]:
        args += ["--appendonly", "yes", "--save", ""]
    else:
        args += ["--appendonly", "no", "--save", ""]
    labels = labels_for(cid, name)
    container: dict[str, Any] = {
        "name": "redis", "image": p["image"], "command": ["redis-server"], "args": args,
        "ports": [{"name": "redis", "containerPort": 6379}],
        "resources": _resources(p["memory"], p["cpu"]),
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10, "timeoutSeconds": 3},
        "livenessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "initialDelaySeconds": 15,
                          "periodSeconds": 20, "timeoutSeconds": 3},
    }
    spec: dict[str, Any] = {"serviceName": name, "replicas": 1, "selector": {"matchLabels": selector_for(cid, name)},
                            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}
    if p["storage"]:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumeClaimTemplates"] = [_pvc(p["storage"], p["storage_class"])]
    objs = [
        _service(cid, name, ns, 6379, "redis", "tcp-redis"),
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(cid, name, ns), "spec": spec},
    ]
    mib = maxmem / 2**20
    notes = [
        f"memory limit {p['memory']}, --maxmemory {maxmem} bytes ({mib:.0f} MiB, {p['maxmemory_percent']}% of "
        "the limit): Redis refuses writes before the kubelet OOM-kills it during a materialization",
        "--maxmemory-policy noeviction: a full store fails materialization loudly; allkeys-lru would stop the "
        "OOM kills but silently evict features (nulls at serving time)" if p["policy"] == "noeviction" else
        f"--maxmemory-policy {p['policy']}: when memory is full Redis silently evicts feature rows (the feature "
        "server then returns nulls, with no error anywhere); noeviction fails loudly instead",
        ("AOF persistence on a " + p["storage"] + " volume" if p["storage"] else
         "no persistence: after a restart the online store is empty until the next materialization "
         "(set storage=5Gi for AOF)"),
        f"Feast: online_store connection_string {name}.{ns}.svc.cluster.local:6379",
    ]
    return Rendered(cid, ns, objs, f"install Redis {ns}/{name} with {p['memory']} limit ({p['image']})", notes)


def _mlflow(cid: str, p: dict[str, Any], password: str | None) -> Rendered:
    name, ns, port = p["name"], p["namespace"], p["port"]
    db_uri = (f"postgresql+psycopg2://{p['db_user']}@{p['db_host']}.{ns}.svc.cluster.local:"
              f"{p['db_port']}/{p['database']}")
    hosts = service_hosts(name, ns, port) + list(p["extra_hosts"])
    args = ["server", "--host", "0.0.0.0", "--port", str(port),
            "--backend-store-uri", db_uri,
            "--default-artifact-root", p["artifact_root"],
            "--allowed-hosts", ",".join(hosts),
            "--workers", str(p["workers"])]
    labels = labels_for(cid, name)
    container = {
        "name": "mlflow", "image": p["image"], "command": ["mlflow"], "args": args,
        "ports": [{"name": "http", "containerPort": port}],
        "env": [
            # libpq reads the password from PGPASSWORD: it never appears in the URI or the command line
            {"name": "PGPASSWORD", "valueFrom": _secret_ref(p["db_secret"], p["db_secret_key"])},
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": p["s3_endpoint"]},
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": _secret_ref(p["s3_secret"], p["s3_access_key_key"])},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": _secret_ref(p["s3_secret"], p["s3_secret_key_key"])},
            {"name": "AWS_DEFAULT_REGION", "value": p["region"]},
        ],
        "resources": _resources(p["memory"], p["cpu"]),
        # /health is exempt from MLflow's Host header check, so the kubelet's pod-IP Host is fine
        "readinessProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/health", "port": port}, "initialDelaySeconds": 30,
                          "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6},
    }
    objs = [
        _service(cid, name, ns, port, "http", "http"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(cid, name, ns),
         "spec": {"replicas": p["replicas"], "selector": {"matchLabels": selector_for(cid, name)},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
    ]
    conns = p["replicas"] * p["workers"] * 15
    notes = [
        f"backend store {db_uri} (the password, from Secret/{p['db_secret']}, reaches libpq as PGPASSWORD, "
        "never in the URI)"
        + (" through PgBouncer" if p.get("db_via_pgbouncer") else
           f"; up to {conns} connections ({p['replicas']} replicas x {p['workers']} workers x SQLAlchemy pool "
           "5+10): many writers exhaust max_connections, put PgBouncer in front"),
        f"artifacts {p['artifact_root']} on {p['s3_endpoint']} ({p.get('s3_endpoint_source', '')}); S3 keys from "
        f"Secret/{p['s3_secret']}",
        f"--allowed-hosts lists {name}, {name}.{ns}, ...svc.cluster.local with and without :{port}: MLflow 3.5+ "
        "answers 403 \"Invalid Host header\" to any other name" + (" (plus your extra hosts)" if p["extra_hosts"]
                                                                     else "; add ingress names with extra_hosts"),
        f"client pods need MLFLOW_TRACKING_URI=http://{name}.{ns}.svc.cluster.local:{port} AND "
        f"MLFLOW_S3_ENDPOINT_URL={p['s3_endpoint']} with AWS keys: clients upload artifacts to S3 themselves "
        "(without the endpoint they try public AWS and time out while params still log)",
    ]
    return Rendered(cid, ns, objs, f"install MLflow {ns}/{name} ({p['image']})", notes)


def secret_free(objects: Sequence[Mapping[str, Any]]) -> bool:
    """True when no container env carries a literal value for a secret-looking variable."""
    from mlopstui.secrets import is_secret_name

    for obj in objects:
        for c in _containers(obj):
            for e in c.get("env") or []:
                if "value" in e and is_secret_name(str(e.get("name", ""))):
                    return False
    return True

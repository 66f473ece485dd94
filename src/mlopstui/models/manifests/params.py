"""What the installer can install: components, their parameters (with checks: names, quantities, images),
the images it uses and never uses, and where to get the components it has no built-in install for.
Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
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

# Service names the stack's clients look for (models/endpoints.py SERVICE_NAMES), per role
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


def cpu_text(millis: int) -> str:
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def check_param(spec: Installable, p: Param, raw: str) -> Any:
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
        org = image_org(raw)
        if not raw or any(ch.isspace() for ch in raw):
            raise MlopsError(Kind.INVALID, f"{what}: not an image reference", hint=p.help)
        if org in FORBIDDEN_IMAGE_ORGS:
            raise MlopsError(Kind.INVALID, f"{what}: {org}/ images get no more updates",
                             hint="use a maintained image (the default is one)")
        return raw
    if any(ch.isspace() for ch in raw) or len(raw) > 253:
        raise MlopsError(Kind.INVALID, f"{what}: no spaces, at most 253 characters", hint=p.help)
    return raw


def image_org(image: str) -> str:
    parts = image.split("@", 1)[0].split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return parts[-2] if len(parts) >= 2 else "library"

"""The objects of a component, in dependency order (Secret, Service, workload), from resolved parameters.
Secret values never appear in a container spec: passwords reach containers through secretKeyRef only.
Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.manifests.params import (
    COMPONENT_LABEL,
    FORBIDDEN_IMAGE_ORGS,
    INSTALLABLE,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    cpu_millis,
    cpu_text,
    image_org,
    memory_bytes,
)

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
    """Labels the catalog's matchers recognise for the component (see models/stack/catalog.py CATALOG)."""
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
    return {"limits": {"memory": memory, "cpu": cpu}, "requests": {"memory": memory, "cpu": cpu_text(req)}}


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
            if image_org(c.get("image", "")) in FORBIDDEN_IMAGE_ORGS:  # defence in depth
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

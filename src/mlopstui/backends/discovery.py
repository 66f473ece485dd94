"""Where each endpoint is: config, then the conventional env var, then a cluster Service, reached directly
or through the API server (backends/routes.py).

The source is always returned so screens can show it ("config", "env MLFLOW_TRACKING_URI",
"service mlops/mlflow-server", "service mlops/mlflow-server:5000 via API proxy").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopstui.secrets import mask_uri

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.config import Settings

# conventional env vars per endpoint key
ENV_VARS: dict[str, tuple[str, ...]] = {
    "mlflow": ("MLFLOW_TRACKING_URI",),
    "s3": ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "feast_repo": ("FEAST_REPO_PATH",),
    "redis": ("REDIS_URL",),
    "lakefs": ("LAKECTL_SERVER_ENDPOINT_URL",),  # lakectl's
}

# well-known Service names (and the scheme/port to use) per endpoint key
SERVICE_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "mlflow": (("mlflow-server", "http"), ("mlflow", "http"), ("mlflow-tracking", "http")),
    "s3": (("minio", "http"), ("minio-api", "http"), ("rook-ceph-rgw", "http"), ("s3", "http")),
    "postgresql": (("mlflow-db-postgresql", "postgresql"), ("postgresql", "postgresql"),
                   ("postgres", "postgresql")),
    "pgbouncer": (("pgbouncer", "postgresql"),),
    "redis": (("feast-redis-master", "redis"), ("redis-master", "redis"), ("redis", "redis")),
    "feast_server": (("feast-feature-server", "http"), ("feast-server", "http")),
    "ingress": (("istio-ingressgateway", "http"),),
    "lakefs": (("lakefs", "http"),),
    "argo": (("argo-server", "https"),),
    "kfp": (("ml-pipeline", "http"), ("ml-pipeline-ui", "http")),
}


# the Service port an endpoint uses, by port name or appProtocol (first match wins; else the first port
# that is not a known side port such as Istio's 15021 status port or the MinIO console)
PORT_NAMES: dict[str, tuple[str, ...]] = {
    "mlflow": ("http", "mlflow", "tracking", "http-mlflow"),
    "s3": ("minio-api", "api", "s3", "http", "http-api"),
    "postgresql": ("tcp-postgresql", "postgresql", "postgres", "tcp-postgres", "postgresql-db"),
    "pgbouncer": ("pgbouncer", "tcp-pgbouncer", "postgresql", "postgres"),
    "redis": ("tcp-redis", "redis"),
    "feast_server": ("http", "feast", "online", "http-online"),
    "feast_registry": ("tcp-postgresql", "postgresql", "postgres"),
    "ingress": ("http2", "http", "http-80", "http1"),
    "lakefs": ("http", "lakefs"),
    "argo": ("web", "https", "http"),
    "kfp": ("http", "ml-pipeline"),
}
APP_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "mlflow": ("http",), "ingress": ("http", "kubernetes.io/h2c"), "feast_server": ("http",),
    "s3": ("http",), "postgresql": ("postgresql",), "redis": ("redis",),
}
SIDE_PORTS = {"status-port", "console", "minio-console", "metrics", "http-metrics", "tcp-status", "https-webhook",
              "tls"}


def pick_port(key: str, svc: dict[str, Any]) -> dict[str, Any]:
    """The Service port this endpoint uses (by name, then appProtocol, then the first non-side port)."""
    ports = [p for p in (svc.get("spec") or {}).get("ports") or [] if isinstance(p, dict)]
    if not ports:
        return {}
    for name in PORT_NAMES.get(key, ()):
        for p in ports:
            if (p.get("name") or "") == name:
                return p
    for proto in APP_PROTOCOLS.get(key, ()):
        for p in ports:
            if (p.get("appProtocol") or "") == proto:
                return p
    rest = [p for p in ports if (p.get("name") or "") not in SIDE_PORTS and p.get("port") != 15021]
    return (rest or ports)[0]


@dataclass(frozen=True)
class Endpoint:
    key: str
    url: str | None
    source: str  # "config", "env NAME", "service ns/name", "service ns/name:port via API proxy", "not found"
    # how it is reached: "" (as configured), "direct", "api-proxy", "port-forward", or "dark" (no route:
    # source says why)
    via: str = ""

    @property
    def display(self) -> str:
        return mask_uri(self.url) if self.url else "-"


def from_settings_or_env(key: str, settings: Settings) -> Endpoint | None:
    value = getattr(settings.endpoints, key, None)
    if value:
        return Endpoint(key, value, "config")
    for var in ENV_VARS.get(key, ()):
        if os.environ.get(var):
            return Endpoint(key, os.environ[var], f"env {var}")
    return None


def service_url(svc: dict[str, Any], scheme: str, key: str = "") -> str:
    """The address a client outside the cluster should use: LB ingress, external IP, else cluster DNS."""
    meta, spec = svc.get("metadata", {}), svc.get("spec", {})
    port = pick_port(key, svc).get("port")
    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    host = None
    if lb:
        host = lb[0].get("ip") or lb[0].get("hostname")
    elif spec.get("externalIPs"):
        host = spec["externalIPs"][0]
    if not host:
        host = f"{meta.get('name')}.{meta.get('namespace')}.svc.cluster.local"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def service_for(key: str, services: list[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
    """(the Service, the scheme) this endpoint lives behind, found by name."""
    by_name = {s.get("metadata", {}).get("name"): s for s in services}
    for name, scheme in SERVICE_NAMES.get(key, ()):
        svc = by_name.get(name)
        if svc is not None:
            return svc, scheme
    return None


def configured(key: str, settings: Settings) -> Endpoint | None:
    """The configured or env endpoint, unless --route api forces the API server for a cluster Service."""
    if settings.route == "api" and key in SERVICE_NAMES:
        return None
    return from_settings_or_env(key, settings)


def discover(key: str, settings: Settings, services: list[dict[str, Any]]) -> Endpoint:
    """Resolve one endpoint from settings, env, then the given Service objects (pure: no route checks)."""
    found = configured(key, settings)
    if found:
        return found
    hit = service_for(key, services)
    if hit is not None:
        svc, scheme = hit
        m = svc.get("metadata", {})
        return Endpoint(key, service_url(svc, scheme, key), f"service {m.get('namespace')}/{m.get('name')}")
    return Endpoint(key, None, "not found")


def resolve(key: str, settings: Settings, kube: KubeClient | None) -> Endpoint:
    """Config, env, then the Service reached by the first route that answers (blocking: call in a worker)."""
    found = configured(key, settings)
    if found or kube is None:
        return found or Endpoint(key, None, "not configured")
    from mlopstui.backends.kube import SERVICES
    from mlopstui.backends.routes import route

    try:
        services = kube.list(SERVICES, all_namespaces=True)
    except Exception as exc:  # the caller shows the endpoint as unknown, with why
        return Endpoint(key, None, f"not found ({exc})")
    hit = service_for(key, services)
    if hit is None:
        return Endpoint(key, None, "not found")
    return route(key, hit[0], hit[1], settings, kube)

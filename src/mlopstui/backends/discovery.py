"""Where each endpoint is: config, then the conventional env var, then a cluster Service.

The source is always returned so screens can show it ("config", "env MLFLOW_TRACKING_URI",
"service mlops/mlflow-server").
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


@dataclass(frozen=True)
class Endpoint:
    key: str
    url: str | None
    source: str  # "config", "env NAME", "service ns/name", or "not found"

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


def service_url(svc: dict[str, Any], scheme: str) -> str:
    """The address a client outside the cluster should use: LB ingress, external IP, else cluster DNS."""
    meta, spec = svc.get("metadata", {}), svc.get("spec", {})
    ports = spec.get("ports") or [{}]
    port = ports[0].get("port")
    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    host = None
    if lb:
        host = lb[0].get("ip") or lb[0].get("hostname")
    elif spec.get("externalIPs"):
        host = spec["externalIPs"][0]
    if not host:
        host = f"{meta.get('name')}.{meta.get('namespace')}.svc.cluster.local"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def discover(key: str, settings: Settings, services: list[dict[str, Any]]) -> Endpoint:
    """Resolve one endpoint from settings, env, then the given Service objects."""
    found = from_settings_or_env(key, settings)
    if found:
        return found
    by_name = {s.get("metadata", {}).get("name"): s for s in services}
    for name, scheme in SERVICE_NAMES.get(key, ()):
        svc = by_name.get(name)
        if svc is not None:
            ns = svc.get("metadata", {}).get("namespace")
            return Endpoint(key, service_url(svc, scheme), f"service {ns}/{name}")
    return Endpoint(key, None, "not found")


def resolve(key: str, settings: Settings, kube: KubeClient | None) -> Endpoint:
    """Like discover(), listing Services across namespaces when needed (blocking: call in a worker)."""
    found = from_settings_or_env(key, settings)
    if found or kube is None:
        return found or Endpoint(key, None, "not configured")
    from mlopstui.backends.kube import SERVICES

    try:
        services = kube.list(SERVICES, all_namespaces=True)
    except Exception as exc:  # the caller shows the endpoint as unknown, with why
        return Endpoint(key, None, f"not found ({exc})")
    return discover(key, settings, services)

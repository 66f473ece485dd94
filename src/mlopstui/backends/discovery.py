"""Where each endpoint is: config, then the conventional env var, then a cluster Service, reached directly
or through the API server (backends/routes.py).

The source is always returned so screens can show it ("config", "env MLFLOW_TRACKING_URI",
"service mlops/mlflow-server", "service mlops/mlflow-server:5000 via API proxy").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopstui.models.endpoints import (  # noqa: F401 - the pure part of discovery lives there
    DEFAULT_SCHEME,
    NEVER_ENDPOINT_SUFFIXES,
    NOT_ENDPOINT_SUFFIXES,
    pick_port,
    scheme_for,
)
from mlopstui.secrets import mask_uri

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.config import Settings

# conventional env vars per endpoint key
ENV_VARS: dict[str, tuple[str, ...]] = {
    "mlflow": ("MLFLOW_TRACKING_URI",),
    "s3": ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    # ours, then Feast's own: the CLI's --chdir variable (literally named FEATURE_REPO_DIR_ENV_VAR) and
    # FEAST_FS_YAML_FILE_PATH (feature_store.yaml elsewhere; the repository is then its directory)
    "feast_repo": ("FEAST_REPO_PATH", "FEATURE_REPO_DIR_ENV_VAR", "FEAST_FS_YAML_FILE_PATH"),
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
    "feast_registry": (("feast-postgres", "postgresql"), ("feast-registry-db", "postgresql")),
    "ingress": (("istio-ingressgateway", "http"), ("istio-ingress", "http")),
    "lakefs": (("lakefs", "http"),),
    "argo": (("argo-server", "https"),),
    "kfp": (("ml-pipeline", "http"), ("ml-pipeline-ui", "http")),
    # the Prometheus chart's, the operator's (kube-prometheus: prometheus-k8s; the stack chart's own name)
    "prometheus": (("prometheus-server", "http"), ("prometheus-operated", "http"), ("prometheus-k8s", "http"),
                   ("kube-prometheus-stack-prometheus", "http"), ("prometheus", "http")),
}


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


def service_url(svc: dict[str, Any], scheme: str, port: dict[str, Any] | None = None) -> str:
    """The address a client outside the cluster should use: LB ingress, external IP, else cluster DNS."""
    meta, spec = svc.get("metadata", {}), svc.get("spec", {})
    if port is None:
        port = (spec.get("ports") or [{}])[0]
    number = port.get("port")
    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    host = None
    if lb:
        host = lb[0].get("ip") or lb[0].get("hostname")
    elif spec.get("externalIPs"):
        host = spec["externalIPs"][0]
    if not host:
        host = f"{meta.get('name')}.{meta.get('namespace')}.svc.cluster.local"
    return f"{scheme}://{host}:{number}" if number else f"{scheme}://{host}"


def _selects(svc: dict[str, Any], obj: dict[str, Any]) -> bool:
    from mlopstui.models.stack import selects

    return selects(svc, obj)


def _service_rank(svc: dict[str, Any], key: str) -> float:
    name = (svc.get("metadata") or {}).get("name") or ""
    spec = svc.get("spec") or {}
    score = 0.0
    if spec.get("clusterIP") == "None":
        score -= 5
    if name.endswith(NOT_ENDPOINT_SUFFIXES):
        score -= 3
    if name in {n for n, _ in SERVICE_NAMES.get(key, ())}:
        score += 3
    if key == "feast_server" and ((svc.get("metadata") or {}).get("labels") or {}).get(
            "feast.dev/service-type") == "online":
        score += 4
    if key == "redis" and name.endswith("-master"):
        score += 1
    return score


def choose(key: str, services: list[dict[str, Any]],
           workloads: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """(Service, port, scheme) of the endpoint: the best Service selecting the workloads the catalog found,
    else the well-known Service names (the first match in listing order)."""
    candidates = []
    for w in workloads or []:
        for svc in services:
            if _selects(svc, w) and svc not in candidates:
                candidates.append(svc)
    best = None
    for order, svc in enumerate(candidates):
        if ((svc.get("metadata") or {}).get("name") or "").endswith(NEVER_ENDPOINT_SUFFIXES):
            continue
        port = pick_port(svc, key)
        if port is None:
            continue
        rank = (_service_rank(svc, key), -order)
        if best is None or rank > best[0]:
            best = (rank, svc, port)
    if best is not None:
        _rank, svc, port = best
        return svc, port, scheme_for(port, key)
    for name, scheme in SERVICE_NAMES.get(key, ()):
        svc = next((s for s in services if s.get("metadata", {}).get("name") == name), None)
        if svc is not None:
            port = pick_port(svc, key)
            if port is None:
                continue
            return svc, port, scheme_for(port, key, scheme)
    return None


def _endpoint(key: str, hit: tuple[dict[str, Any], dict[str, Any], str]) -> Endpoint:
    svc, port, scheme = hit
    m = svc.get("metadata") or {}
    return Endpoint(key, service_url(svc, scheme, port), f"service {m.get('namespace')}/{m.get('name')}")


def configured(key: str, settings: Settings) -> Endpoint | None:
    """The configured or env endpoint, unless --route api forces the API server for a cluster Service."""
    if settings.route == "api" and key in SERVICE_NAMES:
        return None
    return from_settings_or_env(key, settings)


def discover(key: str, settings: Settings, services: list[dict[str, Any]],
             workloads: list[dict[str, Any]] | None = None) -> Endpoint:
    """Resolve one endpoint from settings, env, the Services of the workloads the catalog found for it, and
    last the well-known Service names (pure: the address as the Service tells, no route checked)."""
    found = configured(key, settings)
    if found:
        return found
    hit = choose(key, services, workloads)
    return _endpoint(key, hit) if hit is not None else Endpoint(key, None, "not found")


def resolve(key: str, settings: Settings, kube: KubeClient | None) -> Endpoint:
    """Like discover(), listing Services and workloads across namespaces when needed (blocking: call in a
    worker), so the endpoint is the one of the component the Stack catalog finds; then reached by the first
    route that answers (backends/routes.py: direct, else through the API server)."""
    found = configured(key, settings)
    if found and kube is not None and "://" in (found.url or ""):
        from mlopstui.backends.routes import route_named

        return route_named(found, settings, kube)
    if found or kube is None:
        return found or Endpoint(key, None, "not configured")
    from mlopstui.backends.kube import DEPLOYMENTS, SERVICES, STATEFULSETS
    from mlopstui.backends.routes import route
    from mlopstui.doctor.snapshot import Snapshot
    from mlopstui.models.stack import catalog_with_overrides

    try:
        services = kube.list(SERVICES, all_namespaces=True)
    except Exception as exc:  # the caller shows the endpoint as unknown, with why
        return Endpoint(key, None, f"not found ({exc})")
    catalog = catalog_with_overrides(settings.components)
    spec = next((c for c in catalog if c.endpoint == key), None)
    workloads: list[dict[str, Any]] = []
    if spec is not None:
        objs: list[dict[str, Any]] = []
        for res in (DEPLOYMENTS, STATEFULSETS):
            try:
                objs.extend(kube.list(res, all_namespaces=True))
            except Exception:  # noqa: BLE001 - fall back to the well-known names
                pass
        snap = Snapshot.build([*objs, *services], catalog=catalog)
        workloads = list(snap.components.get(spec.id, []))
    hit = choose(key, services, workloads)
    if hit is None:
        return Endpoint(key, None, "not found")
    return route(key, hit[0], hit[1], hit[2], settings, kube)

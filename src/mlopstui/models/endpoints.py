"""Where each endpoint is, as far as settings, the environment and the listed Services tell (pure: no I/O,
no route checked; backends/discovery.resolve lists and routes): config, then the conventional env var, then
the Service of the component's workloads, then the well-known Service names.

Which port of a Service carries a component's traffic, and with which scheme:

Upstream gateways list a status port first (Istio's 15021), object stores serve a console beside the S3 API
(MinIO 9001/9090), a tenant's API is TLS on 443: pick by port name / appProtocol, then number, never a
status, metrics or console port; https when the port says TLS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopstui.secrets import mask_uri

if TYPE_CHECKING:
    from mlopstui.config import Settings

# the scheme a key's protocol uses when the port does not say TLS
DEFAULT_SCHEME = {"postgresql": "postgresql", "feast_registry": "postgresql", "pgbouncer": "postgresql",
                  "redis": "redis", "argo": "https"}  # argo-server serves TLS by default (--secure)
# port names (fragments) that carry a key's traffic, best first
PORT_NAMES: dict[str, tuple[str, ...]] = {
    "ingress": ("http2", "http"), "s3": ("s3", "minio", "api", "rgw", "http"), "mlflow": ("http", "mlflow"),
    "postgresql": ("postgres",), "feast_registry": ("postgres",), "pgbouncer": ("pgbouncer", "postgres"),
    "redis": ("redis",), "feast_server": ("http",), "argo": ("web", "http"), "kfp": ("http",), "lakefs": ("http",),
    "prometheus": ("http-web", "web", "http"),
}
PORT_NUMBERS: dict[str, tuple[int, ...]] = {
    "ingress": (80, 8080), "s3": (9000, 443, 80, 8333, 7480, 8080), "mlflow": (80, 5000),
    "postgresql": (5432,), "feast_registry": (5432,), "pgbouncer": (6432, 5432), "redis": (6379,),
    "feast_server": (80, 6566), "argo": (2746,), "kfp": (8888, 80), "lakefs": (80, 8000),
    "prometheus": (9090, 80),
}
# ports that are never traffic: Istio's status/metrics ports, monitoring, web consoles, webhooks
NOT_TRAFFIC_NAMES = ("status", "metrics", "monitoring", "profiling", "dashboard", "console", "webhook", "grpc")
NOT_TRAFFIC_PORTS = (15000, 15020, 15021, 15090, 15014, 15010, 15012)
# Services of a component that are not its client endpoint
NOT_ENDPOINT_SUFFIXES = ("-headless", "-hl", "-replicas", "-offline", "-registry", "-registry-rest")
NEVER_ENDPOINT_SUFFIXES = ("-console", "-metrics", "-metrics-service", "-webhook", "-webhook-service",
                           "-webhook-server-service")


def pick_port(svc: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The Service port that carries this key's traffic: by name/appProtocol, then number; never a status,
    metrics or console port (an Istio gateway's first port is 15021, its status port)."""
    best, best_score = None, -1.0
    names, numbers = PORT_NAMES.get(key, ("http",)), PORT_NUMBERS.get(key, ())
    for p in (svc.get("spec") or {}).get("ports") or []:
        name = str(p.get("name") or "").lower()
        proto = str(p.get("appProtocol") or "").lower()
        number = p.get("port")
        if number in NOT_TRAFFIC_PORTS or any(b in name for b in NOT_TRAFFIC_NAMES):
            continue
        score = 0.0
        for i, want in enumerate(names):
            if name == want or proto == want:
                score = max(score, 4.0 - i * 0.1)
            elif want in name:
                score = max(score, 2.0 - i * 0.1)
        if number in numbers:
            score += 1.0 - numbers.index(number) * 0.1
        if score > best_score:
            best, best_score = p, score
    if best is not None and best_score <= 0 and len((svc.get("spec") or {}).get("ports") or []) > 1 and key == "ingress":
        return None  # a gateway with no http port named or on 80: do not guess
    return best


def scheme_for(port: dict[str, Any] | None, key: str, default: str | None = None) -> str:
    """https when the port says TLS (443, a name or appProtocol https/tls), else the key's scheme."""
    base = default or DEFAULT_SCHEME.get(key, "http")
    if port is None or base not in ("http", "https"):
        return base
    name = str(port.get("name") or "").lower()
    proto = str(port.get("appProtocol") or "").lower()
    if port.get("port") == 443 or name.startswith(("https", "tls")) or proto in ("https", "tls"):
        return "https"
    return base


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

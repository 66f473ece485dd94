"""Which port of a Service carries a component's traffic, and with which scheme. Pure: no I/O.

Upstream gateways list a status port first (Istio's 15021), object stores serve a console beside the S3 API
(MinIO 9001/9090), a tenant's API is TLS on 443: pick by port name / appProtocol, then number, never a
status, metrics or console port; https when the port says TLS.
"""

from __future__ import annotations

from typing import Any

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

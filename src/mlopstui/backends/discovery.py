"""Where each endpoint is: config, then the conventional env var, then a cluster Service, reached directly
or through the API server (backends/routes.py).

The source is always returned so screens can show it ("config", "env MLFLOW_TRACKING_URI",
"service mlops/mlflow-server", "service mlops/mlflow-server:5000 via API proxy").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopstui.models.endpoints import Endpoint, choose, configured  # the pure part of discovery lives there

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.config import Settings


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

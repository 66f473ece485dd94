"""Services: a LoadBalancer gets an ingress IP (127.0.0.1), as a cloud controller would give one."""

from __future__ import annotations

from .base import Controller


class ServiceController(Controller):
    RECONCILES = ("SVC",)

    def wants(self, rt, obj: dict) -> bool:
        return (obj.get("spec") or {}).get("type") == "LoadBalancer"

    def reconcile(self, rt, obj: dict) -> None:
        self.reconcile_service(obj)

    def reconcile_service(self, s: dict) -> None:
        if (s.get("spec") or {}).get("type") == "LoadBalancer":
            want = {**(s.get("status") or {}), "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
            self._set_status(self.SVC, s, want)

"""Services: a LoadBalancer gets an ingress IP (127.0.0.1), as a cloud controller would give one."""

from __future__ import annotations

from .base import Controller


class ServiceController(Controller):
    def reconcile_all(self) -> None:
        for s in self._list(self.SVC):
            self._guard(self.reconcile_service, s)

    def reconcile_service(self, s: dict) -> None:
        if (s.get("spec") or {}).get("type") == "LoadBalancer":
            want = {**(s.get("status") or {}), "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
            self._set_status(self.SVC, s, want)

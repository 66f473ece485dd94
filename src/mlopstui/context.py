"""What both the TUI and the CLI carry around: settings, the cluster client, the audit log."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from mlopstui.audit import AuditLog
from mlopstui.backends.kubeconfig import KubeTarget, load_target
from mlopstui.config import Settings
from mlopstui.errors import MlopsError

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.models.endpoints import Endpoint

log = logging.getLogger("mlopstui")


@dataclass
class AppContext:
    settings: Settings
    target: KubeTarget | None = None
    kube_error: MlopsError | None = None
    _kube: KubeClient | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        ctx = cls(settings=settings)
        ctx.retarget(settings.context, settings.namespace)
        return ctx

    # -- cluster ----------------------------------------------------------------------------------
    def retarget(self, context: str | None = None, namespace: str | None = None) -> None:
        """Switch kube context and/or namespace (cheap: parses the kubeconfig only)."""
        if self._kube is not None:
            self._kube.close()
            self._kube = None
        try:
            self.target = load_target(self.settings.kubeconfig, context, namespace,
                                      as_user=self.settings.impersonate_user,
                                      as_groups=self.settings.impersonate_groups)
            self.kube_error = None
        except MlopsError as exc:
            self.target = None
            self.kube_error = exc
            log.warning("kubeconfig: %s", exc)

    @property
    def namespace(self) -> str:
        return self.target.namespace if self.target else (self.settings.namespace or "default")

    @property
    def context_name(self) -> str:
        return self.target.context if self.target and self.target.context else "-"

    @property
    def kube(self) -> KubeClient:
        """The cluster client (creating it imports the kubernetes package: call from a worker)."""
        if self.target is None:
            assert self.kube_error is not None
            raise self.kube_error
        if self._kube is None:
            from mlopstui.backends.kube import KubeClient

            self._kube = KubeClient(self.target, timeout=self.settings.kube_timeout)
        return self._kube

    @property
    def kube_or_none(self) -> KubeClient | None:
        try:
            return self.kube
        except MlopsError:
            return None

    # -- endpoints and actions --------------------------------------------------------------------
    def endpoint(self, key: str) -> Endpoint:
        from mlopstui.backends.discovery import resolve

        return resolve(key, self.settings, self.kube_or_none)

    @property
    def readonly(self) -> bool:
        return self.settings.readonly

    @cached_property
    def audit(self) -> AuditLog:
        """One AuditLog per context, so its lock serializes every writer of this process."""
        return AuditLog(self.settings.audit_log_path(), identity=self.kube_identity)

    def kube_identity(self) -> dict[str, object]:
        """Who the cluster sees, as the kubeconfig tells (no request): context, user entry, impersonation."""
        t = self.target
        if t is None:
            return {}
        out: dict[str, object] = {"context": t.context, "user": t.user, "cluster": t.cluster}
        imp = getattr(t, "impersonate", None)
        if imp is not None and getattr(imp, "user", None):
            out["impersonate"] = {"user": imp.user, "groups": list(getattr(imp, "groups", ()) or ())}
        return out

"""What both the TUI and the CLI carry around: settings, the cluster client, the audit log."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from mlopstui.audit import AuditLog
from mlopstui.backends.kubeconfig import KubeTarget, load_target
from mlopstui.config import Settings
from mlopstui.errors import MlopsError

if TYPE_CHECKING:
    from mlopstui.backends.informer import Informers
    from mlopstui.backends.kube import KubeClient
    from mlopstui.models.endpoints import Endpoint

log = logging.getLogger("mlopstui")


@dataclass
class AppContext:
    settings: Settings
    target: KubeTarget | None = None
    kube_error: MlopsError | None = None
    _kube: KubeClient | None = field(default=None, repr=False)
    _informers: Informers | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        ctx = cls(settings=settings)
        ctx.retarget(settings.context, settings.namespace)
        return ctx

    # -- cluster ----------------------------------------------------------------------------------
    def retarget(self, context: str | None = None, namespace: str | None = None) -> None:
        """Switch kube context and/or namespace (cheap: parses the kubeconfig only). The watches of the old
        client end (in the background: closing never blocks the caller, the UI thread)."""
        self._close_cluster(wait=False)
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
    def informers(self) -> Informers:
        """The shared list-then-watch caches of this client (backends/informer.py), one per kind and scope:
        every area that shows a kind reads the same cache. Call from a worker (it creates the client)."""
        kube = self.kube
        with self._lock:
            inf = self._informers
            if inf is None or inf.kube is not kube:
                from mlopstui.backends.informer import Informers

                inf = self._informers = Informers(kube)
            return inf

    def _close_cluster(self, wait: bool) -> None:
        inf, kube = self._informers, self._kube
        self._informers, self._kube = None, None
        if inf is None and kube is None:
            return

        def close() -> None:
            if inf is not None:
                inf.close()
            if kube is not None:
                kube.close()

        if wait:
            close()
        else:
            threading.Thread(target=close, daemon=True, name="close-cluster").start()

    def close(self) -> None:
        """End the watches and close the cluster client (app exit)."""
        self._close_cluster(wait=True)

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

"""What both the TUI and the CLI carry around: settings, the cluster client, the audit log."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from mlopstui.audit import AuditLog
from mlopstui.backends.kubeconfig import KubeTarget, load_target
from mlopstui.config import Settings
from mlopstui.errors import Kind, MlopsError

if TYPE_CHECKING:
    from mlopstui.backends.informer import Informers
    from mlopstui.backends.kube import KubeClient
    from mlopstui.models.endpoints import Endpoint

log = logging.getLogger("mlopstui")
T = TypeVar("T")


@dataclass
class AppContext:
    settings: Settings
    target: KubeTarget | None = None
    kube_error: MlopsError | None = None
    # the headless verbs: the kube client sends plain requests without the kubernetes SDK (backends/kubehttp.py)
    direct_http: bool = False
    _kube: KubeClient | None = field(default=None, repr=False)
    # clients bound to this context's cluster (MLflow, LakeFS ...): closed with it (see close())
    _owned: list[Any] = field(default_factory=list, repr=False)
    _informers: Informers | None = field(default=None, repr=False)  # the shared watch caches (informers)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _final: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, settings: Settings, *, direct_http: bool = False) -> AppContext:
        ctx = cls(settings=settings, direct_http=direct_http)
        ctx.retarget(settings.context, settings.namespace)
        return ctx

    # -- cluster ----------------------------------------------------------------------------------
    def retarget(self, context: str | None = None, namespace: str | None = None) -> None:
        """Switch kube context and/or namespace (cheap: parses the kubeconfig only). What the old target
        held is closed after the new target is in place: the swap is one step under the lock, so a worker of
        the old target that wakes while its clients close (an informer's waiter, say) and asks for `kube`
        gets the new target's client, never a new one for the old target kept for every later worker."""
        try:
            target = load_target(self.settings.kubeconfig, context, namespace,
                                 as_user=self.settings.impersonate_user,
                                 as_groups=self.settings.impersonate_groups)
            error = None
        except MlopsError as exc:
            target, error = None, exc
            log.warning("kubeconfig: %s", exc)
        with self._lock:
            self.target, self.kube_error = target, error
            detached = self._detach()
        self._close_detached(*detached)

    @property
    def namespace(self) -> str:
        return self.target.namespace if self.target else (self.settings.namespace or "default")

    @property
    def context_name(self) -> str:
        return self.target.context if self.target and self.target.context else "-"

    @property
    def kube(self) -> KubeClient:
        """The cluster client (creating it imports the kubernetes package: call from a worker)."""
        from mlopstui.backends.kube import KubeClient

        with self._lock:  # one client per target, whichever worker asks first
            if self._final:
                raise MlopsError(Kind.ERROR, "this context was closed (the verb or the app ended)")
            if self.target is None:
                assert self.kube_error is not None
                raise self.kube_error
            if self._kube is None:
                self._kube = KubeClient(self.target, timeout=self.settings.kube_timeout, direct=self.direct_http)
            return self._kube

    @property
    def informers(self) -> Informers:
        """The shared list-then-watch caches of this client (backends/informer.py), one per kind and scope:
        every area that shows a kind reads the same cache. Call from a worker (it creates the client)."""
        kube = self.kube
        with self._lock:
            if self._final:
                raise MlopsError(Kind.ERROR, "this context was closed (the verb or the app ended)")
            if self._informers is None or self._informers.kube is not kube:
                from mlopstui.backends.informer import Informers

                self._informers = Informers(kube)
            return self._informers

    def own(self, resource: T) -> T:
        """resource (anything with close()) lives as long as this context's target: close() closes it."""
        with self._lock:  # those their user closed already are dropped (a TUI opens many over time)
            self._owned = [r for r in self._owned if not getattr(r, "is_closed", False)]
            if not self._final:
                self._owned.append(resource)
                return resource
        resource.close()  # a worker that outlived the verb or the app: nothing stays open
        return resource

    def close(self, *, final: bool = False) -> None:
        """Close what this context opened: the clients it owns, then the KubeClient (its connection pools,
        its loopback forwards and relays). On `:ctx`/`:ns` (retarget) the context stays usable, a later use
        opens anew; final (the end of a CLI verb, the TUI's exit) it does not: a worker still running then
        gets an error instead of opening a new client."""
        with self._lock:
            self._final = self._final or final
            detached = self._detach()
        self._close_detached(*detached)

    def _detach(self) -> tuple[list[Any], KubeClient | None, Informers | None]:
        """(under self._lock) what the current target holds, taken off this context."""
        owned, self._owned = self._owned, []
        kube, self._kube = self._kube, None
        informers, self._informers = self._informers, None
        return owned, kube, informers

    @staticmethod
    def _close_detached(owned: list[Any], kube: KubeClient | None, informers: Informers | None) -> None:
        if informers is not None:  # every watch ends (each close is quick: its stream is shut down)
            informers.close()
        for resource in reversed(owned):
            try:
                resource.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail the caller
                log.debug("closing %r: %s", resource, exc)
        if kube is not None:  # for good: a worker still using it gets an error, not a new connection
            kube.close(final=True)

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(final=True)

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

"""A list-then-watch cache of one resource kind, as client-go's reflector/informer keeps one.

List once, then watch from the list's resourceVersion and apply ADDED/MODIFIED/DELETED to the local
copy; BOOKMARK events (`allowWatchBookmarks`) only advance the resourceVersion. A watch that ends on its
`timeoutSeconds` is reopened from the last resourceVersion (no list); `410 Gone` (the ERROR event with a
Status of code 410, or a 410 answer) relists; any other failure marks the cache "stale since T" and
retries with bounded, jittered exponential backoff. Everything runs in one daemon thread; every wait is
bounded and `close()` ends the open watch stream at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.units import clock

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient, Res

STARTING, LIVE, STALE, ABSENT = "starting", "live", "stale", "absent"


class _Gone(Exception):
    """The resourceVersion we would resume from is too old: relist."""


@dataclass(frozen=True)
class CacheState:
    state: str  # starting | live | stale | absent (the API is not served, or not readable: optional kinds)
    since: float | None  # wall time of the last good list/watch event (stale: since when it is stale)
    synced_at: float | None  # wall time of the last list
    error: str | None = None

    def describe(self, now: float | None = None) -> str:
        """"live", "stale since 10:04:12 (reason)", "not served" or "loading", for a status line."""
        if self.state == LIVE:
            return "live"
        if self.state == STALE:
            age = f"stale since {time.strftime('%H:%M:%S', time.localtime(self.since))}" if self.since else "stale"
            why = (self.error or "")[:48]
            return f"{age} ({why})" if why else age
        if self.state == ABSENT:
            return "not served"
        return "loading"


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    """The cache of one kind in one namespace (or all). `on_change()` is called from the informer's thread
    after each change (a relist or a watch event): keep it cheap and thread-safe (post a message)."""

    def __init__(self, kube: KubeClient, res: Res, namespace: str | None = None, *, all_namespaces: bool = False,
                 label_selector: str | None = None, on_change: Callable[[], None] | None = None,
                 watch_timeout: int = 60, backoff: tuple[float, float] = (0.5, 30.0), optional: bool = False):
        self.kube = kube
        self.res = res
        self.namespace = None if (all_namespaces or not res.namespaced) else (namespace or kube.namespace)
        self.label_selector = label_selector
        self.on_change = on_change
        self.watch_timeout = max(1, int(watch_timeout))
        self.backoff = backoff
        self.optional = optional
        self.resource_version: str | None = None
        self.lists = 0  # list requests made (the idle-load figure: stays put while the watch is healthy)
        self.watches = 0  # watch requests opened
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._resp: Any = None
        self._state = CacheState(STARTING, None, None)
        self._thread = threading.Thread(target=self._run, name=f"informer-{res.plural}", daemon=True)

    # -- public -----------------------------------------------------------------------------------
    def start(self) -> Informer:
        self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # wakes the thread blocked reading the stream
            except Exception:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """True once the first list landed (or the kind was found absent)."""
        return self._synced.wait(timeout)

    @property
    def state(self) -> CacheState:
        return self._state

    def items(self) -> list[dict[str, Any]]:
        """A snapshot of the cached objects (the dicts are the server's, treat them as read-only)."""
        with self._lock:
            return list(self._objects.values())

    # -- the loop ---------------------------------------------------------------------------------
    def _changed(self) -> None:
        if self.on_change is not None and not self._stop.is_set():
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - a consumer's failure must not kill the cache
                pass

    def _set_state(self, state: str, error: str | None = None) -> None:
        prev = self._state
        now = clock()
        if state == STALE:
            since = prev.since if prev.state == STALE else now
        else:
            since = now
        self._state = CacheState(state, since, prev.synced_at, error)
        if prev.state != state:
            self._changed()

    def _relist(self) -> None:
        items, rv = self.kube.list_versioned(self.res, self.namespace, label_selector=self.label_selector,
                                             all_namespaces=self.namespace is None)
        self.lists += 1
        with self._lock:
            self._objects = {_key(o): o for o in items}
        self.resource_version = rv
        self._state = CacheState(LIVE, clock(), clock())
        self._synced.set()
        self._changed()

    def _apply(self, ev: dict[str, Any]) -> None:
        etype, obj = ev.get("type"), ev.get("object")
        if not isinstance(obj, dict):
            raise MlopsError(Kind.INVALID, f"a watch event of {self.res.full_name} without an object",
                             source="kubernetes")
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise MlopsError(Kind.ERROR, f"the watch of {self.res.full_name} failed: "
                             f"{obj.get('message') or obj.get('reason') or 'ERROR event'}", source="kubernetes")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype in ("ADDED", "MODIFIED", "DELETED"):
            obj.setdefault("kind", self.res.kind)
            obj.setdefault("apiVersion", self.res.api_version)
            with self._lock:
                if etype == "DELETED":
                    self._objects.pop(_key(obj), None)
                else:
                    self._objects[_key(obj)] = obj
        if rv:
            self.resource_version = str(rv)
        if self._state.state != LIVE:
            self._state = CacheState(LIVE, clock(), self._state.synced_at)
            self._changed()  # back from stale: the status line changes
        elif etype != "BOOKMARK":
            self._changed()

    def _watch_once(self) -> None:
        def opened(resp: Any) -> None:
            self._resp = resp
            if self._stop.is_set():
                resp.shutdown()
            elif resp.status < 400 and self._state.state != LIVE:
                self._set_state(LIVE)  # reconnected: live again even before the next event

        self.watches += 1
        try:
            for ev in self.kube.watch(self.res, self.namespace, resource_version=self.resource_version,
                                      timeout_seconds=self.watch_timeout, label_selector=self.label_selector,
                                      allow_bookmarks=True, on_open=opened):
                if self._stop.is_set():
                    return
                self._apply(ev)
        finally:
            self._resp = None

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                self._watch_once()
                delay = self.backoff[0]  # a watch that ran to its timeout: reopen from the same resourceVersion
            except _Gone:
                self.resource_version = None  # relist at once, as the reflector does
            except MlopsError as exc:
                if self._stop.is_set():
                    return
                if exc.kind is Kind.CONFLICT and self.resource_version is not None:
                    self.resource_version = None  # a 410 answer to the watch request itself (kube maps 409/410)
                    continue
                if self.optional and exc.kind in (Kind.NOT_FOUND, Kind.FORBIDDEN):
                    with self._lock:
                        self._objects = {}
                    self._set_state(ABSENT, exc.message)
                    self._synced.set()
                    delay = self.backoff[1]
                else:
                    self._set_state(STALE, exc.message)
                self._stop.wait(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, self.backoff[1])
            except Exception as exc:  # noqa: BLE001 - never let the thread die silently
                self._set_state(STALE, f"{type(exc).__name__}: {exc}")
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])

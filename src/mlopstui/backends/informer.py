"""A list-then-watch cache of one resource kind, as client-go's reflector/informer keeps one.

List once, then watch from the list's resourceVersion and apply ADDED/MODIFIED/DELETED to the local
copy; BOOKMARK events (`allowWatchBookmarks`) only advance the resourceVersion. A watch that ends on its
`timeoutSeconds` is reopened from the last resourceVersion (no list); `410 Gone` (the ERROR event with a
Status of code 410, or a 410 answer) relists; any other failure marks the cache "stale since T" and
retries with bounded, jittered exponential backoff. Everything runs in one daemon thread; every wait is
bounded and `close()` ends the open watch stream at once.

`Informers.prime()` lists many kinds one after another on the caller's thread, over one kept-alive
connection, and seeds their caches; their threads then start straight at the watch. Why: the first Stack
rows waited for 14 threads that each opened a TLS connection and listed at once, about 90 ms of wall and
GIL beside the first frame (bench/bench_startup.py), where 14 lists in a row on one warm connection take
about 6 ms here; on a LAN-near API server that is 14 short round trips.
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
# Informers.prime lists in a row for this long at most; the kinds left list in parallel, each on its own
# thread: a large cluster's lists (thousands of pods) take the API server long enough that a row of them
# would cost more than the dozen TLS handshakes it saves (client-go multiplexes them over one HTTP/2
# connection; urllib3 speaks HTTP/1.1)
PRIME_SERIAL_S = 0.3
ABSENT_RETRY_S = 300.0  # how often a kind that is not served is asked again (no list call in between)


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
        self._kick = threading.Event()  # set by close() and retry_absent(): ends the wait of an absent kind
        self._synced = threading.Event()
        self._settled = threading.Event()  # set once synced or closed: what wait_synced() waits for
        self._resp: Any = None
        self._state = CacheState(STARTING, None, None)
        self._started = False
        self._absent_first = False  # seeded as absent (prime): the thread starts with the absent kind's wait
        self._thread = threading.Thread(target=self._run, name=f"informer-{res.plural}", daemon=True)

    # -- public -----------------------------------------------------------------------------------
    def start(self) -> Informer:
        """Start the list/watch thread (once; a later call does nothing, as does one after close())."""
        with self._lock:
            if self._started or self._stop.is_set():
                return self
            self._started = True
        self._thread.start()
        return self

    @property
    def started(self) -> bool:
        return self._started

    def seed(self, items: list[dict[str, Any]], resource_version: str | None) -> bool:
        """The first list, made by someone else (Informers.prime): the thread, once started, watches from
        resource_version. False (nothing changes) when this cache has listed already."""
        with self._lock:
            if self.lists > 0 or self._stop.is_set():
                return False
        self._install(items, resource_version)
        return True

    def seed_error(self, exc: MlopsError) -> bool:
        """The first list failed (Informers.prime): an optional kind that is not served (or not readable)
        is absent at once, as the thread would find it; True then. Other errors are the thread's to retry."""
        if not (self.optional and exc.kind in (Kind.NOT_FOUND, Kind.FORBIDDEN)) or self.lists > 0:
            return False
        self._absent(exc.message)
        self._absent_first = True
        return True

    def retry_absent(self) -> None:
        """An absent kind (its CRD was not served) tries again now (ctrl+r)."""
        self._kick.set()

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._kick.set()
        self._settled.set()  # a caller waiting for the first list returns now (False), not at its timeout
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # wakes the thread blocked reading the stream
            except Exception:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """True once the first list landed (or the kind was found absent); False at the timeout or as soon
        as the cache is closed (a context switch or the app's exit must not wait out its callers' timeouts)."""
        self._settled.wait(timeout)
        return self._synced.is_set()

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

    def list_once(self) -> tuple[list[dict[str, Any]], str | None]:
        """The list this cache starts from (blocking; MlopsError as KubeClient.list_versioned)."""
        return self.kube.list_versioned(self.res, self.namespace, label_selector=self.label_selector,
                                        all_namespaces=self.namespace is None)

    def _absent(self, message: str) -> None:
        with self._lock:
            self._objects = {}
        self._set_state(ABSENT, message)
        self._synced.set()
        self._settled.set()

    def _relist(self) -> None:
        self._install(*self.list_once())

    def _install(self, items: list[dict[str, Any]], resource_version: str | None) -> None:
        """A list's items become the cache, watched from its resourceVersion on."""
        with self._lock:
            self.lists += 1
            self._objects = {_key(o): o for o in items}
        self.resource_version = resource_version
        self._state = CacheState(LIVE, clock(), clock())
        self._synced.set()
        self._settled.set()
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

    def _absent_wait(self) -> None:
        # a CRD installed later is seen within ABSENT_RETRY_S, or at once on retry_absent()
        self._kick.wait(ABSENT_RETRY_S * (0.8 + 0.4 * random.random()))
        self._kick.clear()

    def _run(self) -> None:
        delay = self.backoff[0]
        if self._absent_first:
            self._absent_wait()
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
                    self._absent(exc.message)
                    self._absent_wait()
                    continue
                else:
                    self._set_state(STALE, exc.message)
                self._stop.wait(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, self.backoff[1])
            except Exception as exc:  # noqa: BLE001 - never let the thread die silently
                self._set_state(STALE, f"{type(exc).__name__}: {exc}")
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])


Listener = Callable[[], None]


class Informers:
    """The shared caches of one cluster client, as client-go's SharedInformerFactory keeps them: one Informer
    per (kind, namespace or all), started on first use and shared by every area that shows that kind (the
    AppContext owns one per client). Listeners are called from the informers' threads after each change:
    keep them cheap (set a flag, post a message)."""

    def __init__(self, kube: KubeClient, *, watch_timeout: int = 300, backoff: tuple[float, float] = (0.5, 30.0)):
        self.kube = kube
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self._lock = threading.Lock()
        self._informers: dict[tuple, Informer] = {}
        self._listeners: dict[tuple, list[Listener]] = {}
        self._closed = False
        self.changes = 0
        self._changes_by_key: dict[tuple, int] = {}

    @staticmethod
    def _key(res: Res, namespace: str | None) -> tuple:
        return (res.group, res.version, res.plural, namespace if res.namespaced else None)

    def informer(self, res: Res, namespace: str | None = None, *, optional: bool = False,
                 listener: Listener | None = None, start: bool = True) -> Informer:
        """The cache of res in namespace (None: all namespaces), started on first use (start=False: created,
        not started; an unstarted one is started by the next call that does not say so); listener (if given)
        is called after each of its changes until unsubscribe(listener)."""
        inf = self._get(res, namespace, optional, listener)
        if start:
            inf.start()
        return inf

    def prime(self, specs: list[tuple[Res, bool]], *, listener: Listener | None = None,
              timeout: float = 10.0, start: bool = True,
              errors: dict[Informer, MlopsError] | None = None) -> list[Informer]:
        """The all-namespaces caches of specs ((kind, optional) pairs): those that have not listed yet are
        listed here, one after another over the client's kept-alive connection, and seeded (see the module
        doc); then started (start=False: the caller starts them, Informers.start_all, e.g. after painting
        what it read). Blocking: call from a worker. A list that fails is left to the cache's own thread
        (its retries and backoff), except a kind that is not served, which is absent at once; so are the
        kinds left after PRIME_SERIAL_S of lists (or timeout): they list in parallel once started. errors (if
        given) receives why this call's lists failed, per cache (not served: not an error)."""
        infs = [self._get(res, None, opt, listener) for res, opt in specs]
        end = time.monotonic() + min(timeout, PRIME_SERIAL_S)
        for inf in infs:
            if inf.started or inf.lists > 0 or inf.state.state == ABSENT or time.monotonic() >= end:
                continue
            try:
                items, rv = inf.list_once()
            except MlopsError as exc:
                if not inf.seed_error(exc) and errors is not None:
                    errors[inf] = exc
                if exc.kind in (Kind.UNREACHABLE, Kind.TIMEOUT, Kind.UNAUTHORIZED):
                    break  # the API server itself: the next lists would say the same, one timeout each
                continue
            except Exception:  # noqa: BLE001 - the thread lists again and says why
                continue
            inf.seed(items, rv)
        if start:
            for inf in infs:
                inf.start()
        return infs

    def start_all(self) -> None:
        """Start every cache created unstarted (prime(start=False))."""
        for inf in self.all():
            inf.start()

    def _get(self, res: Res, namespace: str | None, optional: bool, listener: Listener | None) -> Informer:
        key = self._key(res, namespace)
        with self._lock:
            if self._closed:
                raise MlopsError(Kind.ERROR, "the cluster client was closed (context switched)", source="kubernetes")
            if listener is not None and listener not in self._listeners.setdefault(key, []):
                self._listeners[key].append(listener)
            inf = self._informers.get(key)
            if inf is None:
                inf = Informer(self.kube, res, namespace, all_namespaces=namespace is None, optional=optional,
                               on_change=lambda key=key: self._fan_out(key), watch_timeout=self.watch_timeout,
                               backoff=self.backoff)
                self._informers[key] = inf
            return inf

    def find(self, res: Res, namespace: str | None = None) -> Informer | None:
        """The running cache of res in namespace (None: all namespaces), if any."""
        with self._lock:
            return self._informers.get(self._key(res, namespace))

    def changes_of(self, kinds: list[Res]) -> int:
        """The changes of the all-namespaces caches of kinds so far (as `changes`, for a consumer that reads
        only those: another kind's change, the namespaces' say, is no reason for it to read again)."""
        return sum(self._changes_by_key.get(self._key(res, None), 0) for res in kinds)

    def _fan_out(self, key: tuple) -> None:
        self.changes += 1  # read before a cache is read: a consumer knows whether it missed a change
        self._changes_by_key[key] = self._changes_by_key.get(key, 0) + 1
        for fn in list(self._listeners.get(key, ())):
            try:
                fn()
            except Exception:  # noqa: BLE001 - one consumer's failure must not stop the others
                pass

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            for fns in self._listeners.values():
                if listener in fns:
                    fns.remove(listener)

    def retry_absent(self) -> None:
        for inf in self.all():
            if inf.state.state == ABSENT:
                inf.retry_absent()

    def all(self) -> list[Informer]:
        with self._lock:
            return list(self._informers.values())

    @property
    def lists(self) -> int:
        return sum(i.lists for i in self.all())

    def summary(self, informers: list[Informer] | None = None, now: float | None = None) -> tuple[bool, str]:
        """(live, text) for a status line: "live" when every watch is up, else the worst: which kind is
        stale since when, and why."""
        infs = [i for i in (informers if informers is not None else self.all()) if i.state.state != ABSENT]
        stale = [i for i in infs if i.state.state == STALE]
        if stale:
            first = min(stale, key=lambda i: i.state.since or 0.0)
            return False, f"{first.res.kind} {first.state.describe(now)}" + (
                f" (+{len(stale) - 1} more kinds)" if len(stale) > 1 else "")
        if any(i.state.state == STARTING for i in infs):
            return False, "loading"
        return True, "live"

    def close(self) -> None:
        """End every watch at once (in parallel: each close waits up to 2 s for its thread)."""
        with self._lock:
            self._closed = True
            infs = list(self._informers.values())
            self._informers.clear()
            self._listeners.clear()
        for inf in infs:
            inf._stop.set()
            inf._kick.set()
            inf._settled.set()
        threads = [threading.Thread(target=inf.close, daemon=True) for inf in infs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2.5)

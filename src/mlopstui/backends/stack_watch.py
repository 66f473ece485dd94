"""The Stack's cluster objects from the shared watch caches (backends/informer.py) instead of a list per
sweep: one Informer per kind the sweep reads (backends.stack.LISTED), across all namespaces, listed once
and then watched. A kind whose cache never listed (RBAC forbids listing it across namespaces, the API is
down at start) is read the old way, namespace by namespace, so the report says the same as a plain sweep.

Side reads stay requests (ConfigMaps a workload references, Argo's artifact repositories, a component
selector configured in the settings), but they run only when a cache changed or someone asked: an idle
TUI makes no list call (issue 20; tests/ui/test_watch_idle.py counts them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlopstui.backends.informer import ABSENT, STARTING, Informer, Informers, Listener
from mlopstui.errors import Kind

CLUSTER_ERRORS = (Kind.UNREACHABLE, Kind.TIMEOUT, Kind.UNAUTHORIZED)  # the API server's, not one kind's

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.models.stack.report import ClusterState


def stack_informers(informers: Informers, listener: Listener | None = None) -> list[Informer]:
    """Start (or reuse) the cache of every kind a sweep reads; listener hears every change of any."""
    from mlopstui.backends.stack import LISTED

    return [informers.informer(res, optional=opt, listener=listener) for res, opt in LISTED]


def prime_stack_informers(informers: Informers, listener: Listener | None = None, *, timeout: float = 10.0,
                          start: bool = True, errors: dict | None = None) -> list[Informer]:
    """The caches of every kind a sweep reads, their first lists made here in a row (Informers.prime: one
    connection, not a thread and a TLS handshake per kind before the first rows); start=False leaves their
    watches to Informers.start_all (the sweep opens them once its first rows are posted)."""
    from mlopstui.backends.stack import LISTED

    return informers.prime(list(LISTED), listener=listener, timeout=timeout, start=start, errors=errors)


def stack_version(informers: Informers) -> int:
    """How many changes the caches the Stack reads have had (Informers.changes_of): its rebuilds compare it."""
    from mlopstui.backends.stack import FALLBACK, LISTED

    return informers.changes_of([res for res, _ in LISTED] + list(FALLBACK.values()))


def cache_summary(informers: Informers) -> tuple[bool, str]:
    """(live, text) over the Stack's kinds: "live", or which kind's watch is down since when."""
    return informers.summary(stack_informers(informers))


def list_from_cache(informers: Informers, kube: KubeClient, namespaces: list[str], state: ClusterState,
                    timeout: float, listener: Listener | None = None, start_watches: bool = True) -> None:
    """Fill state.objects (and errors / error) as backends.stack.collect_cluster's lists would, from the
    caches. Objects are shallow copies: the sweep marks them (SELECTED_BY), the cache stays the server's.
    start_watches=False: caches first listed here watch only once Informers.start_all is called."""
    from mlopstui.backends import kube as k
    from mlopstui.backends.stack import FALLBACK, LISTED, _list_kind
    from mlopstui.errors import from_exception

    end = time.monotonic() + timeout
    errors: dict = {}  # this call's failed first lists (Informers.prime)
    pairs = list(zip(LISTED, prime_stack_informers(informers, listener, timeout=timeout, start=start_watches,
                                                   errors=errors), strict=True))
    down = next(((inf, e) for inf, e in errors.items() if e.kind in CLUSTER_ERRORS), None)
    if down is not None:  # said at once, as a plain list says it (not after the wait); the threads retry meanwhile
        for _, inf in pairs:
            _start_unlisted(inf)
        state.cache_version = stack_version(informers)
        state.error = down[1]
        state.errors.append(f"{down[0].res.kind}: {down[1].message}")
        return
    for i, ((res, _opt), inf) in enumerate(pairs):
        _start_unlisted(inf)  # its first list failed here: its own thread retries it (and says why)
        if inf not in errors and inf.state.state == STARTING:
            # its thread's first list is under way; one that failed here or since (stale: RBAC, the API down)
            # is not waited for: read directly below, its answer now
            inf.wait_synced(max(0.0, end - time.monotonic()))
        if inf.state.state == ABSENT and res in FALLBACK:
            fallback = informers.prime([(FALLBACK[res], True)], listener=listener,
                                       timeout=max(0.0, end - time.monotonic()), start=start_watches)[0]
            _start_unlisted(fallback)
            pairs[i] = ((res, _opt), fallback)
            fallback.wait_synced(max(0.0, end - time.monotonic()))
    state.cache_version = stack_version(informers)  # a change after this is a reason to rebuild; one before is read
    for (res, opt), inf in pairs:
        if inf.state.state == ABSENT:
            continue  # the CRD is not installed (or the kind is not readable): as the list path says
        if inf.lists > 0:
            state.objects.extend(dict(o) for o in inf.items())
            continue
        try:  # never listed: read it directly, with the list path's errors and RBAC fallback
            state.objects.extend(_list_kind(kube, res, opt, namespaces))
        except Exception as exc:  # noqa: BLE001
            err = from_exception(exc)
            if res is k.DEPLOYMENTS or err.kind in CLUSTER_ERRORS:
                state.error = state.error or err
            state.errors.append(f"{res.kind}: {err.message}")
            if err.kind in CLUSTER_ERRORS:
                break  # the API server itself: each next kind would wait out its own timeout to say the same


def _start_unlisted(inf: Informer) -> None:
    """A cache whose first list did not land (it failed, or was not made) lists on its own thread from now."""
    if inf.lists == 0 and inf.state.state != ABSENT:
        inf.start()


def objects_of(informers: Informers, res: Any, namespace: str | None, *, optional: bool = True,
               listener: Listener | None = None, timeout: float = 5.0) -> list[dict[str, Any]] | None:
    """The cached objects of one kind in namespace (None: all): the all-namespaces cache when one already
    runs (the Stack started it), filtered here, else a cache of that namespace. None when the kind is not
    served."""
    shared = informers.find(res, None)
    inf = shared if shared is not None else informers.informer(res, namespace, optional=optional,
                                                               listener=listener)
    if shared is not None and listener is not None:
        informers.informer(res, None, listener=listener)
    inf.wait_synced(timeout)
    if inf.state.state == ABSENT:
        return None
    if inf.lists == 0:  # the cache could not list (yet): a direct list says why, as a plain list would
        return informers.kube.list(res, namespace, all_namespaces=namespace is None)
    items = inf.items()
    if namespace is not None and inf.namespace is None:
        items = [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]
    return items

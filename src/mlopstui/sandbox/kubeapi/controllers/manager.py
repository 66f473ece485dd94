"""The controller manager: a change-driven work queue, as real controllers run (client-go's informers and
work queues). Every store change (the API's writes and the controllers' own) is recorded by a store
listener; the manager's thread hands each change to every controller, which queues the keys of the objects
whose inputs it is (the object, and its owners: a pod's change queues its ReplicaSet and that one's
Deployment), and each controller reconciles only its queued keys. What is time-driven schedules its own
wake-up (`requeue_after`: an InferenceService's status delay, a CronWorkflow's next minute, the retry of a
failed reconcile); a full resync (every object queued) runs at start, every RESYNC_S and on demand
(`request_resync`, POST /debug/controllers/resync), so a state changed behind the queue's back is repaired.
A settled cluster costs nothing: the scale sandbox's full pass over 9,700 objects (1-2 s, issue 20) now
runs once a minute, not after every change. Controllers write through the store like any client, so
watches see every step.

CONTROLLERS is the one registry, in the order a pass runs them (owners before what they own: an
InferenceService makes Deployments, a Deployment ReplicaSets, a ReplicaSet pods); each controller sees the
changes of the ones before it in the same pass.
"""

from __future__ import annotations

import heapq
import threading
import time
import traceback
from collections import Counter, deque

from ..registry import Registry, ResourceType
from ..store import Store, owner_uids
from .argo import ArgoController
from .base import KINDS
from .gc import GarbageCollector
from .inferenceservice import InferenceServiceController
from .jobs import JobController
from .pods import PodController
from .services import ServiceController
from .workloads import WorkloadController

RESYNC_S = 60.0  # a full resync: every object reconciled, whatever the queue saw
POLL_S = 0.25  # while a controller polls (a Workflow running: its steps are processes)
RETRY_S, RETRY_MAX_S = 0.25, RESYNC_S  # a failed reconcile is retried after 0.25 s, 0.5 s, 1 s ... 60 s
MAX_OWNER_DEPTH = 2
RECONCILE_LOG = 20000  # the last reconciles, for GET /debug/controllers

# (attribute on the manager, controller class), in the order a pass runs them
CONTROLLERS = (
    ("gc", GarbageCollector),
    ("isvc", InferenceServiceController),
    ("workloads", WorkloadController),
    ("jobs", JobController),
    ("pods", PodController),
    ("services", ServiceController),
    ("argo", ArgoController),
)


class ControllerManager:
    def __init__(self, store: Store, registry: Registry, feast_repo: str | None = None) -> None:
        self.store = store
        self.registry = registry
        self.feast_repo = feast_repo
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events: deque = deque()  # the store's changes not yet handed to the controllers
        self._lock = threading.Lock()  # timers, failures, the reconcile log
        self._timers: list[tuple[float, tuple]] = []  # heap of (due, (controller index, key))
        self._due: dict[tuple, float] = {}
        self._failures: dict[tuple, int] = {}
        self._resync_requested = False
        self.resync_s = RESYNC_S
        self._running = False
        self.resyncs = 0
        self.passes = 0
        self.reconciles: Counter = Counter()  # "<controller>/<kind>" -> reconciles
        self.seq = 0
        self.log: deque = deque(maxlen=RECONCILE_LOG)  # (seq, controller, kind, namespace, name)
        for attr, key in KINDS.items():
            setattr(self, attr, registry.get(*key))
        self.controllers = []
        for attr, cls in CONTROLLERS:
            ctl = cls(self)
            ctl.index = len(self.controllers)
            setattr(self, attr, ctl)
            self.controllers.append(ctl)

    # ---- lifecycle ----------------------------------------------------------------------------
    def listen(self) -> None:
        """Record the store's changes from now on (start() does; the bench runs passes without the thread)."""
        if self._on_event not in self.store.listeners:
            self.store.listeners.append(self._on_event)

    def start(self) -> None:
        self.listen()
        self._thread = threading.Thread(target=self._loop, name="kubeapi-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        for ctl in self.controllers:
            ctl.stop()
        self._stop.set()
        self._wake.set()
        if self._on_event in self.store.listeners:
            self.store.listeners.remove(self._on_event)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _on_event(self, ev) -> None:
        # called inside the store's write (any thread): only recorded here, handed out by the manager's thread
        self._events.append(ev)
        if ev.key != ("", "events"):
            self._wake.set()

    def _loop(self) -> None:
        self.resync()  # everything once at start, as the first pass did
        last_resync = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()
            if self._resync_requested or time.monotonic() >= last_resync + self.resync_s:
                self._resync_requested = False
                self.resync()
                last_resync = time.monotonic()
            next_resync = last_resync + self.resync_s
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a controller bug must not kill the loop
                traceback.print_exc()
            if self.has_work() or self._resync_requested:
                continue
            timeout = next_resync - time.monotonic()
            nxt = self.next_timer()
            if nxt is not None:
                timeout = min(timeout, nxt - time.monotonic())
            if any(ctl.polling for ctl in self.controllers):
                timeout = min(timeout, POLL_S)
            if timeout > 0:
                self._wake.wait(timeout)

    # ---- the queue ----------------------------------------------------------------------------
    @staticmethod
    def bucket(rt: ResourceType) -> tuple[str, str]:
        return (rt.group, rt.plural)

    def dispatch(self) -> None:
        """Hand every recorded change to every controller (each queues what it reconciles of it)."""
        while True:
            try:
                ev = self._events.popleft()
            except IndexError:
                return
            if ev.key == ("", "events"):
                self.gc.on_change(ev, [])
                continue
            ancestors = self._ancestors(ev)
            for ctl in self.controllers:
                ctl.on_change(ev, ancestors)

    def _ancestors(self, ev) -> list[tuple[int, tuple[str, str], str, str]]:
        """(depth, bucket, namespace, name) of the changed object's owners (depth 1), their owners (2)..."""
        uids = owner_uids(ev.obj) + (owner_uids(ev.old) if ev.old else [])
        out, seen = [], set()
        for depth in range(1, MAX_OWNER_DEPTH + 1):
            nxt = []
            for uid in uids:
                if not uid or uid in seen:
                    continue
                seen.add(uid)
                where = self.store.locate(uid)
                if where is None:
                    continue
                bkey, ns, name, owners = where
                out.append((depth, bkey, ns, name))
                nxt.extend(owners)
            uids = nxt
        return out

    def run_once(self, timers: bool = True) -> None:
        """One pass: the timers that are due (timers=False: not now; the bench's passes without the retries
        that happen to fall due), then each controller's queued keys (the changes made by the controllers
        before it included)."""
        self._running = True
        try:
            if timers:
                self._fire_timers()
            for ctl in self.controllers:
                self.dispatch()
                ctl.run()
            self.passes += 1
        finally:
            self._running = False

    def has_work(self) -> bool:
        return bool(self._events) or any(ctl.pending for ctl in self.controllers)

    def resync(self) -> None:
        """Queue every object of every controller."""
        self.dispatch()
        for ctl in self.controllers:
            ctl.resync()
        self.resyncs += 1

    def request_resync(self) -> None:
        self._resync_requested = True
        self._wake.set()

    def reconcile_all(self) -> None:
        """A full resync and what it makes, until nothing is queued (timers aside): the bench's pass."""
        self.resync()
        self.run_until_idle()

    def run_until_idle(self, timers_within: float = 0.0, timers: bool = True) -> None:
        """Run passes until nothing is queued, no timer but a failure's retry is due within timers_within
        seconds (waiting for the ones that are), and no Job's process is running."""
        while True:
            while self.has_work():
                self.run_once(timers)
            nxt = self.next_timer(retries=False)
            if nxt is not None and nxt - time.monotonic() <= timers_within:
                time.sleep(max(0.0, nxt - time.monotonic()))
            elif self.jobs.running:
                time.sleep(0.05)
            else:
                return
            self.run_once()

    # ---- timers and retries ---------------------------------------------------------------------
    def requeue_after(self, ctl, key: tuple, delay: float) -> None:
        due = time.monotonic() + max(0.0, delay)
        k = (ctl.index, key)
        with self._lock:
            cur = self._due.get(k)
            if cur is not None and cur <= due:
                return
            self._due[k] = due
            heapq.heappush(self._timers, (due, k))
        self._wake.set()

    def retry(self, ctl, key: tuple) -> None:
        k = (ctl.index, key)
        with self._lock:
            n = self._failures.get(k, 0)
            self._failures[k] = n + 1
        self.requeue_after(ctl, key, min(RETRY_MAX_S, RETRY_S * 2 ** n))

    def forget(self, ctl, key: tuple) -> None:
        if self._failures:
            with self._lock:
                self._failures.pop((ctl.index, key), None)

    def next_timer(self, retries: bool = True) -> float | None:
        """When the next timer is due (time.monotonic()); retries=False: of those not retrying a failure."""
        with self._lock:
            while self._timers and self._due.get(self._timers[0][1]) != self._timers[0][0]:
                heapq.heappop(self._timers)  # superseded by an earlier one
            if retries or not self._failures:
                return self._timers[0][0] if self._timers else None
            due = [d for k, d in self._due.items() if k not in self._failures]
            return min(due) if due else None

    def _fire_timers(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                due, (index, key) = heapq.heappop(self._timers)
                if self._due.get((index, key)) != due:
                    continue
                del self._due[(index, key)]
                self.controllers[index].queue[key] = None

    # ---- what was reconciled (GET /debug/controllers) -------------------------------------------
    def count(self, ctl, rt: ResourceType, key: tuple) -> None:
        with self._lock:
            self.seq += 1
            self.reconciles[f"{type(ctl).__name__}/{rt.kind}"] += 1
            self.log.append((self.seq, type(ctl).__name__, rt.kind, key[1], key[2]))

    def debug(self, since: int | None = None) -> dict:
        """The queue's state and the reconciles after seq `since` (the last RECONCILE_LOG are kept)."""
        nxt, scheduled = self.next_timer(), self.next_timer(retries=False)
        with self._lock:
            log = [{"seq": s, "controller": c, "kind": k, "namespace": ns, "name": n}
                   for s, c, k, ns, n in self.log if since is not None and s > since]
            timers = len(self._due)
            out = {"seq": self.seq, "passes": self.passes, "resyncs": self.resyncs,
                   "reconciles": dict(self.reconciles)}
        queued = sum(len(ctl.queue) for ctl in self.controllers)
        due_in = None if nxt is None else max(0.0, nxt - time.monotonic())
        sched_in = None if scheduled is None else max(0.0, scheduled - time.monotonic())
        # next_scheduled_s: the next timer that is not a failure's retry (a delay, a schedule)
        out.update(queued=queued, events=len(self._events), timers=timers, next_timer_s=due_in,
                   next_scheduled_s=sched_in,
                   retrying=len(self._failures), jobs_running=self.jobs.running,
                   idle=not (self._running or self._events or self._resync_requested or
                             any(ctl.pending for ctl in self.controllers)),
                   polling=[type(c).__name__ for c in self.controllers if c.polling])
        if since is not None:
            out["log"] = log
        return out

"""The controller manager: one background thread, woken by every store change (and every 0.25 s), runs
each registered controller's pass in turn. Controllers write through the store like any client, so
watches see every step.

CONTROLLERS is the one registry, in the order a pass runs them (owners before what they own: an
InferenceService makes Deployments, a Deployment ReplicaSets, a ReplicaSet pods).
"""

from __future__ import annotations

import threading
import time
import traceback

from ..registry import Registry
from ..store import Store
from .argo import ArgoController
from .base import KINDS
from .gc import GarbageCollector
from .inferenceservice import InferenceServiceController
from .jobs import JobController
from .pods import PodController
from .services import ServiceController
from .workloads import WorkloadController

REST_FACTOR = 3.0  # after a pass of T seconds (over 50 ms), the next starts T * REST_FACTOR later (<= 25 % of a core)
MAX_REST_S = 15.0

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
        for attr, key in KINDS.items():
            setattr(self, attr, registry.get(*key))
        self.controllers = []
        for attr, cls in CONTROLLERS:
            ctl = cls(self)
            setattr(self, attr, ctl)
            self.controllers.append(ctl)

    def start(self) -> None:
        self.store.listeners.append(self._on_event)
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
        if ev.type == "DELETED":
            self.gc.needed = True
        if ev.key != ("", "events"):
            self._wake.set()

    def _loop(self) -> None:
        rest = 0.0
        while not self._stop.is_set():
            if rest > 0:  # a long pass (the scale sandbox: 5 s for 9,700 objects): the next waits, events or not
                self._stop.wait(rest)
            self._wake.wait(0.25)
            self._wake.clear()
            t0 = time.monotonic()
            try:
                self.reconcile_all()
            except Exception:  # noqa: BLE001 - a controller bug must not kill the loop
                traceback.print_exc()
            # at most ~1/(1+REST_FACTOR) of a core: passes of a few ms (the sandbox) are not slowed at all
            took = time.monotonic() - t0
            rest = min(MAX_REST_S, REST_FACTOR * took) if took > 0.05 else 0.0

    def reconcile_all(self) -> None:
        for ctl in self.controllers:
            ctl.reconcile_all()

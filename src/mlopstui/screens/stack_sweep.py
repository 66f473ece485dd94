"""The Stack screen's workers (screens/stack.py): a sweep (the cluster from the watch caches, then the
probes, each batch of answers one StackUpdated) and a rebuild (the cluster part again after a watch event,
with the probe answers as they are). build_report and explain() run here, in the worker, not on the UI
thread; the messages carry what the screen renders.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual.message import Message

from mlopstui.memory import freeze_once

if TYPE_CHECKING:
    from mlopstui.models.stack import ProbeResult
    from mlopstui.models.stack.report import ClusterState, StackReport

COALESCE_S = 0.3  # probe answers this close together make one update


FREEZE_AT = 2000  # cluster objects from which the first read freezes what the process holds (freeze_long_lived)


def freeze_long_lived(state: ClusterState) -> None:
    """After the first large cluster read from the watch caches (9,700 objects at scale): out of the cyclic
    GC's view, and its full collections rarer (mlopstui/memory.py; bench/bench_scale.py, "GC meanwhile").
    Refcounting still frees a cached object when a watch event replaces it (the API's JSON has no cycles)."""
    if state.error is None and len(state.objects) >= FREEZE_AT:
        freeze_once("watch caches", rarer_full_collections=True)


def yield_gil() -> None:
    """Between the steps of a report (build_report's between): a worker computing 100+ ms of Python lets the
    UI thread take the GIL at once instead of after the interpreter's switch interval."""
    time.sleep(0)


class StackUpdated(Message, bubble=False):
    """A sweep's report (built in the worker) with the fixes of its findings: for the Stack screen, which
    forwards it to the drill-ins on its stack (ComponentScreen, DoctorScreen). rebuild: the cluster part
    rebuilt from the watch caches after a change, with the probes as they were (probes/pending unchanged)."""

    def __init__(self, report: StackReport, fixes: dict[str, Any], probes: dict[str, ProbeResult],
                 pending: set[str], sweep_id: int, first: bool, rebuild: bool = False):
        super().__init__()
        self.report, self.fixes, self.probes, self.pending = report, fixes, probes, pending
        self.sweep_id, self.first, self.rebuild = sweep_id, first, rebuild


class CacheChanged(Message, bubble=False):
    """A watch cache the Stack reads changed (posted from an informer's thread, at most one in flight)."""


def rebuild_in_worker(ctx: Any, probes_now: Any, post: Any, rebuild_id: int, listener: Any) -> list:
    """Blocking: the cluster part from the watch caches (no list while they are live), the report with the
    probe answers known now; returns the Stack's informers (their state feeds the age line)."""
    from mlopstui.backends.stack import collect_cluster
    from mlopstui.backends.stack_watch import stack_informers
    from mlopstui.doctor.fixes import explain
    from mlopstui.models.stack.report import build_report

    state = collect_cluster(ctx, watched=True, listener=listener)
    probes = probes_now()
    report = build_report(ctx.settings, state, probes, between=yield_gil)
    fixes = {f.key: explain(f, report.snapshot) for f in report.findings}
    post(StackUpdated(report, fixes, probes, set(), rebuild_id, True, rebuild=True))
    return stack_informers(ctx.informers) if state.error is None else []


FIRST_PAINT_WAIT_S = 1.0  # how long the first sweep waits for its rows to be painted before it goes on


def sweep_in_worker(ctx: Any, previous: dict[str, ProbeResult], post: Any, sweep_id: int,
                    state: ClusterState | None = None, listener: Any = None, state_now: Any = None,
                    painted: Any = None) -> None:
    """Blocking (a worker thread): the cluster (from the watch caches; given: the last one, probes only),
    then the probes; post(StackUpdated) after the cluster read and per batch of probe answers, each built
    on the newest cluster state (state_now()). build_report and explain() run here, not on the UI thread.
    painted (a threading.Event, the first sweep's): the watches and the probes start once the UI has painted
    the first rows (or after FIRST_PAINT_WAIT_S): their threads, TLS handshakes and SDK imports would share
    the GIL with that paint (bench/bench_startup.py)."""
    from mlopstui.backends.stack import collect_cluster

    settings = ctx.settings
    fresh = state is None
    try:
        if state is None:
            # the caches' watches open once the first rows are posted (their connections and threads would
            # share the GIL with building and painting them: bench/bench_startup.py)
            state = collect_cluster(ctx, watched=True, listener=listener, start_watches=False)
            freeze_long_lived(state)
        _sweep_probes(ctx, settings, state, previous, post, sweep_id, fresh, state_now, painted)
    finally:
        if fresh:
            _start_watches(ctx)  # already done once the first rows were posted, unless a step before failed


def _start_watches(ctx: Any) -> None:
    from mlopstui.errors import MlopsError

    try:
        ctx.informers.start_all()
    except MlopsError:
        pass  # no cluster client (or it was closed: a context switch)


def _sweep_probes(ctx: Any, settings: Any, state: ClusterState, previous: dict[str, ProbeResult], post: Any,
                  sweep_id: int, fresh: bool, state_now: Any, painted: Any = None) -> None:
    import queue
    import threading

    from mlopstui.backends.stack import probe_tasks, run_probes
    from mlopstui.doctor.fixes import explain
    from mlopstui.models.stack.report import build_report

    tasks, skipped = probe_tasks(settings, state, kube=ctx.kube_or_none)
    probes = dict(previous)
    probes.update(skipped)
    for t in tasks:
        if t.component not in probes or probes[t.component].state.value == "skipped":
            probes[t.component] = t.pending()
    pending = {t.component for t in tasks}

    def publish(first: bool) -> None:
        newest = (state_now() if state_now is not None else None) or state
        now = newest if newest.at >= state.at else state
        report = build_report(settings, now, probes, between=yield_gil)
        fixes = {f.key: explain(f, report.snapshot) for f in report.findings}
        post(StackUpdated(report, fixes, dict(probes), set(pending), sweep_id, first))

    publish(fresh)
    if painted is not None:
        painted.wait(FIRST_PAINT_WAIT_S)
    if fresh:
        _start_watches(ctx)  # the first rows are posted (and painted)
    if not tasks:
        return
    answers: queue.Queue = queue.Queue()
    threading.Thread(target=run_probes, args=(tasks, settings.probe_timeout, answers.put), daemon=True,
                     name="stack-probes").start()
    deadline = time.monotonic() + settings.probe_timeout + 3.0
    while pending and time.monotonic() < deadline:
        try:
            batch = [answers.get(timeout=max(0.01, deadline - time.monotonic()))]
        except queue.Empty:
            break
        until = time.monotonic() + COALESCE_S
        while pending - {r.component for r in batch} and time.monotonic() < until:
            try:
                batch.append(answers.get(timeout=max(0.01, until - time.monotonic())))
            except queue.Empty:
                break
        for r in batch:
            probes[r.component] = r
            pending.discard(r.component)
        publish(False)



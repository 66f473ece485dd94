"""Progressive canary: step the canary's traffic, measure, promote or roll back by itself.

Each step is ONE merge patch (the existing canary / promote / rollback actions, so it carries the
resourceVersion that was read and is audited) that also writes the rollout's state into the annotation
``mlopstui.dev/rollout``. Then the status is followed until the traffic converges (bounded), the pause is
spent measuring the canary and the stable revision, and the gates decide:
- pass: the next step (the last one, 100, is the promotion);
- fail: roll back (canary 0: the previous revision takes 100%) recording the gate and the measured values;
- wait (no or too little signal): the rollout pauses (an annotation-only patch) and says why; it never
  promotes blind.
A concurrent change of the InferenceService (spec not what this rollout left) aborts: nothing is
overwritten. A process killed mid-rollout leaves the annotation "running" at its step, which reads as
paused once it stops being updated; ``--resume`` continues from that step.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlopstui.actions.serving import IsvcAction, Promote, Rollback, SetCanary, follow_status
from mlopstui.config import _deep_merge  # the one deep merge of JSON objects
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import rollout as r
from mlopstui.models import serving as m

if TYPE_CHECKING:
    from mlopstui.context import AppContext

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_REFUSED, EXIT_NO_SIGNAL, EXIT_ABORTED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
FOLLOW_TIMEOUT = r.FOLLOW_S


class _WithState:
    """Mixin: the patch also writes the rollout state annotation."""

    state: r.RolloutState

    def build(self, isvc):  # type: ignore[override]
        patch, summary, risk, notes = super().build(isvc)  # type: ignore[misc]
        self.state.updated = time.time()
        notes = list(notes) + [f"rollout state -> annotation {r.ANNOTATION}: phase {self.state.phase}, "
                               f"step {self.state.step + 1}/{len(self.state.plan.steps)}"]
        return _deep_merge(patch, r.annotation_patch(self.state)), summary, risk, notes


class StepCanary(_WithState, SetCanary):
    name = "rollout-step"

    def __init__(self, ctx, namespace, name, percent: int, state: r.RolloutState):
        super().__init__(ctx, namespace, name, percent=percent)
        self.state = state


class RolloutPromote(_WithState, Promote):
    name = "rollout-promote"

    def __init__(self, ctx, namespace, name, state: r.RolloutState):
        super().__init__(ctx, namespace, name)
        self.state = state


class RolloutRollback(_WithState, Rollback):
    name = "rollout-rollback"

    def __init__(self, ctx, namespace, name, state: r.RolloutState):
        super().__init__(ctx, namespace, name)
        self.state = state


class RolloutMark(IsvcAction):
    """Only the annotation (pause with a reason): no traffic change."""

    name = "rollout-pause"
    needs_serverless = False

    def __init__(self, ctx, namespace, name, state: r.RolloutState):
        super().__init__(ctx, namespace, name)
        self.state = state

    def build(self, isvc):
        self.state.updated = time.time()
        return (r.annotation_patch(self.state), f"rollout of {isvc.name}: {self.state.phase} "
                f"({self.state.reason})", "low", [])


class Control:
    """Asks a running loop (the TUI's worker) to stop at the next point it may: "pause" writes the
    annotation paused with the reason (one annotation-only patch, audited); "halt" writes nothing, so the
    operator's confirmed plan (abort = rollback, skip = promote) is the next and only write."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.mode: str | None = None
        self.reason = ""

    def request(self, mode: str, reason: str = "") -> None:
        if mode not in ("pause", "halt"):
            raise ValueError(mode)
        if self.mode != "halt":  # a halt is never softened into a pause
            self.mode, self.reason = mode, reason
        self.event.set()


@dataclass
class Outcome:
    code: int
    phase: str
    message: str
    events: list[dict[str, Any]] = field(default_factory=list)


class Rollout:
    """One rollout run (headless or from the TUI's worker). `on_event` receives each progress event."""

    def __init__(self, ctx: AppContext, namespace: str | None, name: str, plan: r.RolloutPlan | None, *,
                 resume: bool = False, on_event: Callable[[dict[str, Any]], None] | None = None,
                 signal_factory: Callable[[Any], Any] | None = None, follow_timeout: float = FOLLOW_TIMEOUT,
                 signal: str = "auto", control: Control | None = None):
        self.ctx = ctx
        self.namespace = namespace or ctx.namespace
        self.name = name
        self.plan = plan
        self.resume = resume
        self.on_event = on_event
        self.signal_factory = signal_factory
        self.follow_timeout = follow_timeout
        signal = "pod-metrics" if signal == "metrics" else signal
        if signal not in ("auto", "prometheus", "pod-metrics", "synthetic"):
            raise MlopsError(Kind.INVALID, f"signal {signal!r}: auto, prometheus, pod-metrics or synthetic")
        self.signal = signal
        self.control = control or Control()
        self.events: list[dict[str, Any]] = []
        self.state: r.RolloutState | None = None
        self.last_percent: int | None = None  # what this rollout last set (concurrent-edit check)

    # -- helpers ------------------------------------------------------------------------------------
    def emit(self, event: str, **data: Any) -> None:
        ev = {"ts": round(time.time(), 3), "event": event, "isvc": f"{self.namespace}/{self.name}", **data}
        self.events.append(ev)
        if self.on_event:
            self.on_event(ev)

    def read(self) -> m.InferenceService:
        from mlopstui.backends.kserve import get_isvc

        return get_isvc(self.ctx.kube, self.namespace, self.name)

    def _apply(self, action: IsvcAction) -> m.InferenceService:
        """plan (re-reading), check nobody else changed the spec, apply (audited), follow status."""
        plan = action.plan()
        self._check_untouched(action.current)
        try:
            result = action.apply(plan, readonly=self.ctx.readonly, audit=self.ctx.audit)
        except MlopsError as exc:
            if exc.kind is Kind.CONFLICT:
                raise _Aborted(exc.message) from None
            raise
        self.emit("patched", action=action.name, message=result.message,
                  resourceVersion=(plan.patch.get("metadata") or {}).get("resourceVersion"))
        followed = action.follow(timeout=self.follow_timeout)
        self.emit("converged" if followed.ok else "not-converged", message=followed.message)
        if not followed.ok:
            raise MlopsError(Kind.TIMEOUT, followed.message, hint="check the InferenceService's conditions")
        return self.read()

    def _check_untouched(self, isvc: m.InferenceService | None) -> None:
        st = self.state
        if isvc is None or st is None:
            return
        if st.canary and isvc.latest_created != st.canary:
            raise _Aborted(f"the InferenceService now has revision {isvc.latest_created} (the rollout was of "
                           f"{st.canary}): someone changed the predictor")
        if self.last_percent is not None and isvc.canary_percent != self.last_percent:
            raise _Aborted(f"canaryTrafficPercent is {isvc.canary_percent} but this rollout set "
                           f"{self.last_percent}: someone else changed it")
        cur = r.RolloutState.from_annotation((isvc.raw.get("metadata") or {}).get("annotations", {}).get(
            r.ANNOTATION)) if self.last_percent is not None else None
        if self.last_percent is not None and (cur is None or cur.started != st.started):
            raise _Aborted(f"annotation {r.ANNOTATION} was changed or removed by someone else")

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            return self._run()
        except _Aborted as exc:
            msg = f"aborted: {exc}; nothing was overwritten"
            self.emit("aborted", message=msg)
            return Outcome(EXIT_ABORTED, "aborted", msg, self.events)
        except _Halted:
            msg = "halted by the operator before its next write: nothing written"
            self.emit("halted", message=msg)
            return Outcome(EXIT_INTERRUPTED, "halted", msg, self.events)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM turned into it by the CLI
            return self._interrupted()

    def _controlled(self) -> Outcome | None:
        """At a point where the loop may stop: a halt raises, a pause writes the annotation and returns."""
        c, st = self.control, self.state
        if c.mode == "halt":
            raise _Halted
        if c.mode != "pause" or st is None:
            return None
        st.phase = "paused"
        st.reason = (f"paused at step {st.plan.steps[st.step]}%: {c.reason or 'by the operator'}; "
                     f"`mlopstui rollout {self.name} --resume` or the TUI's rollout view (r) continues")
        self._apply(RolloutMark(self.ctx, self.namespace, self.name, st))
        self.emit("paused", message=st.reason)
        return Outcome(EXIT_INTERRUPTED, "paused", f"{self.name}: {st.reason}", self.events)

    def _interrupted(self) -> Outcome:
        """Leave the annotation saying paused (one annotation-only patch); `--resume` continues."""
        st = self.state
        if st is None or st.phase in r.FINAL_PHASES:
            return Outcome(EXIT_INTERRUPTED, st.phase if st else "not started", "interrupted", self.events)
        st.phase = "paused"
        st.reason = (f"interrupted at step {st.plan.steps[st.step]}%: "
                     f"`mlopstui rollout {self.name} --resume` continues")
        try:
            action = RolloutMark(self.ctx, self.namespace, self.name, st)
            action.apply(action.plan(), readonly=self.ctx.readonly, audit=self.ctx.audit)
            written = "the annotation says paused"
        except (MlopsError, KeyboardInterrupt) as exc:
            written = f"the annotation could not be updated ({exc}); it reads as paused once it is stale"
        self.emit("paused", message=f"{st.reason}; {written}")
        return Outcome(EXIT_INTERRUPTED, "paused", f"{self.name}: {st.reason}", self.events)

    def _start(self) -> m.InferenceService:
        isvc = self.read()
        m.require_canary_support(isvc)
        existing = r.RolloutState.from_annotation((isvc.raw.get("metadata") or {}).get("annotations", {}).get(
            r.ANNOTATION))
        if self.resume:
            if existing is None:
                raise MlopsError(Kind.REFUSED, f"{self.name} has no rollout to resume (no {r.ANNOTATION})",
                                 hint="start one: mlopstui rollout NAME --steps 10,25,50,100 ...")
            if existing.phase in r.FINAL_PHASES:
                raise MlopsError(Kind.REFUSED, f"the rollout of {self.name} is {existing.phase}: nothing to resume")
            self.state = existing
            self.plan = existing.plan
            if existing.canary and isvc.latest_created != existing.canary:
                raise _Aborted(f"the rollout was of revision {existing.canary}, the latest is now "
                               f"{isvc.latest_created}")
            self.state.phase, self.state.reason = "running", "resumed"
            self.state.owner = _owner()
            self.emit("resumed", step=self.state.step, percent=self.plan.steps[self.state.step])
            return isvc
        if self.plan is None:
            raise MlopsError(Kind.INVALID, "no rollout plan")
        if existing is not None and existing.phase not in r.FINAL_PHASES:
            raise MlopsError(Kind.REFUSED, f"{self.name} already has a rollout {existing.effective_phase(time.time())}"
                             f" at step {existing.plan.steps[existing.step]}%",
                             hint="continue it with --resume, or remove the annotation to start over")
        canary, stable = isvc.canary_revision, isvc.stable_revision
        if not canary or not stable or canary == stable:
            raise MlopsError(Kind.REFUSED, f"{self.name}: nothing to roll out: the latest revision "
                             f"{canary or '-'} already takes the traffic",
                             hint="serve a new model first (mlopstui set-model NAME URI --percent 0)")
        now = time.time()
        self.state = r.RolloutState(plan=self.plan, step=0, phase="running", started=now, canary=canary,
                                    stable=stable, owner=_owner(), updated=now)
        self.emit("started", plan=self.plan.to_dict(), canary=canary, stable=stable)
        return isvc

    def _run(self) -> Outcome:
        isvc = self._start()
        st, plan = self.state, self.plan
        assert st is not None and plan is not None
        # the signal first: without one no gate can pass, so no traffic is moved (never blind)
        signal = self._signal(isvc) if plan.steps[st.step] != 100 else None
        if signal is None and plan.steps[st.step] != 100:
            why = next((e["message"] for e in reversed(self.events) if e["event"] == "no-signal"), "no signal")
            msg = f"{self.name}: not {'resumed' if self.resume else 'started'}: the gates could not pass: {why}"
            self.emit("refused", message=msg)
            return Outcome(EXIT_NO_SIGNAL, "not started", msg, self.events)
        while True:
            percent = plan.steps[st.step]
            last = st.step == len(plan.steps) - 1
            st.step_started = time.time()
            st.phase = "promoted" if last else "running"
            st.reason = "promoted: every gate passed" if last else f"step {percent}%"
            stopped = self._controlled()
            if stopped is not None:
                return stopped
            if last:
                isvc = self._apply(RolloutPromote(self.ctx, self.namespace, self.name, st))
                self.emit("promoted", message=st.reason)
                return Outcome(EXIT_PROMOTED, "promoted", f"{self.name}: {st.canary} promoted to 100%",
                               self.events)
            if self.resume and isvc.canary_percent == percent and self.last_percent is None:
                self.emit("step", step=st.step, percent=percent, note="already applied before the resume")
            else:
                self.emit("step", step=st.step, percent=percent)
                isvc = self._apply(StepCanary(self.ctx, self.namespace, self.name, percent, st))
            self.last_percent = percent
            verdict, results, measured = self._measure(signal, plan, st)
            st.gates = [g.to_dict() for g in results]
            st.measured = measured
            self.emit("gates", step=st.step, percent=percent, verdict=verdict, gates=st.gates, measured=measured)
            if self.control.mode is not None and verdict != "fail":  # a failed gate still rolls back
                stopped = self._controlled()
                if stopped is not None:
                    return stopped
            if verdict == "fail":
                bad = next(g for g in results if g.ok is False)
                st.phase = "rolled-back"
                st.reason = f"gate {bad.gate} failed at step {percent}%: {bad.text}"
                self._apply(RolloutRollback(self.ctx, self.namespace, self.name, st))
                self.emit("rolled-back", message=st.reason)
                return Outcome(EXIT_ROLLED_BACK, "rolled-back", f"{self.name}: rolled back: {st.reason}",
                               self.events)
            if verdict == "wait":
                why = next((g.text for g in results if g.ok is None), "no signal")
                st.phase = "paused"
                st.reason = f"paused at step {percent}%: the gates cannot pass: {why}"
                self._apply(RolloutMark(self.ctx, self.namespace, self.name, st))
                self.emit("paused", message=st.reason)
                return Outcome(EXIT_NO_SIGNAL, "paused", f"{self.name}: {st.reason}", self.events)
            if plan.pause_s is None:  # manual: the next step waits for --resume
                st.step += 1
                st.phase = "paused"
                st.reason = f"manual pause: gates passed at {percent}%; --resume applies {plan.steps[st.step]}%"
                self._apply(RolloutMark(self.ctx, self.namespace, self.name, st))
                self.emit("paused", message=st.reason)
                return Outcome(EXIT_PROMOTED, "paused", f"{self.name}: {st.reason}", self.events)
            st.step += 1

    def _signal(self, isvc: m.InferenceService):
        if self.signal_factory is not None:
            return self.signal_factory(isvc)
        from mlopstui.backends.signals import choose

        st = self.state
        try:
            sig, why = choose(self.ctx, isvc, [st.canary or "", st.stable or ""] if st else [], self.signal)
        except MlopsError as exc:
            self.emit("no-signal", message=exc.message)
            return None
        self.emit("signal", signal=getattr(sig, "kind", ""), source=sig.source, **({"note": why} if why else {}))
        return sig

    def _measure(self, signal, plan: r.RolloutPlan, st: r.RolloutState):
        if signal is None:
            verdict, results = r.evaluate(plan.gates, None)
            return verdict, results, {}
        kind = getattr(signal, "kind", "")
        need = plan.gates.min_requests
        pause = plan.pause_s if plan.pause_s is not None else 0.0
        self.emit("measuring", source=signal.source, seconds=pause)
        per_rev = signal.collect(pause, enough=lambda counts: counts.get(st.canary or "", 0) >= need,
                                 max_seconds=r.measure_bound(plan.pause_s), stop=self.control.event)
        canary = per_rev.get(st.canary or "")
        stable = per_rev.get(st.stable or "")
        for meas in (canary, stable):
            if meas is not None:
                meas.source = kind or signal.source
        measured = {"signal": kind, "source": signal.source,
                    "canary": canary.to_dict() if canary else None, "stable": stable.to_dict() if stable else None}
        verdict, results = r.evaluate(plan.gates, canary, stable)
        return verdict, results, measured


class _Aborted(Exception):
    pass


class _Halted(Exception):
    pass


def _owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


__all__ = ["Rollout", "Outcome", "follow_status"]

"""Rollout view of one InferenceService (Serving area, `R`): the progressive canary of actions/rollout.py.

Shows the plan's steps with the current one highlighted, the phase and reason from the annotation
``mlopstui.dev/rollout``, the gates' last verdicts, the signal's source, and per revision (canary, stable)
request rate, error rate and p95 as sparklines over the last minutes (from Prometheus the last minutes at
once by a range query, then a sample every SAMPLE_S from the same signal the gates use: Prometheus or the
model servers' /metrics; a synthetic signal is not sampled, it would send load: its numbers appear at each
gate).

Keys: `s` start (steps and pause asked, gates from the settings' `rollout:`), `z` pause, `r` resume,
`x` abort (roll back), `g` skip to promote. Each opens the plan of its write in the confirm dialog and
applies it through the action (audited; read-only refuses). The loop runs in an app worker thread, never on
the UI thread; `z`/`x`/`g` first halt it before its next write (nothing written), so the confirmed plan is
the only write. Leaving the view while the loop runs PAUSES the rollout (the annotation says so and why);
`R` then `r` resumes it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import rollout as r
from mlopstui.screens.base import AreaScreen
from mlopstui.text import clean, safe
from mlopstui.units import clock

SAMPLE_S = 2.0
SAMPLE_WINDOW_S = 30.0
HISTORY = 90  # points: 3 minutes at SAMPLE_S
SERIES = (("rate", "req/s"), ("err", "err %"), ("p95", "p95 ms"))


class RolloutScreen(AreaScreen):
    AREA = "serving"
    TITLE = "Serving"
    BINDINGS = [
        Binding("s", "start_rollout", "Start"),
        Binding("z", "pause_rollout", "Pause"),
        Binding("r", "resume_rollout", "Resume"),
        Binding("x", "abort_rollout", "Abort"),
        Binding("g", "promote_rollout", "Promote"),
    ]
    DEFAULT_CSS = """
    RolloutScreen #ro-head { height: auto; padding: 0 1; }
    RolloutScreen #ro-steps { height: 1; padding: 0 1; }
    RolloutScreen .ro-row { height: 1; }
    RolloutScreen .ro-label { width: 16; padding: 0 1; }
    RolloutScreen .ro-value { width: 10; }
    RolloutScreen Sparkline { width: 1fr; height: 1; margin: 0 1 0 0; }
    RolloutScreen #ro-gates { height: auto; padding: 0 1; border-top: solid $panel; }
    RolloutScreen #ro-event { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, namespace: str, name: str):
        super().__init__()
        self.namespace, self.name_ = namespace, name
        self.TITLE = f"Serving › {name} › rollout"
        self.isvc: Any = None
        self.state: r.RolloutState | None = None
        self.history: dict[tuple[str, str], deque[float]] = {}
        self.source = "-"
        self.last_event = ""
        self.events: list[dict[str, Any]] = []
        self.loop: Any = None  # the Rollout running in this process
        self.control: Any = None
        self._after_loop: Any = None  # what to do once the halted loop has stopped
        self._stop_sampling = threading.Event()
        self._sampler: Any = None
        self._sampler_key: tuple | None = None
        self._sampling = False
        self._prev_scrape: Any = None

    # -- layout -------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static("loading ...", id="ro-head", markup=False)
        yield Static("", id="ro-steps")
        with Vertical(id="ro-series"):
            for role in ("canary", "stable"):
                for key, label in SERIES:
                    with Horizontal(classes="ro-row"):
                        yield Static(f"{role} {label}", classes="ro-label", markup=False)
                        yield Static("-", id=f"v-{role}-{key}", classes="ro-value", markup=False)
                        yield Sparkline([], id=f"sp-{role}-{key}")
        yield Static("", id="ro-gates", markup=False)
        yield Static("s start · z pause · r resume · x abort (roll back) · g promote now", id="ro-event",
                     markup=False)

    def on_mount(self) -> None:
        self.set_interval(SAMPLE_S, self._sample)

    def on_unmount(self) -> None:
        self._stop_sampling.set()
        if self.loop is not None and self.control is not None:
            self.control.request("pause", "the TUI's rollout view was closed")
            self.app.notify(f"rollout of {self.name_} pauses: its view was closed (the annotation says so); "
                            "R then r resumes it", timeout=10)

    # -- data ---------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        from mlopstui.backends.kserve import get_isvc

        ctx, ns, name = self.ctx, self.namespace, self.name_
        self.run_io(lambda: get_isvc(ctx.kube, ns, name), self._loaded,
                    lambda e: self.show_error(e, f"reading {name}"), group="rollout-read")

    def _loaded(self, isvc) -> None:
        self.isvc = isvc
        self.loaded_at = clock()
        ann = ((isvc.raw.get("metadata") or {}).get("annotations") or {}).get(r.ANNOTATION)
        try:
            self.state = r.RolloutState.from_annotation(ann)
        except MlopsError as err:
            self.state = None
            self.show_error(err, "the rollout annotation")
        self._show_view()

    def _show_view(self) -> None:
        s, st, now = self.isvc, self.state, clock()
        if s is None:
            return
        head = [f"{s.namespace}/{s.name} · canary {s.canary_revision or '-'} ({s.canary_percent}%) · "
                f"stable {s.stable_revision or '-'}"]
        if st is None:
            head.append("no rollout recorded: s starts one with the settings' rollout defaults")
        else:
            head.append(f"phase {st.effective_phase(now)}{' (running here)' if self.loop else ''} · "
                        f"{st.plan.text()}")
            if st.reason:
                head.append(st.reason)
        head.append(f"signal: {self.source}")
        self.query_one("#ro-head", Static).update(safe("\n".join(head)))
        steps = self.query_one("#ro-steps", Static)
        if st is None:
            steps.update("")
        else:
            parts = []
            for i, pct in enumerate(st.plan.steps):
                cur = i == st.step and st.effective_phase(now) not in r.FINAL_PHASES
                parts.append(f"[reverse b] {pct}% [/]" if cur else f" {pct}% ")
            steps.update("steps: " + " → ".join(parts))
        gates = st.gates if st else []
        lines = []
        for g in gates:
            mark = {True: "ok  ", False: "FAIL", None: "wait"}.get(g.get("ok"), "?   ")
            lines.append(f"{mark} {g.get('gate')}: {g.get('text')}")
        self.query_one("#ro-gates", Static).update(safe("\n".join(lines) or "gates: no verdict yet"))
        if self.last_event:
            self.query_one("#ro-event", Static).update(safe(self.last_event))

    # -- sparklines ---------------------------------------------------------------------------------
    def _push(self, role: str, meas: Any, seconds: float) -> None:
        if meas is None:
            return
        values = {"rate": meas.requests / max(seconds, 0.001), "err": (meas.error_rate or 0.0) * 100,
                  "p95": meas.p95_ms}
        for key, _ in SERIES:
            v = values[key]
            if v is None:
                continue
            h = self.history.setdefault((role, key), deque(maxlen=HISTORY))
            h.append(float(v))
            self.query_one(f"#sp-{role}-{key}", Sparkline).data = list(h)
            self.query_one(f"#v-{role}-{key}", Static).update(f"{v:.1f}" if key != "err" else f"{v:.1f}%")

    def _sample(self) -> None:
        st, isvc = self.state, self.isvc
        canary = (st.canary if st else None) or (isvc.canary_revision if isvc else None)
        stable = (st.stable if st else None) or (isvc.stable_revision if isvc else None)
        if isvc is None or not canary or self._stop_sampling.is_set() or self._sampling:
            return  # one sample at a time: a slow answer is not cancelled by the next tick
        self._sampling = True
        ctx, prefer = self.ctx, self.ctx.settings.rollout.signal
        key = (canary, stable)
        known = self._sampler if self._sampler_key == key else None

        def sample():
            from mlopstui.backends.signals import choose

            sig = known
            hist = None
            if sig is None:
                sig, _why = choose(ctx, isvc, [canary, stable or ""], prefer)
                self._prev_scrape = None
                if sig.kind == "prometheus":  # the last minutes at once: the sparklines start full
                    hist = sig.history(HISTORY * SAMPLE_S / 60, SAMPLE_S, SAMPLE_WINDOW_S)
            if sig.kind == "synthetic":
                return sig, {}
            if sig.kind == "prometheus":
                got = sig.sample(SAMPLE_WINDOW_S)
                return sig, ({"_history": hist} if hist else {}) | got
            cur = {rev: sig.scrape(rev) for rev in sig.revisions}
            prev, self._prev_scrape = self._prev_scrape, (time.monotonic(), cur)
            if not prev:
                return sig, {}
            dt = time.monotonic() - prev[0]
            return sig, {rev: r.measure_from_scrapes([prev[1][rev], cur[rev]], "pod-metrics")
                         for rev in cur if rev in prev[1]} | {"_dt": dt}

        def done(res) -> None:
            sig, got = res
            self._sampling = False
            self._sampler, self._sampler_key = sig, key
            hist = got.pop("_history", None) or {}
            for rev, role in ((canary, "canary"), (stable, "stable")):
                for series, values in (hist.get(rev or "") or {}).items():
                    self.history[(role, series)] = deque(values[-HISTORY:], maxlen=HISTORY)
            self.source = f"{sig.kind}: {clean(sig.source)}" + (
                " (not sampled: synthetic requests are sent only while a step measures)"
                if sig.kind == "synthetic" else "")
            seconds = got.pop("_dt", SAMPLE_WINDOW_S) if isinstance(got, dict) else SAMPLE_WINDOW_S
            self._push("canary", got.get(canary), seconds)
            self._push("stable", got.get(stable or ""), seconds)
            self._show_view()

        def failed(err: MlopsError) -> None:
            self._sampling = False
            self._sampler = None
            self.source = f"none: {err.message}"
            self._show_view()

        self.run_io(sample, done, failed, group="rollout-sample", timeout=15.0)

    # -- the loop in a worker -------------------------------------------------------------------------
    def _run_loop(self, plan: r.RolloutPlan | None, resume: bool) -> None:
        from mlopstui.actions.rollout import Control, Rollout

        app, ctx = self.app, self.ctx
        self.control = Control()
        self.loop = Rollout(ctx, self.namespace, self.name_, plan, resume=resume, control=self.control,
                            on_event=lambda ev: app.call_from_thread(self._on_event, ev),
                            signal=ctx.settings.rollout.signal)
        loop = self.loop

        def work() -> None:
            try:
                outcome = loop.run()
                app.call_from_thread(self._loop_done, outcome, None)
            except Exception as exc:  # noqa: BLE001 - shown inline
                from mlopstui.errors import from_exception

                app.call_from_thread(self._loop_done, None, from_exception(exc))

        # an app worker: it outlives this screen, so closing the view can still write the pause
        app.run_worker(work, thread=True, group=f"rollout-{self.namespace}-{self.name_}", exit_on_error=False)

    def _on_event(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)
        if not self.is_attached:  # the view was closed: the loop goes on to its pause, told by notify
            return
        words = ev.get("message") or ev.get("source") or ""
        if ev["event"] == "step":
            words = f"step {ev['step'] + 1}: canary {ev['percent']}%"
        elif ev["event"] == "gates":
            words = f"step {ev['percent']}%: {ev['verdict']}"
            meas = ev.get("measured") or {}
            for role in ("canary", "stable"):
                m = meas.get(role)
                if m:
                    self._push(role, r.Measure(m["requests"], m["errors"], m.get("p95_ms"), ""),
                               max(1.0, (self.state.plan.pause_s or 1.0) if self.state else 1.0))
        self.last_event = clean(f"{ev['event']}: {words}")
        self.refresh_data()

    def _loop_done(self, outcome, err: MlopsError | None) -> None:
        self.loop, after, self._after_loop = None, self._after_loop, None
        if err is not None:
            self.last_event = f"rollout stopped: {err.message}"
        elif outcome is not None:
            self.last_event = clean(f"rollout {outcome.phase}: {outcome.message}")
        if not self.is_attached:
            self.app.notify(self.last_event, timeout=10)
            return
        self.set_status(self.last_event, error=bool(err) or (outcome is not None and outcome.code not in (0, 130)))
        self.refresh_data()
        if after is not None:
            after()

    # -- keys -----------------------------------------------------------------------------------------
    def _confirm(self, action, then=None) -> None:
        """plan (in a worker) -> ConfirmPlan -> then(action, plan) or apply (audited) -> follow."""
        from mlopstui.screens.confirm import ConfirmPlan

        def planned(plan) -> None:
            def decided(yes: bool | None) -> None:
                if not yes:
                    self.set_status(f"{action.name} cancelled: nothing sent")
                    return
                ctx = self.ctx
                if then is not None and not ctx.readonly:
                    then(action, plan)
                    return
                self.set_status(f"{action.name}: patching {self.name_} ...")
                self.run_io(lambda: action.apply(plan, readonly=ctx.readonly, audit=ctx.audit),
                            lambda res: self._applied(action, res),
                            lambda e: self.show_error(e, f"{action.name} not applied"), group="rollout-apply")

            self.app.push_screen(ConfirmPlan(plan, self.ctx.readonly), decided)

        self.run_io(action.plan, planned, lambda e: self.show_error(e, f"{action.name} not sent"),
                    group="rollout-plan")

    def _applied(self, action, result) -> None:
        self.set_status(f"{result.message}; following status ...")
        self.run_io(lambda: action.follow(timeout=60.0), lambda res: (self.set_status(res.message), self.refresh_data()),
                    lambda e: self.show_error(e, "following status"), group="rollout-follow", timeout=75.0)

    def _halt_then(self, what: str, fn) -> None:
        """Stop the running loop before its next write (nothing written), then fn(); at once if none runs."""
        if self.loop is None:
            fn()
            return
        self._after_loop = fn
        self.control.request("halt")
        self.set_status(f"{what}: halting the running rollout before its next write ...")

    def action_start_rollout(self) -> None:
        from mlopstui.actions.rollout import StepCanary
        from mlopstui.screens.confirm import PromptValue

        if self.loop is not None:
            self.set_status("a rollout is running here already", error=True)
            return
        if self.state is not None and self.state.phase not in r.FINAL_PHASES:
            self.set_status(f"a rollout is recorded ({self.state.effective_phase(clock())}): r resumes it, "
                            "x aborts it; nothing sent", error=True)
            return
        d = self.ctx.settings.rollout

        def got(text: str | None) -> None:
            if text is None:
                self.set_status("cancelled: nothing sent")
                return
            words = text.split()
            try:
                if len(words) != 2:
                    raise MlopsError(Kind.INVALID, f"expected STEPS PAUSE, e.g. {d.steps} {d.pause}")
                plan = r.plan_from(words[0], words[1], d.max_error_rate, d.max_p95, d.max_p95_ratio, d.min_requests)
                isvc = self.isvc
                if isvc is None:
                    raise MlopsError(Kind.REFUSED, "the InferenceService is not loaded yet")
                preview = r.RolloutState(plan=plan, started=time.time(), canary=isvc.canary_revision,
                                         stable=isvc.stable_revision)
            except MlopsError as err:
                self.show_error(err, "refused, nothing sent")
                return
            action = StepCanary(self.ctx, self.namespace, self.name_, plan.steps[0], preview)
            self._confirm(action, lambda _a, _p: self._run_loop(plan, resume=False))

        self.app.push_screen(PromptValue(f"rollout of {self.name_}: STEPS PAUSE (gates: error rate <= "
                                         f"{d.max_error_rate}, p95 <= {d.max_p95 or '-'}, min {d.min_requests} "
                                         f"requests; signal {d.signal})", f"{d.steps} {d.pause}",
                                         "10,25,50,100 60s"), got)

    def _recorded(self) -> r.RolloutState | None:
        if self.state is None:
            self.set_status("no rollout recorded on this InferenceService: s starts one", error=True)
        return self.state

    def action_resume_rollout(self) -> None:
        from mlopstui.actions.rollout import StepCanary

        if self.loop is not None:
            self.set_status("the rollout is running here", error=True)
            return
        st = copy.deepcopy(self._recorded())
        if st is None:
            return
        if st.phase in r.FINAL_PHASES:
            self.set_status(f"the rollout is {st.phase}: nothing to resume", error=True)
            return
        st.phase = "running"
        action = StepCanary(self.ctx, self.namespace, self.name_, st.plan.steps[st.step], st)
        self._confirm(action, lambda _a, _p: self._run_loop(None, resume=True))

    def _final(self, kind: str) -> None:
        from mlopstui.actions.rollout import RolloutMark, RolloutPromote, RolloutRollback

        def go() -> None:
            st = copy.deepcopy(self._recorded())
            if st is None:
                return
            if st.phase in r.FINAL_PHASES:
                self.set_status(f"the rollout is {st.phase}: nothing to {kind}; nothing sent", error=True)
                return
            pct = st.plan.steps[st.step]
            if kind == "pause":
                st.phase, st.reason = "paused", (f"paused at step {pct}% by the operator (TUI); r or "
                                                 f"`mlopstui rollout {self.name_} --resume` continues")
                action = RolloutMark(self.ctx, self.namespace, self.name_, st)
            elif kind == "abort":
                st.phase, st.reason = "rolled-back", f"aborted by the operator at step {pct}%: rolled back"
                action = RolloutRollback(self.ctx, self.namespace, self.name_, st)
            else:
                st.phase, st.reason = "promoted", f"promoted by the operator at step {pct}% (gates skipped)"
                action = RolloutPromote(self.ctx, self.namespace, self.name_, st)
            self._confirm(action)

        self._halt_then(kind, go)

    def action_pause_rollout(self) -> None:
        self._final("pause")

    def action_abort_rollout(self) -> None:
        self._final("abort")

    def action_promote_rollout(self) -> None:
        self._final("promote")

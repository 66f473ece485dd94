"""Area 1, the home screen: every component of the stack, its readiness, live probe, version and worst
finding; the doctor's findings for the selected component below.

A sweep = one worker that reads the cluster (and plans the probes), then one worker per probe, each with
its own hard timeout: a hung endpoint delays only its own row. Rows are rebuilt (pure, cheap) as each
probe answers. The cluster objects come from the shared watch caches (backends/stack_watch.py): a change
rebuilds the report, no list while idle; the probes run every settings.refresh_interval; ctrl+r now.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from mlopstui.errors import MlopsError
from mlopstui.screens.base import AreaScreen
from mlopstui.screens.stack_sweep import CacheChanged, StackUpdated, rebuild_in_worker, sweep_in_worker
from mlopstui.text import safe
from mlopstui.units import ago, clock, human_age
from mlopstui.widgets.columns import Col
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic
from mlopstui.widgets.styles import HEALTH_STYLE, SEVERITY_STYLE

if TYPE_CHECKING:
    from mlopstui.doctor import Finding
    from mlopstui.models.stack import ComponentStatus, ProbeResult
    from mlopstui.models.stack.report import ClusterState, StackReport

# the worst finding comes before version and age: at 80 columns it is what must stay on screen
REBUILD_COALESCE_S = 0.3  # watch events this close together make one rebuild of the cluster part
# ... and a rebuild waits at least this many times as long as the last one took: under a sustained burst of
# watch events (500 pod updates at scale) rebuilds take at most a third of a core, not all of it (the UI
# thread shares the GIL with the worker: bench/bench_scale.py's loop lag)
REBUILD_SPACING = 2.0
SLOW_PROBE_S = 2.0  # a sweep still probing after this long says so under the table
# priorities (widgets/columns.py): at 80 columns the component, its readiness and its worst finding stay; the
# finding is cut with an ellipsis before the probe, then the restarts, version and age give way
COLUMNS = (Col("COMPONENT", 0), Col("INST", 3), Col("READY", 0), Col("RESTARTS", 4), Col("PROBE", 1, wide=True, min_width=16),
           Col("FINDING", 0, wide=True, min_width=20), Col("VERSION", 5), Col("AGE", 6))
FINDING_COLUMNS = (Col("SEV", 0), Col("COMPONENT", 1), Col("FINDING", 0, wide=True, min_width=20))
# how a probe went through the API server, shortened for the table (backends/routes.py VIA_TEXT)
ROUTE_TAGS = ((" via API proxy", " [proxy]"), (" via port-forward", " [fwd]"))


SLOW_MS = 2000.0  # a probe answer this slow is marked "slow" in the table ...
FAST_AGAIN_MS = 1000.0  # ... until one answers faster than this (hysteresis: no flapping near the line)


def is_slow(latency_ms: float | None, was_slow: bool) -> bool:
    if latency_ms is None:
        return was_slow
    return latency_ms >= (FAST_AGAIN_MS if was_slow else SLOW_MS)


def probe_cell_text(summary: str, slow: bool = False) -> str:
    """The table's probe text without the latency ("HTTP 200", not "HTTP 200 24ms", which changes on every
    sweep and would repaint the row each time); a slow endpoint is marked "slow". The component's detail
    keeps the exact figure."""
    import re

    text = re.sub(r"\s*\d+ms$", "", summary)
    return f"{text} slow" if slow else text


def component_cells(c: ComponentStatus, cluster_known: bool = True, slow: bool = False) -> list[Any]:
    """One table row, readable without colour: a symbol and words carry the health.

    Without a readable cluster, "installed" is unknown ("?"), not "no"."""
    from mlopstui.models.stack import HEALTH_SYMBOL, ProbeState

    h = c.health
    style = HEALTH_STYLE[h.value]
    wf = c.worst_finding
    probe = c.probe.summary if c.probe.state is not ProbeState.SKIPPED else (c.probe.summary or "-")
    tag = ""
    for long, short in ROUTE_TAGS:  # at 80 columns the finding must stay on screen: the drill-in says it all
        if probe.endswith(long):
            probe, tag = probe[: -len(long)], short
    if c.probe.state in (ProbeState.OK, ProbeState.DEGRADED):
        probe = probe_cell_text(probe, slow)  # the latency goes before the route's tag is put back
    probe += tag
    probe_style = {"ok": "green", "degraded": "yellow", "failed": "bold red", "timeout": "bold red",
                   "pending": "cyan", "skipped": "dim"}[c.probe.state.value]
    if c.probe.state in (ProbeState.FAILED, ProbeState.TIMEOUT):
        probe = f"✗ {probe}"
    restarts = "-"
    if c.installed:
        restarts = str(c.restarts) + (f" {c.problem}" if c.problem else "")
    finding = "-"
    if wf is not None:
        more = f" (+{len(c.findings) - 1})" if len(c.findings) > 1 else ""
        finding = f"{wf.severity.symbol} {wf.summary}" + more
    return [
        Text(f"{HEALTH_SYMBOL[h]} {c.spec.title}", style=style),
        Text("yes" if c.installed else ("no" if cluster_known else "?"),
             style="" if c.installed else ("dim" if cluster_known else "yellow")),
        Text(f"{c.ready}/{c.desired}" if c.installed else "-",
             style="bold red" if c.installed and c.desired and c.ready == 0 else
             ("yellow" if c.ready < c.desired else "")),
        Text(restarts, style="bold red" if c.problem else ""),
        Text(probe, style=probe_style),
        Text(finding, style=SEVERITY_STYLE.get(wf.severity.value, "") if wf else "dim"),
        Text(c.version if (c.installed or c.probe.ok) else "-"),
        Text(human_age(c.age) if c.installed else "-"),
    ]


def finding_cells(f: Finding) -> list[Any]:
    return [Text(f"{f.severity.symbol} {f.severity.value}", style=SEVERITY_STYLE[f.severity.value]),
            Text(f.component), Text(f.summary)]


class StackScreen(AreaScreen):
    AREA = "stack"
    TITLE = "Stack"
    CSS_PATH = "stack.tcss"
    BINDINGS = [
        Binding("enter", "drill", "Open"),
        Binding("d", "doctor", "Doctor"),
        Binding("f", "fix", "Fix"),
        Binding("a", "toggle_scope", "All/one"),
        Binding("i", "install", "Install"),
        Binding("l", "logs", "Logs", show=False),
        Binding("y", "yaml", "YAML", show=False),
    ]
    COMMANDS_HELP = [("doctor", "open the doctor's findings (all components)"),
                     ("status", "the Stack table (this screen)")]

    def __init__(self) -> None:
        super().__init__()
        self.state: ClusterState | None = None
        self.probes: dict[str, ProbeResult] = {}
        self.report: StackReport | None = None
        self.fixes: dict[str, Any] = {}  # finding key -> FixSpec | NoFix, computed with the report
        self.pending: set[str] = set()
        self.sweep_started: float | None = None
        self.sweeps = 0
        self.first_rows_pending = True  # until the first StackUpdated is painted (MlopsApp.first_rows_shown)
        self._first_painted = threading.Event()  # the first sweep's watches and probes wait for it
        self.first_rows_at: float | None = None  # wall time the first rows were painted
        self.all_findings = False
        self._sweep_id = 0
        self._announce_probing = True
        self._slow: set[str] = set()  # components whose probe is marked slow (see is_slow)
        self._render_count = 0
        self._status_after_sweep: str | None = None  # e.g. an install's result, kept past the next sweep
        self._cluster_status = False  # the status line shows a cluster error (a rebuild may clear it)
        # the watch caches (backends/stack_watch.py): a change posts CacheChanged, rebuilt after a short pause
        self._informers_ref: Any = None
        self._cache_infs: list = []
        self._cache_posted = False
        self._dirty = False
        self._rebuilding = False
        self._rebuild_timer: Any = None
        self._rebuild_id = 0
        self._force_rebuild = False
        self._probe_gen = 0  # probe answers taken (a rebuild built on older ones is done again)
        self._rebuild_probe_gen = 0
        self.rebuilds = 0  # rebuild workers started (tests: a burst of watch events is one rebuild)
        self._rebuild_took = 0.0  # seconds, the last rebuild worker's (REBUILD_SPACING)

    # -- layout ------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield FilterTable(id="components")
        yield QuietStatic("", id="stack-age")
        yield QuietStatic("", id="findings-title")
        yield FilterTable(id="findings")

    def on_mount(self) -> None:
        self.query_one("#components", FilterTable).set_columns(*COLUMNS)
        self.query_one("#findings", FilterTable).set_columns(*FINDING_COLUMNS)
        self.query_one("#components", FilterTable).focus()
        # the cluster part comes from the shared watch caches (a change rebuilds it); the live probes keep
        # their own interval
        self.set_interval(self.ctx.settings.refresh_interval, self._periodic)
        self.set_interval(1.0, self._tick_age)

    def on_unmount(self) -> None:
        infs = self._informers_ref
        if infs is not None:
            infs.unsubscribe(self._cache_listener)

    # -- the sweep ---------------------------------------------------------------------------------
    def refresh_data(self, periodic: bool = False) -> None:
        """One worker per sweep: the cluster from the watch caches (periodic: the last state, probes only;
        a kind without a cache is read again), the probes concurrently (each with its own timeout), and
        after the cluster read and after each batch of probe answers (those within COALESCE_S of each
        other) build the report and the fixes there and post one StackUpdated. The UI thread only renders."""
        self._sweep_id += 1
        sid = self._sweep_id
        self.sweep_started = clock()
        # a sweep someone asked for (or the first) says what it still waits for; a periodic one keeps the
        # last answers on screen until new ones come, silently
        self._announce_probing = not periodic or self.report is None
        ctx = self.ctx
        previous = dict(self.probes)
        keep = self.state if (periodic and self._caches_cover()) else None
        if not periodic and self._informers_ref is not None:
            self._informers_ref.retry_absent()  # ctrl+r: a CRD installed since is asked for now
        budget = ctx.settings.kube_timeout * 3 + ctx.settings.probe_timeout + 5.0
        self.run_io(lambda: self._sweep(ctx, previous, sid, keep), lambda _none: None,
                    lambda err: self._cluster_failed(sid, err), group="stack-sweep", timeout=budget)
        self._tick_age()

    def _sweep(self, ctx: Any, previous: dict, sid: int, keep: ClusterState | None) -> None:
        painted = self._first_painted if self.first_rows_pending else None
        try:  # known to the rebuilds at once (their "nothing changed" check), not only once the probes answered
            self._informers_ref = ctx.informers
        except MlopsError:
            pass
        sweep_in_worker(ctx, previous, lambda msg: self.post_message(msg), sid, state=keep,
                        listener=self._cache_listener, state_now=lambda: self.state, painted=painted)
        self._remember_informers(ctx)

    def _remember_informers(self, ctx: Any) -> None:
        from mlopstui.backends.stack_watch import stack_informers

        try:
            infs = ctx.informers
            self._informers_ref, self._cache_infs = infs, stack_informers(infs)
        except MlopsError:
            self._informers_ref, self._cache_infs = None, []

    def _caches_cover(self) -> bool:
        """Every kind the sweep reads has a cache that listed (or is not served): nothing to re-read."""
        from mlopstui.backends.informer import ABSENT

        infs = self._cache_infs
        return bool(infs) and self.state is not None and self.state.error is None and all(
            i.lists > 0 or i.state.state == ABSENT for i in infs)

    def _cache_listener(self) -> None:
        """From an informer's thread: at most one CacheChanged in flight; a burst of events is one rebuild."""
        if not self._cache_posted:
            self._cache_posted = True
            self.post_message(CacheChanged())

    def on_cache_changed(self, _msg: CacheChanged) -> None:
        self._cache_posted = False
        self._dirty = True
        if self._rebuild_timer is None and self._visible():
            self._rebuild_timer = self.set_timer(self._rebuild_delay(), self._rebuild)

    def _rebuild_delay(self) -> float:
        return max(REBUILD_COALESCE_S, REBUILD_SPACING * self._rebuild_took)

    def _visible(self) -> bool:
        return self.is_current or self.app.screen is self or self in self.app.screen_stack

    def on_screen_resume(self) -> None:
        if self._dirty and self._rebuild_timer is None:
            self._rebuild()

    def _rebuild(self) -> None:
        """The cluster part again from the caches (no request for the cached kinds), one at a time: a
        change that lands meanwhile runs the next one when this one is done."""
        self._rebuild_timer = None
        if self._rebuilding or self.state is None:
            return  # the first sweep's report comes first (with its pending probes); dirty stays for after
        self._dirty = False
        infs = self._informers_ref
        from mlopstui.backends.stack_watch import stack_version

        if infs is not None and self.state is not None and self.state.cache_version == stack_version(infs) \
                and not self._force_rebuild:
            return  # nothing changed since the caches were read (the first lists landed during the sweep)
        self._rebuilding, self._force_rebuild = True, False
        self._rebuild_id += 1
        self.rebuilds += 1
        rid, ctx = self._rebuild_id, self.ctx
        started = time.monotonic()

        def done(infs: list | None) -> None:
            self._rebuilding = False
            self._rebuild_took = time.monotonic() - started
            if infs:
                self._cache_infs = infs
            if self._dirty and self._rebuild_timer is None:
                self._rebuild_timer = self.set_timer(self._rebuild_delay(), self._rebuild)

        def failed(err: MlopsError) -> None:
            done(None)
            self._cluster_failed(self._sweep_id, err)

        def probes_now() -> dict:
            self._rebuild_probe_gen = self._probe_gen
            return dict(self.probes)

        self.run_io(lambda: rebuild_in_worker(ctx, probes_now, lambda msg: self.post_message(msg),
                                              rid, self._cache_listener),
                    done, failed, group="stack-rebuild", timeout=ctx.settings.kube_timeout * 3 + 5.0)

    def _periodic(self) -> None:
        if self._visible():
            self.refresh_data(periodic=True)

    def _first_rows_painted(self) -> None:
        self.first_rows_at = time.time()
        self._first_painted.set()  # the first sweep goes on: watches, probes (stack_sweep.sweep_in_worker)
        self.mapp.first_rows_shown()  # the app's start is over: its key bar, the API check

    def _cluster_failed(self, sid: int, err: MlopsError) -> None:
        if sid != self._sweep_id:
            return
        self.show_error(err, "cluster")

    def on_stack_updated(self, message: StackUpdated) -> None:
        if message.rebuild:
            if message.sweep_id != self._rebuild_id:
                return  # a superseded rebuild
            if self._rebuild_probe_gen != self._probe_gen:  # probe answers came meanwhile: build again
                self._dirty = self._force_rebuild = True
                if not self._rebuilding and self._rebuild_timer is None:
                    self._rebuild_timer = self.set_timer(self._rebuild_delay(), self._rebuild)
                return
        elif message.sweep_id != self._sweep_id:
            return  # a superseded sweep
        else:
            self.probes, self.pending = dict(message.probes), set(message.pending)
            self._probe_gen += 1
        state = message.report.state
        if self.state is not None and state.at < self.state.at and message.first:
            return  # a cluster read older than the one on screen (a rebuild landed first)
        self.state, self.report, self.fixes = state, message.report, message.fixes
        self.loaded_at = state.at
        if message.first and not message.rebuild and self._dirty and self._rebuild_timer is None:
            self._rebuild_timer = self.set_timer(self._rebuild_delay(), self._rebuild)  # changes during the sweep
        if message.first:  # the cluster was read: its errors (or none) replace the status line
            self.sweeps += 1
            if state.error is not None:
                self.show_error(state.error, "cluster")
                self._cluster_status = True
            elif state.errors:
                self.set_status("partial: " + "; ".join(state.errors[:2]), error=True)
                self._cluster_status = True
            elif not message.rebuild or self._cluster_status or self._status_after_sweep:
                # a rebuild after a watch event leaves a user's message alone, unless a cluster error was shown
                self.set_status(self._status_after_sweep or "")
                self._cluster_status = False
            self._status_after_sweep = None
        self._render_rows()
        self._render_findings()
        self._tick_age()
        if message.first and self.first_rows_pending:
            self.first_rows_pending = False
            self.call_after_refresh(self._first_rows_painted)
        for screen in self.app.screen_stack:  # the drill-ins showing this data (Component, Doctor)
            if screen is not self:
                screen.post_message(StackUpdated(message.report, message.fixes, message.probes,
                                                 message.pending, message.sweep_id, message.first))

    # -- rendering ---------------------------------------------------------------------------------
    def _render_rows(self) -> None:
        assert self.report is not None
        rows = sorted(self.report.components, key=lambda c: (not c.installed and c.spec.optional, ))
        table = self.query_one("#components", FilterTable)
        known = self.state is not None and self.state.error is None
        self._slow = {c.id for c in rows if is_slow(c.probe.latency_ms if c.probe.ok else None, c.id in self._slow)}
        table.set_rows([(c.id, component_cells(c, known, c.id in self._slow)) for c in rows])
        self._render_count += 1

    def selected_component(self) -> str | None:
        return self.query_one("#components", FilterTable).selected_key

    def _render_findings(self) -> None:
        if self.report is None:
            return
        cid = None if self.all_findings else self.selected_component()
        found = self.report.findings_for(cid)
        c = self.report.component(cid) if cid else None
        n_err = sum(1 for f in self.report.findings if f.severity.value == "error")
        n_warn = sum(1 for f in self.report.findings if f.severity.value == "warning")
        scope = "all components" if cid is None else (c.spec.title if c else cid)
        self.query_one("#findings-title", QuietStatic).update(safe(
            Text.assemble(("Findings: ", "bold"), f"{scope} ({len(found)})   ",
                          (f"total {n_err} errors, {n_warn} warnings", "dim"),
                          ("   a: all/selected  d: doctor  f: fix", "dim"))))
        table = self.query_one("#findings", FilterTable)
        table.set_rows([(f.key, finding_cells(f)) for f in found])

    def _tick_age(self) -> None:
        """Ages at the resolution they show: the line changes (and is repainted) only when its text does."""
        try:
            label = self.query_one("#stack-age", QuietStatic)
        except Exception:
            return
        if self.state is None:
            label.update(safe(Text("loading the cluster ...", style="dim")))
            return
        interval = self.ctx.settings.refresh_interval
        total = len([p for p in self.probes.values() if p.state.value != "skipped"])
        parts = [self.state.scope] if getattr(self.state, "scope", "") else []  # all namespaces, or one
        if self.pending and self._announce_probing and self.sweep_started \
                and clock() - self.sweep_started >= SLOW_PROBE_S:
            parts.append(f"probing {len(self.pending)}/{total}: {', '.join(sorted(self.pending))}")
        age = clock() - self.state.at
        if self.state.error is not None:
            parts.append(f"cluster not read (below) · retried every {interval:g}s")
        elif self._cache_infs and self._informers_ref is not None:
            live, text = self._informers_ref.summary(self._cache_infs)
            parts.append(f"watch {text}" if live else f"{text} · data as of {ago(self.state.at)}")
            parts.append(f"probes every {interval:g}s")
        elif age <= interval * 2 + self.ctx.settings.kube_timeout * 3:
            parts.append(f"live, every {interval:g}s")
        else:
            parts.append(f"data {ago(self.state.at)} (no sweep finished since)")
        parts.append("ctrl+r now")
        label.update(safe(Text(" · ".join(parts), style="dim")))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "components" and not self.all_findings:
            self._render_findings()

    # -- keys --------------------------------------------------------------------------------------
    def action_toggle_scope(self) -> None:
        self.all_findings = not self.all_findings
        self._render_findings()

    def action_drill(self) -> None:
        focused = self.focused
        if isinstance(focused, FilterTable) and focused.id == "findings":
            self.action_doctor(focus_key=focused.selected_key)
            return
        cid = self.selected_component()
        if cid is None or self.report is None:
            return
        from mlopstui.screens.component import ComponentScreen

        self.app.push_screen(ComponentScreen(self, cid))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_drill()

    def action_doctor(self, focus_key: str | None = None) -> None:
        from mlopstui.screens.doctor import DoctorScreen

        self.app.push_screen(DoctorScreen(self, component=None, focus_key=focus_key))

    def action_logs(self) -> None:
        self._drill_then("logs")

    def action_yaml(self) -> None:
        self._drill_then("yaml")

    def _drill_then(self, what: str) -> None:
        cid = self.selected_component()
        if cid is None or self.report is None:
            return
        c = self.report.component(cid)
        if c is None or not c.installed:
            self.notify(f"{cid} is not installed: nothing to show", severity="warning")
            return
        from mlopstui.screens.component import ComponentScreen

        screen = ComponentScreen(self, cid)
        self.app.push_screen(screen)
        screen.call_after_refresh(getattr(screen, f"action_{what}"))

    # -- repair ------------------------------------------------------------------------------------
    def action_fix(self) -> None:
        """Repair the highlighted finding of the findings pane (without one: the selected component's first
        fixable one): plan, confirm, apply, sweep again. Uses this sweep's probe results. When there is nothing to fix,
        or no automatic fix, the status line says why (the reason was computed with the report)."""
        if self.report is None:
            self.set_status("f: nothing to fix yet (wait for the first sweep)")
            return
        from mlopstui.doctor.fixes import NoFix

        key = self.query_one("#findings", FilterTable).selected_key
        finding = next((f for f in self.report.findings if f.key == key), None) if key else None
        if finding is None:
            cid = None if self.all_findings else self.selected_component()
            found = self.report.findings_for(cid)
            fixable = [f for f in found if not isinstance(self.fixes.get(f.key), NoFix)]
            finding = (fixable or found or [None])[0]
            if finding is None:
                c = self.report.component(cid) if cid else None
                self.set_status(f"f: {c.spec.title if c else 'this component'} has no finding to fix "
                                "(d lists every finding)")
                return
        known = self.fixes.get(finding.key)
        if isinstance(known, NoFix):
            self.set_status(f"f: {finding.id} ({finding.component}) has no automatic fix: {known.reason}")
            return
        from mlopstui.screens.repair import start_repair

        start_repair(self, finding, probes=dict(self.probes), on_done=self._repaired)

    def _repaired(self, message: str) -> None:
        self._status_after_sweep = message
        self.refresh_data()

    # -- install -----------------------------------------------------------------------------------
    def action_install(self) -> None:
        """Install the selected component if it is missing: plan (dry run) in a worker, confirm, apply in a
        worker, then sweep again."""
        cid = self.selected_component()
        if cid is None or self.report is None:
            self.set_status("nothing selected (wait for the first sweep)")
            return
        c = self.report.component(cid)
        title = c.spec.title if c is not None else cid
        if c is not None and c.installed:
            where = ", ".join(w.ref for w in c.workloads[:2])
            self.set_status(f"{title} is already installed ({where}): nothing to install")
            return
        if self.state is None or self.state.error is not None:
            self.set_status(f"cannot tell whether {title} is installed: the cluster was not read", error=True)
            return
        from mlopstui.models.manifests import refusal

        why = refusal(cid)
        if why is not None:
            self.set_status(f"{title}: {why}", error=True)
            return
        from mlopstui.actions.install import Install

        action = Install(self.ctx, cid, namespace=self.ctx.namespace)
        self.set_status(f"planning {title} in namespace {action.namespace} (server-side dry run) ...")
        self.run_io(action.plan, lambda plan: self._confirm_install(action, plan),
                    lambda err: self.show_error(err, f"install {cid}"), group="install",
                    timeout=self.ctx.settings.kube_timeout * 6 + 2)

    def _confirm_install(self, action: Any, plan: Any) -> None:
        from mlopstui.screens.confirm import confirm_then_apply

        confirm_then_apply(self, action, plan, what=f"install of {action.component}",
                           applying=f"installing {action.component} in {action.namespace} ...",
                           on_applied=self._installed,
                           on_error=lambda err: self.show_error(err, f"install {action.component}"),
                           group="install", timeout=self.ctx.settings.kube_timeout * 6 + 2)

    def _installed(self, result: Any) -> None:
        self.set_status(result.message, error=not result.ok)
        self._status_after_sweep = result.message
        self.refresh_data()

    def handle_command(self, cmd: str, arg: str) -> bool:
        if cmd == "doctor":
            self.action_doctor()
            return True
        if cmd == "status":
            return True
        return False

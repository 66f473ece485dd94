"""Area 1, the home screen: every component of the stack, its readiness, live probe, version and worst
finding; the doctor's findings for the selected component below.

A sweep = one worker that reads the cluster (and plans the probes), then one worker per probe, each with
its own hard timeout: a hung endpoint delays only its own row. Rows are rebuilt (pure, cheap) as each
probe answers. Periodic sweeps every settings.refresh_interval; ctrl+r sweeps now.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from mlopstui.errors import MlopsError
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import ago, human_age
from mlopstui.widgets.filter_table import FilterTable

if TYPE_CHECKING:
    from mlopstui.backends.stack import ClusterState, ProbeTask, StackReport
    from mlopstui.doctor import Finding
    from mlopstui.models.stack import ComponentStatus, ProbeResult

HEALTH_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red", "absent": "dim", "unknown": "cyan"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
# the worst finding comes before version and age: at 80 columns it is what must stay on screen
COLUMNS = ("COMPONENT", "INST", "READY", "RESTARTS", "PROBE", "FINDING", "VERSION", "AGE")


def component_cells(c: ComponentStatus, cluster_known: bool = True) -> list[Any]:
    """One table row, readable without colour: a symbol and words carry the health.

    Without a readable cluster, "installed" is unknown ("?"), not "no"."""
    from mlopstui.models.stack import HEALTH_SYMBOL, ProbeState

    h = c.health
    style = HEALTH_STYLE[h.value]
    wf = c.worst_finding
    probe = c.probe.summary if c.probe.state is not ProbeState.SKIPPED else (c.probe.summary or "-")
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
        finding = f"{wf.severity.symbol} {wf.summary}"[:60] + more
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
        Binding("a", "toggle_scope", "All findings"),
        Binding("i", "install", "Install", show=False),  # in ? help; the 80-column footer is full
        Binding("f", "fix", "Fix finding", show=False),
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
        self.pending: set[str] = set()
        self.sweep_started: float | None = None
        self.sweeps = 0
        self.all_findings = False
        self._sweep_id = 0
        self._render_count = 0
        self._status_after_sweep: str | None = None  # e.g. an install's result, kept past the next sweep

    # -- layout ------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield FilterTable(id="components")
        yield Static("", id="stack-age")
        yield Static("", id="findings-title")
        yield FilterTable(id="findings")

    def on_mount(self) -> None:
        self.query_one("#components", FilterTable).set_columns(*COLUMNS)
        self.query_one("#findings", FilterTable).set_columns("SEV", "COMPONENT", "FINDING")
        self.query_one("#components", FilterTable).focus()
        super().on_mount()
        self.set_interval(self.ctx.settings.refresh_interval, self._periodic)
        self.set_interval(1.0, self._tick_age)

    # -- the sweep ---------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        from mlopstui.backends.stack import collect_cluster, probe_tasks

        self._sweep_id += 1
        sid = self._sweep_id
        self.sweep_started = time.time()
        ctx = self.ctx

        def load() -> tuple[ClusterState, list[ProbeTask], dict[str, ProbeResult]]:
            state = collect_cluster(ctx)
            tasks, skipped = probe_tasks(ctx.settings, state)
            return state, tasks, skipped

        self.run_io(load, lambda res: self._cluster_loaded(sid, *res),
                    lambda err: self._cluster_failed(sid, err), group="stack-cluster",
                    timeout=ctx.settings.kube_timeout * 3 + 2)
        self._tick_age()

    def _periodic(self) -> None:
        if self.is_current or self.app.screen is self or self in self.app.screen_stack:
            self.refresh_data()

    def _cluster_failed(self, sid: int, err: MlopsError) -> None:
        if sid != self._sweep_id:
            return
        self.show_error(err, "cluster")

    def _cluster_loaded(self, sid: int, state: ClusterState, tasks: list[ProbeTask],
                        skipped: dict[str, ProbeResult]) -> None:
        if sid != self._sweep_id:
            return
        from mlopstui.backends.stack import timed_out

        self.state = state
        self.sweeps += 1
        for cid, res in skipped.items():
            self.probes[cid] = res
        self.pending = {t.component for t in tasks}
        timeout = self.ctx.settings.probe_timeout
        for t in tasks:
            if t.component not in self.probes or self.probes[t.component].state.value == "skipped":
                self.probes[t.component] = t.pending()
            self.run_io(t.run, lambda r, sid=sid: self._probe_done(sid, r),
                        lambda err, t=t, sid=sid: self._probe_done(sid, timed_out(t, timeout)
                                                                    if err.kind.value == "timeout" else
                                                                    _errored(t, err)),
                        group=f"probe-{t.component}", timeout=timeout + 1.0)
        if state.error is not None:
            self.show_error(state.error, "cluster")
        elif state.errors:
            self.set_status("partial: " + "; ".join(state.errors[:2]), error=True)
        else:
            self.set_status(self._status_after_sweep or "")
        self._status_after_sweep = None
        self._rebuild()

    def _probe_done(self, sid: int, result: ProbeResult) -> None:
        if sid != self._sweep_id:
            return
        self.probes[result.component] = result
        self.pending.discard(result.component)
        self._rebuild()

    # -- rendering ---------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        from mlopstui.backends.stack import ClusterState, build_report

        state = self.state or ClusterState()
        self.report = build_report(self.ctx.settings, state, self.probes)
        self.loaded_at = state.at
        self._render_rows()
        self._render_findings()
        self._tick_age()
        for screen in self.app.screen_stack:
            hook = getattr(screen, "stack_updated", None)
            if hook is not None and screen is not self:
                hook(self.report)

    def _render_rows(self) -> None:
        assert self.report is not None
        rows = sorted(self.report.components, key=lambda c: (not c.installed and c.spec.optional, ))
        table = self.query_one("#components", FilterTable)
        known = self.state is not None and self.state.error is None
        table.set_rows([(c.id, component_cells(c, known)) for c in rows])
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
        self.query_one("#findings-title", Static).update(safe(
            Text.assemble(("Findings: ", "bold"), f"{scope} ({len(found)})   ",
                          (f"total {n_err} errors, {n_warn} warnings", "dim"),
                          ("   a: all/selected  d: doctor  f: fix", "dim"))))
        table = self.query_one("#findings", FilterTable)
        table.set_rows([(f.key, finding_cells(f)) for f in found])

    def _tick_age(self) -> None:
        try:
            label = self.query_one("#stack-age", Static)
        except Exception:
            return
        if self.state is None:
            label.update(safe(Text("loading the cluster ...", style="dim")))
            return
        total = len([p for p in self.probes.values() if p.state.value != "skipped"])
        parts = [self.state.scope, f"data {ago(self.state.at)}"]  # what it shows: all namespaces, or one
        if self.pending:
            parts.append(f"probing {len(self.pending)}/{total}: {', '.join(sorted(self.pending))}")
        else:
            last = max((p.at for p in self.probes.values()), default=None)
            parts.append(f"probes {ago(last)}")
        parts.append(f"every {self.ctx.settings.refresh_interval:g}s, ctrl+r now")
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
        from mlopstui.screens.component import DoctorScreen

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
        """Repair the highlighted finding of the findings pane (the selected component's worst one when the
        pane has no cursor yet): plan, confirm, apply, sweep again. Uses this sweep's probe results."""
        if self.report is None:
            self.set_status("nothing to fix yet (wait for the first sweep)")
            return
        key = self.query_one("#findings", FilterTable).selected_key
        finding = next((f for f in self.report.findings if f.key == key), None) if key else None
        if finding is None:
            cid = None if self.all_findings else self.selected_component()
            found = self.report.findings_for(cid)
            finding = found[0] if found else None
        if finding is None:
            self.set_status("no finding here to fix")
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


def _errored(task: ProbeTask, err: MlopsError) -> ProbeResult:
    from mlopstui.models.stack import ProbeResult, ProbeState

    return ProbeResult(task.component, task.kind, task.endpoint.display, task.endpoint.source,
                       ProbeState.FAILED, "error", detail=err.message)

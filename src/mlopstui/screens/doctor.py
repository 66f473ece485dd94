"""The Doctor screen (`d` on Stack, `:doctor`): every finding, its evidence and fix; `f` repairs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import ago
from mlopstui.widgets.columns import Col
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic
from mlopstui.widgets.styles import SEVERITY_STYLE

if TYPE_CHECKING:
    from mlopstui.doctor import Finding
    from mlopstui.models.stack.report import StackReport
    from mlopstui.screens.stack import StackScreen, StackUpdated
from mlopstui.screens.component import render_finding


class DoctorScreen(AreaScreen):
    """Every finding (or one component's), worst first, with the evidence and fix of the selected one.

    `f` applies the selected finding's automatic fix (plan -> confirm -> apply, screens/repair.py); the FIX
    column says which findings have one."""

    AREA = "stack"
    TITLE = "Doctor"
    BINDINGS = [Binding("f", "fix", "Fix"), Binding("escape", "back", "Back")]
    DEFAULT_CSS = """
    DoctorScreen #doctor { height: 1fr; min-height: 5; }
    DoctorScreen #doctor-detail-scroll { height: 11; padding: 0 1; border-top: solid $panel-lighten-2; }
    """

    def __init__(self, stack: StackScreen, component: str | None = None, focus_key: str | None = None):
        super().__init__()
        self.stack = stack
        self.component = component
        self.focus_key = focus_key
        self.fixes: dict[str, Any] = {}  # finding key -> FixSpec | NoFix, for the report shown
        self.last_repair = ""
        self._fix_note: tuple[str, str] | None = None  # (finding key, what `f` said of it)

    def compose_body(self) -> ComposeResult:
        yield FilterTable(id="doctor")
        with VerticalScroll(id="doctor-detail-scroll"):
            yield QuietStatic("", id="doctor-detail")

    def on_mount(self) -> None:
        self.query_one("#doctor", FilterTable).set_columns(
            Col("SEV", 0), Col("FIX", 2), Col("RULE", 3), Col("COMPONENT", 1), Col("FINDING", 0, wide=True, min_width=20))
        self.query_one("#doctor", FilterTable).focus()
        self._paint(self.stack.report, self.stack.fixes)

    def refresh_data(self) -> None:
        if self.stack.report is None or self.loaded_at is not None:
            self.stack.refresh_data()
        self.loaded_at = self.stack.report.at if self.stack.report else None

    def on_stack_updated(self, message: StackUpdated) -> None:
        self._paint(message.report, message.fixes)

    def _findings(self, report: StackReport | None) -> list[Finding]:
        return report.findings_for(self.component) if report else []

    def _paint(self, report: StackReport | None, fixes: dict[str, Any]) -> None:
        """fixes: explain() of every finding, computed with the report in the Stack screen's worker."""
        from mlopstui.doctor.fixes import FixSpec

        found = self._findings(report)
        self.fixes = {f.key: fixes[f.key] for f in found if f.key in fixes}
        table = self.query_one("#doctor", FilterTable)
        table.set_rows([(f.key, [Text(f"{f.severity.symbol} {f.severity.value}",
                                      style=SEVERITY_STYLE[f.severity.value]),
                                 Text("f", style="bold green") if isinstance(self.fixes.get(f.key), FixSpec)
                                 else Text("-", style="dim"),
                                 f.id, f.component, f.summary]) for f in found])
        if self.focus_key and self.focus_key in table.visible_keys():
            table.move_cursor(row=table.get_row_index(self.focus_key))
            self.focus_key = None
        n_err = sum(1 for f in found if f.severity.value == "error")
        n_fix = sum(1 for v in self.fixes.values() if isinstance(v, FixSpec))
        said = " · ".join(x for x in (self._fix_note[1] if self._fix_note else "", self.last_repair or "") if x)
        self.set_status((f"{said} · " if said else "")
                        + f"{len(found)} findings, {n_err} errors, {n_fix} with an automatic fix (f) · data "
                        f"{ago(report.at if report else None)} · ctrl+r re-check")
        self._show_selected()

    def _show_selected(self) -> None:
        key = self.query_one("#doctor", FilterTable).selected_key
        f = next((f for f in self._findings(self.stack.report) if f.key == key), None)
        self.query_one("#doctor-detail", Static).update(safe(render_finding(f) if f else Text("no findings", style="dim")))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self._fix_note and self.query_one("#doctor", FilterTable).selected_key != self._fix_note[0]:
            self._fix_note = None  # what `f` said of a finding stays while that finding is selected
        self._show_selected()

    def action_refresh(self) -> None:
        self.set_status("re-checking ...")
        self.stack.refresh_data()

    def action_fix(self) -> None:
        from mlopstui.doctor.fixes import NoFix
        from mlopstui.screens.repair import start_repair

        key = self.query_one("#doctor", FilterTable).selected_key
        f = next((f for f in self._findings(self.stack.report) if f.key == key), None)
        if f is None:
            self.set_status("no finding selected")
            return
        known = self.fixes.get(f.key)
        if isinstance(known, NoFix):  # kept through the repaints that data updates bring (_paint)
            self._fix_note = (f.key, f"{f.id}: no automatic fix: {known.reason}")
            self.set_status(self._fix_note[1])
            return

        def done(msg: str) -> None:
            self.last_repair = msg
            self.stack.refresh_data()  # re-sweep: the finding should be gone

        start_repair(self, f, probes=dict(self.stack.probes), on_done=done)

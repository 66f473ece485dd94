"""Area 5: every change made through mlopstui, newest first, from the audit log (JSON lines)."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding

from mlopstui.screens.base import AreaScreen
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic


class AuditScreen(AreaScreen):
    AREA = "audit"
    TITLE = "Audit"
    BINDINGS = [Binding("enter", "show", "Details")]
    DEFAULT_CSS = """
    AuditScreen #audit-detail { height: auto; max-height: 12; border-top: solid $panel; padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        table = FilterTable(id="audit-table")
        table.set_columns("TIME", "USER", "ACTION", "TARGET", "OK", "MESSAGE")
        yield table
        yield QuietStatic("", id="audit-detail", markup=False)

    def refresh_data(self) -> None:
        audit = self.ctx.audit
        self.run_io(lambda: list(reversed(audit.entries())), self._show, group="audit")

    def _show(self, entries: list[dict]) -> None:
        self._entries = {str(i): e for i, e in enumerate(entries)}
        rows = [(str(i), (e.get("ts", ""), e.get("user", ""), e.get("action", ""), e.get("target", ""),
                          "✓ yes" if e.get("ok") else "✗ NO", (e.get("message") or "")[:60]))
                for i, e in enumerate(entries)]
        self.query_one(FilterTable).set_rows(rows)
        self.set_status(f"{len(entries)} entries · {self.ctx.settings.audit_log_path()}")

    def on_data_table_row_selected(self, event) -> None:
        event.stop()  # enter on the table (the table takes the key before the screen's binding)
        self.action_show()

    def on_data_table_row_highlighted(self, event) -> None:
        entry = getattr(self, "_entries", {}).get(self.query_one(FilterTable).selected_key or "")
        self.query_one("#audit-detail", QuietStatic).update(_summary(entry) if entry else "")

    def action_show(self) -> None:
        """The whole entry (target, patch, outcome), scrubbed of secrets, in a scrollable view."""
        from mlopstui.screens.features import TextView
        from mlopstui.secrets import scrub
        from mlopstui.text import clean

        key = self.query_one(FilterTable).selected_key
        entry = getattr(self, "_entries", {}).get(key or "")
        if not entry:
            self.set_status("no audit entry selected")
            return
        text = clean(json.dumps(scrub(entry), indent=2, sort_keys=True, ensure_ascii=False, default=str))
        self.app.push_screen(TextView(f"audit: {entry.get('action', '?')} {entry.get('ts', '')}", text))


def _summary(entry: dict) -> str:
    from mlopstui.secrets import scrub

    e = scrub(entry)
    out = [f"{e.get('action', '?')} by {e.get('user', '?')} at {e.get('ts', '?')}: "
           f"{'✓ ok' if e.get('ok') else '✗ failed'}", f"target {e.get('target', '-')}"]
    if e.get("message"):
        out.append(str(e["message"])[:200])
    out.append("enter: the whole entry (patch, plan, outcome)")
    return "\n".join(out)

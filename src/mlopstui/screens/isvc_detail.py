"""Drill-in for one InferenceService: status in full, its revisions, test requests (v1/v2, bursts).

Same action keys as the list (+ - = p b m u). `t` sends the sample, `i` types an input, `v` switches
v1/v2, `B` sends a burst of N and shows the observed split.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from mlopstui.errors import MlopsError
from mlopstui.models import serving as m
from mlopstui.screens.base import AreaScreen
from mlopstui.screens.serving import ACTION_BINDINGS, ServingActions, detail_lines
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic


class IsvcDetailScreen(ServingActions, AreaScreen):
    AREA = "serving"
    TITLE = "Serving"
    BINDINGS = [
        *ACTION_BINDINGS,
        Binding("v", "toggle_protocol", "v1/v2"),
        Binding("i", "type_input", "Input"),
        Binding("B", "burst", "Burst"),
        Binding("enter", "confirm_pending", "Plan", show=False),
    ]
    DEFAULT_CSS = """
    IsvcDetailScreen #isvc-scroll { height: 1fr; }
    IsvcDetailScreen #isvc-full { height: auto; padding: 0 1; }
    IsvcDetailScreen #rev-table { height: auto; max-height: 8; }
    IsvcDetailScreen #infer-out { height: auto; min-height: 1; max-height: 6; border-top: solid $panel;
                                  padding: 0 1; }
    """

    def __init__(self, namespace: str, name: str):
        super().__init__()
        self.namespace = namespace
        self.name_ = name
        self.TITLE = f"Serving › {name}"
        self.isvc: m.InferenceService | None = None
        self.protocol = "v1"
        self.typed_input: Any = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="isvc-scroll"):
            yield QuietStatic("loading ...", id="isvc-full", markup=False)
            table = FilterTable(id="rev-table")
            table.set_columns("REVISION", "TRAFFIC", "STORAGE URI", "ROLE")
            yield table
        yield Static("t: test request (v1) · v: v1/v2 · i: type input · B: burst", id="infer-out", markup=False)

    def on_data_table_row_selected(self, event: Any) -> None:
        event.stop()
        self.confirm_pending_canary()  # enter plans a pending +/- canary percent, here as in the list

    def current_isvc(self) -> m.InferenceService | None:
        return self.isvc

    def refresh_data(self) -> None:
        from mlopstui.backends.kserve import get_isvc, revisions_of

        ctx, ns, name = self.ctx, self.namespace, self.name_

        def load():
            return get_isvc(ctx.kube, ns, name), revisions_of(ctx.kube, ns, name)

        self.run_io(load, self._loaded, lambda e: self.show_error(e, f"reading {name}"), group="isvc-detail")

    def _loaded(self, res) -> None:
        s, revs = res
        self.isvc = s
        self.loaded_at = clock()
        from mlopstui.units import ago

        lines = detail_lines(s, 12, full=True)
        lines.append(f"resourceVersion {s.resource_version} · loaded {ago(self.loaded_at)}")
        self.query_one("#isvc-full", Static).update(safe("\n".join(lines)))
        rows = []
        for r in revs:
            name = (r.get("metadata") or {}).get("name", "")
            role = []
            if name == s.latest_created:
                role.append("latest")
            if name == s.rolling_out:
                role.append("not-ready")
            if name == s.latest_rolledout:
                role.append("rolled-out")
            if name == s.previous_rolledout:
                role.append("previous")
            rows.append((name, (m.short_revision(name, s.name), f"{s.percent_of(name)}%",
                                m.revision_storage_uri(r) or "-", ",".join(role) or "-")))
        self.query_one("#rev-table", FilterTable).set_rows(rows)

    def infer_output(self, text: str, error: bool = False) -> None:
        out = self.query_one("#infer-out", Static)
        out.set_class(error, "-error")
        out.update(safe(text))
        if error:
            self.set_status(text.splitlines()[-1], error=True)

    def action_toggle_protocol(self) -> None:
        self.protocol = "v2" if self.protocol == "v1" else "v1"
        self.infer_output(f"protocol {self.protocol} (t sends)")

    def _sample(self) -> Any:
        return self.typed_input if self.typed_input is not None else self.ctx.settings.inference_sample

    def action_test_request(self) -> None:
        if self.isvc is None:
            self.set_status("not loaded yet", error=True)
            return
        self.run_test_request(self.isvc, self.protocol, self._sample())

    def action_type_input(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        def done(text: str | None) -> None:
            if not text:
                return
            from mlopstui.models.serving import request_body

            try:
                request_body(text, self.protocol)
            except MlopsError as err:
                self.show_error(err, "input")
                return
            self.typed_input = text
            if self.isvc is not None:
                self.run_test_request(self.isvc, self.protocol, text)

        self.app.push_screen(PromptValue("request input: rows as JSON, or a v1/v2 body",
                                         "", "[[120.0, 3, 0.4, 2, 80.0, 12.5]]"), done)

    def action_burst(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        def done(text: str | None) -> None:
            if text is None or self.isvc is None:
                return
            try:
                n = m.parse_replicas(text, upper=1000)
            except MlopsError as err:
                self.show_error(err, "burst size")
                return
            self.run_test_request(self.isvc, self.protocol, self._sample(), burst_n=max(1, n))

        self.app.push_screen(PromptValue("burst: how many requests (1..1000)", "20", "20"), done)

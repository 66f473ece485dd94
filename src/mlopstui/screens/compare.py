"""Compare marked runs: params side by side (differences highlighted), metrics, overlaid metric plots.

`[`/`]` switch tabs; on the Plots tab `m` cycles the metric that is overlaid; `x` by step or time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, TabbedContent, TabPane

from mlopstui.models.experiments import (
    MetricSeries,
    RunRow,
    best_index,
    diff_metrics,
    diff_params,
    differ_words,
    fmt_value,
    lower_is_better,
)
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.plot import MetricPlot, Series

if TYPE_CHECKING:
    from mlopstui.backends.mlflow import MlflowBackend

DIFF_STYLE = "bold yellow"


class CompareScreen(AreaScreen):
    AREA = "experiments"
    TITLE = "Experiments › compare"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("right_square_bracket", "next_tab", "Next tab"),
        Binding("left_square_bracket", "prev_tab", "Prev tab", show=False),
        Binding("m", "next_metric", "Next metric"),
        Binding("x", "toggle_x", "Step/time"),
        Binding("D", "only_diff", "Only differences"),
    ]

    DEFAULT_CSS = """
    CompareScreen #compare-head { height: auto; max-height: 2; padding: 0 1; }
    CompareScreen #compare-tabs, CompareScreen #compare-tabs > ContentSwitcher { height: 1fr; }
    CompareScreen TabPane { padding: 0; height: 1fr; }
    """

    def __init__(self, backend: MlflowBackend, runs: list[RunRow]):
        super().__init__()
        self.backend = backend
        self.runs = runs
        self.histories: dict[str, dict[str, MetricSeries]] = {}  # run_id -> key -> series
        self.metric_keys = sorted({k for r in runs for k in r.metrics})
        self.metric_idx = 0
        self.by = "step"
        self.only_diff = False

    def compose_body(self) -> ComposeResult:
        yield Static(f"comparing {len(self.runs)} runs", id="compare-head")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Params", id="tab-params"):
                yield FilterTable(id="params-diff")
            with TabPane("Metrics", id="tab-cmetrics"):
                yield FilterTable(id="metrics-diff")
            with TabPane("Plots", id="tab-plots"):
                yield MetricPlot(id="compare-plot")

    def labels(self) -> list[str]:
        out = []
        for r in self.runs:
            name = r.run_name or r.run_id[:8]
            out.append(name if len(name) <= 18 else name[:17] + "…")
        # the same name twice: add the id
        return [f"{n} {r.run_id[:4]}" if out.count(n) > 1 else n for n, r in zip(out, self.runs, strict=True)]

    def on_mount(self) -> None:
        self._render_tables()

    def refresh_data(self) -> None:
        ids = [r.run_id for r in self.runs]
        keys = self.metric_keys

        def load() -> tuple[list[RunRow], dict[str, dict[str, MetricSeries]]]:
            runs = [self.backend.get_run(i) for i in ids]
            return runs, self.backend.metric_histories_of({i: keys for i in ids})

        self.run_io(load, self._loaded, lambda e: self.show_error(e, "compare"), group="compare", timeout=60)

    def _loaded(self, result) -> None:
        self.runs, self.histories = result
        self.metric_keys = sorted({k for r in self.runs for k in r.metrics})
        self.loaded_at = clock()
        self._render_tables()
        self._render_plot()
        self._tab_status()

    def _tab_status(self) -> None:
        """What the status line says depends on the tab: the params' difference count belongs to Params."""
        active = self.query_one("#compare-tabs", TabbedContent).active
        if active == "tab-cmetrics":
            words = differ_words(self.runs, "metric")
            text = (f"{words}; " if words else "") + "best value of each metric in bold; [ ] tabs"
        elif active == "tab-plots":
            metric = self.metric_keys[self.metric_idx % len(self.metric_keys)] if self.metric_keys else "-"
            text = f"plot: {metric} by {self.by}, one marker per run; m next metric, x step/time, [ ] tabs"
        else:
            words = differ_words(self.runs, "param")
            text = (f"{words} (highlighted); " if words else "") + "D only differences, [ ] tabs"
        self.set_status(text)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.loaded_at is not None:
            self._tab_status()

    def _render_tables(self) -> None:
        labels = self.labels()
        pt = self.query_one("#params-diff", FilterTable)
        pt.set_columns("≠", "PARAM", *labels)
        rows = []
        for d in diff_params(self.runs):
            if self.only_diff and not d.differs:
                continue
            style = DIFF_STYLE if d.differs else ""
            cells = [Text("≠" if d.differs else " ", style=style), Text(d.key, style=style)]
            cells += [Text("-" if v is None else v, style=style) for v in d.values]
            rows.append((d.key, cells))
        pt.set_rows(rows)
        mt = self.query_one("#metrics-diff", FilterTable)
        mt.set_columns("METRIC", *labels)
        mrows = []
        for key, values in diff_metrics(self.runs):
            best = best_index(values, higher_is_better=not lower_is_better(key))
            cells = [key] + [Text(fmt_value(v) if v is not None else "-", style="bold green" if i == best else "")
                             for i, v in enumerate(values)]
            mrows.append((key, cells))
        mt.set_rows(mrows)
        self._render_head()

    def _render_head(self) -> None:
        metric = self.metric_keys[self.metric_idx % len(self.metric_keys)] if self.metric_keys else "-"
        self.query_one("#compare-head", Static).update(safe(
            f"comparing {len(self.runs)} runs: {', '.join(self.labels())}   plot: {metric} by {self.by}"))

    def _render_plot(self) -> None:
        if not self.metric_keys:
            return
        key = self.metric_keys[self.metric_idx % len(self.metric_keys)]
        series = []
        for label, r in zip(self.labels(), self.runs, strict=True):
            h = self.histories.get(r.run_id, {}).get(key)
            if h is not None:
                xs, ys = h.xy(self.by)
                series.append(Series(label, xs, ys))
        self.query_one("#compare-plot", MetricPlot).set_series(
            series, by=self.by, title=key)
        self._render_head()

    def action_next_metric(self) -> None:
        self.metric_idx += 1
        self._render_plot()
        self._tab_status()

    def action_toggle_x(self) -> None:
        self.by = "time" if self.by == "step" else "step"
        self._render_plot()
        self._tab_status()

    def action_only_diff(self) -> None:
        self.only_diff = not self.only_diff
        self._render_tables()

    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one("#compare-tabs", TabbedContent)
        ids = ["tab-params", "tab-cmetrics", "tab-plots"]
        i = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(i + step) % len(ids)]

    def action_next_tab(self) -> None:
        self._switch_tab(1)

    def action_prev_tab(self) -> None:
        self._switch_tab(-1)

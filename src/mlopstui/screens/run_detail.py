"""One run: params, latest metrics and tags; metric histories plotted; the artifact tree with previews.

Tabs: 1-style keys are taken by the areas, so the tabs switch with `[` and `]` (or a click).
`x` plots by step or by time, space on a metric toggles it in the plot; in the artifact tree enter
expands a directory (loaded per directory) or previews a file; `d` downloads the selected artifact
(or all) to a local path; `y` copies the run id, `Y` the runs:/ URI.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane, Tree

from mlopstui.errors import MlopsError
from mlopstui.models.experiments import (
    ArtifactEntry,
    MetricSeries,
    RunDetail,
    RunRow,
    csv_rows,
    fmt_duration,
    fmt_size,
    fmt_time,
    fmt_value,
    looks_binary,
    preview_kind,
)
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.filter_table import FilterTable, safe_cell
from mlopstui.widgets.keys import ViTree
from mlopstui.widgets.plot import MetricPlot, Series
from mlopstui.widgets.quiet import QuietStatic

if TYPE_CHECKING:
    from mlopstui.backends.mlflow import MlflowBackend

MAX_PLOTTED = 4


class RunDetailScreen(AreaScreen):
    AREA = "experiments"
    TITLE = "Experiments › run"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("right_square_bracket", "next_tab", "Next tab"),
        Binding("left_square_bracket", "prev_tab", "Prev tab", show=False),
        Binding("x", "toggle_x", "Step/time"),
        Binding("space", "toggle_metric", "Plot metric", show=False),
        Binding("d", "download", "Download"),
        Binding("y", "copy_id", "Copy id"),
        Binding("Y", "copy_uri", "Copy URI", show=False),
    ]
    DEFAULT_CSS = """
    RunDetailScreen #run-head { height: auto; max-height: 4; padding: 0 1; }
    RunDetailScreen #metric-keys { height: auto; max-height: 6; }
    RunDetailScreen #art-split { height: 1fr; }
    RunDetailScreen #art-tree { width: 40%; min-width: 24; }
    RunDetailScreen #art-preview { width: 1fr; border-left: solid $panel; }
    RunDetailScreen #preview-table { height: auto; }
    RunDetailScreen TabPane { padding: 0; height: 1fr; }
    RunDetailScreen #run-tabs, RunDetailScreen #run-tabs > ContentSwitcher { height: 1fr; }
    RunDetailScreen #tab-metrics > Vertical { height: 1fr; }
    """

    def __init__(self, backend: MlflowBackend, run_id: str, run: RunRow | None = None,
                 experiment_name: str = ""):
        super().__init__()
        self.backend = backend
        self.run_id = run_id
        self.detail: RunDetail | None = RunDetail(run, experiment_name, backend.url) if run else None
        self.histories: dict[str, MetricSeries] = {}
        self.plotted: list[str] = []
        self.by = "step"
        self.preview_path: str | None = None
        self.preview_text = ""
        self._tree_loaded: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("loading run ...", id="run-head")
        with TabbedContent(id="run-tabs"):
            with TabPane("Overview", id="tab-overview"):
                yield FilterTable(id="run-data")
            with TabPane("Metrics", id="tab-metrics"):
                with Vertical():
                    yield FilterTable(id="metric-keys")
                    yield MetricPlot(id="run-plot")
            with TabPane("Artifacts", id="tab-artifacts"):
                with Horizontal(id="art-split"):
                    tree: Tree[ArtifactEntry] = ViTree("artifacts", id="art-tree")
                    tree.root.data = ArtifactEntry("", True)
                    yield tree
                    with VerticalScroll(id="art-preview"):
                        yield Static("select a file to preview it", id="preview", markup=False)
                        yield DataTable(id="preview-table", show_cursor=False)

    def on_mount(self) -> None:
        self.query_one("#run-data", FilterTable).set_columns("KIND", "KEY", "VALUE")
        self.query_one("#metric-keys", FilterTable).set_columns("PLOT", "METRIC", "LAST", "STEPS")
        self.query_one("#preview-table", DataTable).display = False
        if self.detail is not None:
            self._render_detail()

    # -- data ------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        rid = self.run_id

        def load() -> RunDetail:
            return self.backend.run_detail(rid)

        self.run_io(load, self._loaded, lambda e: self.show_error(e, f"run {rid}"), group="run")
        self._load_dir(self.query_one("#art-tree", Tree).root)

    def _loaded(self, detail: RunDetail) -> None:
        self.detail = detail
        self.loaded_at = clock()
        self._render_detail()
        keys = sorted(detail.run.metrics)
        if not self.plotted:
            self.plotted = keys[:MAX_PLOTTED]
        self._load_histories(keys)
        self.set_status("[ ] tabs, x step/time, space plots a metric, d download, y copy id, Y copy URI")

    def _render_detail(self) -> None:
        d = self.detail
        assert d is not None
        r = d.run
        head = Text()
        head.append(f"{r.run_name or r.run_id}", style="bold")
        head.append(f"  {r.status}  ", style="green" if r.status == "FINISHED" else "yellow")
        head.append(f"experiment {d.experiment_name or r.experiment_id}\n")
        head.append(f"id {r.run_id}  started {fmt_time(r.start_time)}  took {fmt_duration(r.duration_s)}  "
                    f"user {r.user_id or '-'}  source {r.source or '-'}\n", style="dim")
        head.append(f"{d.run_uri}  artifacts {r.artifact_uri}", style="dim")
        self.query_one("#run-head", Static).update(safe(head))
        rows: list[tuple[str, list[Any]]] = []
        for k, v in sorted(r.params.items()):
            rows.append((f"p:{k}", ["param", k, v]))
        for k, v in sorted(r.metrics.items()):
            rows.append((f"m:{k}", ["metric", k, fmt_value(v)]))
        for k, v in sorted(r.tags.items()):
            if k in ("mlflow.log-model.history",):
                continue
            rows.append((f"t:{k}", ["tag", k, v if len(v) < 200 else v[:200] + "…"]))
        self.query_one("#run-data", FilterTable).set_rows(rows)
        self._render_metric_keys()

    def _render_metric_keys(self) -> None:
        if self.detail is None:
            return
        rows = []
        for k, v in sorted(self.detail.run.metrics.items()):
            h = self.histories.get(k)
            rows.append((k, ["●" if k in self.plotted else " ", k, fmt_value(v),
                             str(len(h.points)) if h else "…"]))
        self.query_one("#metric-keys", FilterTable).set_rows(rows)

    def _load_histories(self, keys: list[str]) -> None:
        rid = self.run_id

        def load() -> dict[str, MetricSeries]:
            return self.backend.metric_histories(rid, keys)

        self.run_io(load, self._histories_loaded, lambda e: self.show_error(e, "metric history"),
                    group="history")

    def _histories_loaded(self, hist: dict[str, MetricSeries]) -> None:
        self.histories = hist
        self._render_metric_keys()
        self._render_plot()

    def _render_plot(self) -> None:
        series = []
        for k in self.plotted:
            h = self.histories.get(k)
            if h is not None:
                xs, ys = h.xy(self.by)
                series.append(Series(k, xs, ys))
        self.query_one("#run-plot", MetricPlot).set_series(
            series, by=self.by)

    # -- artifacts -------------------------------------------------------------------------------
    def _load_dir(self, node) -> None:
        entry: ArtifactEntry = node.data
        path = entry.path
        rid = self.run_id

        def load() -> list[ArtifactEntry]:
            return self.backend.list_artifacts(rid, path)

        def done(entries: list[ArtifactEntry]) -> None:
            self._tree_loaded.add(path)
            node.remove_children()
            for e in entries:
                label = Text(e.name + ("/" if e.is_dir else ""), style="bold" if e.is_dir else "")
                if not e.is_dir:
                    label.append(f"  {fmt_size(e.size)}", style="dim")
                if e.is_dir:
                    node.add(label, data=e, allow_expand=True)
                else:
                    node.add_leaf(label, data=e)
            if not entries and not path:
                node.set_label(Text("artifacts (none)"))
            node.expand()

        self.run_io(load, done, lambda e: self.show_error(e, f"artifacts {path or '/'}"),
                    group=f"art-{path}", exclusive=True)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        entry = event.node.data
        if isinstance(entry, ArtifactEntry) and entry.is_dir and entry.path not in self._tree_loaded:
            self._load_dir(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        entry = event.node.data
        if isinstance(entry, ArtifactEntry) and not entry.is_dir:
            self.preview(entry.path)

    def preview(self, path: str) -> None:
        rid = self.run_id
        self.query_one("#preview", Static).update(safe(f"loading {path} ..."))

        def load() -> tuple[bytes, bool]:
            return self.backend.read_artifact(rid, path)

        self.run_io(load, lambda res: self._show_preview(path, *res),
                    lambda e: self.query_one("#preview", Static).update(safe(f"cannot preview {path}: {e.message}")),
                    group="preview")

    def _show_preview(self, path: str, data: bytes, cut: bool) -> None:
        self.preview_path = path
        static = self.query_one("#preview", Static)
        table = self.query_one("#preview-table", DataTable)
        table.display = False
        kind = preview_kind(path)
        note = f"{path}  ({fmt_size(len(data))}{', first part only' if cut else ''})\n"
        if looks_binary(data):
            self.preview_text = ""
            static.update(safe(note + "binary file: press d to download it"))
            return
        text = data.decode("utf-8", errors="replace")
        self.preview_text = text
        if kind == "json" and not cut:
            try:
                text = json.dumps(json.loads(text), indent=2)
            except ValueError:
                pass
            static.update(safe(Syntax(text, "json", theme="ansi_dark", word_wrap=True)))
            self.preview_text = text
        elif kind == "yaml":
            static.update(safe(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True)))
        elif kind == "csv":
            header, rows = csv_rows(text)
            static.update(safe(note + f"{len(rows)} rows shown"))
            table.clear(columns=True)
            table.add_columns(*(safe_cell(h) for h in header))  # the file's text: no markup
            for r in rows:
                table.add_row(*(safe_cell(c) for c in r))
            table.display = True
        else:
            static.update(safe(note + text))

    def _selected_artifact(self) -> ArtifactEntry | None:
        tree = self.query_one("#art-tree", Tree)
        node = tree.cursor_node
        if node is None or not isinstance(node.data, ArtifactEntry):
            return None
        return node.data

    def action_download(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        tabs = self.query_one("#run-tabs", TabbedContent)
        entry = self._selected_artifact() if tabs.active == "tab-artifacts" else None
        what = entry.path if entry and entry.path else ""
        self._download_what = what
        self.app.push_screen(
            PromptValue(f"Download {what or 'all artifacts'} of run {self.run_id[:8]} into directory:",
                        value=f"./mlflow-artifacts/{self.run_id[:8]}"), self._download_to)

    def _download_to(self, dest: str | None) -> None:
        """Sizes first: the files are listed; above DOWNLOAD_CONFIRM_BYTES the download asks before anything
        comes to this machine."""
        if not dest:
            return
        what, rid = self._download_what, self.run_id
        self.set_status(f"listing {what or 'all artifacts'} ...")
        self.run_io(lambda: self.backend.artifact_files(rid, what), lambda files: self._sized(what, dest, files),
                    lambda e: self.show_error(e, "download"), group="download", timeout=120)

    def _sized(self, what: str, dest: str, files: list) -> None:
        from mlopstui.actions.base import Plan
        from mlopstui.backends.mlflow_artifacts import DOWNLOAD_CONFIRM_BYTES
        from mlopstui.screens.confirm import ConfirmPlan
        from mlopstui.units import human_bytes

        total = sum(e.size or 0 for e in files)
        if total <= DOWNLOAD_CONFIRM_BYTES:
            self._download(what, dest, DOWNLOAD_CONFIRM_BYTES)
            return
        plan = Plan(action="download", summary=f"{len(files)} files, {human_bytes(total)} of run {self.run_id[:12]} "
                    f"to {dest} on this machine", target=f"mlflow run {self.run_id}/{what or ''}", risk="medium",
                    notes=[f"more than {human_bytes(DOWNLOAD_CONFIRM_BYTES)}: heavy data belongs in the cluster "
                           "(a Job next to the store), not on the bastion"])
        self.app.push_screen(ConfirmPlan(plan), lambda ok: self._download(what, dest, total) if ok else
                             self.set_status("download not started"))

    def _download(self, what: str, dest: str, max_bytes: int) -> None:
        rid = self.run_id
        self.set_status(f"downloading {what or 'all artifacts'} to {dest} ...")

        def run() -> str:
            return str(self.backend.download_artifacts(rid, what, dest, max_bytes=max_bytes))

        self.run_io(run, lambda p: self.set_status(f"downloaded to {p}"),
                    lambda e: self.show_error(e, "download"), group="download", timeout=600)

    # -- keys ------------------------------------------------------------------------------------
    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one("#run-tabs", TabbedContent)
        ids = ["tab-overview", "tab-metrics", "tab-artifacts"]
        i = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(i + step) % len(ids)]
        target = {"tab-overview": "#run-data", "tab-metrics": "#metric-keys", "tab-artifacts": "#art-tree"}
        self.query_one(target[tabs.active]).focus()

    def action_next_tab(self) -> None:
        self._switch_tab(1)

    def action_prev_tab(self) -> None:
        self._switch_tab(-1)

    def action_toggle_x(self) -> None:
        self.by = "time" if self.by == "step" else "step"
        self._render_plot()
        self.set_status(f"plotting by {self.by}")

    def action_toggle_metric(self) -> None:
        table = self.query_one("#metric-keys", FilterTable)
        key = table.selected_key
        if key is None:
            return
        if key in self.plotted:
            self.plotted.remove(key)
        else:
            self.plotted.append(key)
        self._render_metric_keys()
        self._render_plot()

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.run_id)
        self.notify(f"copied run id {self.run_id}")

    def action_copy_uri(self) -> None:
        uri = f"runs:/{self.run_id}"
        self.app.copy_to_clipboard(uri)
        self.notify(f"copied {uri}")

    def show_error(self, err: BaseException, what: str = "") -> None:
        super().show_error(err, what)
        if isinstance(err, MlopsError) and self.detail is None:
            self.query_one("#run-head", Static).update(safe(f"cannot load run {self.run_id}: {err.message}"))

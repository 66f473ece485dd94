"""The runs of one experiment: server-side search, order and paging (10,000+ runs scroll smoothly).

`/` takes MLflow's own search syntax and runs it on the server; `s` sorts by a column (server
side), `S` flips the direction; `c` picks the metric/param/tag columns; space marks runs and `C`
compares them; enter opens a run. Pages load as the cursor nears the end (one page ahead of the reader).

`G` at 100,000 runs does not load 100,000 rows: when the order has an exact reverse (start time, run id:
columns without NULLs, which MLflow sorts last both ways), the end of the list is one request with the
reversed order, fetched ahead as soon as the first page is shown. The table then holds that window (the
last runs, "tail" view), grows upwards as the cursor nears its top, and `g` returns to the top; when the
two windows meet, they are one list. Other orders (a metric, a param) page down to the end as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from mlopstui.errors import MlopsError
from mlopstui.models.experiments import (
    ATTRIBUTE_ORDER,
    BASE_RUN_COLUMNS,
    Experiment,
    RunRow,
    choose_columns,
    order_by_for,
    parse_columns,
)
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.columns import Col
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic
from mlopstui.widgets.status import RUN_LEVEL, badge

if TYPE_CHECKING:
    from mlopstui.backends.mlflow import MlflowBackend

# The first page is a screenful (the terminal's height: the table shows fewer rows), at least FIRST_PAGE:
# MLflow spends 3-7 ms per run of a page (a 30-run page of a 100,000-run experiment 0.25 s, one run 0.16 s,
# at load 3.5), so a small first page shows fast. The rest is fetched ahead while the user reads: the end of
# the list (for G), then SECOND_PAGE runs (MLflow's UI pages by 100), then NEXT_PAGE at a time.
FIRST_PAGE = 20
SECOND_PAGE = 100
NEXT_PAGE = 500
BULK_PAGE = 2000
TAIL_PAGE = 500  # the end of the list, fetched ahead (reversed order)
TAIL_MAX = 20_000  # the tail window stops growing here (g: the top)
EXACT_REVERSE = ("start", "run")  # sorts whose reversed query lists the same runs backwards
PREFETCH_MARGIN = 60
# MLflow's schema has no index on runs' experiment or start time: every runs/search scans and sorts all the
# runs of the experiment before it cuts a page. The opening view (newest first, no search) asks first for the
# runs of the last day (before the newest run the count saw, if it saw one): with a screenful there, those are
# exactly the newest runs; MLflow sorts 1,440 runs instead of 100,000 (0.08-0.14 s instead of 0.23-0.32 s for 24
# runs at load 9). With fewer, the plain first page is asked next (an empty window costs 0.06-0.08 s).
FIRST_WINDOW_MS = 24 * 3600 * 1000
FROM_TOP = "\0from-the-top"  # next_token after a windowed first page: the next head page starts at the top

MARK = "✓"


def first_page(backend: MlflowBackend, eid: str, flt: str, order_by: list[str], size: int,
               since: int | None) -> tuple[list[RunRow], str | None]:
    """The first page of runs: from the runs started since `since` (ms) when they fill it (FIRST_WINDOW_MS)."""
    if since is not None:
        rows, _ = backend.search_runs([eid], filter=f"attributes.start_time >= {since}", order_by=order_by,
                                      max_results=size)
        if len(rows) >= size:  # a full page in the window: no run outside it is newer
            return rows, FROM_TOP
    return backend.search_runs([eid], filter=flt, order_by=order_by, max_results=size)


def column_label(col: str) -> str:
    if col in BASE_RUN_COLUMNS:
        return col.upper()
    kind, _, key = col.partition(".")
    return {"metrics": "m.", "params": "p.", "tags": "t."}.get(kind, "") + key


# priorities (widgets/columns.py): the mark, the name and the status stay at 80 columns (a FAILED run is seen);
# then the chosen metric/param columns, the start, the run id (cut), the rest
COLUMN_PRIORITY = {"mark": 0, "name": 0, "status": 0, "start": 2, "run": 4, "duration": 5, "user": 6, "source": 7}


class RunsTable(FilterTable):
    """The runs: pages are appended (FilterTable.append_rows); g/Home and G/End are the screen's first/last run
    (G loads the end of the list first; g comes back from the tail window)."""

    def action_first_row(self) -> None:
        first = getattr(self.screen, "action_first", None)
        if first is not None:
            first()
        else:
            super().action_first_row()

    def action_last_row(self) -> None:
        last = getattr(self.screen, "action_last", None)
        if last is not None:
            last()
        else:
            super().action_last_row()


class RunsScreen(AreaScreen):
    AREA = "experiments"
    TITLE = "Experiments › runs"
    BINDINGS = [
        Binding("/", "filter", "Search"),
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open", show=False),
        Binding("space", "mark", "Mark"),
        Binding("C", "compare", "Compare"),
        Binding("s", "sort", "Sort"),
        Binding("S", "flip_sort", "Flip sort", show=False),
        Binding("c", "columns", "Columns"),
        Binding("G", "last", "Last run", show=False),
        Binding("g", "first", "First run", show=False),
    ]

    def __init__(self, backend: MlflowBackend, experiment: Experiment):
        super().__init__()
        self.backend = backend
        self.experiment = experiment
        self.filter = ""
        self.sort_col = "start"
        self.sort_asc = False
        self.columns: list[str] | None = None  # extra columns; None: choose from the first page
        self.runs: dict[str, RunRow] = {}
        self.order: list[str] = []
        self.marked: list[str] = []
        self.next_token: str | None = None
        self.loading = False
        self.to_last = False
        # the end of the list (forward order), loaded with the reversed query; shown when view == "tail"
        self.tail: list[str] | None = None
        self.tail_token: str | None = None
        self.tail_loading = False
        self.view = "head"
        self.search_error: MlopsError | None = None
        self._gen = 0
        self._painted = -1  # the load (_gen) whose first page was painted: fetching ahead starts then
        # when the first page was painted (perf_counter; bench/bench_experiments.py times it from the key)
        self.first_page_at: float | None = None
        self.first_page_rows = 0  # the rows it painted (before anything fetched ahead)
        self.first_request: dict[str, Any] = {}  # what first_page() was last asked (the bench repeats it)
        self._asked_at_mount = False

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("", id="runs-info")
        yield RunsTable(id="runs")

    # -- data ------------------------------------------------------------------------------------
    @property
    def order_by(self) -> list[str]:
        clauses = [order_by_for(self.sort_col, self.sort_asc)]
        if self.sort_col != "start":
            clauses.append("attributes.start_time DESC")
        if self.sort_col != "run":  # MLflow's own last tie-break (run_uuid ASC), said so it can be reversed
            clauses.append("attributes.run_id ASC")
        return clauses

    @property
    def reverse_order_by(self) -> list[str]:
        return [c[:-4] + " DESC" if c.endswith(" ASC") else c[:-5] + " ASC" for c in self.order_by]

    @property
    def at_last(self) -> bool:
        """The cursor is on the last run of the whole list."""
        table = self.query_one("#runs", RunsTable)
        return (not self.to_last and table.row_count > 0 and table.cursor_row == table.row_count - 1
                and (self.view == "tail" or not self.next_token))

    def on_mount(self) -> None:
        # the first page is asked at once, not after the empty screen's paint (AreaScreen.on_mount's deferred
        # refresh_data, skipped once below): the request waits on the server, which works while this paints
        # (the deferral cost 0.08-0.13 s before the request at load 8)
        self._asked_at_mount = True
        self.refresh_data(at_mount=True)

    def refresh_data(self, at_mount: bool = False) -> None:
        if self._asked_at_mount and not at_mount:  # AreaScreen.on_mount's call (Textual calls each class's
            self._asked_at_mount = False        # on_mount), made after this one's request went out: once
            return
        self._gen += 1
        self.next_token = None
        self.loading = False
        self.tail, self.tail_token, self.tail_loading, self.view = None, None, False, "head"
        self._load_page(self.first_page_size, first=True)

    @property
    def first_page_size(self) -> int:
        return max(FIRST_PAGE, self.app.size.height)

    @property
    def next_page_size(self) -> int:
        return SECOND_PAGE if len(self.order) < SECOND_PAGE else NEXT_PAGE

    def _shown(self) -> list[str]:
        return self.tail if self.view == "tail" and self.tail is not None else self.order

    # -- the end of the list: the reversed query ---------------------------------------------------
    def _load_tail(self) -> None:
        if self.tail_loading or self.sort_col not in EXACT_REVERSE:
            return
        self.tail_loading = True
        # a screenful first (MLflow spends milliseconds per run), then larger pages as the user scrolls up
        size = TAIL_PAGE if self.tail else self.first_page_size
        gen, token = self._gen, self.tail_token
        flt, order, eid = self.filter, self.reverse_order_by, self.experiment.experiment_id

        def fetch() -> tuple[list[RunRow], str | None]:
            return self.backend.search_runs([eid], filter=flt, order_by=order, max_results=size,
                                            page_token=token)

        self.run_io(fetch, lambda res: self._tail_loaded(gen, res), lambda err: self._tail_failed(gen, err),
                    group="runs-tail", timeout=max(self.backend.timeout * 2, 20.0))

    def _tail_failed(self, gen: int, err: MlopsError) -> None:
        if gen == self._gen:
            self.tail_loading = self.to_last = False
            self.show_error(err, "the last runs")

    def _tail_loaded(self, gen: int, result: tuple[list[RunRow], str | None]) -> None:
        if gen != self._gen:
            return
        rows, token = result
        self.tail_loading = False
        for r in rows:
            self.runs.setdefault(r.run_id, r)
        self.tail = [*(r.run_id for r in reversed(rows)), *(self.tail or [])]
        self.tail_token = token
        if not self._merge_if_met():
            if self.view == "tail":
                self._render_tail()
            elif self.to_last:
                self._show_tail()
        self._render_info()
        self.set_status(self._summary())
        table = self.query_one("#runs", RunsTable)
        if self.view == "head" and self.next_token and not self.loading \
                and table.cursor_row >= table.row_count - PREFETCH_MARGIN:
            self._load_page(self.next_page_size)  # the head's next page, fetched ahead after the tail's first

    def _merge_if_met(self) -> bool:
        """The head and the tail windows share a run, or the tail reached the top: they are one list."""
        if self.tail is None:
            return False
        head = set(self.order)
        if self.tail_token is not None and not any(rid in head for rid in self.tail):
            return False
        rest = [rid for rid in self.tail if rid not in head]
        self.order.extend(rest)
        self.next_token, self.tail, self.tail_token = None, None, None
        table = self.query_one("#runs", RunsTable)
        if self.view == "tail":
            self.view = "head"
            table.set_rows([(rid, self._cells(self.runs[rid])) for rid in self.order])
        else:
            table.append_rows([(rid, self._cells(self.runs[rid])) for rid in rest])
        if self.to_last:
            self.to_last = False
            table.move_cursor(row=table.row_count - 1)
        return True

    def _render_tail(self) -> None:
        """The tail window on screen (set_rows keeps the cursor on its run)."""
        self.query_one("#runs", RunsTable).set_rows([(rid, self._cells(self.runs[rid])) for rid in self.tail or []])

    def _show_tail(self) -> None:
        self.view, self.to_last = "tail", False
        self._render_tail()
        table = self.query_one("#runs", RunsTable)
        table.move_cursor(row=table.row_count - 1)

    def _load_page(self, size: int, first: bool = False) -> None:
        if self.loading:
            return
        self.loading = True
        gen, token = self._gen, (None if first or self.next_token == FROM_TOP else self.next_token)
        flt, order, eid = self.filter, self.order_by, self.experiment.experiment_id
        since = None
        if first and not flt and (self.sort_col, self.sort_asc) == ("start", False):
            newest = self.experiment.last_run_time or int(time.time() * 1000)
            since = min(newest, int(time.time() * 1000)) - FIRST_WINDOW_MS

        if first:
            self.first_request = dict(eid=eid, flt=flt, order_by=order, size=size, since=since)

        def fetch() -> tuple[list[RunRow], str | None]:
            if first:
                return first_page(self.backend, eid, flt, order, size, since)
            return self.backend.search_runs([eid], filter=flt, order_by=order, max_results=size, page_token=token)

        self.run_io(fetch, lambda res: self._page_loaded(gen, first, res),
                    lambda err: self._page_failed(gen, err, first),
                    group="runs-page", timeout=max(self.backend.timeout * 2, 20.0))
        self._render_info()

    def _page_loaded(self, gen: int, first: bool, result: tuple[list[RunRow], str | None]) -> None:
        if gen != self._gen:
            return
        rows, token = result
        self.loading = False
        self.next_token = token
        table = self.query_one("#runs", RunsTable)
        if first:
            self.search_error = None
            for box in self.query("#runfilter"):  # the search worked: its box closes
                box.remove()
                table.focus()
            self.runs, self.order = {}, []
            if self.columns is None:
                self.columns = choose_columns(rows, max_metrics=3, max_params=2)
            table.set_columns(*self._labels())
            table.set_rows([])
            self.loaded_at = clock()
        seen = set(self.order)
        new = [r for r in rows if r.run_id not in seen]
        for r in new:
            self.runs[r.run_id] = r
            self.order.append(r.run_id)
        if self.view == "head":
            table.append_rows([(r.run_id, self._cells(r)) for r in new])
        self._merge_if_met()
        self._render_info()
        self.set_status(self._summary())
        if first:
            # what is fetched ahead starts once the first page is painted: its threads and requests would
            # take the CPU (2 cores, a shared bastion) from that paint (0.39 s after the rows at load 18)
            self.call_after_refresh(self._first_page_painted, gen)
            return
        self._fetch_ahead()

    def _first_page_painted(self, gen: int) -> None:
        if self.first_page_at is None:
            self.first_page_at = time.perf_counter()
            self.first_page_rows = self.query_one("#runs", RunsTable).row_count
        if gen == self._gen:
            self._painted = gen
            self._fetch_ahead(first=True)

    def _fetch_ahead(self, first: bool = False) -> None:
        table = self.query_one("#runs", RunsTable)
        if first and self.next_token and self.sort_col in EXACT_REVERSE and self.tail is None \
                and not self.tail_loading:
            self._load_tail()  # fetched ahead, while the user reads the first page: G is then at once
            return  # (the head's next page follows the tail's first)
        if self.view == "tail":
            return
        if self.to_last:
            if self.next_token:
                self._load_page(BULK_PAGE)
            else:
                self.to_last = False
                table.move_cursor(row=table.row_count - 1)
        elif self.next_token and table.cursor_row >= table.row_count - PREFETCH_MARGIN:
            self._load_page(self.next_page_size)

    def _page_failed(self, gen: int, err: MlopsError, first: bool = False) -> None:
        if gen != self._gen:
            return
        self.loading = False
        self.to_last = False
        if first:
            self.tail, self.tail_token, self.view = None, None, "head"
            # no rows of an earlier filter under this one: the table is emptied and says why, and the query
            # stays in its box (reopened if closed) with the error right below it, to be corrected
            self.search_error = err
            self.runs, self.order, self.next_token = {}, [], None
            table = self.query_one("#runs", RunsTable)
            table.set_rows([])
            if self.filter and not list(self.query("#runfilter")):
                self.action_filter()
        self.show_error(err, f"search {self.filter!r}" if first and self.filter else "runs")
        self._render_info()

    def _summary(self) -> str:
        n = len(self.order)
        if self.view == "tail" and self.tail is not None:
            return (f"the last {len(self.tail)} runs of the list{', more as you scroll up' if self.tail_token else ''}"
                    f" (g: the top, {n} loaded there); / MLflow search, s sort, enter open")
        more = f"{n} runs loaded, more as you scroll (G: to the last)" if self.next_token else f"{n} runs"
        return f"{more}; / MLflow search, s sort, c columns, space mark, C compare, enter open"

    def _labels(self) -> list[Col]:
        labels = []
        for col in self._all_columns():
            label = column_label(col) if col != "mark" else " "
            if col == self.sort_col:
                label += " ▲" if self.sort_asc else " ▼"
            labels.append(Col(label, COLUMN_PRIORITY.get(col, 1), wide=col in ("run", "name", "source"),
                              min_width={"run": 8, "name": 14}.get(col, 12)))
        return labels

    def _all_columns(self) -> list[str]:
        base = list(BASE_RUN_COLUMNS)
        # run, name, then the chosen columns (the interesting part on an 80-column screen), then the rest
        return ["mark", base[0], base[1], *(self.columns or []), *base[2:]]

    def _cells(self, r: RunRow) -> list[Any]:
        out: list[Any] = []
        for col in self._all_columns():
            if col == "mark":
                out.append(MARK if r.run_id in self.marked else " ")
            elif col == "status":
                out.append(badge(r.status, RUN_LEVEL.get(r.status, "unknown")))
            else:
                out.append(r.cell(col))
        return out

    def _render_info(self) -> None:
        flt = self.filter or "(none)"
        arrow = "asc" if self.sort_asc else "desc"
        text = Text.assemble((self.experiment.name, "bold"), f" (id {self.experiment.experiment_id})  filter: ",
                             (flt, "bold" if self.filter else ""), f"  sort: {self.sort_col} {arrow}")
        if self.loading:
            text.append(" loading ...")
        elif self.search_error is not None:
            text.append("  ✗ search failed: no runs shown", style="bold red")
        self.query_one("#runs-info", QuietStatic).update(safe(text))
        # the server-side search in the table's top border too, as a `/` filter is on every table
        n = f"{len(self.order)}{'+' if self.next_token else ''} runs"
        self.query_one("#runs", RunsTable).set_filter_note(f"search: {self.filter} ({n})" if self.filter else "")

    # -- paging ----------------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event) -> None:
        table = self.query_one("#runs", RunsTable)
        if event.data_table is not table:
            return
        if self.view == "tail":
            if self.tail_token and event.cursor_row < PREFETCH_MARGIN and len(self.tail or []) < TAIL_MAX:
                self._load_tail()
        elif self.next_token and not self.loading and event.cursor_row >= table.row_count - PREFETCH_MARGIN \
                and self._painted == self._gen and not (self.tail_loading and self.tail is None):
            # (while the tail's first page loads, the head's next one waits for it: _tail_loaded asks it)
            self._load_page(self.next_page_size)

    def action_first(self) -> None:
        table = self.query_one("#runs", RunsTable)
        if self.view == "tail":
            self.view = "head"
            table.set_rows([(rid, self._cells(self.runs[rid])) for rid in self.order])
            self.set_status(self._summary())
        if table.row_count:
            table.move_cursor(row=0)

    def action_last(self) -> None:
        table = self.query_one("#runs", RunsTable)
        if self.view == "tail" or (self.next_token and self.sort_col in EXACT_REVERSE):
            if self.tail is not None:
                self._show_tail()
                self.set_status(self._summary())
            else:
                self.to_last = True
                self.set_status("loading the last runs ...")
                self._load_tail()
        elif self.next_token:
            self.to_last = True
            self.set_status("loading to the last run ...")
            if not self.loading:
                self._load_page(BULK_PAGE)
        elif table.row_count:
            table.move_cursor(row=table.row_count - 1)

    # -- search, sort, columns -------------------------------------------------------------------
    def action_filter(self) -> None:
        if list(self.query("#runfilter")):
            self.query_one("#runfilter", Input).focus()
            return
        box = Input(value=self.filter, id="runfilter",
                    placeholder="MLflow search: metrics.accuracy > 0.9 and params.learning_rate = '0.01'")
        self.mount(box, before=self.query_one("#status"))
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runfilter":
            event.stop()
            self.filter = event.value.strip()
            # the box stays until the server accepts the query (then it closes); a refused one stays in it
            self.set_status(f"searching: {self.filter or 'all runs'} ...")
            self.refresh_data()

    def action_back(self) -> None:
        boxes = list(self.query("#runfilter"))
        if boxes:
            boxes[0].remove()
            self.query_one("#runs", RunsTable).focus()
            return
        self.app.pop_screen()

    def set_sort(self, column: str, ascending: bool | None = None) -> None:
        if ascending is None:
            ascending = not self.sort_asc if column == self.sort_col else column not in ("start", "duration")
        self.sort_col, self.sort_asc = column, ascending
        self.refresh_data()

    def action_sort(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        choices = ", ".join([*ATTRIBUTE_ORDER, *(self.columns or [])])
        self.app.push_screen(
            PromptValue(f"Sort by (on the server; '-' for descending):\n{choices}",
                        value=("" if self.sort_asc else "-") + self.sort_col), self._sort_chosen)

    def _sort_chosen(self, value: str | None) -> None:
        if not value or not value.strip():
            return
        v = value.strip()
        desc = v.startswith("-")
        col = v.lstrip("-+")
        if col not in ATTRIBUTE_ORDER and col.split(".", 1)[0] not in ("metrics", "params", "tags"):
            parsed = parse_columns(col)
            col = parsed[0] if parsed else col
        known = self.known_columns()
        if col not in ATTRIBUTE_ORDER and col not in known:
            # a typo would sort by a key no run has (MLflow accepts it) and add an empty column
            near = sorted(k for k in known if col.rsplit(".", 1)[-1][:3].lower() in k.lower())[:4]
            self.set_status(f"s {v}: no column {col!r} in these runs; known: "
                            + ", ".join(near or sorted(ATTRIBUTE_ORDER)[:4] + sorted(known)[:4]), error=True)
            return
        if col.split(".", 1)[0] in ("metrics", "params", "tags") and col not in (self.columns or []):
            self.columns = [*(self.columns or []), col]
        self.set_sort(col, not desc)

    def known_columns(self) -> set[str]:
        """metrics.*, params.* and tags.* keys of the runs the server returned (the loaded pages)."""
        out: set[str] = set(self.columns or [])
        for r in self.runs.values():
            out.update(f"metrics.{k}" for k in r.metrics)
            out.update(f"params.{k}" for k in r.params)
            out.update(f"tags.{k}" for k in r.tags)
        return out

    def action_flip_sort(self) -> None:
        self.set_sort(self.sort_col, not self.sort_asc)

    def on_data_table_header_selected(self, event) -> None:
        cols = self._all_columns()
        idx = self.query_one("#runs", RunsTable).spec_index(event.column_index)
        if idx is None:
            return
        if 0 <= idx < len(cols) and cols[idx] != "mark":
            self.set_sort(cols[idx])

    def action_columns(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        self.app.push_screen(
            PromptValue("Columns (metric names, or params.X / tags.X; p:X and t:X for short):",
                        value=", ".join(self.columns or [])), self._columns_chosen)

    def _columns_chosen(self, value: str | None) -> None:
        if value is None:
            return
        self.columns = parse_columns(value)
        table = self.query_one("#runs", RunsTable)
        table.set_columns(*self._labels())
        table.set_rows([(rid, self._cells(self.runs[rid])) for rid in self._shown()])

    # -- marks, open, compare --------------------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one("#runs", RunsTable)
        key = table.selected_key
        if key is None:
            return
        if key in self.marked:
            self.marked.remove(key)
        else:
            self.marked.append(key)
        if key in self.runs:
            table.replace_cells(key, self._cells(self.runs[key]))
        self.set_status(f"{len(self.marked)} marked; C compares them")
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def on_data_table_row_selected(self, event) -> None:
        if event.data_table.id == "runs":
            event.stop()
            self.action_open()

    def action_open(self) -> None:
        key = self.query_one("#runs", RunsTable).selected_key
        if key is None:
            return
        from mlopstui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(self.backend, key, run=self.runs.get(key),
                                             experiment_name=self.experiment.name))

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark two or more runs with space first", severity="warning")
            return
        from mlopstui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.backend, [self.runs[k] for k in self.marked if k in self.runs]))

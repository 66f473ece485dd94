"""A DataTable that keeps all its rows and can be narrowed by a `/` filter.

set_rows() touches only what changed: when the visible keys and columns are the same as on screen, each
changed cell is rewritten and only its region repainted (DataTable.update_cell repaints the whole table),
so a refresh that finds nothing new writes nothing to the terminal.

Columns are chosen by width and priority (widgets/columns.py): on a resize, or when the contents' widths change,
the table shows the columns that fit, in their order, and cuts wide ones with an ellipsis. `g`/`G`/Home/End
go to the first/last row on every table. An active `/` filter is shown in the table's top border
("filter: xyz (12/40)")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from mlopstui.text import clean_line, control_chars
from mlopstui.widgets.columns import Col, as_col, cell_width, fit, layout
from mlopstui.widgets.keys import TABLE_KEYS


def safe_cell(cell: Any) -> Any:
    """A cell without terminal control characters (a Text keeps its style when it had none). A str becomes
    a Text: DataTable parses a str cell as markup, and a server's `[/x]` would raise or `[@click=...]` act."""
    if isinstance(cell, str):
        return Text(clean_line(cell))
    if isinstance(cell, Text) and control_chars(cell.plain):
        return Text(clean_line(cell.plain), style=cell.style)
    return cell


class FilterTable(DataTable):
    """Set rows with set_rows(); filter_text narrows them (case-insensitive substring of any cell)."""

    BINDINGS = TABLE_KEYS
    DEFAULT_CSS = """
    FilterTable.-filtered { border-top: solid $accent; border-title-color: $text; }
    """

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(*args, **kwargs)
        self._all_rows: list[tuple[str, Sequence[Any]]] = []
        self._specs: list[Col] = []
        self._natural: list[int] = []
        self._shown: list[tuple[int, int | None]] | None = None  # (spec index, width) of the columns on screen
        self._restore_key: str | None = None
        self.filter_text = ""
        self.filter_note = ""  # what a screen's own search says (the runs' server-side query)
        # what set_rows() did (tests count them: a refresh that changes nothing shown writes nothing)
        self.full_renders = 0  # the rows cleared and added again (other keys or columns)
        self.cells_written = 0  # single cells rewritten in place

    # -- columns -----------------------------------------------------------------------------------
    def set_columns(self, *labels: str | Col) -> None:
        """The columns, each a label (default priority, see columns.as_col) or a Col. Rows are cleared when
        they change; the selected row key is kept for the rows set next."""
        specs = [as_col(label, i) for i, label in enumerate(labels)]
        if specs == self._specs:
            return
        if self.selected_key is not None:
            self._restore_key = self.selected_key
        self._specs = specs
        self._all_rows = []
        self._natural = [cell_width(s.label) for s in specs]
        self._shown = None
        self.clear(columns=True)

    @property
    def column_specs(self) -> list[Col]:
        return list(self._specs)

    def shown_columns(self) -> list[str]:
        """The labels of the columns on screen (the others do not fit at this width)."""
        return [self._specs[i].label for i, _ in (self._shown or [])]

    def spec_index(self, shown_index: int) -> int | None:
        """The index in set_columns() of the column shown at shown_index."""
        shown = self._shown or []
        return shown[shown_index][0] if 0 <= shown_index < len(shown) else None

    def _available_width(self) -> int:
        width = self.size.width
        if width and len(self._all_rows) + 1 > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _layout(self) -> list[tuple[int, int | None]]:
        if not self._specs:
            return []
        avail = self._available_width()
        if not avail:  # not laid out yet: everything, at its width, until the first resize
            return [(i, None) for i in range(len(self._specs))]
        widths = layout(self._specs, self._natural, avail, 2 * self.cell_padding)
        return [(i, None if w is not None and w >= self._natural[i] else w)
                for i, w in enumerate(widths) if w is not None]

    def _project(self, cells: Sequence[Any]) -> list[Any]:
        out = []
        for i, width in self._shown or []:
            cell = cells[i] if i < len(cells) else ""
            out.append(cell if width is None else fit(cell, width))
        return out

    def _measure(self, rows: Sequence[tuple[str, Sequence[Any]]], reset: bool) -> None:
        if reset:
            self._natural = [cell_width(s.label) for s in self._specs]
        for _, cells in rows:
            for i, c in enumerate(cells[: len(self._natural)]):
                w = cell_width(c)
                if w > self._natural[i]:
                    self._natural[i] = w

    def on_resize(self, _event: Any) -> None:
        if self._specs and self._layout() != self._shown:
            self._render_rows()

    # -- rows --------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """rows: (key, cells). Keeps the cursor on the same key when it survives. Cells are made
        terminal-safe here (server strings: names, tags, messages), for every table of the app."""
        self._all_rows = [(key, [safe_cell(c) for c in cells]) for key, cells in rows]
        self._measure(self._all_rows, reset=True)
        self._render_rows()

    def append_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Add rows below the others without re-adding what the table holds (a page of runs)."""
        safe_rows = [(key, [safe_cell(c) for c in cells]) for key, cells in rows]
        self._all_rows.extend(safe_rows)
        self._measure(safe_rows, reset=False)
        if self._layout() != self._shown:
            self._render_rows()
            return
        for key, cells in safe_rows:
            if self._matches(cells):
                self.add_row(*self._project(cells), key=key)
        self._show_filter()

    def replace_cells(self, key: str, cells: Sequence[Any]) -> None:
        """One row's new cells (a mark toggled)."""
        self._all_rows = [(k, [safe_cell(c) for c in cells] if k == key else c) for k, c in self._all_rows]
        self._render_rows()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self._render_rows()

    def visible_keys(self) -> list[str]:
        return [str(k.value) for k in self.rows]

    def _matches(self, cells: Sequence[Any]) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        return any(needle in (c.plain if isinstance(c, Text) else str(c)).lower() for c in cells)

    def _show_filter(self) -> None:
        """The active filter in the top border, with how many rows it leaves: "filter: xyz (12/40)"."""
        parts = []
        if self.filter_note:
            parts.append(self.filter_note)
        if self.filter_text:
            parts.append(f"filter: {clean_line(self.filter_text)} ({self.row_count}/{len(self._all_rows)})")
        title = "  ".join(parts)
        if title != (self.border_title or ""):
            self.border_title = title or None
            self.set_class(bool(title), "-filtered")

    def set_filter_note(self, note: str) -> None:
        self.filter_note = clean_line(note)
        self._show_filter()

    def _render_rows(self) -> None:
        shown = self._layout()
        visible = [(key, cells) for key, cells in self._all_rows if self._matches(cells)]
        if shown == self._shown and self.columns and [k for k, _ in visible] == self.visible_keys():
            self._shown = shown
            self._update_changed([(key, self._project(cells)) for key, cells in visible])
            self._show_filter()
            return
        current = self.selected_key or self._restore_key
        self.full_renders += 1
        if shown != self._shown:
            self.clear(columns=True)
            self._shown = shown
            for i, width in shown:
                spec = self._specs[i]
                label = spec.label if width is None else fit(spec.label, width)
                # a Text: a label (a metric or tag key) is no markup either
                self.add_column(label if isinstance(label, Text) else Text(clean_line(label)), key=spec.key)
        else:
            self.clear()
        for key, cells in visible:
            self.add_row(*self._project(cells), key=key)
        self._settle_dimensions()
        if current is not None and current in self.visible_keys():
            self.move_cursor(row=self.get_row_index(current))
            self._restore_key = None
        self._show_filter()

    def _settle_dimensions(self) -> None:
        """The new rows' column widths and the virtual size now, not at the table's next Idle (DataTable measures
        added rows only then): a Stack table at 80x24 once stayed drawn at its labels' widths ("! Deplo") for a
        whole test's wait, as if that Idle never came."""
        if not self.is_mounted or not self._new_rows:
            return
        new_rows = set(self._new_rows)
        self._new_rows.clear()
        self._update_dimensions(new_rows)

    def _update_changed(self, visible: Sequence[tuple[str, Sequence[Any]]]) -> None:
        col_keys = list(self.columns)
        for key, cells in visible:
            old = self.get_row(key)
            for ci, (ck, before, after) in enumerate(zip(col_keys, old, cells, strict=True)):
                if not same_cell(before, after):
                    self._set_cell(key, ck, ci, after)

    def _set_cell(self, key: str, col: ColumnKey, col_index: int, value: Any) -> None:
        self.cells_written += 1
        width = cell_len(value.plain if isinstance(value, Text) else str(value))
        if width > self.columns[col].content_width:
            self.update_cell(key, col, value, update_width=True)  # the column grows: a full repaint, rarely
            return
        self._data[RowKey(key)][col] = value
        self._update_count += 1  # invalidates the render caches
        self.refresh_coordinate(Coordinate(self.get_row_index(key), col_index))

    # -- keys: the same on every table ---------------------------------------------------------------
    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    @property
    def selected_key(self) -> str | None:
        if not self.rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        except Exception:
            return None
        return str(key.value)


def same_cell(a: Any, b: Any) -> bool:
    """Equal text and style (rich's Text.__eq__ ignores the base style)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    if isinstance(a, Text) or isinstance(b, Text):
        return False
    return a == b

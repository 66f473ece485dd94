"""A DataTable that keeps all its rows and can be narrowed by a `/` filter.

set_rows() touches only what changed: when the visible keys and columns are the same as on screen, each
changed cell is rewritten and only its region repainted (DataTable.update_cell repaints the whole table),
so a refresh that finds nothing new writes nothing to the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from mlopstui.text import clean_line, control_chars
from mlopstui.widgets.keys import VI_KEYS


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

    BINDINGS = VI_KEYS

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(*args, **kwargs)
        self._all_rows: list[tuple[str, Sequence[Any]]] = []
        self.filter_text = ""

    def set_columns(self, *labels: str) -> None:
        if [str(c.label) for c in self.columns.values()] != list(labels):
            self.clear(columns=True)
            for label in labels:  # a Text: a label (a metric or tag key) is no markup either
                self.add_column(Text(clean_line(label)), key=label)

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """rows: (key, cells). Keeps the cursor on the same key when it survives. Cells are made
        terminal-safe here (server strings: names, tags, messages), for every table of the app."""
        self._all_rows = [(key, [safe_cell(c) for c in cells]) for key, cells in rows]
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

    def _render_rows(self) -> None:
        visible = [(key, cells) for key, cells in self._all_rows if self._matches(cells)]
        if self.columns and [k for k, _ in visible] == self.visible_keys() \
                and all(len(cells) == len(self.columns) for _, cells in visible):
            self._update_changed(visible)
            return
        current = self.selected_key
        self.clear()
        for key, cells in visible:
            self.add_row(*cells, key=key)
        if current is not None and current in self.visible_keys():
            self.move_cursor(row=self.get_row_index(current))

    def _update_changed(self, visible: Sequence[tuple[str, Sequence[Any]]]) -> None:
        col_keys = list(self.columns)
        for key, cells in visible:
            old = self.get_row(key)
            for ci, (ck, before, after) in enumerate(zip(col_keys, old, cells, strict=True)):
                if not same_cell(before, after):
                    self._set_cell(key, ck, ci, after)

    def _set_cell(self, key: str, col: ColumnKey, col_index: int, value: Any) -> None:
        width = cell_len(value.plain if isinstance(value, Text) else str(value))
        if width > self.columns[col].content_width:
            self.update_cell(key, col, value, update_width=True)  # the column grows: a full repaint, rarely
            return
        self._data[RowKey(key)][col] = value
        self._update_count += 1  # invalidates the render caches
        self.refresh_coordinate(Coordinate(self.get_row_index(key), col_index))

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

"""A bounded, searchable view of many lines (pod logs, YAML), as k9s shows them.

Lines are rich Texts (a log line's colours parsed by Text.from_ansi from text.keep_sgr: styles, never raw
escapes). At most `max_lines` are kept: older ones are dropped from the top (the screen says so). `search()`
highlights every match (reverse video, so it reads with NO_COLOR; the current one also bold+underline) and
`next_match()` / `prev_match()` scroll to them. `wrap` folds long lines at the view's width. Only the visible
rows are rendered (the Line API): appending lines below the visible rows paints nothing but the scrollbar.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

MAX_LINES = 5000
MATCH_STYLE = Style(reverse=True)
CURRENT_STYLE = Style(reverse=True, bold=True, underline=True)


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = "LogView { height: 1fr; }"

    def __init__(self, max_lines: int = MAX_LINES, wrap: bool = False, *, id: str | None = None):
        super().__init__(id=id)
        self.max_lines = max_lines
        self.wrap = wrap
        self.lines: list[Text] = []
        self._cells: list[int] = []  # each line's width in cells
        self.dropped = 0  # lines dropped from the top so far (a line's absolute number = dropped + index)
        self.query_text = ""
        self.matches: list[tuple[int, int, int]] = []  # (absolute line, start, end) in the line's plain text
        self.current = -1
        self._strips: dict[int, Strip] = {}
        self._starts: list[int] = []  # wrap: the first row of each line
        self._layout_width = -1

    # -- content ---------------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        return len(self.lines)

    def plain_lines(self) -> list[str]:
        return [t.plain for t in self.lines]

    def set_lines(self, lines: list[Text]) -> None:
        self.lines, self._cells, self.dropped = [], [], 0
        self.matches, self.current = [], -1
        self._strips.clear()
        self._add(lines)
        if self.query_text:
            self._find(0)
            self.current = 0 if self.matches else -1
        self._relayout()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def append(self, lines: list[Text]) -> None:
        """Add lines at the bottom; the view follows them only while it shows the bottom already."""
        if not lines:
            return
        at_bottom = self.scroll_y >= self.max_scroll_y
        self._add(lines)
        if self.query_text:
            self._find(max(0, len(self.lines) - len(lines)))  # the new lines (older ones may have been dropped)
            if self.current < 0 and self.matches:
                self.current = 0
        self._relayout()
        if at_bottom:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        else:
            self.refresh()

    def _add(self, lines: list[Text]) -> None:
        for t in lines:
            t = t.copy()
            t.expand_tabs()
            self.lines.append(t)
            self._cells.append(t.cell_len)
        over = len(self.lines) - self.max_lines
        if over > 0:
            if self.wrap and self._starts:
                rows_gone = self._row_of(over)
            else:
                rows_gone = over
            del self.lines[:over]
            del self._cells[:over]
            self.dropped += over
            kept = [m for m in self.matches if m[0] >= self.dropped]
            self.current = max(-1, self.current - (len(self.matches) - len(kept)))
            self.matches = kept
            self._strips.clear()
            if self.scroll_y > 0:  # keep the rows in view where they are
                self.scroll_to(y=max(0, self.scroll_y - rows_gone), animate=False, immediate=True)

    # -- layout ----------------------------------------------------------------------------------
    def _width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width or 80)

    def _relayout(self) -> None:
        width = self._width()
        self._layout_width = width
        if self.wrap:
            starts, row = [], 0
            for c in self._cells:
                starts.append(row)
                row += max(1, -(-c // width))
            self._starts = starts
            self.virtual_size = Size(width, row)
        else:
            self._starts = []
            self.virtual_size = Size(max(self._cells, default=0), len(self.lines))

    def on_resize(self) -> None:
        if self.wrap and self._width() != self._layout_width:
            self._relayout()
            self.refresh()

    def _row_of(self, index: int, cell: int = 0) -> int:
        if not self.wrap:
            return index
        if index >= len(self._starts):
            return self.virtual_size.height
        return self._starts[index] + cell // self._layout_width

    def toggle_wrap(self) -> bool:
        top = self._line_at(int(self.scroll_y))
        self.wrap = not self.wrap
        self._strips.clear()
        self._relayout()
        self.scroll_to(x=0, y=self._row_of(top[0]) if top else 0, animate=False, immediate=True)
        self.refresh()
        return self.wrap

    def _line_at(self, row: int) -> tuple[int, int] | None:
        """(line index, wrapped sub-row) shown at virtual row `row`."""
        if not self.wrap:
            return (row, 0) if 0 <= row < len(self.lines) else None
        i = bisect_right(self._starts, row) - 1
        if i < 0 or i >= len(self.lines):
            return None
        sub = row - self._starts[i]
        return (i, sub) if sub < max(1, -(-self._cells[i] // self._layout_width)) else None

    # -- rendering -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        style = self.rich_style
        at = self._line_at(scroll_y + y)
        if at is None:
            return Strip.blank(width, style)
        i, sub = at
        strip = self._strip(i)
        start = sub * self._layout_width if self.wrap else scroll_x
        return strip.crop_extend(start, start + width, style).apply_style(style)

    def _strip(self, i: int) -> Strip:
        n = self.dropped + i
        strip = self._strips.get(n)
        if strip is None:
            text = self.lines[i]
            marks = [(s, e, k) for k, (ln, s, e) in enumerate(self.matches) if ln == n] if self.matches else []
            if marks:
                text = text.copy()
                for s, e, k in marks:
                    text.stylize(CURRENT_STYLE if k == self.current else MATCH_STYLE, s, e)
            segments = [seg for seg in text.render(self.app.console, end="") if seg.text != "\n"]
            strip = Strip(segments)
            if len(self._strips) > 4 * MAX_LINES // 10:
                self._strips.clear()
            self._strips[n] = strip
        return strip

    # -- search ----------------------------------------------------------------------------------
    def search(self, query: str) -> None:
        """Highlight every case-insensitive occurrence of query; the current match is the first one at or
        below the top of the view."""
        self.query_text = query
        self.matches, self.current = [], -1
        self._strips.clear()
        if query:
            self._find(0)
            top = self._line_at(int(self.scroll_y))
            top_abs = self.dropped + (top[0] if top else 0)
            self.current = next((k for k, m in enumerate(self.matches) if m[0] >= top_abs), 0) if self.matches else -1
            self._reveal()
        self.refresh()

    def _find(self, first: int) -> None:
        pattern = re.compile(re.escape(self.query_text), re.IGNORECASE)
        for i in range(first, len(self.lines)):
            for m in pattern.finditer(self.lines[i].plain):
                if m.end() > m.start():
                    self.matches.append((self.dropped + i, m.start(), m.end()))

    def clear_search(self) -> None:
        self.search("")

    def next_match(self, step: int = 1) -> None:
        if not self.matches:
            return
        self.current = (self.current + step) % len(self.matches)
        self._strips.clear()
        self._reveal()
        self.refresh()

    def prev_match(self) -> None:
        self.next_match(-1)

    def _reveal(self) -> None:
        if not (0 <= self.current < len(self.matches)):
            return
        n, start, _ = self.matches[self.current]
        i = n - self.dropped
        cell = cell_len(self.lines[i].plain[:start])
        row = self._row_of(i, cell)
        height = self.scrollable_content_region.height or 1
        y = self.scroll_y if self.scroll_y <= row < self.scroll_y + height else max(0, row - height // 2)
        x = 0
        if not self.wrap:
            width = self._width()
            x = self.scroll_x if self.scroll_x <= cell < self.scroll_x + width - 1 else max(0, cell - width // 3)
        self.scroll_to(x=x, y=y, animate=False, immediate=True, force=True)

    def match_words(self) -> str:
        """What the status line says about the search: "match 3/17", "no match", or "" with no search."""
        if not self.query_text:
            return ""
        if not self.matches:
            return f"no match for {self.query_text!r}"
        return f"match {self.current + 1}/{len(self.matches)} for {self.query_text!r}"

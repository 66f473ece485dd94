"""A Static that repaints only when what it shows changes (an idle screen writes nothing to the terminal)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


def content_key(content: Any) -> tuple:
    if isinstance(content, Text):
        return ("text", content.plain, str(content.style), tuple(content.spans))
    if isinstance(content, str):
        return ("str", content)
    return ("obj", id(content))


def _shape(content: Any) -> tuple[int, int] | None:
    plain = content.plain if isinstance(content, Text) else content if isinstance(content, str) else None
    if plain is None:
        return None
    lines = plain.split("\n")
    return len(lines), max(len(line) for line in lines)


class QuietStatic(Static):
    """update() with what is already shown does nothing; with new text of the same shape (lines, and no
    line wider than the widget) it repaints this widget only, without a layout pass of the whole screen
    (which repaints every scrollbar)."""

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        key = content_key(content)
        if key == getattr(self, "_shown_key", None):
            return
        old_shape, new_shape = getattr(self, "_shown_shape", None), _shape(content)
        self._shown_key, self._shown_shape = key, new_shape
        width = self.size.width or 0
        if layout and old_shape is not None and new_shape is not None and old_shape[0] == new_shape[0] \
                and max(old_shape[1], new_shape[1]) <= width:
            layout = False
        super().update(content, layout=layout)

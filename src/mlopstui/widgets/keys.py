"""k9s / vi movement, beside the arrows, on every list and tree.

g/G stay free for screens (the runs screen's G pages to the last run)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Tree

VI_KEYS = [Binding("j", "cursor_down", "Down", show=False), Binding("k", "cursor_up", "Up", show=False)]


class ViTree(Tree):
    """A Tree that also moves with j/k."""

    BINDINGS = VI_KEYS

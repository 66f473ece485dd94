"""k9s / vi movement, beside the arrows, on every list and tree.

Tables (FilterTable) also take g/Home to the first row and G/End to the last, the same on every table (the
runs table's G/End loads the pages to the last run first)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from textual.binding import Binding
from textual.widgets import Tree


def binding_id(scope: str, action: str) -> str:
    """The id a `keymap:` entry names: `<scope>.<action>`, the action's arguments joined with `_`
    (`serving.canary_step_1`, `serving.canary_step_-1`, `app.goto_experiments`)."""
    name, _, args = action.partition("(")
    args = re.sub(r"[^A-Za-z0-9-]+", "_", args).strip("_")
    return f"{scope}.{name}" + (f"_{args}" if args else "")


def with_ids(scope: str, bindings: Iterable[Any]) -> list[Any]:
    """Every Binding of a BINDINGS list with an id (one it has is kept), so a user keymap can remap it."""
    out: list[Any] = []
    for b in bindings:
        binding = b if isinstance(b, Binding) else Binding(*b)
        out.append(binding if binding.id else dataclasses.replace(binding, id=binding_id(scope, binding.action)))
    return out


VI_KEYS = [Binding("j", "cursor_down", "Down", show=False), Binding("k", "cursor_up", "Up", show=False)]
TABLE_KEYS = [*VI_KEYS,
              Binding("g,home,ctrl+home", "first_row", "Top", show=False),
              Binding("G,end,ctrl+end", "last_row", "Bottom", show=False)]


class ViTree(Tree):
    """A Tree that also moves with j/k."""

    BINDINGS = VI_KEYS

"""Which columns of a table fit the screen, by priority (as k9s drops its low-priority columns at 80 columns).

Every column has a priority: 0 is always shown (the name, and what tells the state: STATUS, READY, SEV ...),
higher numbers are dropped first when the terminal is narrow. A `wide` column (a message, a finding, tags,
a URI) gives up width before anything is dropped: its cells are cut with an ellipsis, down to `min_width`.
Pure: `layout()` takes the widths the contents want and the width there is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text

# the state of a row: kept on screen at any width when a table gives no priorities of its own
STATUS_LIKE = frozenset({"STATUS", "READY", "SEV", "PHASE", "STATE", "HEALTH", "OK", "FRESH"})
# long free text: cut with an ellipsis rather than pushing the columns after it off screen
WIDE_LIKE = frozenset({"FINDING", "MESSAGE", "TAGS", "TARGET", "SOURCE", "STORAGE URI", "PATH", "PARAMETERS",
                       "FROM", "STORAGE NAMESPACE", "SCHEDULE/START", "EVIDENCE", "VALUE", "URI"})


@dataclass(frozen=True)
class Col:
    """A column: label, priority (0 = always shown; higher = dropped first), wide (cut with an ellipsis down to
    min_width before lower-priority columns are dropped)."""

    label: str
    priority: int = 1
    wide: bool = False
    min_width: int = 12

    @property
    def key(self) -> str:
        return self.label


def as_col(spec: str | Col, index: int) -> Col:
    """A plain label gets a default: the first column and status-like ones always shown, the others dropped
    from the right (priority = position), long-text columns wide."""
    if isinstance(spec, Col):
        return spec
    base = spec.split(" ")[0] if spec not in WIDE_LIKE else spec
    if index == 0 or spec in STATUS_LIKE or base in STATUS_LIKE:
        return Col(spec, 0, wide=spec in WIDE_LIKE)
    return Col(spec, index, wide=spec in WIDE_LIKE)


def cell_width(cell: Any) -> int:
    if isinstance(cell, Text):
        return max((cell_len(line) for line in cell.plain.split("\n")), default=0)
    return cell_len(str(cell)) if cell is not None else 0


def layout(cols: Sequence[Col], natural: Sequence[int], available: int, padding: int = 2) -> list[int | None]:
    """Per column its width on screen, or None when it is dropped. natural: the width each wants (its widest
    cell or label); available: the table's width; padding: the cell padding of a column (both sides).

    Columns are taken by priority (then position) while they fit at their smallest (a wide one at min_width);
    priority 0 always; the first that does not fit ends the choice (no lower-priority column jumps ahead). What width is left goes to the wide ones, up to what they want."""
    n = len(cols)
    if available <= 0:
        return list(natural)
    floor = [min(natural[i], cols[i].min_width) if cols[i].wide else natural[i] for i in range(n)]
    chosen: set[int] = set()
    used = 0
    for i in sorted(range(n), key=lambda i: (cols[i].priority, i)):
        need = floor[i] + padding
        if cols[i].priority and used + need > available:
            break  # strictly by priority: a column that does not fit lets no lower one in before it
        chosen.add(i)
        used += need
    widths: list[int | None] = [floor[i] if i in chosen else None for i in range(n)]
    spare = available - used
    for i in sorted((i for i in chosen if cols[i].wide), key=lambda i: (cols[i].priority, i)):
        if spare <= 0:
            break
        grow = min(spare, natural[i] - floor[i])
        widths[i] = floor[i] + grow
        spare -= grow
    return widths


def fit(cell: Any, width: int) -> Any:
    """The cell cut to width with an ellipsis (a Text keeps its style); as it is when it fits."""
    if cell_width(cell) <= width:
        return cell
    text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
    text = Text(text.plain.split("\n")[0], style=text.style, spans=text.spans) if "\n" in text.plain else text
    text.truncate(width, overflow="ellipsis")
    return text

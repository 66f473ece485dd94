"""Small pure formatters shared by models, the doctor, backends and screens."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_SHORT = ("B", "K", "M", "G", "T")  # Redis's own style (used_memory_human)


def human_bytes(n: float | int | None, *, sep: str = " ", missing: str = "", short: bool = False) -> str:
    """1536 -> '1.5 KiB' (binary units; whole bytes below 1 KiB); short=True -> '1.5K'."""
    if n is None:
        return missing
    units = _SHORT if short else _UNITS
    size = float(n)
    for unit in units[:-1]:
        if size < 1024:
            return f"{int(size)}{sep}{unit}" if unit == "B" else f"{size:.1f}{sep}{unit}"
        size /= 1024
    return f"{size:.1f}{sep}{units[-1]}"

"""Small pure formatters shared by models, the doctor, backends and screens."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

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


# -- Kubernetes quantities -------------------------------------------------------------------------------
# One parser: the kubernetes client's own (kubernetes.utils.quantity.parse_quantity: k8s.io/apimachinery's
# resource.Quantity grammar, decimal exponents and all suffixes). That module imports only `decimal`, but
# importing it through its package runs kubernetes/__init__ and kubernetes/utils/__init__ (the whole
# client, ~1.5 s): the doctor and the models stay light by loading the file itself when the client is
# not imported yet.
_parse_quantity = None


def _quantity_parser():
    global _parse_quantity
    if _parse_quantity is None:
        import sys

        mod = sys.modules.get("kubernetes.utils.quantity")
        if mod is None:
            import importlib.util
            from pathlib import Path

            spec = importlib.util.find_spec("kubernetes")
            path = Path(spec.origin).parent / "utils" / "quantity.py" if spec and spec.origin else None
            if path is not None and path.exists():
                qspec = importlib.util.spec_from_file_location("mlopstui._k8s_quantity", path)
                mod = importlib.util.module_from_spec(qspec)
                qspec.loader.exec_module(mod)  # type: ignore[union-attr]
            else:  # an unusual layout: the ordinary import
                import kubernetes.utils.quantity as mod  # type: ignore[no-redef]
        _parse_quantity = mod.parse_quantity
    return _parse_quantity


def parse_quantity(q: object):  # -> decimal.Decimal
    """A Kubernetes quantity ("512Mi", "4e9", "100m", 2) as a Decimal; ValueError when it is none."""
    if q is None or isinstance(q, bool) or (isinstance(q, str) and (not q or q != q.strip())):
        raise ValueError(f"{q!r} is not a quantity")
    return _quantity_parser()(q)


def quantity_bytes(q: object) -> int | None:
    """A memory/storage quantity in whole bytes (rounded up, as Quantity.Value()); None if invalid."""
    import math

    try:
        return math.ceil(parse_quantity(q))
    except (ValueError, ArithmeticError):
        return None


def cpu_millis(q: object) -> int | None:
    """A CPU quantity in millicores (rounded up, as Quantity.MilliValue()); None if invalid."""
    import math

    try:
        return math.ceil(parse_quantity(q) * 1000)
    except (ValueError, ArithmeticError):
        return None


# -- the clock ---------------------------------------------------------------------------------------------
_clock = time.time


def clock() -> float:
    """Now, in epoch seconds: what every age on screen is computed against (time.time unless set_clock)."""
    return _clock()


def set_clock(fn=None) -> None:
    """Freeze or move the clock of the ages (snapshot tests: a fixed `lambda: T`); None: the real time."""
    global _clock
    _clock = fn or time.time


# -- ages --------------------------------------------------------------------------------------------------
def human_age(seconds: float | None) -> str:
    """kubectl's AGE column: k8s.io/apimachinery pkg/util/duration.HumanDuration (2-3 significant figures):
    119s, 2m, 2m1s, 9m59s, 10m, 179m, 3h, 3h1m, 8h, 47h, 2d, 2d1h, 8d, 367d, 2y1d, 8y; None -> "-"."""
    if seconds is None:
        return "-"
    s = int(seconds)  # Go's int(d.Seconds()) truncates toward zero
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def ago(ts: float | None, now: float | None = None) -> str:
    """How old a piece of data is, as shown beside it: "never", "just now" under a minute, else the kubectl
    age of the whole minutes ("2m ago", "121m ago", "3h1m ago"). Minute resolution: a screen that
    re-computes it every second repaints (and writes to the terminal) at most once a minute."""
    if not ts:
        return "never"
    secs = max(0, int((now or clock()) - ts))
    if secs < 60:
        return "just now"
    return f"{human_age(secs // 60 * 60)} ago"


# -- timestamps --------------------------------------------------------------------------------------------
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(v: object) -> float | None:
    """An RFC 3339 timestamp as Kubernetes, Argo and KServe write it ("2026-01-02T03:04:05Z", with a fraction
    or a UTC offset) or a YAML timestamp (datetime) -> epoch seconds; naive times are UTC; None when it is
    none. The offset counts: "10:00:00+02:00" is 08:00:00Z."""
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    if not v or not isinstance(v, str):
        return None
    text = _FRACTION.sub(r"\1", v.strip().replace("z", "Z").replace("Z", "+00:00"))  # nanoseconds -> micro
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()

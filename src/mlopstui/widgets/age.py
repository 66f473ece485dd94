"""How old a piece of data is, as shown beside it."""

from __future__ import annotations

import time


def ago(ts: float | None, now: float | None = None) -> str:
    """"just now" under a minute, then minutes, hours and minutes, days: the text changes at most once a
    minute, so a screen re-computing it every second repaints (and writes to the terminal) once a minute."""
    if not ts:
        return "never"
    secs = max(0, int((now or time.time()) - ts))
    if secs < 60:
        return "just now"
    if secs < 3600:
        return f"{secs // 60}m ago"
    if secs < 86400:
        return f"{secs // 3600}h{(secs % 3600) // 60:02d}m ago"
    return f"{secs // 86400}d{(secs % 86400) // 3600:02d}h ago"


def human_age(seconds: float | None) -> str:
    """kubectl-style age: 45s, 12m, 3h, 5d."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 3600 * 2:
        return f"{s // 60}m"
    if s < 86400 * 2:
        return f"{s // 3600}h"
    return f"{s // 86400}d"

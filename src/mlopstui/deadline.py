"""One deadline per headless verb: every backend call takes at most what is left of it.

`start(seconds)` (the CLI does it once per verb, from settings.deadline or --deadline) sets the
process's deadline; `timeout(t)` is the per-call timeout to use: min(t, what is left), and an
MlopsError(TIMEOUT) once nothing is left. The TUI sets none (its workers carry their own timeouts),
so `timeout(t)` is then just t.
"""

from __future__ import annotations

import time

from mlopstui.errors import Kind, MlopsError

_deadline: float | None = None
_budget: float | None = None

# below this a call cannot even connect: give up rather than send it
_FLOOR = 0.05


def start(seconds: float | None) -> None:
    global _deadline, _budget
    _budget = seconds if seconds and seconds > 0 else None
    _deadline = time.monotonic() + seconds if _budget else None


def clear() -> None:
    start(None)


def extend(seconds: float) -> None:
    """At least `seconds` more from now (a re-read after a write's answer timed out)."""
    global _deadline
    if _deadline is not None:
        _deadline = max(_deadline, time.monotonic() + seconds)


def remaining() -> float | None:
    return None if _deadline is None else _deadline - time.monotonic()


def timeout(t: float | None, what: str = "") -> float | None:
    """The timeout for one call: t, cut to what is left of the verb's deadline."""
    left = remaining()
    if left is None:
        return t
    if left <= _FLOOR:
        raise MlopsError(Kind.TIMEOUT, f"the verb's deadline of {_budget:g} s passed"
                         + (f" before {what}" if what else ""),
                         hint="raise it with --deadline SECONDS or settings.deadline, or check the endpoint")
    return left if t is None else min(t, left)

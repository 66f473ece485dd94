"""What a test leaves in the interpreter: threads, open file descriptors, and cluster clients left open.

`tests/conftest.py` closes, after each test, the KubeClients the test opened and left open (with their
connection pools, local forwards and relays), and counts them: the session summary says how many, so a
leak shows even though it is contained. Tests that open clients should still close them (`with
AppContext.create(...) as ctx:`, `ctx.close()`, `kube.close()`, or `closing(...)` below).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

closed_for_tests: list[str] = []  # test ids whose leftovers the autouse fixture closed


def counts() -> tuple[int, int]:
    """(threads alive, open file descriptors) of this process."""
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = -1
    return threading.active_count(), fds


def thread_names(top: int = 8) -> dict[str, int]:
    names = collections.Counter(re.sub(r"[-_ ]?\d+", "", t.name) or "?" for t in threading.enumerate())
    return dict(names.most_common(top))


def settle(baseline: tuple[int, int], slack: tuple[int, int] = (0, 0), timeout: float = 15.0) -> tuple[int, int]:
    """Wait until threads and fds are back to baseline (+ slack), or the timeout: the counts then."""
    deadline = time.monotonic() + timeout
    now = counts()
    while time.monotonic() < deadline:
        now = counts()
        if now[0] <= baseline[0] + slack[0] and now[1] <= baseline[1] + slack[1]:
            break
        time.sleep(0.1)
    return now


def open_kube_ids() -> set[int]:
    kube = sys.modules.get("mlopstui.backends.kube")
    return {id(c) for c in kube.open_clients()} if kube is not None else set()


def close_left_open(before: set[int]) -> int:
    """Close the KubeClients opened since `before` (open_kube_ids()) and still open; how many."""
    kube = sys.modules.get("mlopstui.backends.kube")
    if kube is None:
        return 0
    left = [c for c in kube.open_clients() if id(c) not in before]
    for c in left:
        c.close()
    return len(left)


@contextlib.contextmanager
def closing(*resources: Any) -> Iterator[Any]:
    """with closing(ctx, kube, ...) as first: ... closes them all at the end."""
    try:
        yield resources[0] if len(resources) == 1 else resources
    finally:
        for r in reversed(resources):
            close: Callable[[], None] | None = getattr(r, "close", None)
            if close is not None:
                close()

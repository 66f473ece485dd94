"""The process's one policy for the cyclic garbage collector: what lives as long as the process (the modules
imported, botocore's parsed data, the first large read of the watch caches) is moved out of its view once,
with gc.freeze(), so that its full collections stop walking it. Measured (bench/bench_stack.py --diagnose,
bench/bench_scale.py, gc callbacks): each full collection walked ~200,000 import-time objects, and at scale
the caches' 9,700 objects, 130-680 ms with every thread stopped, while a key waited.

Freezing also keeps the cyclic garbage alive at that moment forever (refcounting still frees the rest), so
each reason freezes once per process, not on every sweep.

The TUI's start runs with the collector off (pause_for_startup, from the CLI before Textual is imported) until
its first Stack rows are painted (startup_done): the imports and the first screen allocate ~58,000 objects,
and the collections they triggered (132 young, 12 middle, 1 full) were 33-35 ms of the first rows' ~340 ms of
CPU (gc callbacks; bench/bench_startup.py). At startup_done everything is frozen, then collection resumes:
the ~7,600 cyclic garbage objects of the start (under 1 MB) stay, with no pause on the UI thread for them."""

from __future__ import annotations

import gc
import threading

FULL_GC_THRESHOLD = 1000  # generation-1 collections between full ones once a large read is frozen (default 10)

STARTUP_LIMIT_S = 5.0  # the collector comes back after this even if no first rows are painted (the app's timer)

_frozen: set[str] = set()
_lock = threading.Lock()
_paused = False


def freeze_once(reason: str, *, rarer_full_collections: bool = False) -> bool:
    """gc.freeze() the first time `reason` is given; True when it froze now. rarer_full_collections: full
    collections 100x rarer from then on (each report at scale leaves tens of thousands of new objects, so one
    ran every few rebuilds: 63 ms of CPU each, 290 ms of wall at load 11; at 10x rarer one still fell in
    bench_scale's 30 s of sweeps and bursts, 82-113 ms of wall, the loop's largest lag: 74-95 ms, 30 ms
    without it; RSS the same, 154 MB). Young cyclic garbage is still collected by the younger generations."""
    with _lock:
        if reason in _frozen:
            return False
        _frozen.add(reason)
    gc.freeze()
    if rarer_full_collections:
        gen0, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0, gen1, max(gen2, FULL_GC_THRESHOLD))
    return True


def pause_for_startup() -> None:
    """No cyclic collection until startup_done() (see the module doc). Only where a startup_done() follows: the
    TUI, whose app calls it after the first rows (MlopsApp.first_rows_shown), at the latest STARTUP_LIMIT_S
    after it mounts."""
    global _paused
    with _lock:
        if _paused or not gc.isenabled():
            return
        _paused = True
    gc.disable()


def startup_done() -> bool:
    """The start is over: what it allocated is frozen and collection resumes. True when it resumed now."""
    global _paused
    with _lock:
        if not _paused:
            return False
        _paused = False
    freeze_once("startup")
    gc.enable()
    return True

"""The process's one policy for the cyclic garbage collector: what lives as long as the process (the modules
imported, botocore's parsed data, the first large read of the watch caches) is moved out of its view once,
with gc.freeze(), so that its full collections stop walking it. Measured (bench/bench_stack.py --diagnose,
bench/bench_scale.py, gc callbacks): each full collection walked ~200,000 import-time objects, and at scale
the caches' 9,700 objects, 130-680 ms with every thread stopped, while a key waited.

Freezing also keeps the cyclic garbage alive at that moment forever (refcounting still frees the rest), so
each reason freezes once per process, not on every sweep."""

from __future__ import annotations

import gc
import threading

FULL_GC_THRESHOLD = 100  # generation-1 collections between full ones once a large read is frozen (default 10)

_frozen: set[str] = set()
_lock = threading.Lock()


def freeze_once(reason: str, *, rarer_full_collections: bool = False) -> bool:
    """gc.freeze() the first time `reason` is given; True when it froze now. rarer_full_collections: full
    collections 10x rarer from then on (each report at scale leaves tens of thousands of new objects, so one
    ran every few rebuilds: 63 ms of CPU each, 290 ms of wall at load 11)."""
    with _lock:
        if reason in _frozen:
            return False
        _frozen.add(reason)
    gc.freeze()
    if rarer_full_collections:
        gen0, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0, gen1, max(gen2, FULL_GC_THRESHOLD))
    return True

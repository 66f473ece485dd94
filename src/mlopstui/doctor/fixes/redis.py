"""Fixes for Redis: a memory limit and maxmemory."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    DEFAULT_REDIS_LIMIT,
    MAXMEMORY_SHARE,
    FixSpec,
    _No,
    _Opts,
    _pod_template_fix,
    fixer,
    format_bytes,
)
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.units import quantity_bytes


# -- Redis ------------------------------------------------------------------------------------------
def _redis_target(finding: Finding, snap: Snapshot, opts: _Opts) -> tuple[dict[str, Any], Mapping[str, Any]]:
    from mlopstui.doctor.rules.redis import redis_containers

    pairs = redis_containers(snap)
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    for r in refs:
        for w, c in pairs:
            if ref(w) == r:
                return w, c
    raise _No("no Redis container found in " + (", ".join(refs) or "the cluster"))


def _flag_value(toks: list[str], flag: str) -> str | None:
    for i, t in enumerate(toks):
        if t == flag and i + 1 < len(toks):
            return toks[i + 1]
        if t.startswith(flag + "="):
            return t.split("=", 1)[1]
    return None


def _without_flags(args: list[str], flags: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for t in args:
        if skip:
            skip = False
            continue
        if t in flags:
            skip = True
            continue
        if any(t.startswith(f + "=") for f in flags):
            continue
        out.append(t)
    return out


def redis_maxmemory_bytes(text: str | None) -> int | None:
    """Redis memory units: 1638mb, 2gb, 100k, 1073741824 (mb = MiB, m = 10^6)."""
    if not text:
        return None
    m = re.match(r"^(\d+)(b|k|kb|m|mb|g|gb)?$", text.strip().lower())
    if not m:
        return None
    mult = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    return int(m.group(1)) * mult[m.group(2)]


@fixer("redis-no-memory-limit", "redis-no-maxmemory")
def fix_redis_memory(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c = _redis_target(finding, snap, opts)
    image = str(c.get("image", ""))
    command = [str(x) for x in c.get("command") or []]
    args = [str(x) for x in c.get("args") or []]
    if "bitnami" in image:
        raise _No(f"{ref(w)} runs {image}: Bitnami's Redis takes its settings from the chart's redis.conf / "
                  "REDIS_EXTRA_FLAGS, not from args: set maxmemory and a memory limit in the chart values")
    if command and not (len(command) == 1 and command[0].endswith("redis-server")):
        raise _No(f"container '{c.get('name')}' of {ref(w)} starts Redis through its own command "
                  f"({' '.join(command)[:60]}): add --maxmemory there (and set resources.limits.memory)")
    if any(" " in a or "\n" in a for a in args) or any(a.endswith(".conf") for a in command + args):
        raise _No(f"container '{c.get('name')}' of {ref(w)} passes a shell line or a config file: set "
                  "maxmemory there (CONFIG SET maxmemory applies it at once without a restart)")
    limits = ((c.get("resources") or {}).get("limits") or {})
    requests = ((c.get("resources") or {}).get("requests") or {})
    limit_before = limits.get("memory")
    notes: list[str] = []
    cur_max = redis_maxmemory_bytes(_flag_value(args, "--maxmemory"))
    cur_policy = _flag_value(args, "--maxmemory-policy")
    if limit_before:
        limit_b = quantity_bytes(limit_before)
        if not limit_b:
            raise _No(f"cannot read the memory limit {limit_before!r} of {ref(w)}")
        limit_after = str(limit_before)
    else:
        candidates = [DEFAULT_REDIS_LIMIT, quantity_bytes(requests.get("memory")) or 0]
        p = snap.probe("redis")
        used = int(p.data.get("used_memory") or 0) if p is not None else 0
        if used:
            candidates.append(math.ceil(2 * used / 1024**3) * 1024**3)
        if cur_max:
            candidates.append(math.ceil(cur_max / MAXMEMORY_SHARE / 1024**3) * 1024**3)
        limit_b = max(candidates)
        limit_after = format_bytes(limit_b)
        why = [f"{format_bytes(DEFAULT_REDIS_LIMIT)} default"]
        if used:
            why.append(f"twice the {used // 1024**2} MiB in use now")
        if requests.get("memory"):
            why.append(f"the request {requests['memory']}")
        if cur_max:
            why.append(f"the existing maxmemory / {MAXMEMORY_SHARE}")
        basis = why[0] if len(why) == 1 else "the largest of: " + ", ".join(why)
        notes.append(f"memory limit {limit_after} ({basis}): size it for the whole online dataset plus headroom")
    new_args = list(args)
    max_text = None
    if not cur_max:
        max_text = f"{int(limit_b * MAXMEMORY_SHARE) // 1024**2}mb"
        new_args = _without_flags(new_args, ("--maxmemory",))
        new_args += ["--maxmemory", max_text]
    if not cur_policy:
        new_args += ["--maxmemory-policy", "noeviction"]
    change: dict[str, Any] = {}
    if new_args != args:
        change["args"] = new_args
    if limit_after != limit_before:
        change["resources"] = {"limits": {"memory": limit_after}}
    if not change:
        raise _No(f"{ref(w)} already has a memory limit and --maxmemory")
    if max_text:
        notes.insert(0, f"maxmemory {max_text} = {int(MAXMEMORY_SHARE * 100)}% of the {limit_after} limit: Redis "
                        "refuses writes before the kernel OOM-kills it (the rest covers fragmentation and buffers)")
    if cur_policy and cur_policy != "noeviction":
        notes.append(f"keeps the existing --maxmemory-policy {cur_policy}: with allkeys-*/volatile-* policies "
                     "Redis silently evicts features when full")
    else:
        notes.append("policy noeviction, not allkeys-lru: when full, a materialization fails loudly with "
                     "'OOM command not allowed'; allkeys-lru would silently evict features and the feature "
                     "server would return nulls for those entities")
    notes.append("Redis restarts with the new pod template: data survives only with persistence "
                 f"({'--appendonly yes is set' if '--appendonly' in args else 'none configured here'}); "
                 "re-materialize if the online store comes back empty")
    before = {"limits.memory": limit_before, "args": args}
    after = {"limits.memory": limit_after, "args": new_args}
    return _pod_template_fix(finding, w, {c.get("name"): change},
                             f"Redis {ref(w)}: memory limit {limit_before or 'none'} -> {limit_after}, "
                             f"maxmemory {max_text or 'kept'}", "medium", notes, before, after)

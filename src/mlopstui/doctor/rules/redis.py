"""Redis as the Feast online store: memory limits, maxmemory, headroom, eviction."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import _tokens
from mlopstui.models.stack import containers_of
from mlopstui.units import human_bytes


def _redis_containers(snap: Snapshot) -> list[tuple[dict, dict]]:
    out = []
    for w in snap.workloads_of("redis"):
        for c in containers_of(w):
            if "redis" in str(c.get("image", "")).rsplit("/", 1)[-1] and "exporter" not in str(c.get("image")):
                out.append((w, c))
    return out


def mib(n: float | int | None) -> str:
    return human_bytes(n, sep="", missing="?")


def _no_limit(snap: Snapshot) -> list[tuple[dict, dict]]:
    return [(w, c) for w, c in _redis_containers(snap)
            if not ((c.get("resources") or {}).get("limits") or {}).get("memory")]


def _maxmemory(snap: Snapshot) -> tuple[int | None, str]:
    """Live maxmemory from the probe, else from the container args; (None, '') when unknown."""
    p = snap.probe("redis")
    if p is not None and "maxmemory" in p.data:
        return int(p.data["maxmemory"]), "INFO memory"
    for _w, c in _redis_containers(snap):
        toks = _tokens(c)
        if any(t.endswith(".conf") for t in toks):
            return None, ""
        if "--maxmemory" in toks:
            i = toks.index("--maxmemory")
            return (1 if i + 1 < len(toks) and toks[i + 1] not in ("0", "0b") else 0), "args"
        return 0, "args (no --maxmemory)"
    return None, ""


@rule("redis-no-memory-limit", "redis", "Redis without a memory limit")
def no_memory_limit(snap: Snapshot) -> Iterator[Finding]:
    for w, c in _no_limit(snap):
        yield Finding(
            "redis-no-memory-limit", Severity.WARNING, "redis",
            f"{ref(w)}: Redis has no memory limit", (ref(w),),
            f"container '{c.get('name')}' has no resources.limits.memory",
            "During materialization Feast can write faster than Redis frees memory; without a limit Redis "
            "grows until the node runs out and the kubelet OOM-kills it (or its neighbours).",
            f"Set resources.limits.memory on container '{c.get('name')}' (e.g. 2Gi) and maxmemory about "
            "75% of it.")


@rule("redis-no-maxmemory", "redis", "Redis without maxmemory")
def no_maxmemory(snap: Snapshot) -> Iterator[Finding]:
    if not snap.workloads_of("redis") and snap.probe("redis") is None:
        return
    value, src = _maxmemory(snap)
    if value != 0:
        return
    unlimited = bool(_no_limit(snap))
    objs = tuple(ref(w) for w in snap.workloads_of("redis"))
    yield Finding(
        "redis-no-maxmemory", Severity.ERROR if unlimited else Severity.WARNING, "redis",
        "Redis has no maxmemory" + (" and no memory limit" if unlimited else ""), objs,
        f"maxmemory 0 ({src})" + ("; no container memory limit either" if unlimited else ""),
        "Without maxmemory Redis never refuses or evicts: a large materialization fills memory until the "
        "container limit (OOMKilled, online store empty after restart) or, with no limit, the node.",
        "Set maxmemory below the memory limit (CONFIG SET maxmemory 1536mb, and --maxmemory in the "
        "StatefulSet args) and choose a policy: noeviction (writes fail loudly) or allkeys-lru "
        "(silently evicts features).")


def _memory(snap: Snapshot) -> tuple[int, int, str, int] | None:
    p = snap.probe("redis")
    if p is None or "used_memory" not in p.data:
        return None
    return (int(p.data.get("used_memory") or 0), int(p.data.get("maxmemory") or 0),
            str(p.data.get("maxmemory_policy") or ""), int(p.data.get("evicted_keys") or 0))


@rule("redis-near-maxmemory", "redis", "Redis near maxmemory")
def near_maxmemory(snap: Snapshot) -> Iterator[Finding]:
    m = _memory(snap)
    if m is None:
        return
    used, maxmem, policy, _ev = m
    if maxmem <= 0 or used / maxmem < 0.85:
        return
    pct = 100.0 * used / maxmem
    objs = tuple(ref(w) for w in snap.workloads_of("redis"))
    yield Finding(
        "redis-near-maxmemory", Severity.ERROR if pct >= 98 else Severity.WARNING, "redis",
        f"Redis at {pct:.0f}% of maxmemory ({mib(max(0, maxmem - used))} headroom)", objs,
        f"used_memory {mib(used)} of maxmemory {mib(maxmem)}, policy {policy}",
        ("With allkeys-lru the next materialization evicts features (nulls at serving time)"
         if policy.startswith("allkeys") or policy.startswith("volatile") else
         "With noeviction the next materialization fails with OOM command not allowed") + ".",
        "Raise maxmemory and the memory limit together, shorten feature TTLs, or shard the online store.")


@rule("redis-evicting-features", "redis", "Redis eviction policy drops features silently")
def evicting(snap: Snapshot) -> Iterator[Finding]:
    m = _memory(snap)
    if m is None:
        return
    used, maxmem, policy, evicted = m
    if not policy or policy == "noeviction" or maxmem <= 0:
        return
    headroom = f"{mib(max(0, maxmem - used))} headroom ({mib(used)} of {mib(maxmem)})"
    objs = tuple(ref(w) for w in snap.workloads_of("redis"))
    yield Finding(
        "redis-evicting-features", Severity.WARNING if evicted else Severity.INFO, "redis",
        f"Redis {policy}: {evicted} keys evicted, {headroom}", objs,
        f"maxmemory-policy {policy}, evicted_keys {evicted}, {headroom}",
        f"{policy} keeps Redis from being OOM-killed, but when memory is full it silently deletes "
        "feature rows: the feature server returns nulls for those entities and models score on missing "
        "features, with no error anywhere.",
        "Size maxmemory for the whole online dataset (watch the headroom), set TTLs on feature views, "
        "or use noeviction so a full store fails materialization loudly.")

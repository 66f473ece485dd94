"""Redis as the Feast online store: memory limits, maxmemory, headroom, eviction."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import _tokens
from mlopstui.models.stack import containers_of, pod_template_spec
from mlopstui.units import human_bytes


def redis_containers(snap: Snapshot) -> list[tuple[dict, dict]]:
    out = []
    for w in snap.workloads_of("redis"):
        for c in containers_of(w):
            if "redis" in str(c.get("image", "")).rsplit("/", 1)[-1] and "exporter" not in str(c.get("image")):
                out.append((w, c))
    return out


def mib(n: float | int | None) -> str:
    return human_bytes(n, sep="", missing="?")


def _no_limit(snap: Snapshot) -> list[tuple[dict, dict]]:
    return [(w, c) for w, c in redis_containers(snap)
            if not ((c.get("resources") or {}).get("limits") or {}).get("memory")]


def _conf_maxmemory(text: str) -> str | None:
    """The maxmemory a redis.conf sets (the last directive wins), or None when it sets none."""
    found = None
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and parts[0].lower() == "maxmemory":
            found = parts[1]
    return found


def _unset(value: str | None) -> bool:
    return value is None or value.strip().lower().strip('"') in ("0", "0b", "0mb", "0gb", "")


def _container_maxmemory(snap: Snapshot, w: dict, c: dict) -> tuple[bool | None, str]:
    """(maxmemory set?, evidence) from what this container loads: --maxmemory in its args, the redis.conf
    files it gets from mounted ConfigMaps. None: could not be read (a config file from the image, or a
    ConfigMap that could not be read)."""
    toks = _tokens(c)
    if "--maxmemory" in toks:
        i = toks.index("--maxmemory")
        val = toks[i + 1] if i + 1 < len(toks) else ""
        return (not _unset(val)), f"container '{c.get('name')}' args --maxmemory {val}"
    ns = (w.get("metadata") or {}).get("namespace", "")
    volumes = {v.get("name"): v for v in (pod_template_spec(w) or {}).get("volumes") or []}
    seen_confs, unreadable = [], []
    for vm in c.get("volumeMounts") or []:
        vol = volumes.get(vm.get("name")) or {}
        cm_name = (vol.get("configMap") or {}).get("name")
        if not cm_name:
            continue
        cm = snap.configmap(cm_name, ns)
        if cm is None:
            unreadable.append(f"ConfigMap {ns}/{cm_name}")
            continue
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".conf") and isinstance(text, str):
                val = _conf_maxmemory(text)
                if val is not None:
                    return (not _unset(val)), f"{key} in ConfigMap {ns}/{cm_name}: maxmemory {val}"
                seen_confs.append(f"{key} in ConfigMap {ns}/{cm_name}")
    if unreadable:
        return None, f"container '{c.get('name')}' mounts {', '.join(unreadable)}, which could not be read"
    if seen_confs:
        return False, f"{', '.join(seen_confs)} set no maxmemory; args have no --maxmemory"
    if any(t.endswith(".conf") for t in toks):
        conf = next(t for t in toks if t.endswith(".conf"))
        return None, f"container '{c.get('name')}' loads {conf} from its image, which is not readable here"
    return False, f"container '{c.get('name')}': no --maxmemory in args and no redis.conf mounted (default 0)"


def _maxmemory(snap: Snapshot) -> tuple[bool | None, str, list[dict]]:
    """(maxmemory set?, evidence, workloads without it): the live server's INFO memory when the probe
    reached it, else what each Redis container loads (args, ConfigMap-mounted redis.conf)."""
    p = snap.probe("redis")
    if p is not None and "maxmemory" in p.data:
        live = int(p.data["maxmemory"])
        return live != 0, f"live INFO memory of {p.target}: maxmemory {live}", list(snap.workloads_of("redis"))
    unknown, missing, evidence = [], [], []
    for w, c in redis_containers(snap):
        ok, why = _container_maxmemory(snap, w, c)
        if ok is None:
            unknown.append(w)
            evidence.append(f"{ref(w)}: {why}")
        elif not ok:
            missing.append(w)
            evidence.append(f"{ref(w)}: {why}")
    if missing:
        return False, "; ".join(evidence[:3]), missing
    if unknown:
        return None, "; ".join(evidence[:3]), unknown
    return True, "", []


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
    ok, evidence, objs_w = _maxmemory(snap)
    if ok:
        return
    unlimited = bool(_no_limit(snap))
    objs = tuple(ref(w) for w in objs_w) or tuple(ref(w) for w in snap.workloads_of("redis"))
    if ok is None:
        yield Finding(
            "redis-no-maxmemory", Severity.INFO, "redis", "Redis maxmemory could not be read", objs,
            evidence, "Without maxmemory a large materialization fills memory until the container is OOMKilled.",
            "Check `CONFIG GET maxmemory` on the server (the live probe reads it when it reaches Redis).")
        return
    yield Finding(
        "redis-no-maxmemory", Severity.ERROR if unlimited else Severity.WARNING, "redis",
        "Redis has no maxmemory" + (" and no memory limit" if unlimited else ""), objs,
        evidence + ("; no container memory limit either" if unlimited else ""),
        "Without maxmemory Redis never refuses or evicts: a large materialization fills memory until the "
        "container limit (OOMKilled, online store empty after restart) or, with no limit, the node.",
        "Set maxmemory below the memory limit (CONFIG SET maxmemory 1536mb, and --maxmemory in the "
        "StatefulSet args or maxmemory in the mounted redis.conf) and choose a policy: noeviction (writes fail "
        "loudly) or allkeys-lru (silently evicts features).")


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

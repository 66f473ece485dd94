"""Object storage: resourceVersion counter, watch history, persistence to `DIR/state.json`.

Stored objects are never mutated in place: every write stores a fresh dict, so watch history
entries can share them; everything handed out to callers is a deep copy.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from . import errors
from .registry import Registry, ResourceType

HISTORY_SIZE = 10000
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n: int = 5) -> str:
    raw = uuid.uuid4().bytes
    return "".join(_GEN_ALPHABET[b % len(_GEN_ALPHABET)] for b in raw[:n])


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _strip_rv(obj: dict) -> dict:
    o = dict(obj)
    o["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items()
                     if k not in ("resourceVersion", "managedFields")}
    return o


@dataclass
class WatchEvent:
    rv: int
    key: tuple[str, str]  # (group, plural)
    namespace: str
    type: str
    obj: dict
    old: dict | None = None  # MODIFIED: the object before (the controllers' queue: an owner it no longer names)



def clone(v):
    """A deep copy of a JSON value (dicts, lists, scalars): what every stored object is. Several times faster
    than copy.deepcopy, which the scale sandbox's controllers and lists spent most of their time in."""
    if isinstance(v, dict):
        return {k: clone(x) if isinstance(x, (dict, list)) else x for k, x in v.items()}
    if isinstance(v, list):
        return [clone(x) if isinstance(x, (dict, list)) else x for x in v]
    return v

class Store:
    def __init__(self, registry: Registry, state_dir: str | None = None) -> None:
        self.registry = registry
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self._save_lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        # per bucket: namespace -> its keys (dict as an ordered set), kept by every write; a namespace's list
        # no longer scans the bucket (the scale sandbox: 7,000 pods)
        self._by_ns: dict[tuple[str, str], dict[str, dict[tuple[str, str], None]]] = {}
        # uid -> (bucket, key), and owner uid -> the (bucket, key) of the objects whose ownerReferences name it:
        # the controllers find what an owner owns, and an object's owners, without scanning a bucket (a
        # quadratic scan by owner made the scale sandbox's first controller pass take a minute; issue 20)
        self._uids: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
        self._owners: dict[str, dict[tuple[tuple[str, str], tuple[str, str]], None]] = {}
        self._logs: dict[str, str] = {}
        self.rv = 0
        self._history: deque[WatchEvent] = deque()
        self._history_floor = 0  # events with rv <= floor are no longer known
        self._dirty = threading.Event()
        self._closed = False
        self.listeners: list[Callable[[WatchEvent], None]] = []
        if state_dir and os.path.exists(self._state_file):
            self._load()
        else:
            self._bootstrap()
        self._history_floor = self.rv
        self._flusher = threading.Thread(target=self._flush_loop, name="kubeapi-store-flush", daemon=True)
        if state_dir:
            self._flusher.start()

    # ---- persistence ------------------------------------------------------------------------
    @property
    def _state_file(self) -> str:
        return os.path.join(self.state_dir or ".", "state.json")

    def _bootstrap(self) -> None:
        ns_rt = self.registry.get("", "v1", "namespaces")
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(ns_rt, "", {"metadata": {"name": ns}})
        node_rt = self.registry.get("", "v1", "nodes")
        self.create(node_rt, "", {
            "metadata": {"name": "sandbox-node", "labels": {"kubernetes.io/hostname": "sandbox-node",
                                                            "node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status"}],
                       "nodeInfo": {"kubeletVersion": "v1.37.0-sandbox", "osImage": "mlopstui sandbox",
                                    "architecture": "amd64", "operatingSystem": "linux"},
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
        })

    def _load(self) -> None:
        with open(self._state_file) as f:
            data = json.load(f)
        self.rv = int(data.get("resourceVersion", 0))
        self._logs = dict(data.get("logs") or {})
        for obj in data.get("objects", []):
            group, _, _ = obj.get("apiVersion", "").rpartition("/")
            plural = obj.get("_plural")
            obj = {k: v for k, v in obj.items() if k != "_plural"}
            key = ((obj["metadata"].get("namespace") or ""), obj["metadata"]["name"])
            self._objects.setdefault((group, plural), {})[key] = obj
            self._index((group, plural), key, obj)
            if (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self.registry.register_crd(obj)

    def _snapshot(self) -> dict:
        objs = []
        for (_group, plural), bucket in self._objects.items():
            for obj in bucket.values():
                objs.append({**obj, "_plural": plural})
        return {"resourceVersion": self.rv, "objects": objs, "logs": dict(self._logs)}

    def save(self) -> None:
        if not self.state_dir:
            return
        # the flush thread and close() may save at once: one writer at a time on the one tmp file, and the
        # snapshot taken inside, so an older state never lands after a newer one
        with self._save_lock:
            with self.lock:
                data = json.dumps(self._snapshot())
            tmp = self._state_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(data)
            os.replace(tmp, self._state_file)

    def _flush_loop(self) -> None:
        while not self._closed:
            self._dirty.wait(0.5)
            if self._dirty.is_set():
                self._dirty.clear()
                time.sleep(0.05)  # coalesce bursts
                t0 = time.monotonic()
                try:
                    self.save()
                except OSError:
                    pass
                # a large store (the scale sandbox: 10,000 objects) takes a while to dump: at most ~10 % of
                # the time goes to saving, the API's lock is not held most of the time
                time.sleep(min(5.0, 9 * (time.monotonic() - t0)))

    def close(self) -> None:
        self._closed = True
        self._dirty.set()
        self.save()

    # ---- helpers ----------------------------------------------------------------------------
    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], dict]:
        return self._objects.setdefault((rt.group, rt.plural), {})

    def _index(self, bkey: tuple[str, str], key: tuple[str, str], obj: dict) -> None:
        self._by_ns.setdefault(bkey, {}).setdefault(key[0], {})[key] = None
        uid = obj["metadata"].get("uid")
        if isinstance(uid, str) and uid:
            self._uids[uid] = (bkey, key)
        for uid in owner_uids(obj):
            self._owners.setdefault(uid, {})[(bkey, key)] = None

    def _unindex(self, bkey: tuple[str, str], key: tuple[str, str], obj: dict) -> None:
        keys = self._by_ns.get(bkey, {}).get(key[0])
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_ns[bkey][key[0]]
        uid = obj["metadata"].get("uid")
        if uid and self._uids.get(uid) == (bkey, key):
            del self._uids[uid]
        for uid in owner_uids(obj):
            deps = self._owners.get(uid)
            if deps is not None:
                deps.pop((bkey, key), None)
                if not deps:
                    del self._owners[uid]

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _record(self, rt: ResourceType, etype: str, obj: dict, old: dict | None = None) -> None:
        ev = WatchEvent(int(obj["metadata"]["resourceVersion"]), (rt.group, rt.plural),
                        obj["metadata"].get("namespace", ""), etype, obj, old)
        self._history.append(ev)
        while len(self._history) > HISTORY_SIZE:
            self._history_floor = self._history.popleft().rv
        self._dirty.set()
        self.cond.notify_all()
        for listener in list(self.listeners):
            try:
                listener(ev)
            except Exception:  # noqa: BLE001 - a listener must never break a write
                pass

    def namespace_exists(self, ns: str) -> bool:
        with self.lock:
            return ("", ns) in self._objects.get(("", "namespaces"), {})

    def _key(self, rt: ResourceType, ns: str, name: str) -> tuple[str, str]:
        return (ns if rt.namespaced else "", name)

    # ---- reads ------------------------------------------------------------------------------
    def get(self, rt: ResourceType, ns: str, name: str) -> dict:
        with self.lock:
            obj = self._bucket(rt).get(self._key(rt, ns, name))
            if obj is None:
                raise errors.not_found(rt, name)
            return self._out(rt, obj)

    def try_get(self, rt: ResourceType, ns: str, name: str) -> dict | None:
        try:
            return self.get(rt, ns, name)
        except errors.ApiError:
            return None

    def list(self, rt: ResourceType, ns: str | None = None,
             match: Callable[[dict], bool] | None = None) -> tuple[list[dict], int]:
        with self.lock:
            # filter first, then sort and copy only what matched: the controllers ask for the few objects a
            # workload owns, in a bucket of thousands (the scale sandbox)
            bucket = self._bucket(rt)
            if ns and rt.namespaced:
                keys = list(self._by_ns.get((rt.group, rt.plural), {}).get(ns, ()))
            else:
                keys = list(bucket)
            if match is not None:
                keys = [key for key in keys if match(bucket[key])]
            return [self._out(rt, bucket[key]) for key in sorted(keys)], self.rv

    def owned(self, rt: ResourceType, ns: str | None, uid: str) -> list[dict]:
        """The objects of rt (in namespace ns, if given) whose ownerReferences name uid, sorted as list() sorts."""
        with self.lock:
            bkey = (rt.group, rt.plural)
            bucket = self._bucket(rt)
            keys = sorted(k for b, k in self._owners.get(uid, ()) if b == bkey and k in bucket
                          and (not ns or not rt.namespaced or k[0] == ns))
            return [self._out(rt, bucket[k]) for k in keys]

    def locate(self, uid: str) -> tuple[tuple[str, str], str, str, tuple[str, ...]] | None:
        """Where the object with this uid is: ((group, plural), namespace, name, its owners' uids)."""
        with self.lock:
            where = self._uids.get(uid)
            if where is None:
                return None
            obj = self._objects.get(where[0], {}).get(where[1])
            if obj is None:
                return None
            return where[0], where[1][0], where[1][1], tuple(owner_uids(obj))

    def keys(self, rt: ResourceType, match: Callable[[dict], bool] | None = None) -> list[tuple[str, str]]:
        """The (namespace, name) of rt's objects (those match accepts; it sees the stored object, which it
        must not change), without copying them: what a controller's full resync queues."""
        with self.lock:
            bucket = self._bucket(rt)
            return sorted(k for k, o in bucket.items() if match is None or match(o))

    def orphans(self) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        """(bucket, key) of every object with ownerReferences of which none names a stored object (garbage
        collection's candidates), from the owner index: no scan of the objects."""
        with self.lock:
            out = []
            for uid, deps in self._owners.items():
                if uid in self._uids:
                    continue
                for bkey, key in deps:
                    obj = self._objects.get(bkey, {}).get(key)
                    if obj is not None and not any(u in self._uids for u in owner_uids(obj)):
                        out.append((bkey, key))
            return sorted(set(out))

    def _out(self, rt: ResourceType, obj: dict) -> dict:
        o = clone(obj)
        o["apiVersion"] = rt.api_version
        o["kind"] = rt.kind
        return o

    # ---- writes -----------------------------------------------------------------------------
    def _validate_name(self, rt: ResourceType, name: str) -> None:
        if not name:
            raise errors.invalid(rt, "", "metadata.name", "Required value: name or generateName is required",
                                 "FieldValueRequired")
        if len(name) > 253 or not _NAME_RE.match(name):
            raise errors.invalid(
                rt, name, "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")

    def create(self, rt: ResourceType, ns: str, obj: dict, dry_run: bool = False,
               generation: int | None = None) -> dict:
        """generation: only for fixture loading (fixtures.py); the API always starts at 1."""
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        with self.lock:
            if rt.namespaced:
                ns = ns or meta.get("namespace") or "default"
                if meta.get("namespace") and meta["namespace"] != ns:
                    raise errors.bad_request("the namespace of the provided object does not match the "
                                             "namespace sent on the request")
                if not self.namespace_exists(ns):
                    raise errors.namespace_not_found(ns)
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            name = meta.get("name") or ""
            if not name and meta.get("generateName"):
                name = meta["generateName"] + rand_suffix()
                meta["name"] = name
            self._validate_name(rt, name)
            if self._key(rt, ns, name) in self._bucket(rt):
                raise errors.already_exists(rt, name)
            if meta.get("resourceVersion"):
                raise errors.invalid(rt, name, "metadata.resourceVersion",
                                     "Invalid value: must be unset on create", "FieldValueInvalid")
            obj["apiVersion"] = rt.api_version
            obj["kind"] = rt.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = int(generation) if generation else 1
            meta.pop("deletionTimestamp", None)
            self._defaults(rt, obj)
            _secret_string_data(rt, obj)
            if dry_run:
                return clone(obj)
            meta["resourceVersion"] = str(self._next_rv())
            self._bucket(rt)[self._key(rt, ns, name)] = obj
            self._index((rt.group, rt.plural), self._key(rt, ns, name), obj)
            if (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self.registry.register_crd(obj)
            self._record(rt, "ADDED", obj)
            return self._out(rt, obj)

    def _defaults(self, rt: ResourceType, obj: dict) -> None:
        """Fields the real API server fills in on create."""
        if (rt.group, rt.plural) == ("", "namespaces"):
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif (rt.group, rt.plural) == ("", "services"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                n = uuid.uuid4().int
                spec["clusterIP"] = f"10.96.{n % 250 + 1}.{(n >> 8) % 250 + 2}"
                spec["clusterIPs"] = [spec["clusterIP"]]
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
        elif (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            names = (obj.get("spec") or {}).get("names") or {}
            obj["status"] = {"acceptedNames": names, "storedVersions": [
                v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")],
                "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                               {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]}
        elif (rt.group, rt.plural) == ("", "pods"):
            obj.setdefault("status", {}).setdefault("phase", "Pending")

    def update(self, rt: ResourceType, ns: str, name: str, obj: dict, dry_run: bool = False,
               subresource: str = "") -> dict:
        """PUT semantics. A non-empty body resourceVersion must equal the stored one."""
        obj = clone(obj)
        with self.lock:
            key = self._key(rt, ns, name)
            old = self._bucket(rt).get(key)
            if old is None:
                raise errors.not_found(rt, name)
            meta = obj.setdefault("metadata", {})
            if meta.get("name") and meta["name"] != name:
                raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name "
                                         f"on the URL ({name})")
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name)
            if subresource == "status":
                new = clone(old)
                if "status" in obj:
                    new["status"] = obj["status"]
                else:
                    new.pop("status", None)
            else:
                new = obj
                if rt.has_status:  # status is a subresource: a write of the main resource never changes it
                    if "status" in old:
                        new["status"] = clone(old["status"])
                    else:
                        new.pop("status", None)
            new["apiVersion"] = rt.api_version
            new["kind"] = rt.kind
            _secret_string_data(rt, new)
            nm = new.setdefault("metadata", {})
            for k in ("uid", "creationTimestamp", "generation", "namespace"):
                if k in old["metadata"]:
                    nm[k] = old["metadata"][k]
                else:
                    nm.pop(k, None)
            nm["name"] = name
            nm["resourceVersion"] = old["metadata"]["resourceVersion"]
            if _strip_rv(new) == _strip_rv(old) and nm.get("managedFields") == old["metadata"].get("managedFields"):
                return self._out(rt, old)  # no-op update: no new resourceVersion, no event
            if _spec_part(new) != _spec_part(old):
                nm["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if dry_run:
                return self._out(rt, new)
            nm["resourceVersion"] = str(self._next_rv())
            self._bucket(rt)[key] = new
            if owner_uids(new) != owner_uids(old):
                self._unindex((rt.group, rt.plural), key, old)
                self._index((rt.group, rt.plural), key, new)
            if (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self.registry.register_crd(new)
            self._record(rt, "MODIFIED", new, old)
            return self._out(rt, new)

    def delete(self, rt: ResourceType, ns: str, name: str, dry_run: bool = False) -> dict:
        with self.lock:
            key = self._key(rt, ns, name)
            old = self._bucket(rt).get(key)
            if old is None:
                raise errors.not_found(rt, name)
            if dry_run:
                return self._out(rt, old)
            del self._bucket(rt)[key]
            self._unindex((rt.group, rt.plural), key, old)
            gone = clone(old)
            gone["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(rt, "DELETED", gone)
            if (rt.group, rt.plural) == ("", "pods"):
                for k in [k for k in self._logs if k == f"{ns}/{name}" or k.startswith(f"{ns}/{name}/")]:
                    self._logs.pop(k, None)
            elif (rt.group, rt.plural) == ("", "namespaces"):
                self._delete_namespace_content(name)
            elif (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._delete_crd_content(old)
            return self._out(rt, gone)

    def _delete_namespace_content(self, ns: str) -> None:
        for (group, plural), bucket in list(self._objects.items()):
            rt = next((t for t in self.registry.all() if (t.group, t.plural) == (group, plural)), None)
            if rt is None or not rt.namespaced:
                continue
            for (ons, name) in [k for k in bucket if k[0] == ns]:
                self.delete(rt, ons, name)

    def _delete_crd_content(self, crd: dict) -> None:
        types = Registry.types_from_crd(crd)
        if types:
            rt = types[0]
            for (ons, name) in list(self._bucket(rt)):
                self.delete(rt, ons, name)
        self.registry.unregister_crd(crd)

    # ---- pod logs ---------------------------------------------------------------------------
    def get_log(self, ns: str, pod: str) -> str:
        with self.lock:
            return self._logs.get(f"{ns}/{pod}", "")

    def append_log(self, ns: str, pod: str, text: str) -> None:
        with self.lock:
            self._logs[f"{ns}/{pod}"] = self._logs.get(f"{ns}/{pod}", "") + text
            self._dirty.set()

    def set_log(self, ns: str, pod: str, text: str) -> None:
        with self.lock:
            self._logs[f"{ns}/{pod}"] = text
            self._dirty.set()

    # ---- watch ------------------------------------------------------------------------------
    def compact(self) -> int:
        """Forget the watch history up to now, as etcd compaction does: a watch or list resumed from an
        older resourceVersion is answered 410 Gone. Returns the new floor."""
        with self.cond:
            self._history.clear()
            self._history_floor = self.rv
            self.cond.notify_all()
            return self.rv

    def watch(self, rt: ResourceType, ns: str | None, since_rv: int | None,
              match: Callable[[dict], bool] | None, timeout: float,
              stopped: Callable[[], bool] = lambda: False,
              initial_events_bookmark: bool = False,
              bookmark_interval: float | None = None) -> Iterator[tuple[str, dict]]:
        """Yield (type, object) pairs; ("ERROR", Status) when since_rv is too old.

        Without since_rv the current objects come first as ADDED; with initial_events_bookmark
        (watch-list, `sendInitialEvents=true`) they are followed by the BOOKMARK carrying the
        `k8s.io/initial-events-end` annotation that client-go waits for. With bookmark_interval
        (`allowWatchBookmarks=true`) a BOOKMARK carrying the store's current resourceVersion is sent
        after that many seconds without one, so a client whose objects do not change still advances
        the resourceVersion it would resume from (as the API server's watch cache does)."""
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval if bookmark_interval else None
        key = (rt.group, rt.plural)

        def wanted(ev: WatchEvent) -> bool:
            if ev.key != key:
                return False
            if ns and rt.namespaced and ev.namespace != ns:
                return False
            return match is None or match(ev.obj)

        with self.lock:
            if since_rv is None:
                initial = [o for o in self.list(rt, ns, match)[0]]
                cursor = self.rv
            else:
                if since_rv < self._history_floor:
                    err = errors.gone(f"too old resource version: {since_rv} ({self.rv})")
                    yield "ERROR", err.status()
                    return
                initial = []
                cursor = since_rv
        for o in initial:
            yield "ADDED", o
        if initial_events_bookmark:
            yield "BOOKMARK", _bookmark(rt, cursor, {"k8s.io/initial-events-end": "true"})
        while not stopped():
            with self.cond:
                if cursor < self._history_floor:
                    yield "ERROR", errors.gone(f"too old resource version: {cursor} ({self.rv})").status()
                    return
                pending = [ev for ev in self._history if ev.rv > cursor]
                if pending:
                    cursor = pending[-1].rv
                    out = [(ev.type, self._out(rt, ev.obj)) for ev in pending if wanted(ev)]
                else:
                    now = time.monotonic()
                    if next_bookmark is not None and now >= next_bookmark:
                        next_bookmark = now + (bookmark_interval or 0.0)
                        cursor = max(cursor, self.rv)
                        out = [("BOOKMARK", _bookmark(rt, cursor))]
                    else:
                        remaining = deadline - now
                        if remaining <= 0:
                            return
                        wait = min(remaining, 0.5)
                        if next_bookmark is not None:
                            wait = min(wait, max(next_bookmark - now, 0.01))
                        self.cond.wait(wait)
                        continue
            yield from out
            if time.monotonic() >= deadline:
                return


def owner_uids(obj: dict) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    # a reference without a uid names no object: "" (never a stored uid), so garbage collection counts it gone
    return [r["uid"] if isinstance(r.get("uid"), str) else "" for r in refs if isinstance(r, dict)]


def _bookmark(rt: ResourceType, rv: int, annotations: dict | None = None) -> dict:
    """A BOOKMARK's object: only kind, apiVersion and metadata.resourceVersion are meaningful."""
    meta: dict = {"resourceVersion": str(rv)}
    if annotations:
        meta["annotations"] = annotations
    return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}


def _secret_string_data(rt: ResourceType, obj: dict) -> None:
    """As the API server does: a Secret's write-only stringData is merged into data (base64) and dropped."""
    if (rt.group, rt.plural) != ("", "secrets") or not isinstance(obj.get("stringData"), dict):
        return
    import base64

    data = obj.setdefault("data", {}) or {}
    obj["data"] = data
    for k, v in obj.pop("stringData").items():
        data[k] = base64.b64encode(str(v).encode()).decode()

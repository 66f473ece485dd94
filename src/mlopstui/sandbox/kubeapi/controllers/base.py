"""What every controller shares: the sandbox's annotations, owner references, conditions, and the store
helpers (list, owned, status writes with retry, events). A controller is one resource kind's reconcile
pass; `manager.CONTROLLERS` lists them in the order they run."""

from __future__ import annotations

import hashlib
import json
import traceback

from .. import errors
from ..registry import Registry, ResourceType
from ..store import Store, clone, now_rfc3339, rand_suffix

FAULT = "sandbox.mlopstui.dev/fault"
LOG_ANNOTATION = "sandbox.mlopstui.dev/log"
NODE = "sandbox-node"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# the resource types controllers read and write, as attributes of the manager and of every controller
KINDS = {"NS": ("", "v1", "namespaces"), "POD": ("", "v1", "pods"), "EVENT": ("", "v1", "events"),
         "SVC": ("", "v1", "services"), "DEPLOY": ("apps", "v1", "deployments"),
         "RS": ("apps", "v1", "replicasets"), "STS": ("apps", "v1", "statefulsets"),
         "DS": ("apps", "v1", "daemonsets"), "JOB": ("batch", "v1", "jobs"), "CJ": ("batch", "v1", "cronjobs"),
         "ISVC": ("serving.kserve.io", "v1beta1", "inferenceservices"),
         "REV": ("serving.knative.dev", "v1", "revisions")}


def short_hash(obj, n: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:n])


def owner_ref(rt: ResourceType, obj: dict) -> dict:
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def fault_of(*objs: dict | None) -> str:
    for o in objs:
        if o:
            f = ((o.get("metadata") or {}).get("annotations") or {}).get(FAULT)
            if f:
                return f
    return ""


def cond(ctype: str, status: bool | str, reason: str = "", message: str = "", old: list | None = None,
          **extra) -> dict:
    st = status if isinstance(status, str) else ("True" if status else "False")
    prev = next((c for c in old or [] if c.get("type") == ctype), None)
    ts = prev["lastTransitionTime"] if prev and prev.get("status") == st and prev.get(
        "lastTransitionTime") else now_rfc3339()
    c = {"type": ctype, "status": st, "lastTransitionTime": ts}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    c.update(extra)
    return c


def pod_ready(p: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (p.get("status") or {}).get("conditions") or [])


class Controller:
    """One kind's controller, run by the manager's work queue (manager.py): a change to an object of a kind in
    RECONCILES (that `wants` accepts), or to an object it owns up to OWNER_DEPTH levels down the
    ownerReferences, queues that object's key (((group, plural), namespace, name)); `run()` takes the queued
    keys and reconciles each (`reconcile(rt, obj)`); `resync()` queues every object (at start, then every
    RESYNC_S, so nothing is missed); a reconcile that must come back later (a delay, a schedule) asks the
    manager for `requeue_after`. `stop()` at exit."""

    RECONCILES: tuple[str, ...] = ()  # names in KINDS
    OWNER_DEPTH = 0

    def __init__(self, mgr) -> None:
        self.mgr = mgr
        self.store: Store = mgr.store
        self.registry: Registry = mgr.registry
        for attr in KINDS:
            setattr(self, attr, getattr(mgr, attr))
        self.index = 0  # set by the manager: this controller's place in CONTROLLERS
        self.queue: dict[tuple, None] = {}  # an ordered set of keys
        self.kinds: dict[tuple[str, str], ResourceType] = {
            (rt.group, rt.plural): rt for rt in self.reconciled_types()}

    def reconciled_types(self) -> list[ResourceType]:
        return [getattr(self, k) for k in self.RECONCILES]

    def wants(self, rt: ResourceType, obj: dict) -> bool:
        """Whether an object of rt is this controller's business (obj: the stored object, not to be changed)."""
        return True

    @property
    def polling(self) -> bool:
        """True while run() must also come back every POLL_S without a change (Argo: a Workflow running)."""
        return False

    @property
    def pending(self) -> bool:
        return bool(self.queue)

    def on_change(self, ev, ancestors: list[tuple[int, tuple[str, str], str, str]]) -> None:
        """ev: the store's WatchEvent; ancestors: (depth, bucket, namespace, name) of its owners, theirs..."""
        rt = self.kinds.get(ev.key)
        if rt is not None and ev.type != "DELETED" and self.wants(rt, ev.obj):
            self.queue[(ev.key, ev.namespace if rt.namespaced else "", ev.obj["metadata"]["name"])] = None
        for depth, bkey, ns, name in ancestors:
            if depth <= self.OWNER_DEPTH and bkey in self.kinds:
                self.queue[(bkey, ns, name)] = None

    def resync(self) -> None:
        for bkey, rt in self.kinds.items():
            for ns, name in self.store.keys(rt, lambda o, rt=rt: self.wants(rt, o)):
                self.queue[(bkey, ns, name)] = None

    def take(self, rt: ResourceType | None = None) -> list[tuple]:
        """The queued keys (of rt, or all), removed from the queue, in the order a list sorts them."""
        if rt is None:
            keys = list(self.queue)
            self.queue.clear()
        else:
            bkey = (rt.group, rt.plural)
            keys = [k for k in self.queue if k[0] == bkey]
            for k in keys:
                del self.queue[k]
        return sorted(keys, key=lambda k: (k[0], k[1], k[2]))

    def run(self) -> None:
        for rt in self.kinds.values():
            for key in self.take(rt):
                self.reconcile_key(rt, key, self.reconcile, rt)

    def reconcile(self, rt: ResourceType, obj: dict) -> None:
        raise NotImplementedError

    def reconcile_key(self, rt: ResourceType, key: tuple, fn, *args) -> dict | None:
        """fn(*args, obj) for the stored object of key (none: gone, nothing to do); a failure is retried
        later, with backoff (as client-go's rate-limited queue does). Returns the object reconciled."""
        obj = self.store.try_get(rt, key[1], key[2])
        if obj is None:
            self.mgr.forget(self, key)
            return None
        self.mgr.count(self, rt, key)
        try:
            ok = self._guard(fn, *args, obj)
        except Exception:  # noqa: BLE001 - a controller bug must not stop the others
            traceback.print_exc()
            ok = False
        if ok:
            self.mgr.forget(self, key)
        else:
            self.mgr.retry(self, key)
        return obj

    def stop(self) -> None:
        pass

    def _guard(self, fn, *args) -> bool:
        try:
            fn(*args)
        except errors.ApiError as e:
            if e.code not in (404, 409):
                traceback.print_exc()
            return False
        return True

    def _list(self, rt: ResourceType, ns: str | None = None, match=None) -> list[dict]:
        return self.store.list(rt, ns, match)[0]

    def _owned(self, rt: ResourceType, owner: dict) -> list[dict]:
        # from the store's owner index: a scan of the namespace per owner made the scale sandbox's first pass
        # quadratic (issue 20)
        return self.store.owned(rt, owner["metadata"].get("namespace"), owner["metadata"]["uid"])

    def _set_status(self, rt: ResourceType, obj: dict, status: dict) -> dict:
        if obj.get("status") == status:
            return obj
        new = clone(obj)
        new["status"] = status
        return self.store.update(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], new,
                                 subresource="status")

    def _mutate_status(self, rt: ResourceType, ns: str, name: str, fn) -> dict | None:
        for _ in range(20):
            obj = self.store.try_get(rt, ns, name)
            if obj is None:
                return None
            status = clone(obj.get("status") or {})
            fn(status)
            try:
                return self._set_status(rt, obj, status)
            except errors.ApiError as e:
                if e.code != 409:
                    raise
        return None

    def event(self, obj: dict, rt: ResourceType, reason: str, message: str, etype: str = "Normal",
              component: str = "kubelet") -> None:
        meta = obj["metadata"]
        ts = now_rfc3339()
        try:
            self.store.create(self.EVENT, meta.get("namespace") or "default", {
                "metadata": {"name": f"{meta['name']}.{rand_suffix(12)}"},
                "involvedObject": {"apiVersion": rt.api_version, "kind": rt.kind, "name": meta["name"],
                                   "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
                                   "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message, "type": etype, "count": 1,
                "source": {"component": component, "host": NODE} if component == "kubelet" else
                {"component": component},
                "firstTimestamp": ts, "lastTimestamp": ts, "reportingComponent": component,
                "reportingInstance": NODE if component == "kubelet" else "",
            })
        except errors.ApiError:
            pass

"""Owner garbage collection: an object whose owners are all gone is deleted (after a DELETED event)."""

from __future__ import annotations

from .. import errors
from ..registry import Registry, ResourceType, preferred_version
from .base import Controller


class GarbageCollector(Controller):
    def __init__(self, mgr) -> None:
        super().__init__(mgr)
        self.needed = True  # set by the manager on every DELETED event

    def reconcile_all(self) -> None:
        if self.needed:
            self.needed = False
            self.garbage_collect()

    def garbage_collect(self) -> None:
        everything = []
        for rt in self.registry.all():
            if rt.version != _preferred_version(self.registry, rt):
                continue
            for o in self._list(rt):
                everything.append((rt, o))
        uids = {o["metadata"].get("uid") for _, o in everything}
        for rt, o in everything:
            refs = o["metadata"].get("ownerReferences") or []
            if refs and not any(r.get("uid") in uids for r in refs):
                try:
                    self.store.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                except errors.ApiError:
                    pass
                self.needed = True


def _preferred_version(registry: Registry, rt: ResourceType) -> str:
    versions = [t.version for t in registry.all() if t.group == rt.group and t.plural == rt.plural]
    return preferred_version(versions) if versions else rt.version

"""Owner garbage collection: an object whose owners are all gone is deleted (after a DELETED event, and at
every full resync)."""

from __future__ import annotations

from .. import errors
from ..registry import Registry, ResourceType, preferred_version
from .base import Controller


class GarbageCollector(Controller):
    def __init__(self, mgr) -> None:
        super().__init__(mgr)
        self.needed = True  # set on every DELETED event

    @property
    def pending(self) -> bool:
        return self.needed

    def on_change(self, ev, ancestors) -> None:
        if ev.type == "DELETED":
            self.needed = True

    def resync(self) -> None:
        self.needed = True

    def run(self) -> None:
        if self.needed:
            self.needed = False
            self.garbage_collect()

    def garbage_collect(self) -> None:
        # the store's owner index names the objects whose owners are all gone: no list of every object
        # (10,000 copies in the scale sandbox, after every deletion)
        types = {}
        for rt in self.registry.all():
            if rt.version == _preferred_version(self.registry, rt):
                types[(rt.group, rt.plural)] = rt
        for bkey, (ns, name) in self.store.orphans():
            rt = types.get(bkey)
            if rt is None:
                continue
            try:
                self.store.delete(rt, ns, name)
            except errors.ApiError:
                pass
            self.needed = True


def _preferred_version(registry: Registry, rt: ResourceType) -> str:
    versions = [t.version for t in registry.all() if t.group == rt.group and t.plural == rt.plural]
    return preferred_version(versions) if versions else rt.version

"""Load objects with a given status, unchanged: for tests against upstream-published objects.

Each object is created like a client would (`kubectl create`: status dropped, since status is a subresource),
then its status is written through the status subresource (`kubectl replace --subresource=status`). With
`run_controllers=False` (or `--no-controllers`) nothing rewrites it afterwards. metadata.generation is kept
when given, so shapes such as KServe's copied observedGeneration (kserve/kserve#6081) can be reproduced.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from . import errors
from .registry import Registry
from .store import Store


def documents(path: str | Path) -> list[dict]:
    """The objects of a YAML file: a list, a `{objects: [...]}` fixture, a List kind, or several documents."""
    out: list[dict] = []
    for doc in yaml.safe_load_all(Path(path).read_text()):
        if isinstance(doc, list):
            out.extend(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("objects"), list):
            out.extend(doc["objects"])
        elif isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            out.extend(doc["items"])
        elif isinstance(doc, dict):
            out.append(doc)
    return out


def load_objects(store: Store, registry: Registry, docs: list[dict]) -> list[dict]:
    """Create each object (its namespace too, when missing) and set its status as given. An ownerReference
    without a uid names an object loaded before it (same namespace): its uid is filled in. Returns the stored
    objects."""
    ns_rt = registry.get("", "v1", "namespaces")
    loaded = []
    for raw in docs:
        doc = copy.deepcopy(raw)
        rt = registry.by_kind(doc.get("apiVersion", ""), doc.get("kind", ""))
        if rt is None:
            raise errors.bad_request(f"no resource type for {doc.get('apiVersion')} {doc.get('kind')}")
        meta = doc.setdefault("metadata", {})
        ns = meta.get("namespace") or ("default" if rt.namespaced else "")
        if rt.namespaced and store.try_get(ns_rt, "", ns) is None:
            store.create(ns_rt, "", {"metadata": {"name": ns}})
        status = doc.pop("status", None)
        generation = meta.pop("generation", None)
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            meta.pop(k, None)
        for ref in meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and not ref.get("uid"):  # named by kind and name only: the stored owner's
                owner_rt = registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
                owner = store.try_get(owner_rt, ns if owner_rt.namespaced else "", ref.get("name", "")) \
                    if owner_rt is not None else None
                if owner is None:
                    raise errors.bad_request(f"ownerReference {ref.get('kind')}/{ref.get('name')} of "
                                             f"{doc.get('kind')}/{meta.get('name')}: no such object loaded before it")
                ref["uid"] = owner["metadata"]["uid"]
        obj = store.create(rt, ns, doc, generation=generation)
        if status is not None and rt.has_status:
            obj = store.update(rt, ns, meta["name"], {**obj, "status": status}, subresource="status")
        loaded.append(obj)
    return loaded

"""Pure helpers on Kubernetes objects as dicts, shared by every area (models, doctor fixes, backends)."""

from __future__ import annotations

from typing import Any


def with_resource_version(patch: dict[str, Any], resource_version: str | None) -> dict[str, Any]:
    """The patch with metadata.resourceVersion set (a new dict; the patch's own metadata keys kept): the
    server then rejects the write with 409 Conflict if the object changed since it was read. The one way a
    write carries the resourceVersion it was planned against."""
    out = dict(patch)
    if resource_version:
        out["metadata"] = {**(patch.get("metadata") or {}), "resourceVersion": str(resource_version)}
    return out


# the keys strategic merge patch merges a list of objects by (k8s.io/api core/v1 patchMergeKey tags)
MERGE_KEYS = ("name", "mountPath", "containerPort", "devicePath", "ip", "topologyKey")


def shows_patch(patch: Any, obj: Any, *, strategic: bool = False) -> bool:
    """Whether obj holds every value a JSON merge patch sets (null: the key is absent), or with strategic a
    strategic merge patch (a list of objects is merged by its merge key, `$`-directives are no values).
    metadata.resourceVersion is the precondition, not a value: not compared. For the re-read after a
    write whose answer never came."""
    if isinstance(patch, dict) and isinstance(patch.get("metadata"), dict) and "resourceVersion" in patch["metadata"]:
        meta = {k: v for k, v in patch["metadata"].items() if k != "resourceVersion"}
        patch = {**patch, "metadata": meta} if meta else {k: v for k, v in patch.items() if k != "metadata"}
    return _shows(patch, obj, strategic)


def _shows(patch: Any, obj: Any, strategic: bool) -> bool:
    if isinstance(patch, dict):
        if not isinstance(obj, dict):
            return False
        for k, v in patch.items():
            if strategic and k.startswith("$"):
                continue
            if v is None:
                if obj.get(k) is not None:
                    return False
            elif k not in obj or not _shows(v, obj[k], strategic):
                return False
        return True
    if strategic and isinstance(patch, list) and isinstance(obj, list) and all(isinstance(p, dict) for p in patch):
        for p in patch:
            key = next((k for k in MERGE_KEYS if k in p), None)
            if key is None:
                return patch == obj
            mine = next((o for o in obj if isinstance(o, dict) and o.get(key) == p[key]), None)
            if (p.get("$patch") == "delete") != (mine is None):
                return False
            if mine is not None and not _shows(p, mine, strategic):
                return False
        return True
    return patch == obj

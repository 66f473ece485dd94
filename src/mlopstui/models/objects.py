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

"""Images that no longer get updates: Bitnami legacy, MinIO community edition."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import component_for, pod_bearers
from mlopstui.models.stack import containers_of


def _org_repo(image: str) -> tuple[str, str]:
    """'docker.io/bitnami/mlflow:2.11.0' -> ('bitnami', 'mlflow'); 'quay.io/minio/minio:X' -> ('minio', 'minio')."""
    name = image.split("@", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    repo = parts[-1].split(":", 1)[0]
    org = parts[-2] if len(parts) >= 2 else "library"
    return org, repo


@rule("image-bitnami-legacy", "cluster", "Bitnami images that get no more updates")
def bitnami(snap: Snapshot) -> Iterator[Finding]:
    for obj in pod_bearers(snap, watched_only=False):
        imgs = [(c.get("name"), c.get("image", "")) for c in containers_of(obj)]
        hits = [(n, i) for n, i in imgs if _org_repo(i)[0] in ("bitnami", "bitnamilegacy")]
        if not hits:
            continue
        legacy = all(_org_repo(i)[0] == "bitnamilegacy" for _n, i in hits)
        yield Finding(
            "image-bitnami-legacy", Severity.WARNING, component_for(snap, obj),
            f"{ref(obj)}: {'bitnamilegacy' if legacy else 'Bitnami'} image {hits[0][1]}", (ref(obj),),
            "; ".join(f"container '{n}' image {i}" for n, i in hits),
            "In August 2025 Bitnami moved its versioned images to docker.io/bitnamilegacy, which gets no "
            "more updates or security fixes"
            + ("" if legacy else "; versioned tags under bitnami/ may no longer pull at all (ImagePullBackOff "
               "on the next reschedule)") + ".",
            "Switch to a maintained image (the project's official image, e.g. ghcr.io/mlflow/mlflow, "
            "postgres, redis) or a maintained chart, and pin its digest.")


@rule("image-minio-unpatched", "s3", "MinIO community edition images are unpatched")
def minio(snap: Snapshot) -> Iterator[Finding]:
    for obj in pod_bearers(snap, watched_only=False):
        hits = [(c.get("name"), c.get("image", "")) for c in containers_of(obj)
                if _org_repo(c.get("image", "")) in (("minio", "minio"), ("bitnami", "minio"),
                                                     ("bitnamilegacy", "minio"))]
        if not hits:
            continue
        yield Finding(
            "image-minio-unpatched", Severity.WARNING, component_for(snap, obj, "s3"),
            f"{ref(obj)}: MinIO community image {hits[0][1]} (no more patched releases)", (ref(obj),),
            "; ".join(f"container '{n}' image {i}" for n, i in hits),
            "MinIO's community edition became source-only in October 2025 (no published images or "
            "security fixes) and its repository was archived in April 2026: this object store stays "
            "unpatched.",
            "Plan a move to a maintained S3 server (Ceph RGW, SeaweedFS, Garage, or a supported MinIO "
            "subscription); mlopstui works with any S3 endpoint.")

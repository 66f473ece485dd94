"""The upstream Argo Workflow fixtures (tests/fixtures/upstream/argo, headers name their source) as objects
to store in the emulator: JSON-safe, in a namespace, without server-set metadata."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "argo"


def _rfc3339(v):
    return v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else str(v)


def load_workflow(fixture: str, namespace: str, name: str | None = None) -> dict:
    d = json.loads(json.dumps(yaml.safe_load((FIX / fixture).read_text()), default=_rfc3339))
    d.setdefault("apiVersion", "argoproj.io/v1alpha1")
    d.setdefault("kind", "Workflow")
    d["metadata"]["namespace"] = namespace
    if name:
        d["metadata"]["name"] = name
    for k in ("resourceVersion", "uid", "creationTimestamp"):
        d["metadata"].pop(k, None)
    return d

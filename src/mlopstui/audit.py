"""The audit log: every apply (ok or failed) as one JSON line, secrets scrubbed. Its own module so that the
context (which owns one per process) does not import the actions layer."""

from __future__ import annotations

import getpass
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlopstui.secrets import scrub


class AuditLog:
    """Append-only JSON lines; secrets scrubbed before anything is written.

    Each entry: who (the OS user and the Kubernetes identity: kubeconfig context, user entry,
    impersonation, as far as the kubeconfig tells), what (the action, the object actually written after
    validation, the exact patch), and the answer (ok, message, resourceVersion, dry run or not, and for a
    write whose answer timed out the outcome seen by re-reading: applied / not applied / outcome unknown).
    """

    def __init__(self, path: Path, identity: Callable[[], dict[str, Any]] | None = None):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._identity = identity

    def record(self, plan: Any, *, ok: bool, message: str, started: float, outcome: str | None = None,
               answer: Any = None) -> None:
        """One line for an apply of `plan` (an actions.base.Plan: read by attribute, not imported)."""
        try:
            identity = self._identity() if self._identity else {}
        except Exception:  # noqa: BLE001 - the audit line is written regardless
            identity = {}
        answer = answer if isinstance(answer, dict) else {}
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_ms": round((time.time() - started) * 1000),
            "user": _user(),
            "os_user": _user(),
            "kube_identity": identity or None,
            "action": plan.action,
            "target": plan.target,
            "object": plan.object or _object_of(plan.target),
            "context": plan.context,
            "summary": plan.summary,
            "patch_type": plan.patch_type,
            "patch": plan.patch,
            "ok": ok,
            "outcome": outcome or ("applied" if ok else "failed"),
            "message": message,
            "server": {"resourceVersion": answer.get("resourceVersion"),
                       "dry_run": bool(answer.get("dry_run", False))},
        }
        line = json.dumps(scrub(entry), sort_keys=True, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line + "\n")

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(ln) for ln in self.path.read_text().splitlines() if ln.strip()]


def _object_of(target: str) -> dict[str, str] | None:
    """"inferenceservices.serving.kserve.io/mlops/fraud-detection" -> resource, namespace, name."""
    parts = (target or "").split("/")
    if len(parts) == 3:
        return {"resource": parts[0], "namespace": parts[1], "name": parts[2]}
    if len(parts) == 2:
        return {"resource": parts[0], "name": parts[1]}
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"

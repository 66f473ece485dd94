"""Every change to the world is an Action: plan() says what, where and how risky; apply() does it.

The TUI shows the plan in a confirm dialog; the CLI prints it (--dry-run) or applies it (--yes).
Read-only mode refuses every apply. Every apply (ok or failed) is appended to the audit log.
"""

from __future__ import annotations

import abc
import getpass
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.secrets import scrub


@dataclass
class Plan:
    """What an action will do, shown before it is done."""

    action: str  # e.g. "canary"
    summary: str  # one line a person reads
    target: str  # e.g. "inferenceservices.serving.kserve.io/mlops/fraud-detection"
    context: str | None = None  # kube context or endpoint
    patch: Any = None  # the exact patch / manifest / request, when there is one
    patch_type: str | None = None  # e.g. "application/merge-patch+json"
    risk: str = "low"  # low | medium | high
    notes: list[str] = field(default_factory=list)
    before: Any = None  # what it was (for the audit log and the dialog)

    def to_dict(self) -> dict[str, Any]:
        return scrub(asdict(self))

    def render(self) -> str:
        lines = [f"{self.action}: {self.summary}", f"  target:  {self.target}"]
        if self.context:
            lines.append(f"  context: {self.context}")
        lines.append(f"  risk:    {self.risk}")
        if self.patch is not None:
            lines.append(f"  {self.patch_type or 'request'}:")
            body = json.dumps(scrub(self.patch), indent=2, sort_keys=True) if not isinstance(self.patch, str) \
                else self.patch
            lines.extend("    " + ln for ln in body.splitlines())
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class Result:
    ok: bool
    message: str
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        return scrub(asdict(self))


class Action(abc.ABC):
    """Subclasses implement plan() (may read, never write) and _apply(plan)."""

    name: str = "action"

    @abc.abstractmethod
    def plan(self) -> Plan: ...

    @abc.abstractmethod
    def _apply(self, plan: Plan) -> Result: ...

    def apply(self, plan: Plan, *, readonly: bool, audit: AuditLog | None) -> Result:
        if readonly:
            raise MlopsError(Kind.REFUSED, f"read-only mode: refusing to {plan.action} {plan.target}",
                             hint="restart without --readonly to make changes")
        started = time.time()
        try:
            result = self._apply(plan)
        except MlopsError as exc:
            if audit:
                audit.record(plan, ok=False, message=str(exc), started=started)
            raise
        except Exception as exc:
            if audit:
                audit.record(plan, ok=False, message=f"{type(exc).__name__}: {exc}", started=started)
            raise
        if audit:
            audit.record(plan, ok=result.ok, message=result.message, started=started)
        return result


class AuditLog:
    """Append-only JSON lines; secrets scrubbed before anything is written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, plan: Plan, *, ok: bool, message: str, started: float) -> None:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_ms": round((time.time() - started) * 1000),
            "user": _user(),
            "action": plan.action,
            "target": plan.target,
            "context": plan.context,
            "summary": plan.summary,
            "patch_type": plan.patch_type,
            "patch": plan.patch,
            "ok": ok,
            "message": message,
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


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"

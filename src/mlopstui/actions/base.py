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
from collections.abc import Callable
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
    object: dict[str, str] | None = None  # the object written: kind/resource, namespace, name (validated)

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

    def observe(self, plan: Plan) -> bool | None:
        """After a write whose answer timed out: re-read and tell whether it took effect (True/False), or
        None when that cannot be known. Actions that can re-read their object override this."""
        return None

    def apply(self, plan: Plan, *, readonly: bool, audit: AuditLog | None) -> Result:
        if readonly:
            raise MlopsError(Kind.REFUSED, f"read-only mode: refusing to {plan.action} {plan.target}",
                             hint="restart without --readonly to make changes")
        started = time.time()
        try:
            result = self._apply(plan)
        except MlopsError as exc:
            if exc.kind is Kind.TIMEOUT:
                return self._after_timeout(plan, exc, audit, started)
            if audit:
                audit.record(plan, ok=False, message=str(exc), started=started)
            raise
        except Exception as exc:
            if audit:
                audit.record(plan, ok=False, message=f"{type(exc).__name__}: {exc}", started=started)
            raise
        if audit:
            audit.record(plan, ok=result.ok, message=result.message, started=started, answer=result.data)
        return result

    def _after_timeout(self, plan: Plan, exc: MlopsError, audit: AuditLog | None, started: float) -> Result:
        """The write was sent but its answer never came: re-read, report what the object shows, audit that
        outcome (never a guess)."""
        from mlopstui import deadline

        deadline.extend(10.0)  # the re-read gets its own few seconds, even when the verb's are spent
        try:
            seen = self.observe(plan)
        except MlopsError:
            seen = None
        if seen is True:
            result = Result(True, f"{plan.action} applied: the answer timed out ({exc.message}), and re-reading "
                                  f"{plan.target} shows the change", data={"outcome": "applied"})
            if audit:
                audit.record(plan, ok=True, message=result.message, started=started, outcome="applied")
            return result
        outcome = "not applied" if seen is False else "outcome unknown"
        why = (f"re-reading {plan.target} shows the change did not take effect" if seen is False
               else f"{plan.target} could not be re-read to tell whether it took effect")
        err = MlopsError(Kind.TIMEOUT, f"{plan.action} {outcome}: the answer timed out ({exc.message}); {why}",
                         hint="check the object before trying again" if seen is None
                         else "nothing changed; try again when the API server answers", source=exc.source)
        err.outcome = outcome
        if audit:
            audit.record(plan, ok=False, message=err.message, started=started, outcome=outcome)
        raise err from None


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

    def record(self, plan: Plan, *, ok: bool, message: str, started: float, outcome: str | None = None,
               answer: Any = None) -> None:
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

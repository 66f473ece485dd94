"""Every change to the world is an Action: plan() says what, where and how risky; apply() does it.

The TUI shows the plan in a confirm dialog; the CLI prints it (--dry-run) or applies it (--yes).
Read-only mode refuses every apply. Every apply (ok or failed) is appended to the audit log.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlopstui.audit import AuditLog  # noqa: F401 - re-exported: `from mlopstui.actions.base import AuditLog`
from mlopstui.errors import Kind, MlopsError
from mlopstui.secrets import scrub

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient, Res


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
        None when that cannot be known. Every write action overrides this (see observe_patch and
        observe_object below); one that found out more (a partial install) says so in self.observed."""
        return None

    observed: str = ""  # what observe() saw, when more than applied / not applied

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
               else self.observed or f"{plan.target} could not be re-read to tell whether it took effect")
        err = MlopsError(Kind.TIMEOUT, f"{plan.action} {outcome}: the answer timed out ({exc.message}); {why}",
                         hint="check the object before trying again" if seen is None
                         else "nothing changed; try again when the API server answers", source=exc.source)
        err.outcome = outcome
        if audit:
            audit.record(plan, ok=False, message=err.message, started=started, outcome=outcome)
        raise err from None


def observe_patch(kube: KubeClient, res: Res, name: str, namespace: str | None, patch: dict[str, Any], *,
                  strategic: bool = False) -> bool | None:
    """A patch whose answer never came: re-read the object. False when its resourceVersion is still the one
    the patch was sent with (the precondition: nothing was written), else whether every patched field holds
    the patched value; None when it cannot be read."""
    from mlopstui.models.objects import shows_patch

    sent_rv = ((patch or {}).get("metadata") or {}).get("resourceVersion")
    try:
        obj = kube.get(res, name, namespace)
    except MlopsError:
        return None
    if sent_rv and (obj.get("metadata") or {}).get("resourceVersion") == sent_rv:
        return False
    return shows_patch(patch, obj, strategic=strategic)


def observe_object(kube: KubeClient, res: Res, manifest: dict[str, Any], namespace: str | None) -> bool | None:
    """A create or apply whose answer never came: True when the object exists and holds every field of the
    manifest (the server's defaults may add more), False when it does not exist, None when it cannot be
    read or differs."""
    from mlopstui.models.objects import shows_patch

    meta = manifest.get("metadata") or {}
    try:
        obj = kube.get(res, meta.get("name"), namespace or meta.get("namespace"))
    except MlopsError as exc:
        return False if exc.kind is Kind.NOT_FOUND else None
    body = {k: v for k, v in manifest.items() if k not in ("metadata", "status", "data", "stringData")}
    labels = meta.get("labels") or {}
    return (shows_patch(body, obj, strategic=True)
            and shows_patch(labels, (obj.get("metadata") or {}).get("labels") or {})) or None

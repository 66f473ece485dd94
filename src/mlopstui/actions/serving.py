"""Serving actions: canary percent, promote, rollback, minReplicas, a new canary model.

Every write is a JSON merge patch carrying the resourceVersion that plan() read, so a concurrent edit
makes the API server answer 409 instead of being overwritten. The caller (TUI or CLI) then calls
`replan()` to re-read, shows `changes` (what someone else changed) and asks again.
After applying, `follow()` polls status until the traffic matches or the timeout says why not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlopstui.actions.base import Action, Plan, Result, observe_patch
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import serving as m

if TYPE_CHECKING:
    from mlopstui.context import AppContext

MERGE_PATCH = "application/merge-patch+json"


class IsvcAction(Action):
    """Base: reads the InferenceService in plan(), patches it with the read resourceVersion in _apply()."""

    name = "isvc"
    needs_serverless = True
    makes_new_revision = False

    def __init__(self, ctx: AppContext, namespace: str | None, name: str):
        self.ctx = ctx
        self.namespace = namespace or ctx.namespace
        self.isvc_name = name
        self.current: m.InferenceService | None = None  # what plan() read
        self.previous: m.InferenceService | None = None  # what the plan before a conflict read
        self.changes: list[str] = []  # what changed between them (after replan)

    # -- subclass hooks ---------------------------------------------------------------------------
    def build(self, isvc: m.InferenceService) -> tuple[dict[str, Any], str, str, list[str]]:
        """(patch without resourceVersion, summary, risk, notes)."""
        raise NotImplementedError

    def target_canary(self, isvc: m.InferenceService) -> int | None | str:
        """The canaryTrafficPercent status should end up following; "keep" when traffic is not changed."""
        return "keep"

    # -- plan / apply -----------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return f"inferenceservices.serving.kserve.io/{self.namespace}/{self.isvc_name}"

    def read(self) -> m.InferenceService:
        from mlopstui.backends.kserve import get_isvc

        return get_isvc(self.ctx.kube, self.namespace, self.isvc_name)

    def plan(self) -> Plan:
        return self._plan_for(self.read())

    def _plan_for(self, isvc: m.InferenceService) -> Plan:
        self.current = isvc
        if self.needs_serverless:
            m.require_canary_support(isvc)
        patch, summary, risk, notes = self.build(isvc)
        patch = m.with_resource_version(patch, isvc.resource_version)
        before = {"canaryTrafficPercent": isvc.canary_percent, "storageUri": isvc.storage_uri,
                  "minReplicas": isvc.min_replicas, "traffic": isvc.traffic_text(),
                  "resourceVersion": isvc.resource_version}
        notes = list(notes)
        notes.append(f"now: canary {_pct(isvc.canary_percent)}, traffic {isvc.traffic_text()}")
        notes.append(f"sent with metadata.resourceVersion {isvc.resource_version}: "
                     "a concurrent change is refused (409), not overwritten")
        if self.changes:
            notes = [f"changed by someone else since the last read: {c}" for c in self.changes] + notes
        return Plan(action=self.name, summary=summary, target=self.target, context=self.ctx.context_name,
                    patch=patch, patch_type=MERGE_PATCH, risk=risk, notes=notes, before=before)

    def replan(self) -> Plan:
        """After a 409: re-read, record what changed, plan again (the caller asks again)."""
        old = self.current
        self.previous = old
        fresh = self.read()
        self.changes = m.describe_changes(old, fresh) if old is not None else []
        return self._plan_for(fresh)

    def _apply(self, plan: Plan) -> Result:
        from mlopstui.backends.kube import INFERENCESERVICES

        for _attempt in range(3):
            rv = (plan.patch.get("metadata") or {}).get("resourceVersion")
            try:
                obj = self.ctx.kube.merge_patch(INFERENCESERVICES, self.isvc_name, plan.patch, self.namespace)
            except MlopsError as exc:
                if exc.kind is not Kind.CONFLICT:
                    raise
                if not self._only_status_changed():
                    raise MlopsError(Kind.CONFLICT,
                                     f"{self.isvc_name} changed since it was read (resourceVersion {rv}); "
                                     "nothing was overwritten",
                                     hint="re-read, check what changed, and confirm again",
                                     source="kubernetes") from None
                # only status/bookkeeping moved (a controller): the confirmed patch applies to the same spec
                plan.patch = m.with_resource_version(plan.patch, self.current.resource_version)
                plan.notes.append(f"resourceVersion {rv} -> {self.current.resource_version}: only status changed "
                                  "(controller); the same patch was re-sent")
                continue
            new_rv = (obj.get("metadata") or {}).get("resourceVersion")
            return Result(True, f"patched {self.namespace}/{self.isvc_name} (resourceVersion {rv} -> {new_rv})",
                          data={"resourceVersion": new_rv, "dry_run": False})
        raise MlopsError(Kind.CONFLICT, f"{self.isvc_name} keeps changing; nothing was overwritten",
                         hint="try again in a moment", source="kubernetes")

    def observe(self, plan: Plan) -> bool | None:
        """After a write whose answer never came: re-read the object. True when it shows the patch
        (resourceVersion moved and every patched spec field holds the patched value), False when it does
        not, None when it cannot be read."""
        from mlopstui.backends.kube import INFERENCESERVICES

        return observe_patch(self.ctx.kube, INFERENCESERVICES, self.isvc_name, self.namespace, plan.patch)

    def _only_status_changed(self) -> bool:
        """After a 409: re-read; True when spec, labels and annotations are what the plan was made from."""
        old = self.current
        fresh = self.read()
        if old is None:
            return False

        def user_part(o: dict) -> Any:
            meta = o.get("metadata") or {}
            return (o.get("spec"), meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"))

        if user_part(old.raw) == user_part(fresh.raw):
            self.current = fresh
            return True
        return False

    # -- follow status ----------------------------------------------------------------------------
    def follow(self, timeout: float = 60.0, interval: float = 0.5,
               on_progress: Callable[[str], None] | None = None) -> Result:
        """Poll the InferenceService until status traffic matches the plan, or say why not."""
        base = self.current
        want = self.target_canary(base) if base is not None else "keep"
        if want == "keep" and not self.makes_new_revision:
            return Result(True, "no traffic change expected")
        after_rev = base.latest_created if (self.makes_new_revision and base is not None) else None
        return follow_status(self.ctx, self.namespace, self.isvc_name,
                             None if want == "keep" else want,  # type: ignore[arg-type]
                             after_revision=after_rev, keep_canary=(want == "keep"),
                             timeout=timeout, interval=interval, on_progress=on_progress)


def follow_status(ctx: AppContext, namespace: str, name: str, canary: int | None, *,
                  after_revision: str | None = None, keep_canary: bool = False, timeout: float = 60.0,
                  interval: float = 0.5, on_progress: Callable[[str], None] | None = None) -> Result:
    """Poll until status.components.predictor.traffic matches `canary` (None: latest 100%)."""
    from mlopstui import deadline as verb_deadline
    from mlopstui.backends.kserve import get_isvc

    left = verb_deadline.remaining()
    timeout = timeout if left is None else max(0.0, min(timeout, left - 1.0))
    deadline = time.monotonic() + timeout
    why = "not checked"
    isvc = None
    while True:
        try:
            isvc = get_isvc(ctx.kube, namespace, name, with_revisions=False)
            want = isvc.canary_percent if keep_canary else canary
            done, why = m.traffic_converged(isvc, want, after_revision)
        except MlopsError as exc:
            done, why = False, f"[{exc.kind.value}] {exc.message}"
        if done:
            return Result(True, f"traffic now {why}", data=isvc.summary() if isvc else None)
        if on_progress:
            on_progress(why)
        if time.monotonic() >= deadline:
            extra = ""
            if isvc is not None:
                bad = isvc.failing_conditions()
                if bad:
                    extra = "; " + "; ".join(f"{c.type}={c.status} {c.reason}: {c.message}".strip() for c in bad)
            return Result(False, f"status did not converge within {timeout:.0f}s: {why}{extra}",
                          data=isvc.summary() if isvc else None)
        time.sleep(interval)


def _pct(v: int | None) -> str:
    return "unset (latest 100%)" if v is None else f"{v}%"


class SetCanary(IsvcAction):
    """Set canaryTrafficPercent exactly (percent) or by a step (delta, from what plan() reads)."""

    name = "canary"

    def __init__(self, ctx: AppContext, namespace: str | None, name: str, percent: int | None = None,
                 delta: int | None = None):
        super().__init__(ctx, namespace, name)
        if percent is None and delta is None:
            raise MlopsError(Kind.INVALID, "canary needs a percent or a step")
        self.percent = None if percent is None else m.parse_percent(percent)
        self.delta = delta

    def _resolve(self, isvc: m.InferenceService) -> int:
        if self.percent is None:
            # a step is resolved against what was read; replan() resolves it again from the new state
            self.percent = m.stepped(isvc.canary_percent, self.delta or 0)
        return self.percent

    def replan(self) -> Plan:
        """After a 409: a step (+10) is recomputed from the canary percent read now, not kept from the
        stale read, and the plan says so; an exact percent stays what was asked."""
        if self.delta is None:
            return super().replan()
        stale_target = self.percent
        self.percent = None
        plan = super().replan()
        if stale_target != self.percent:
            plan.notes.insert(0, f"re-planned: step {self.delta:+d} recomputed from the new state "
                                 f"({_pct(self.current.canary_percent if self.current else None)}): "
                                 f"{self.percent}% now, not the {stale_target}% planned before the conflict")
        else:
            plan.notes.insert(0, f"re-planned: step {self.delta:+d} recomputed from the new state: still "
                                 f"{self.percent}%")
        return plan

    def target_canary(self, isvc: m.InferenceService) -> int | None | str:
        return self.percent

    def build(self, isvc):
        p = self._resolve(isvc)
        notes = [f"expected split: {m.expected_split(isvc, p)}"]
        if self.delta is not None:
            notes.insert(0, f"step {self.delta:+d} from {_pct(isvc.canary_percent)}")
        if p == isvc.canary_percent:
            notes.append("canaryTrafficPercent is already this value: the patch changes nothing")
        warn = m.rollout_warning(isvc)
        if warn:
            notes.insert(0, "WARNING: " + warn)
        risk = "high" if p >= 50 else "medium"
        return (m.canary_patch(p), f"canary {_pct(isvc.canary_percent)} -> {p}% on {isvc.name}", risk, notes)


class Promote(IsvcAction):
    name = "promote"

    def target_canary(self, isvc):
        return None

    def build(self, isvc):
        notes = [f"expected split: {m.expected_split(isvc, None)}",
                 "removes canaryTrafficPercent (merge-patch null)"]
        if isvc.canary_percent is None:
            notes.append("canaryTrafficPercent is not set: the latest revision already takes 100%")
        notes = m.promote_warnings(isvc) + notes
        latest = isvc.latest_created or "latest revision"
        return (m.promote_patch(), f"promote {latest} of {isvc.name} to 100%", "high", notes)


class Rollback(IsvcAction):
    name = "rollback"

    def target_canary(self, isvc):
        return 0

    def build(self, isvc):
        stable = isvc.stable_revision
        if stable == isvc.latest_created:
            stable = isvc.previous_rolledout
        notes = [f"expected split: {m.expected_split(isvc, 0)}"]
        if not stable:
            notes.append("no previous rolled-out revision is known: KServe may have nothing to roll back to")
        return (m.rollback_patch(), f"roll back {isvc.name}: {stable or 'previous revision'} takes 100%",
                "high", notes)


class SetMinReplicas(IsvcAction):
    name = "min-replicas"
    needs_serverless = False

    def __init__(self, ctx: AppContext, namespace: str | None, name: str, replicas: int | str):
        super().__init__(ctx, namespace, name)
        self.replicas = m.parse_replicas(replicas)

    def build(self, isvc):
        notes = []
        if self.replicas == 0 and isvc.serverless:
            notes.append("minReplicas 0 allows scale-to-zero: the first request after idle waits for a cold "
                         "start (large models can time out)")
        if isvc.max_replicas is not None and self.replicas > isvc.max_replicas:
            raise MlopsError(Kind.INVALID, f"minReplicas {self.replicas} > maxReplicas {isvc.max_replicas}",
                             hint="raise maxReplicas first, or pick a smaller number")
        cur = "unset" if isvc.min_replicas is None else str(isvc.min_replicas)
        risk = "medium" if self.replicas == 0 else "low"
        return (m.min_replicas_patch(self.replicas), f"minReplicas {cur} -> {self.replicas} on {isvc.name}",
                risk, notes)


class SetCanaryModel(IsvcAction):
    """Serve a new storageUri as the canary with `percent` of traffic (reusable from the model registry).

    percent None rolls the new model out to 100% at once (no canary). A new predictor spec makes a new
    revision; the previous rolled-out revision keeps the rest of the traffic.
    """

    name = "canary-model"
    makes_new_revision = True

    def __init__(self, ctx: AppContext, namespace: str | None, name: str, storage_uri: str,
                 percent: int | str | None = 10):
        super().__init__(ctx, namespace, name)
        self.storage_uri = m.validate_storage_uri(storage_uri)
        self.percent = None if percent is None else m.parse_percent(percent)
        self.needs_serverless = self.percent is not None

    def target_canary(self, isvc):
        return self.percent

    def build(self, isvc):
        if isvc.storage_uri == self.storage_uri:
            raise MlopsError(Kind.INVALID, f"{isvc.name} already serves {self.storage_uri}",
                             hint="pick another model version, or change only the canary percent")
        notes = [f"storageUri {isvc.storage_uri or '-'} -> {self.storage_uri} (a new revision)",
                 f"expected split: {m.expected_split(isvc, self.percent, new_revision=True)}"]
        what = "canary" if self.percent is not None else "roll out"
        share = f" at {self.percent}%" if self.percent is not None else " to 100%"
        return (m.canary_model_patch(isvc, self.storage_uri, self.percent),
                f"{what} {self.storage_uri} on {isvc.name}{share}", "high", notes)

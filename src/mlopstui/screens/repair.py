"""Repair from any screen: plan the fix of a doctor Finding in a worker, confirm it, apply it in a worker.

    from mlopstui.screens.repair import start_repair
    start_repair(self, finding, probes=dict(stack.probes), on_done=stack.refresh_data)

The plan re-reads the cluster (with the probe results given, or a full sweep without them) and the live
object; the confirm dialog shows the exact patch and its resourceVersion; the result (or why there is no
automatic fix, or the conflict) goes to the screen's status line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlopstui.errors import Kind, MlopsError

if TYPE_CHECKING:
    from mlopstui.doctor import Finding
    from mlopstui.models.stack import ProbeResult
    from mlopstui.screens.base import AreaScreen


def start_repair(screen: AreaScreen, finding: Finding, *, probes: dict[str, ProbeResult] | None = None,
                 on_done: Callable[[str], None] | None = None) -> None:
    """Plan -> ConfirmPlan -> apply for one finding. on_done(message) after a successful apply."""
    from mlopstui.actions.repair import Repair

    ctx = screen.ctx
    action = Repair(ctx, key=finding.key, probes=probes)
    limit = ctx.settings.kube_timeout * 4 + (0 if probes is not None else ctx.settings.probe_timeout + 2)
    screen.set_status(f"repair {finding.id}: reading the cluster ...")
    screen.run_io(action.plan, lambda plan: _confirm(screen, action, plan, on_done),
                  lambda err: _not_planned(screen, finding, err), group="repair-plan", timeout=limit)


def _not_planned(screen: AreaScreen, finding: Finding, err: MlopsError) -> None:
    if err.kind is Kind.UNSUPPORTED:
        screen.set_status(err.message)
        return
    screen.show_error(err, f"repair {finding.id} not planned")


def _confirm(screen: AreaScreen, action: Any, plan: Any, on_done: Callable[[str], None] | None) -> None:
    from mlopstui.screens.confirm import confirm_then_apply

    confirm_then_apply(screen, action, plan, what="repair", applying=f"repair: {plan.summary} ...",
                       on_applied=lambda result: _applied(screen, result, on_done),
                       on_error=lambda err: _failed(screen, err), group="repair-apply")


def _applied(screen: AreaScreen, result: Any, on_done: Callable[[str], None] | None) -> None:
    msg = ("repaired: " if result.ok else "repair failed: ") + result.message
    screen.set_status(msg, error=not result.ok)
    if result.ok and on_done is not None:
        on_done(msg)


def _failed(screen: AreaScreen, err: MlopsError) -> None:
    what = "repair not applied"
    if err.kind is Kind.CONFLICT:
        what += " (press f again to re-plan from what is there now)"
    screen.show_error(err, what)

"""Headless verb `repair`: apply a doctor finding's automatic fix (plan -> --dry-run / --yes).

    mlopstui repair                                   # the findings, and which have an automatic fix
    mlopstui repair redis-no-maxmemory --dry-run      # the exact patch, nothing sent
    mlopstui repair mlflow-client-no-s3-endpoint --object CronJob/mlops/nightly-eval --yes
    mlopstui repair --all --yes                       # every fixable finding, one write each
"""

from __future__ import annotations

import argparse
from typing import Any

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_global_flags,
    add_write_flags,
    emit,
    listing,
    make_context,
    not_listing,
    run_action,
    table,
)
from mlopstui.commands.stack import add_scope_flag, scope_of


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="apply the automatic fix of a doctor finding (one patch, confirmed)",
                       description="Without FINDING_ID: list the doctor's findings and whether each has an "
                                   "automatic fix. With it: plan the fix (exact patch, risk, resourceVersion); "
                                   "--dry-run prints it, --yes applies it. Exit 2 when there is no automatic "
                                   "fix or the change is refused, 1 when it failed (e.g. a concurrent edit).")
    add_global_flags(p, suppress=True)
    add_scope_flag(p)
    p.add_argument("finding_id", nargs="?", metavar="FINDING_ID", help="the rule id, e.g. redis-no-maxmemory")
    p.add_argument("--object", metavar="KIND/NS/NAME",
                   help="which object, when the finding is reported for several (e.g. Deployment/mlops/x)")
    p.add_argument("--all", action="store_true", help="repair every finding that has an automatic fix")
    add_write_flags(p)
    listing(p)  # without FINDING_ID
    p.set_defaults(func=cmd_repair)


def _report(ctx, args: argparse.Namespace | None = None):
    from mlopstui.backends.stack import sweep
    from mlopstui.errors import MlopsError

    report = sweep(ctx, namespace=scope_of(args) if args is not None else None)
    if report.state.error is not None:
        err = report.state.error
        raise MlopsError(err.kind, f"cannot read the cluster: {err.message}", hint=err.hint or
                         "check --kubeconfig/--context, or that the API server is up")
    return report


def cmd_repair(args: argparse.Namespace) -> int:
    from mlopstui.actions.repair import Repair

    not_listing(args, not (args.all or args.finding_id), "repair without FINDING_ID")
    if args.all and args.finding_id:
        from mlopstui.errors import Kind, MlopsError

        raise MlopsError(Kind.INVALID, "give a FINDING_ID or --all, not both")
    ctx = make_context(args)
    if args.all:
        return _repair_all(args, ctx)
    if not args.finding_id:
        return _list(args, ctx)
    action = Repair(ctx, args.finding_id, obj_ref=args.object,
                    report=_report(ctx, args) if scope_of(args) else None)
    return run_action(args, ctx, action, server=True)


def _list(args: argparse.Namespace, ctx) -> int:
    from mlopstui.actions.repair import assess

    items = assess(_report(ctx, args))
    if args.object:
        from mlopstui.actions.repair import parse_object

        want = parse_object(args.object)
        items = [a for a in items if want in a.finding.objects]
    doc = {"findings": [a.to_dict() for a in items], "fixable": sum(1 for a in items if a.fix)}

    def text(wide: bool = False) -> str:
        if not items:
            return "no findings"
        rows = [[a.finding.severity.value, a.finding.id,
                 (", ".join(a.finding.objects) if wide else ", ".join(a.finding.objects[:1])) or "-",
                 f"yes ({a.fix.risk})" if a.fix else "no", a.fix.summary if a.fix else a.reason,
                 *([a.finding.component, a.finding.summary] if wide else [])]
                for a in items]
        return (table(rows, ["sev", "finding", "object", "auto-fix", "fix / why not",
                             *(["component", "summary"] if wide else [])])
                + f"\n{doc['fixable']} of {len(items)} findings have an automatic fix: "
                  "mlopstui repair FINDING_ID [--object KIND/NS/NAME] --dry-run | --yes")

    emit(args, doc, text, wide=lambda: text(True), names=[f"finding/{a.finding.id}" for a in items])
    return EXIT_OK


def _repair_all(args: argparse.Namespace, ctx) -> int:
    from mlopstui.actions.repair import Repair, assess
    from mlopstui.errors import Kind, MlopsError

    report = _report(ctx, args)
    todo = [a for a in assess(report) if a.fix is not None]
    if args.object:
        from mlopstui.actions.repair import parse_object

        want = parse_object(args.object)
        todo = [a for a in todo if want in a.finding.objects]
    apply = bool(args.yes) and not args.dry_run
    done: list[dict[str, Any]] = []
    lines: list[str] = []
    failed = refused = False
    for a in todo:
        action = Repair(ctx, key=a.finding.key, report=report)
        entry: dict[str, Any] = {"finding": a.finding.key}
        try:
            plan = action.plan()
            entry["plan"] = plan.to_dict()
            lines.append(plan.render())
            if apply:
                result = action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
                entry["result"] = result.to_dict()
                lines.append(f"applied: {result.message}")
                failed |= not result.ok
        except MlopsError as err:
            entry["error"] = err.to_dict()
            lines.append(f"{a.finding.id}: {err.kind.value}: {err.message}")
            if err.kind is Kind.REFUSED:
                refused = True
                done.append(entry)
                break
            failed |= err.kind is not Kind.UNSUPPORTED  # fixed meanwhile by an earlier repair: not a failure
        done.append(entry)
        lines.append("")
    if not todo:
        lines.append("no finding has an automatic fix")
    elif not apply:
        lines.append("(dry run: nothing changed)" if args.dry_run
                     else "(not applied: pass --yes to apply, --dry-run to only show the plans)")
    emit(args, {"repairs": done, "applied": apply}, "\n".join(lines).rstrip())
    if refused or (not apply and not args.dry_run and todo):
        return EXIT_USAGE
    return EXIT_FAILED if failed else EXIT_OK

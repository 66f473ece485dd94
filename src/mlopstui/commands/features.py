"""Headless Feast verbs: `features` (views with freshness) and `materialize`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_global_flags,
    add_write_flags,
    confirm_or_print,
    emit,
    listing,
    machine_output,
    make_context,
    positive_float,
    run_action,
    server_dry_run,
    table,
)
from mlopstui.errors import Kind, MlopsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="Feast feature views with freshness (exit 1 if any is stale or never "
                                        "materialized)")
    add_global_flags(p, suppress=True)
    p.add_argument("--no-kube", action="store_true", help="do not look for materialization CronJobs")
    listing(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("materialize", help="trigger a Feast materialization (a Job from the CronJob, or local)")
    add_global_flags(p, suppress=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cronjob", metavar="NAME", help="create a Job from this CronJob (default: the only "
                                                     "materialization CronJob in the namespace)")
    g.add_argument("--local", action="store_true", help="run `feast materialize-incremental` here, in the repo")
    p.add_argument("--start", metavar="ISO", help="with --local: `feast materialize START END` instead")
    p.add_argument("--end", metavar="ISO", help="with --local: end time (default now)")
    add_write_flags(p)
    p.add_argument("--wait", action="store_true", help="follow the Job until it Succeeds or Fails (exit 1 on "
                                                       "failure) and print its log")
    p.add_argument("--timeout", type=positive_float, default=900.0, metavar="SECONDS", help="for --wait and --local")
    p.set_defaults(func=cmd_materialize)


def _schedule(ctx, args) -> tuple[list, Any]:
    if getattr(args, "no_kube", False):
        return [], None
    from mlopstui.backends import feast as fb
    from mlopstui.models import features as m

    try:
        cjs = fb.materialization_cronjobs(ctx.kube, ctx.namespace)
    except MlopsError as exc:
        print(f"warning: materialization CronJobs unknown: {exc.message}", file=sys.stderr)
        return [], None
    return cjs, m.min_schedule_interval(cjs)


def cmd_features(args: argparse.Namespace) -> int:
    from mlopstui.backends import feast as fb
    from mlopstui.models import features as m

    ctx = make_context(args)
    reg = fb.load_registry(ctx)
    cjs, interval = _schedule(ctx, args)
    now = datetime.now(UTC)
    views = [v.to_dict(now, interval) for v in reg.views]
    bad = [v for v in views if v["freshness"] != m.Freshness.FRESH.value]
    data = {"project": reg.project, "repo": reg.repo, "repo_source": reg.repo_source,
            "entities": reg.entities, "feature_services": reg.services, "views": views,
            "cronjobs": [c.to_dict() for c in cjs],
            "schedule_interval_seconds": int(interval.total_seconds()) if interval else None,
            "ok": not bad}

    def text(wide: bool = False) -> str:
        rows = [(v["name"], m.Freshness(v["freshness"]).word, ",".join(v["entities"]),
                 m.fmt_duration(v["ttl_seconds"]) if v["ttl_seconds"] else "-",
                 v["last_materialized_end"] or "never", v["text"],
                 *((v["kind"], "yes" if v["online"] else "no", len(v["features"]), v["source"] or "-")
                   if wide else ())) for v in views]
        out = [f"project {reg.project}  repo {reg.repo} ({reg.repo_source})",
               table(rows, ["view", "freshness", "entities", "ttl", "last end", "status",
                            *(("kind", "online", "features", "source") if wide else ())])]
        for v in bad:
            out.append(f"{v['name']}: {v['reason']}")
        if cjs:
            out.append("materialization: " + ", ".join(f"{c.namespace}/{c.name} '{c.schedule}'" for c in cjs))
        elif not getattr(args, "no_kube", False):
            out.append("materialization: no CronJob runs `feast materialize` in namespace "
                       f"{ctx.namespace} (use `mlopstui materialize --local`)")
        return "\n".join(out)

    emit(args, data, text, wide=lambda: text(True), names=[f"featureview/{v['name']}" for v in views])
    return EXIT_FAILED if bad else EXIT_OK


def _parse_time(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MlopsError(Kind.INVALID, f"{what} must be an ISO time like 2026-01-02T03:04:05, not {value!r}") \
            from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def cmd_materialize(args: argparse.Namespace) -> int:
    from mlopstui.actions.features import MaterializeLocal, TriggerMaterialization
    from mlopstui.backends import feast as fb

    ctx = make_context(args)
    if args.local:
        repo, _ = fb.repo_path(ctx)
        action = MaterializeLocal(repo, _parse_time(args.start, "--start"), _parse_time(args.end, "--end"),
                                  timeout=args.timeout)
        return run_action(args, ctx, action)
    if args.start or args.end:
        raise MlopsError(Kind.INVALID, "--start/--end go with --local (a CronJob's Job uses its own command)")
    name = args.cronjob
    if not name:
        cjs = fb.materialization_cronjobs(ctx.kube, ctx.namespace)
        if len(cjs) != 1:
            found = ", ".join(c.name for c in cjs) or "none"
            raise MlopsError(Kind.INVALID if cjs else Kind.NOT_FOUND,
                             f"materialization CronJobs in namespace {ctx.namespace}: {found}",
                             hint="pick one with --cronjob NAME, another namespace with -n, or run locally "
                                  "with --local")
        name = cjs[0].name
    action = TriggerMaterialization(ctx, ctx.namespace, name)
    plan = action.plan()

    def apply():
        result = action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
        if not args.wait or not result.ok:
            return result
        return _follow(args, ctx, result)

    return confirm_or_print(args, plan, apply, server=lambda: server_dry_run(ctx, action, plan))


def _follow(args: argparse.Namespace, ctx, created):
    """Wait for the created Job; the result says how it ended and carries the log tail."""
    from mlopstui.actions.base import Result
    from mlopstui.backends import feast as fb
    from mlopstui.models import features as m

    job_name = created.data["job"]
    last = [""]

    def progress(job) -> None:
        if job.status != last[0]:
            print(f"job {job.namespace}/{job.name}: {job.status}", file=sys.stderr)
        last[0] = job.status

    job = fb.wait_job(ctx.kube, ctx.namespace, job_name, timeout=args.timeout, on_update=progress)
    log = fb.job_log(ctx.kube, ctx.namespace, job_name)
    if not machine_output(args):
        print(f"--- log of job {job_name} ---\n{m.log_tail(log, 40)}\n---", file=sys.stderr)
    ok = job.status == "Succeeded"
    msg = f"{created.message}; job {job.status}" + (f": {job.message}" if job.message else "")
    return Result(ok, msg, data={**created.data, "status": job.status,
                                 "job_status": job.to_dict(datetime.now(UTC)), "log_tail": m.log_tail(log, 40)})

"""Headless Serving verbs: isvc, canary, promote, rollback, min-replicas, set-model, infer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_global_flags,
    add_write_flags,
    bounded_int,
    confirm_or_print,
    emit,
    listing,
    machine_output,
    make_context,
    positive_float,
    server_dry_run,
    table,
)
from mlopstui.errors import Kind, MlopsError
from mlopstui.models.serving import test_body

ISVC_NAME_KIND = "inferenceservice.serving.kserve.io"
MAX_BURST = 100  # `infer --burst`: a test, not a load generator


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("isvc", help="list InferenceServices: readiness, traffic split, revisions")
    add_global_flags(p, suppress=True)
    p.add_argument("name", nargs="?", help="show one InferenceService in detail")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
    listing(p)
    p.set_defaults(func=cmd_isvc)

    p = sub.add_parser("canary", help="set an InferenceService's canaryTrafficPercent (0..100)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("percent", nargs="?", help="exact percent: a whole number 0..100")
    p.add_argument("--step", type=bounded_int(-100, 100), metavar="N", help="instead of PERCENT: move the canary by N (e.g. 10, -10)")
    _write(p)
    p.set_defaults(func=cmd_canary)

    p = sub.add_parser("promote", help="give the latest revision 100%% (removes canaryTrafficPercent)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    _write(p)
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", help="canary 0: the previous rolled-out revision takes 100%%")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    _write(p)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("min-replicas", help="set spec.predictor.minReplicas")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("replicas")
    _write(p)
    p.set_defaults(func=cmd_min_replicas)

    p = sub.add_parser("set-model", help="serve a new storageUri as the canary (a new revision)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("storage_uri")
    p.add_argument("--percent", default="10", help="canary share for the new model (default 10; 'none': 100%%)")
    _write(p)
    p.set_defaults(func=cmd_set_model)

    p = sub.add_parser("infer", help="send a test inference request (v1 or v2), optionally a burst")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("--protocol", choices=("v1", "v2"), default="v1")
    p.add_argument("--input", metavar="JSON", help="request rows or body (default: settings.inference_sample)")
    p.add_argument("--burst", type=bounded_int(0, MAX_BURST), default=0, metavar="N",
                   help=f"send N requests (at most {MAX_BURST}) and show the split")
    p.add_argument("--direct", action="store_true", help="use the service URL, not the ingress")
    p.add_argument("--timeout", type=positive_float, default=10.0, metavar="SECONDS",
                   help="each request's timeout (default 10; the verb's --deadline bounds them all)")
    p.set_defaults(func=cmd_infer)


def _write(p: argparse.ArgumentParser) -> None:
    add_write_flags(p)
    p.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                   help="follow status until the traffic matches (default 60; 0: do not wait)")


# -- read ------------------------------------------------------------------------------------------
def cmd_isvc(args: argparse.Namespace) -> int:
    from mlopstui.backends.kserve import get_isvc, list_isvcs
    from mlopstui.models.serving import short_revision
    from mlopstui.units import human_age

    ctx = make_context(args)
    if args.name is not None:
        s = get_isvc(ctx.kube, ctx.namespace, args.name)
        emit(args, s.summary(), lambda: detail_text(s), names=[f"{ISVC_NAME_KIND}/{s.name}"])
        return EXIT_OK
    items = list_isvcs(ctx.kube, ctx.namespace, all_namespaces=args.all_namespaces)
    import time

    now = time.time()

    def text(wide: bool = False) -> str:
        if not items:
            return f"no InferenceServices in {'any namespace' if args.all_namespaces else ctx.namespace}"
        rows = []
        for s in items:
            rows.append([*([s.namespace] if args.all_namespaces else []), s.name, s.ready_state,
                         s.mode_class,
                         "-" if s.canary_percent is None else f"{s.canary_percent}%", s.traffic_text(),
                         short_revision(s.latest_ready, s.name), s.min_replicas if s.min_replicas is not None
                         else "-", human_age(now - s.created if s.created else None),
                         *([s.url or "-", s.model_format or "-", s.runtime or "-", s.storage_uri or "-",
                            short_revision(s.latest_created, s.name) or "-",
                            s.max_replicas if s.max_replicas is not None else "-"] if wide else [])])
        headers = [*(["namespace"] if args.all_namespaces else []), "name", "ready", "mode", "canary", "traffic",
                   "latest-ready", "min", "age",
                   *(["url", "format", "runtime", "storage-uri", "latest-created", "max"] if wide else [])]
        return table(rows, headers)

    # -o name as kubectl prints it: `mlopstui isvc -o name | xargs kubectl get` works
    emit(args, {"items": [s.summary() for s in items]}, text, wide=lambda: text(True),
         names=[f"{ISVC_NAME_KIND}/{s.name}" for s in items])
    return EXIT_OK


def detail_text(s) -> str:
    """The same words as the TUI's drill-in (models.serving.detail_lines)."""
    from mlopstui.models.serving import detail_lines

    return "\n".join(detail_lines(s, full=True))


# -- writes ----------------------------------------------------------------------------------------
def run_action(args: argparse.Namespace, ctx, action) -> int:
    """plan -> print/confirm -> apply (re-asking after a conflict) -> follow the status."""
    plan = action.plan()
    outcome: dict[str, Any] = {}

    def apply():
        nonlocal plan
        while True:
            try:
                result = action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
                break
            except MlopsError as exc:
                if exc.kind is not Kind.CONFLICT:
                    raise
                plan = action.replan()
                print("conflict: " + exc.message, file=sys.stderr)
                for c in action.changes:
                    print(f"  changed: {c}", file=sys.stderr)
                if not (sys.stdin.isatty() and not machine_output(args)):
                    raise MlopsError(Kind.CONFLICT, exc.message + "; changed: " + "; ".join(action.changes),
                                     hint="check the change and run the command again") from None
                print(plan.render(), file=sys.stderr)
                if input("apply this new plan? [y/N] ").strip().lower() not in ("y", "yes"):
                    raise MlopsError(Kind.REFUSED, "not applied after the conflict") from None
        if args.wait and result.ok:
            followed = action.follow(timeout=args.wait)
            outcome["follow"] = followed.message
            result.ok = followed.ok
            result.message = f"{result.message}; {followed.message}"
        return result

    return confirm_or_print(args, plan, apply, server=lambda: server_dry_run(ctx, action, plan))


def cmd_canary(args: argparse.Namespace) -> int:
    from mlopstui.actions.serving import SetCanary
    from mlopstui.models.serving import parse_percent

    if args.step is not None and args.percent is not None:
        raise MlopsError(Kind.INVALID, "give either PERCENT or --step, not both")
    if args.step is None:
        parse_percent(args.percent, strict=True)  # refused before any request
    ctx = make_context(args)
    if args.step is not None:
        action = SetCanary(ctx, ctx.namespace, args.name, delta=args.step)
    else:
        action = SetCanary(ctx, ctx.namespace, args.name, percent=parse_percent(args.percent, strict=True))
    return run_action(args, ctx, action)


def cmd_promote(args: argparse.Namespace) -> int:
    from mlopstui.actions.serving import Promote

    ctx = make_context(args)
    return run_action(args, ctx, Promote(ctx, ctx.namespace, args.name))


def cmd_rollback(args: argparse.Namespace) -> int:
    from mlopstui.actions.serving import Rollback

    ctx = make_context(args)
    return run_action(args, ctx, Rollback(ctx, ctx.namespace, args.name))


def cmd_min_replicas(args: argparse.Namespace) -> int:
    from mlopstui.actions.serving import SetMinReplicas

    ctx = make_context(args)
    return run_action(args, ctx, SetMinReplicas(ctx, ctx.namespace, args.name, args.replicas))


def cmd_set_model(args: argparse.Namespace) -> int:
    from mlopstui.actions.serving import SetCanaryModel
    from mlopstui.models.serving import parse_percent, validate_storage_uri

    percent = None if str(args.percent).lower() in ("none", "100%", "all") else parse_percent(args.percent,
                                                                                               strict=True)
    validate_storage_uri(args.storage_uri)  # refused before any request
    ctx = make_context(args)
    return run_action(args, ctx, SetCanaryModel(ctx, ctx.namespace, args.name, args.storage_uri, percent))


# -- inference -------------------------------------------------------------------------------------
def cmd_infer(args: argparse.Namespace) -> int:
    from mlopstui.backends import kserve

    ctx = make_context(args)
    body = test_body(args.input if args.input is not None else ctx.settings.inference_sample, args.protocol)
    isvc = kserve.get_isvc(ctx.kube, ctx.namespace, args.name, with_revisions=False)
    out = kserve.send_test_request(ctx, isvc, args.protocol, body, burst_n=args.burst or 0,
                                   use_ingress=not args.direct, timeout=args.timeout)
    emit(args, out.to_dict(), out.text)
    return EXIT_OK if out.ok else EXIT_FAILED

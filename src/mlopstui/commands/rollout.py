"""Headless progressive canary: `mlopstui rollout NAME --steps 10,25,50,100 --pause 60s ...`.

Exit codes: 0 promoted (or paused at a manual step), 1 rolled back by a gate, 2 refused / bad input,
3 unreachable or no signal (paused: the gates cannot pass), 4 aborted by a concurrent change,
130 interrupted (SIGINT/SIGTERM: the annotation is left paused; `--resume` continues).
`--json` prints one event per line (JSON lines), not one document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlopstui.commands._common import add_global_flags, make_context, note
from mlopstui.errors import Kind, MlopsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="progressive canary: step the traffic, check gates, promote or roll back",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    # unset flags take the settings' `rollout:` defaults (README, settings table)
    p.add_argument("--steps", help="canary percents, the last 100 (default rollout.steps: 10,25,50,100)")
    p.add_argument("--pause", help="measure this long at each step (e.g. 60s, 2m; 'manual'; default rollout.pause)")
    p.add_argument("--max-error-rate", help="canary 5xx/failed share allowed (default rollout.max_error_rate: 1%%)")
    p.add_argument("--max-p95", help="canary p95 latency allowed (e.g. 200ms)")
    p.add_argument("--max-p95-ratio", help="canary p95 allowed relative to stable (e.g. 1.5)")
    p.add_argument("--min-requests", help="canary requests needed before a gate passes (default rollout.min_requests: 20)")
    p.add_argument("--signal", choices=("auto", "prometheus", "pod-metrics", "metrics", "synthetic"),
                   help="where the gates' numbers come from: Prometheus (endpoints.prometheus, else a "
                        "prometheus Service in the cluster), the model servers' /metrics through the API server's "
                        "pods/proxy (pod-metrics; 'metrics' is the same), synthetic requests through the ingress, "
                        "or auto (the first of those that answers; default rollout.signal)")
    p.add_argument("--resume", action="store_true", help="continue the rollout recorded in the annotation")
    p.add_argument("--status", action="store_true", help="only show the rollout recorded in the annotation")
    p.add_argument("--yes", "-y", action="store_true", help="start without asking")
    p.set_defaults(func=cmd_rollout)


def plan_from_args(args: argparse.Namespace, defaults=None):
    """The plan from the flags, each unset one from the settings' `rollout:` section."""
    from mlopstui.config import RolloutDefaults
    from mlopstui.models import rollout as r

    d = defaults or RolloutDefaults()

    def pick(flag: str):
        v = getattr(args, flag, None)
        return getattr(d, flag) if v is None else v

    return r.plan_from(pick("steps"), pick("pause"), pick("max_error_rate"), pick("max_p95"),
                       pick("max_p95_ratio"), pick("min_requests"))


def signal_from_args(args: argparse.Namespace, defaults) -> str:
    sig = getattr(args, "signal", None) or defaults.signal
    return "pod-metrics" if sig == "metrics" else sig


def _printer(args: argparse.Namespace):
    from mlopstui.text import clean

    as_json = bool(getattr(args, "json", False)) or getattr(args, "output", None) == "json"

    def show(ev: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(ev, sort_keys=True, default=str), flush=True)
            return
        kind = ev["event"]
        if kind == "gates":
            meas = ev.get("measured") or {}
            print(clean(f"step {ev['percent']}%: {ev['verdict']} ({meas.get('signal') or meas.get('source', '')})"),
                  flush=True)
            for g in ev["gates"]:
                mark = {True: "ok  ", False: "FAIL", None: "wait"}[g["ok"]]
                print(clean(f"  {mark} {g['gate']}: {g['text']}"), flush=True)
            return
        words = ev.get("message") or ""
        if kind == "step":
            words = f"step {ev['step'] + 1}: canary {ev['percent']}% {ev.get('note', '')}".rstrip()
        elif kind == "started":
            words = f"rollout of {ev['canary']} (stable {ev['stable']})"
        elif kind == "signal":
            words = (f"{ev['signal']}: " if ev.get("signal") else "") + ev["source"] + (
                f" ({ev['note']})" if ev.get("note") else "")
        elif kind == "measuring":
            words = f"measuring {ev['seconds']:g}s: {ev['source']}"
        print(clean(f"{kind}: {words}"), flush=True)

    return show


def cmd_rollout(args: argparse.Namespace) -> int:
    import time

    from mlopstui.actions.rollout import Rollout
    from mlopstui.commands._common import settings_from_args
    from mlopstui.models import rollout as r

    defaults = settings_from_args(args).rollout
    # bad input: exit 2, no request
    plan = None if (args.resume or args.status) else plan_from_args(args, defaults)
    ctx = make_context(args)
    if args.status:
        from mlopstui.backends.kserve import get_isvc

        isvc = get_isvc(ctx.kube, ctx.namespace, args.name, with_revisions=False)
        st = r.RolloutState.from_annotation((isvc.raw.get("metadata") or {}).get("annotations", {}).get(r.ANNOTATION))
        if st is None:
            print(f"{args.name}: no rollout recorded")
            return 0
        show = _printer(args)
        show({"event": "status", "phase": st.effective_phase(time.time()), "message": st.summary_text(time.time()),
              "gates": st.gates, "measured": st.measured})
        return 0
    if ctx.readonly:
        raise MlopsError(Kind.REFUSED, f"read-only mode: refusing to roll out {args.name}",
                         hint="restart without --readonly to make changes")
    if not args.yes:
        what = "resume the recorded rollout" if args.resume else f"roll out with {plan.text()}"
        print(f"rollout {ctx.namespace}/{args.name}: {what}\n(not started: pass --yes)", file=sys.stderr)
        return 2
    # the deadline covers the whole rollout: steps x (follow + pause x 3 + 30 s bound)
    from mlopstui import deadline

    p = plan
    if p is not None:
        deadline.start(ctx.settings.deadline + len(p.steps) * (r.FOLLOW_S + 30.0 + r.measure_bound(p.pause_s)))
    else:
        deadline.start(None)
    if plan is not None:
        note(f"rollout plan: {plan.text()}")
    import signal

    def _term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)  # `kill PID`: leave a paused rollout, as Ctrl-C does
    outcome = Rollout(ctx, ctx.namespace, args.name, plan, resume=args.resume, on_event=_printer(args),
                      signal=signal_from_args(args, defaults)).run()
    print(outcome.message, file=sys.stderr)
    return outcome.code

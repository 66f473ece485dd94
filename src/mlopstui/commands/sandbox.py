"""`mlopstui sandbox up|down|status|env`: the local stand-in cluster and services."""

from __future__ import annotations

import argparse
import sys

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_global_flags,
    emit,
    listing,
    machine_output,
    table,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sandbox", help="run a local sandbox: Kubernetes API emulator, S3, MLflow, Feast, KServe",
        description="Local sandbox: Kubernetes API emulator, S3 (moto), MLflow tracking server, "
                    "Feast repository, two KServe model servers and an ingress gateway stand-in, "
                    "seeded like the platform of the seed document. State persists in --dir "
                    "(default: $MLOPSTUI_SANDBOX_DIR or the XDG data dir).")
    sub = p.add_subparsers(dest="sandbox_verb", metavar="ACTION", required=True)

    def add(name: str, help_: str, func) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        add_global_flags(sp, suppress=True)
        sp.add_argument("--dir", metavar="DIR", default=None, help="sandbox directory")
        sp.set_defaults(func=func)
        return sp

    up = add("up", "start every part (idempotent), seed on first start", _up)
    up.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for readiness")
    up.add_argument("--scale", type=_bounded_float(0.01, 4.0), default=0.0, metavar="N",
                    help="also seed a platform-sized cluster into the emulator, once (1 = 200 namespaces, 5,000 "
                         "pods, 1,000 Deployments/StatefulSets, 500 InferenceServices with revisions, 200 "
                         "CronJobs/Jobs, 2,000 Events); for the benches, never the test run")
    add("down", "stop every part (state is kept)", _down)
    listing(add("status", "show each part: running, ready, address", _status))
    env = add("env", "print `export` lines for eval (contains the S3 secret)", _env)
    env.add_argument("--kubeconfig-only", action="store_true",
                     help="the bastion mode: only KUBECONFIG and S3 credentials, no endpoint URL (every "
                          "endpoint is then reached through the API server)")
    tr = add("traffic", "send inference requests through the ingress for a while (live signals for rollouts)",
             _traffic)
    tr.add_argument("name", nargs="?", default="fraud-detection", help="InferenceService (default fraud-detection)")
    tr.add_argument("--rps", type=_bounded_float(0.1, MAX_TRAFFIC_RPS), default=10.0,
                    help=f"requests per second (at most {MAX_TRAFFIC_RPS:g}; default 10)")
    tr.add_argument("--duration", type=_bounded_float(0.1, MAX_TRAFFIC_S), default=30.0,
                    help=f"seconds (at most {MAX_TRAFFIC_S:g}; default 30)")


MAX_TRAFFIC_RPS = 50.0
MAX_TRAFFIC_S = 600.0


def _bounded_float(low: float, high: float):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}..{high:g}, not {text!r}")
        return v

    return parse


def _traffic(args: argparse.Namespace) -> int:
    """Bounded load through the ingress (the sandbox's config unless --config): per-revision counts."""
    from mlopstui import deadline
    from mlopstui.backends.kserve import get_isvc
    from mlopstui.backends.signals import SyntheticSignal
    from mlopstui.commands._common import make_context
    from mlopstui.sandbox import manager

    if getattr(args, "config", None) is None:
        args.config = str(manager.resolve_dir(args.dir) / "mlopstui.yaml")
    ctx = make_context(args)
    deadline.start(ctx.settings.deadline + args.duration)
    isvc = get_isvc(ctx.kube, ctx.namespace, args.name, with_revisions=False)
    sig = SyntheticSignal(ctx, isvc)
    per_rev = sig.collect(args.duration, max_seconds=args.duration, rps=args.rps)
    data = {"source": sig.source, "revisions": {k: v.to_dict() for k, v in sorted(per_rev.items())}}

    def text() -> str:
        rows = [(k, f"{v.requests:g}", f"{v.errors:g}", "-" if v.p95_ms is None else f"{v.p95_ms:.0f}ms")
                for k, v in sorted(per_rev.items())]
        return f"{sig.source}\n" + table(rows, ["revision", "requests", "errors", "p95"])

    emit(args, data, text)
    return EXIT_OK


def _up(args: argparse.Namespace) -> int:
    from mlopstui.sandbox import manager
    from mlopstui.sandbox.procs import SandboxError

    quiet = machine_output(args)

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    try:
        info = manager.up(args.dir, timeout=args.timeout, log=log, scale=args.scale)
    except (SandboxError, ImportError) as exc:  # `up` stopped whatever it had started
        part = getattr(exc, "part", None)
        if quiet:
            emit(args, {"error": {"kind": "sandbox", "part": part, "message": str(exc)}}, "")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, manager.MissingExtraError) else EXIT_FAILED
    data = {
        "dir": str(info.dir), "kubeconfig": str(info.kubeconfig), "config": str(info.config_path),
        "context": info.context, "namespace": info.namespace, "parts": info.parts,
        "started": info.started, "seeded_now": info.seeded_now,
    }

    def text() -> str:
        rows = [(n, a) for n, a in info.parts.items()]
        return (table(rows, ["part", "address"])
                + f"\n\nsandbox ready in {info.dir}"
                + f"\nkubeconfig: {info.kubeconfig} (context {info.context})"
                + f"\nconfig:     {info.config_path}"
                + f"\nuse:        eval \"$(mlopstui sandbox env --dir {info.dir})\"; mlopstui")

    emit(args, data, text)
    return EXIT_OK


def _down(args: argparse.Namespace) -> int:
    from mlopstui.sandbox import manager

    result = manager.down(args.dir)
    ok = all(v != "still running" for v in result.values())
    emit(args, {"dir": str(manager.resolve_dir(args.dir)), "parts": result},
         lambda: table(sorted(result.items()), ["part", "result"]) if result else "nothing to stop")
    return EXIT_OK if ok else EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from mlopstui.sandbox import manager

    st = manager.status(args.dir)

    def text() -> str:
        if not st["parts"]:
            return f"no sandbox in {st['dir']} (run `mlopstui sandbox up`)"
        rows = [(n, "yes" if p["running"] else "no", "yes" if p["ready"] else "no", p["pid"] or "-", p["address"])
                for n, p in st["parts"].items()]
        return table(rows, ["part", "running", "ready", "pid", "address"]) + \
            f"\n\ndir: {st['dir']}  seeded: {'yes' if st['seeded'] else 'no'}"

    def wide() -> str:
        if not st["parts"]:
            return text()
        rows = [(n, "yes" if p["running"] else "no", "yes" if p["ready"] else "no", p["pid"] or "-", p["address"],
                 p["port"] or "-", p["log"]) for n, p in st["parts"].items()]
        return table(rows, ["part", "running", "ready", "pid", "address", "port", "log"])

    emit(args, st, text, wide=wide, names=[f"part/{n}" for n in st["parts"]])
    all_ready = bool(st["parts"]) and all(p["ready"] for p in st["parts"].values())
    return EXIT_OK if all_ready else EXIT_FAILED


def _env(args: argparse.Namespace) -> int:
    import shlex

    from mlopstui.sandbox import manager
    from mlopstui.sandbox.procs import SandboxError

    try:
        env = manager.env_of(args.dir, kubeconfig_only=args.kubeconfig_only)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    emit(args, {"env": env}, "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items())).rstrip("\n"))
    return EXIT_OK

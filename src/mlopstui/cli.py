"""`mlopstui`: the TUI with no verb, headless verbs for scripts.

Importing this module must stay cheap: `mlopstui --help` answers without loading any SDK.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mlopstui import __version__
from mlopstui.commands._common import add_global_flags

# modules that add verbs; each has register(subparsers)
COMMAND_MODULES = (
    "mlopstui.commands.sandbox",
    "mlopstui.commands.stack",
    "mlopstui.commands.experiments",
    "mlopstui.commands.features",
    "mlopstui.commands.serving",
    "mlopstui.commands.rollout",
    "mlopstui.commands.pipelines",
    "mlopstui.commands.repair",
    "mlopstui.commands.install",
    "mlopstui.commands.data",
    "mlopstui.commands.completion",
)

# which module registers each verb: a one-shot verb builds only its own module's parsers (`mlopstui isvc`
# imports no other command module); --help, completion and an unknown verb build them all.
# tests/unit/test_cli.py checks this table against what the modules register.
VERBS = {
    "sandbox": "sandbox", "doctor": "stack", "status": "stack",
    **dict.fromkeys(("experiments", "models", "run", "runs"), "experiments"),
    **dict.fromkeys(("features", "materialize"), "features"),
    **dict.fromkeys(("canary", "infer", "isvc", "min-replicas", "promote", "rollback", "set-model"), "serving"),
    "rollout": "rollout",
    **dict.fromkeys(("cron-workflows", "resubmit", "resume", "retry", "stop", "submit", "suspend", "terminate",
                     "workflow", "workflow-logs", "workflow-templates", "workflows"), "pipelines"),
    "repair": "repair", "install": "install", "dvc": "data", "lakefs": "data", "completion": "completion",
}
# the global flags that take a value (the verb is the first word that is neither a flag nor such a value)
_VALUE_FLAGS = ("--config", "--kubeconfig", "--context", "-n", "--namespace", "--as", "--as-group", "--route",
                "-o", "--output", "--deadline")

EPILOG = """exit codes: 0 ok, 1 check failed or findings, 2 usage error or refused, 3 unreachable.
With no verb, opens the TUI. Environment: KUBECONFIG, MLFLOW_TRACKING_URI, MLFLOW_S3_ENDPOINT_URL,
AWS_*, FEAST_REPO_PATH, MLOPSTUI_* (settings), NO_COLOR."""


def verb_of(argv: list[str]) -> str | None:
    """The verb argv names (None: no verb, or --help/--version before it)."""
    it = iter(argv)
    for tok in it:
        if tok in ("-h", "--help", "--version"):
            return None
        if tok in _VALUE_FLAGS:
            next(it, None)
        elif not tok.startswith("-"):
            return tok
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given argv that names a known verb, only that verb's module registers (a one-shot verb
    does not import every command module)."""
    verb = verb_of(argv) if argv is not None else None
    only = f"mlopstui.commands.{VERBS[verb]}" if verb in VERBS else None
    # no verb and no --help: the TUI, which needs no verb's parser (importing every command module cost its
    # first frame ~40 ms of CPU, bench/bench_startup.py)
    tui = argv is not None and verb is None and not {"-h", "--help"} & set(argv)
    parser = argparse.ArgumentParser(
        prog="mlopstui",
        description="A keyboard-driven control plane for a private MLOps stack on Kubernetes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_flags(parser)
    parser.add_argument("--sandbox", action="store_true",
                        help="bring the local sandbox stack up if needed and open the TUI on it")
    parser.add_argument("--version", action="version", version=f"mlopstui {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    v = sub.add_parser("version", help="print the version")
    add_global_flags(v, suppress=True)
    v.set_defaults(func=_version)
    for modname in COMMAND_MODULES:
        if tui or (only is not None and modname != only):
            continue
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue  # that area has no verbs yet
            raise
        mod.register(sub)
    return parser


def _version(args: argparse.Namespace) -> int:
    from mlopstui.commands._common import emit

    emit(args, {"version": __version__}, f"mlopstui {__version__}")
    return 0


def _join_dash_values(argv: list[str]) -> list[str]:
    """`--order-by -accuracy` (the documented descending form): argparse would take the value for an
    option; join such values to their flag (`--order-by=-accuracy`)."""
    out: list[str] = []
    it = iter(argv)
    for tok in it:
        if tok in DASH_VALUE_FLAGS:
            nxt = next(it, None)
            if nxt is not None and nxt.startswith("-") and len(nxt) > 1 and not nxt.startswith("--"):
                out.append(f"{tok}={nxt}")
                continue
            out.append(tok)
            if nxt is not None:
                out.append(nxt)
            continue
        out.append(tok)
    return out


DASH_VALUE_FLAGS = ("--order-by",)


def _control_characters(argv: list[str]) -> tuple[str, list[str]] | None:
    """The first argument holding terminal control characters (newline and tab are allowed: JSON input)."""
    from mlopstui.text import control_chars

    for tok in argv:
        bad = [c for c in control_chars(tok) if c not in ("\\n", "\\t")]
        if bad:
            from mlopstui.text import clean_line

            shown = clean_line(tok)
            return (shown if len(shown) <= 60 else shown[:57] + "..."), bad
    return None


def main(argv: list[str] | None = None) -> int:
    """The `mlopstui` command (argv None: sys.argv, the program itself) or, given argv, the same in-process."""
    code = _main(argv)
    if argv is None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """A run of the program ends here rather than in the interpreter's teardown of every module it imported
    (measured: ~20 ms of CPU after a headless verb, a sixth of its whole run; bench/bench_headless.py): the
    output flushed and the atexit handlers run (the app log's, temporary files'), as at a normal exit. Only
    when no other thread is alive (a normal exit waits for non-daemon threads, and this keeps that) and the
    output flushed cleanly (a closed pipe takes the normal path and its message)."""
    import threading

    if threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    completing = argv is None and "_ARGCOMPLETE" in os.environ
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(None if completing else argv)
    if completing:  # the shell asks for completions (TAB)
        from mlopstui.commands.completion import autocomplete

        autocomplete(parser)
    bad = _control_characters(argv)
    if bad:  # a value with ESC & co. would reach the cluster, a store or a log: refused, nothing sent
        print(f"mlopstui: error: argument {bad[0]!r} holds control characters ({', '.join(bad[1])}); "
              "nothing was sent", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(_join_dash_values(argv))
        if getattr(args, "dry_run", None) == "none":  # kubectl's --dry-run=none: a real write
            args.dry_run = None
        fmt = getattr(args, "output", None)
        if args.verb is not None and fmt in ("wide", "name") and not getattr(args, "listing", False):
            parser.error(f"-o {fmt} is for listing verbs (status, doctor, experiments, runs, models, features, "
                         f"isvc, repair, install --list, sandbox status, ...); `{args.verb}` takes -o json|yaml")
    except SystemExit as exc:  # usage errors (2), --help/--version (0): a code, in-process too
        return exc.code if isinstance(exc.code, int) else 2
    if args.verb is None:
        return run_tui(args)
    from mlopstui import deadline
    from mlopstui.commands._common import fail, verb_contexts
    from mlopstui.errors import Kind, MlopsError
    from mlopstui.logs import setup_logging

    setup_logging(None)
    try:
        with verb_contexts():
            return int(args.func(args) or 0)
    except MlopsError as err:
        return fail(args, err)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the person, the traceback in the app log
        import logging

        from mlopstui.secrets import mask_text

        logging.getLogger("mlopstui").exception("internal error in %s", args.verb)
        return fail(args, MlopsError(Kind.ERROR, f"internal error in {args.verb}: {type(exc).__name__}: "
                                     f"{mask_text(str(exc))}",
                                     hint="this is a bug in mlopstui; the traceback is in the app log"))
    finally:
        deadline.clear()


def run_tui(args: argparse.Namespace) -> int:
    from mlopstui.errors import MlopsError
    from mlopstui.logs import setup_logging

    if args.sandbox:
        from mlopstui.sandbox.manager import MissingExtraError, ensure_up
        from mlopstui.sandbox.procs import SandboxError

        print("bringing the sandbox up (first time: a minute or two) ...", file=sys.stderr)
        try:
            info = ensure_up()
        except SandboxError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, MissingExtraError) else 1
        os.environ.update(info.env)
        if not args.config:
            args.config = str(info.config_path)
        if not args.kubeconfig:
            args.kubeconfig = str(info.kubeconfig)
    from mlopstui.commands._common import settings_from_args

    try:
        settings = settings_from_args(args)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    from mlopstui.memory import pause_for_startup, startup_done

    pause_for_startup()  # until the first rows (mlopstui/memory.py); the app resumes it
    from mlopstui.app import MlopsApp

    try:
        MlopsApp(settings).run()
    except MlopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        startup_done()
    return 0


if __name__ == "__main__":
    sys.exit(main())

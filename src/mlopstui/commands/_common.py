"""Shared plumbing of the headless verbs: settings from flags, one output convention, exit codes.

Exit codes: 0 ok, 1 a check failed or findings, 2 usage error or refused, 3 unreachable.
Output as kubectl's ``-o``: the default table; ``-o wide`` more columns; ``-o name`` one ``kind/name``
a line (listing verbs); ``-o json`` (alias ``--json``) / ``-o yaml`` one document on stdout carrying
``schemaVersion`` (SCHEMA_VERSION: scripts can pin it). Errors always go to stderr; with
``-o json|yaml`` the error is also a document on stdout: {"schemaVersion", "error": {"kind",
"message", "hint"}}.
Text output goes through mlopstui.text.clean (no server-provided escape sequence reaches the terminal);
JSON and YAML stay JSON and YAML (both escape control characters).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.text import clean

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# the version of every JSON/YAML document's shape; bumped when a key is removed or changes meaning
SCHEMA_VERSION = "mlopstui/v1"
OUTPUT_FORMATS = ("json", "yaml", "wide", "name")
LISTING_ONLY = ("wide", "name")

_KIND_EXIT = {Kind.UNREACHABLE: EXIT_UNREACHABLE, Kind.TIMEOUT: EXIT_UNREACHABLE,
              Kind.REFUSED: EXIT_USAGE, Kind.INVALID: EXIT_USAGE, Kind.CONFIG: EXIT_USAGE,
              Kind.UNSUPPORTED: EXIT_USAGE}


def exit_code_for(err: MlopsError) -> int:
    return _KIND_EXIT.get(err.kind, EXIT_FAILED)


def settings_from_args(args: argparse.Namespace):  # -> Settings
    """The settings of this invocation, for the CLI and the TUI alike (config.load resolves
    --config / $MLOPSTUI_CONFIG / XDG). A -n/--namespace that Kubernetes would refuse is refused here."""
    from mlopstui import config

    namespace = getattr(args, "namespace", None)
    if namespace is not None:
        from mlopstui.backends.kube import check_namespace

        check_namespace(namespace)
    return config.load(
        getattr(args, "config", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=namespace,
        readonly=True if getattr(args, "readonly", False) else None,
        deadline=getattr(args, "deadline", None),
        **route_flags(args),
    )


def make_context(args: argparse.Namespace):  # -> AppContext
    from mlopstui import deadline
    from mlopstui.context import AppContext

    settings = settings_from_args(args)
    if settings.readonly and getattr(args, "yes", False):
        # read-only refuses every change before any request is sent (README, Security model)
        raise MlopsError(Kind.REFUSED, f"read-only mode: refusing `{getattr(args, 'verb', 'this verb')} --yes`; "
                         "nothing was sent", hint="restart without --readonly to make changes (--dry-run shows "
                                                  "the plan)")
    opened = _OPENED.get()
    if opened is not None:  # inside cli.main: the verb's deadline (cleared, the context closed, at its end)
        deadline.start(settings.deadline + _explicit_wait(args))
    ctx = AppContext.create(settings, direct_http=True)
    if opened is not None:
        opened.append(ctx)
    return ctx


# the contexts make_context opened for the verb cli.main runs (None outside it: the caller closes its own)
_OPENED: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("mlopstui_opened", default=None)


@contextlib.contextmanager
def verb_contexts() -> Iterator[None]:
    """Around one verb: every context make_context opens meanwhile is closed at the end (its connection
    pools, local forwards and relays, the clients it owns), whatever the verb's outcome."""
    opened: list[Any] = []
    token = _OPENED.set(opened)
    try:
        yield
    finally:
        _OPENED.reset(token)
        for ctx in reversed(opened):
            ctx.close(final=True)


def _explicit_wait(args: argparse.Namespace) -> float:
    """A verb's own --wait (serving: seconds; materialize: --wait with --timeout) adds to its deadline."""
    wait = getattr(args, "wait", None)
    if wait is True:
        return float(getattr(args, "timeout", 0) or 0)
    if isinstance(wait, (int, float)) and not isinstance(wait, bool):
        return max(float(wait), 0.0)
    return 0.0


def route_flags(args: argparse.Namespace) -> dict[str, Any]:
    """--as / --as-group / --route as settings (None: not given, the file or env decides)."""
    return {"impersonate_user": getattr(args, "as_user", None),
            "impersonate_groups": getattr(args, "as_groups", None) or None,
            "route": getattr(args, "route", None)}


def output_format(args: argparse.Namespace) -> str | None:
    """json | yaml | wide | name, or None for the default table (``--json`` is ``-o json``)."""
    out = getattr(args, "output", None)
    return "json" if getattr(args, "json", False) and not out else out


def machine_output(args: argparse.Namespace) -> bool:
    """True when stdout carries one JSON/YAML document (progress notes stay off stdout)."""
    return output_format(args) in ("json", "yaml")


def document(data: Any) -> Any:
    """The document of -o json|yaml: data with ``schemaVersion`` first."""
    if isinstance(data, dict):
        return {"schemaVersion": SCHEMA_VERSION, **data}
    return {"schemaVersion": SCHEMA_VERSION, "items": data}


def dump(args: argparse.Namespace, data: Any) -> None:
    doc = document(data)
    if output_format(args) == "yaml":
        import yaml

        print(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False,
                             allow_unicode=True).rstrip("\n"))
    else:
        print(json.dumps(doc, indent=2, sort_keys=True, default=str))


def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str], *,
         wide: str | Callable[[], str] | None = None,
         names: Sequence[str] | Callable[[], Sequence[str]] | None = None) -> None:
    """Print data as a JSON/YAML document (-o json|yaml, --json), else the human text.

    Listing verbs also give ``wide`` (the table with more columns) and ``names`` (``kind/name``
    of each listed object, for ``-o name``); main() refuses -o wide|name on other verbs.
    """
    fmt = output_format(args)
    if fmt in ("json", "yaml"):
        dump(args, data)
        return
    if fmt == "name" and names is not None:
        items = names() if callable(names) else names
        if items:
            print(clean("\n".join(items)))
        return
    if fmt == "wide" and wide is not None:
        text = wide
    print(clean(text() if callable(text) else text))


def note(text: str) -> None:
    """A line on stderr (where the data came from, progress), terminal-safe."""
    print(clean(text), file=sys.stderr)


def fail(args: argparse.Namespace, err: MlopsError) -> int:
    """The error on stderr; with -o json|yaml also as a document on stdout."""
    if machine_output(args):
        dump(args, {"error": err.to_dict()})
    print(clean(f"error: {err.message}"), file=sys.stderr)
    if err.outcome:
        print(f"outcome: {err.outcome}", file=sys.stderr)
    if err.hint:
        print(clean(f"hint: {err.hint}"), file=sys.stderr)
    return exit_code_for(err)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Plain aligned columns, kubectl-style."""
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells)


def server_dry_run(ctx, action, plan):  # -> Result
    """--dry-run=server: the action's writes go to the API server with dryRun=All (validated and
    admitted, nothing persisted), as kubectl's. Nothing changes, so nothing is audited."""
    if ctx.readonly:
        raise MlopsError(Kind.REFUSED, f"read-only mode: refusing to send {plan.action} to {plan.target}",
                         hint="use --dry-run=client, or restart without --readonly")
    ctx.kube.dry_run_all = True
    try:
        return action._apply(plan)
    finally:
        ctx.kube.dry_run_all = False


def confirm_or_print(args: argparse.Namespace, plan, apply: Callable[[], Any], *,
                     server: Callable[[], Any] | None = None) -> int:
    """The CLI side of plan -> confirm -> apply: --dry-run[=client] prints the plan, --dry-run=server
    also sends it with dryRun=All (``server``: e.g. server_dry_run), --yes applies it."""
    if getattr(args, "dry_run", None) == "server":
        if server is None:
            raise MlopsError(Kind.INVALID, f"--dry-run=server: {plan.action} is not an API server write",
                             hint="use --dry-run (client)")
        result = server()
        emit(args, {"plan": plan.to_dict(), "applied": False, "dryRun": "server", "result": result.to_dict()},
             plan.render() + f"\nserver dry run (dryRun=All, nothing persisted): {result.message}")
        return EXIT_OK if result.ok else EXIT_FAILED
    if getattr(args, "dry_run", False) or not getattr(args, "yes", False):
        emit(args, {"plan": plan.to_dict(), "applied": False},
             plan.render() + ("\n(dry run: nothing changed)" if getattr(args, "dry_run", False)
                              else "\n(not applied: pass --yes to apply, --dry-run to only show the plan)"))
        return EXIT_OK if getattr(args, "dry_run", False) else EXIT_USAGE
    result = apply()
    emit(args, {"plan": plan.to_dict(), "applied": True, "result": result.to_dict()},
         plan.render() + f"\napplied: {result.message}")
    return EXIT_OK if result.ok else EXIT_FAILED


def run_action(args: argparse.Namespace, ctx, action, plan=None, *, server: bool = False) -> int:
    """One write verb's plan -> confirm -> apply: plan (unless given), then confirm_or_print, applying with the
    context's read-only flag and audit log; server=True: --dry-run=server sends the plan with dryRun=All."""
    plan = action.plan() if plan is None else plan
    return confirm_or_print(args, plan, lambda: action.apply(plan, readonly=ctx.readonly, audit=ctx.audit),
                            server=(lambda: server_dry_run(ctx, action, plan)) if server else None)


def add_global_flags(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """The global flags, accepted before or after the verb (verbs call this with suppress=True)."""
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--config", metavar="PATH", default=d, help="settings file (YAML)")
    p.add_argument("--kubeconfig", metavar="PATH", default=d, help="kubeconfig file (default: $KUBECONFIG)")
    p.add_argument("--context", metavar="NAME", default=d, help="kubeconfig context")
    p.add_argument("-n", "--namespace", metavar="NS", default=d, help="namespace")
    p.add_argument("--as", dest="as_user", metavar="USER", default=d,
                   help="act as this user (impersonation, as kubectl --as)")
    p.add_argument("--as-group", dest="as_groups", metavar="GROUP", action="append", default=d,
                   help="act as a member of this group (repeatable, as kubectl --as-group)")
    p.add_argument("--route", choices=("auto", "direct", "api"), default=d,
                   help="reach endpoints directly, through the API server (proxy/port-forward), or auto")
    p.add_argument("--readonly", action="store_true", default=d if suppress else False,
                   help="refuse every change")
    p.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default=d, metavar="FORMAT",
                   help="json|yaml (one document with schemaVersion), wide (more columns), name "
                        "(kind/name a line); wide and name on listing verbs")
    p.add_argument("--json", action="store_true", default=d if suppress else False,
                   help="the same as -o json")
    p.add_argument("--deadline", type=positive_float, metavar="SECONDS", default=d,
                   help="the whole verb ends within this (default: settings.deadline, 60)")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (timeouts, deadlines)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, not {text!r}")
    return value


def bounded_int(low: int, high: int | None = None):
    """argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        t = text.strip() if text == text.strip() else None
        if t is None or not t.lstrip("-").isdigit() or len(t) > 12:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}")
        value = int(t)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {value}")
        return value

    return parse


def listing(p: argparse.ArgumentParser) -> None:
    """Mark a verb as a listing verb: -o wide and -o name are accepted."""
    p.set_defaults(listing=True)


def not_listing(args: argparse.Namespace, is_listing: bool, form: str) -> None:
    """A verb that lists only in one form (``form``) refuses -o wide|name in the others: exit 2."""
    fmt = output_format(args)
    if fmt in LISTING_ONLY and not is_listing:
        raise MlopsError(Kind.INVALID, f"-o {fmt} is for listings ({form}); use -o json|yaml here")


def add_write_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dry-run", nargs="?", const="client", default=None, choices=("none", "client", "server"),
                   metavar="client|server",
                   help="as kubectl: client (the default of a bare --dry-run) prints the plan; server also "
                        "sends it with dryRun=All (the API server validates it, nothing persists)")
    g.add_argument("--yes", "-y", action="store_true", help="apply without asking")

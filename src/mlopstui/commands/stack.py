"""Headless verbs of the Stack area: `status` (the component table) and `doctor` (the findings)."""

from __future__ import annotations

import argparse

from mlopstui.commands._common import EXIT_FAILED, EXIT_OK, add_global_flags, emit, make_context, table


def add_scope_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("-A", "--all-namespaces", action="store_true", default=argparse.SUPPRESS,
                   help="every namespace (the default; with -n NS only that namespace is read)")


def scope_of(args: argparse.Namespace) -> str | None:
    """The one namespace to read: `-n NS` given on the command line (not a config file's namespace), unless
    `-A`; None: every namespace."""
    if getattr(args, "all_namespaces", False):
        return None
    return getattr(args, "namespace", None) or None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="every component of the stack: installed, ready, live probe, version",
                       description="The Stack table. Exit 1 when an installed component is unhealthy, "
                                   "3 when the cluster is unreachable. -n NS: only that namespace; "
                                   "-A / no -n: all namespaces.")
    add_global_flags(p, suppress=True)
    add_scope_flag(p)
    p.set_defaults(func=cmd_status)

    d = sub.add_parser("doctor", help="check the stack for known failure modes; exit 1 on any error finding",
                       description="Run every doctor rule over the cluster objects and live probes. -n NS: "
                                   "only that namespace; -A / no -n: all namespaces.")
    add_global_flags(d, suppress=True)
    add_scope_flag(d)
    d.add_argument("--component", metavar="ID", help="only findings of this component (mlflow, redis, ...)")
    d.add_argument("--severity", choices=("error", "warning", "info"), default="info",
                   help="lowest severity to show (default: info)")
    d.add_argument("--rules", action="store_true", help="list the rules and exit")
    d.set_defaults(func=cmd_doctor)


def _sweep(args: argparse.Namespace):
    from mlopstui.backends.stack import sweep
    from mlopstui.errors import MlopsError

    ctx = make_context(args)
    report = sweep(ctx, namespace=scope_of(args))
    if report.state.error is not None and not any(c.probe.ok for c in report.components):
        err = report.state.error
        raise MlopsError(err.kind, f"cannot read the cluster: {err.message}", hint=err.hint or
                         "check --kubeconfig/--context, or that the API server is up")
    return report


def status_rows(report) -> list[list[str]]:
    from mlopstui.models.stack import HEALTH_SYMBOL
    from mlopstui.widgets.age import human_age

    rows = []
    for c in report.components:
        wf = c.worst_finding
        rows.append([
            f"{HEALTH_SYMBOL[c.health]} {c.spec.title}", "yes" if c.installed else "no",
            f"{c.ready}/{c.desired}" if c.installed else "-",
            str(c.restarts) + (f" {c.problem}" if c.problem else "") if c.installed else "-",
            c.probe.summary if c.probe.state.value != "skipped" else c.probe.summary or "-",
            (f"{c.version} ({c.version_source})" if c.version_source else c.version)
            if c.installed or c.probe.ok else "-",
            f"{wf.severity.value}: {wf.summary}" if wf else "-",
            human_age(c.age) if c.installed else "-",
        ])
    return rows


def cmd_status(args: argparse.Namespace) -> int:
    from mlopstui.models.stack import Health

    report = _sweep(args)
    doc = report.to_dict()

    def text() -> str:
        out = f"scope: {report.scope}\n" + table(status_rows(report), [
            "component", "installed", "ready", "restarts", "probe", "version (from)", "finding", "age"])
        if report.state.error is not None:
            out += f"\ncluster: {report.state.error.kind.value}: {report.state.error.message}"
        n = doc["findings"]
        out += f"\nfindings: {n['error']} errors, {n['warning']} warnings, {n['info']} info (mlopstui doctor)"
        return out

    emit(args, doc, text)
    bad = any(c.health is Health.ERROR for c in report.components)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from mlopstui.doctor import Severity, rules
    from mlopstui.secrets import scrub

    if args.rules:
        rs = rules()
        emit(args, [{"id": r.id, "component": r.component, "title": r.title} for r in rs],
             lambda: table([[r.id, r.component, r.title] for r in rs], ["rule", "component", "checks"]))
        return EXIT_OK
    report = _sweep(args)
    floor = Severity(args.severity).rank
    found = [f for f in report.findings if f.severity.rank <= floor
             and (not args.component or f.component == args.component)]
    errors = sum(1 for f in found if f.severity is Severity.ERROR)
    doc = scrub({"scope": report.scope, "findings": [f.to_dict() for f in found], "errors": errors,
                 "warnings": sum(1 for f in found if f.severity is Severity.WARNING),
                 "cluster_error": report.state.error.to_dict() if report.state.error else None})

    def text() -> str:
        if not found:
            return f"no findings ({report.scope})"
        body = "\n\n".join(f.render() for f in found)
        return body + f"\n\n{report.scope}: {errors} errors, {doc['warnings']} warnings, {len(found) - errors - doc['warnings']} info"

    emit(args, doc, text)
    return EXIT_FAILED if errors else EXIT_OK

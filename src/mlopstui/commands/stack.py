"""Headless verbs of the Stack area: `status` (the component table) and `doctor` (the findings)."""

from __future__ import annotations

import argparse

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    add_global_flags,
    emit,
    listing,
    make_context,
    table,
)


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
    listing(p)
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
    listing(d)
    d.set_defaults(func=cmd_doctor)


def _sweep(args: argparse.Namespace):
    from mlopstui.backends.stack import sweep

    ctx = make_context(args)
    return sweep(ctx, namespace=scope_of(args))


def cluster_unreadable(report) -> str | None:
    """The top line when the cluster could not be read at all (refused, bad token, hung, 500, garbage):
    every component would show "installed no", which is not the truth, so the verb exits 3."""
    err = report.state.error
    if err is None:
        return None
    return (f"CLUSTER UNREADABLE ({err.kind.value}): {err.message}\n"
            f"  {err.hint or 'check --kubeconfig/--context, or that the API server is up'}; "
            "the table below holds only live probes, not what is installed")


def status_wide_rows(report) -> list[list[str]]:
    """status_rows plus where each component runs, its images and where its probe went."""
    rows = status_rows(report)
    for row, c in zip(rows, report.components, strict=True):
        row += [", ".join(f"{w.kind}/{w.namespace}/{w.name}" for w in c.workloads) or "-",
                ", ".join(sorted({i for w in c.workloads for i in w.images})) or "-",
                c.probe.target or "-", c.probe.source or "-"]
    return rows


def status_rows(report) -> list[list[str]]:
    from mlopstui.models.stack import HEALTH_SYMBOL
    from mlopstui.units import human_age

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

    top = cluster_unreadable(report)

    def text(wide: bool = False) -> str:
        headers = ["component", "installed", "ready", "restarts", "probe", "version (from)", "finding", "age"]
        out = table(status_wide_rows(report), [*headers, "workloads", "images", "endpoint", "endpoint from"]) \
            if wide else table(status_rows(report), headers)
        out = f"scope: {report.scope}\n" + out
        if top:
            out = top + "\n" + out
        n = doc["findings"]
        out += f"\nfindings: {n['error']} errors, {n['warning']} warnings, {n['info']} info (mlopstui doctor)"
        return out

    emit(args, doc, text, wide=lambda: text(True), names=[f"component/{c.id}" for c in report.components])
    if top:
        return EXIT_UNREACHABLE
    bad = any(c.health is Health.ERROR for c in report.components)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from mlopstui.doctor import Severity

    # the function: once a rule module is imported, `mlopstui.doctor.rules` is the subpackage
    from mlopstui.doctor.registry import rules
    from mlopstui.secrets import scrub

    if args.rules:
        rs = rules()
        emit(args, {"rules": [{"id": r.id, "component": r.component, "title": r.title} for r in rs]},
             lambda: table([[r.id, r.component, r.title] for r in rs], ["rule", "component", "checks"]),
             names=[f"rule/{r.id}" for r in rs])
        return EXIT_OK
    if args.component:
        from mlopstui.errors import Kind, MlopsError
        from mlopstui.models.stack import CATALOG_BY_ID

        if args.component not in CATALOG_BY_ID:
            raise MlopsError(Kind.INVALID, f"no component {args.component!r}",
                             hint="components: " + ", ".join(CATALOG_BY_ID))
    report = _sweep(args)
    floor = Severity(args.severity).rank
    found = [f for f in report.findings if f.severity.rank <= floor
             and (not args.component or f.component == args.component)]
    errors = sum(1 for f in found if f.severity is Severity.ERROR)
    doc = scrub({"scope": report.scope, "findings": [f.to_dict() for f in found], "errors": errors,
                 "warnings": sum(1 for f in found if f.severity is Severity.WARNING),
                 "cluster_error": report.state.error.to_dict() if report.state.error else None})

    top = cluster_unreadable(report)

    def text() -> str:
        head = top + "\n\n" if top else ""
        if not found:
            return head + ("no findings from the live probes (the cluster was not read)" if top else
                           f"no findings ({report.scope})")
        body = "\n\n".join(f.render() for f in found)
        return head + body + \
            f"\n\n{report.scope}: {errors} errors, {doc['warnings']} warnings, " \
            f"{len(found) - errors - doc['warnings']} info"

    def wide() -> str:
        rows = [[f.severity.value, f.id, f.component, ", ".join(f.objects) or "-", f.summary, (f.fix or "-").splitlines()[0]]
                for f in found]
        return table(rows, ["sev", "finding", "component", "objects", "summary", "fix"]) if found else "no findings"

    emit(args, doc, text, wide=wide, names=[f"finding/{f.id}" for f in found])
    if top:
        return EXIT_UNREACHABLE
    return EXIT_FAILED if errors else EXIT_OK

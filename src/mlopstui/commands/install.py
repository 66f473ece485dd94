"""Headless `install`: put a missing stack component on the cluster (plan, --dry-run, --yes).

    mlopstui install --list                         what can be installed, what is installed
    mlopstui install redis -n mlops --set memory=4Gi --dry-run
    mlopstui install pgbouncer --yes --json
"""

from __future__ import annotations

import argparse

from mlopstui.commands._common import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    add_global_flags,
    add_write_flags,
    emit,
    listing,
    make_context,
    not_listing,
    run_action,
    table,
)
from mlopstui.errors import Kind, MlopsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install", help="install a missing stack component (PostgreSQL, PgBouncer, Redis, MLflow)",
                       description="Render a component's manifests from maintained images, dry-run them on the "
                                   "API server, and server-side apply them (fieldManager mlopstui).")
    add_global_flags(p, suppress=True)
    p.add_argument("component", nargs="?", help="component id (see --list)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter (repeatable), e.g. --set memory=4Gi; --list shows them")
    p.add_argument("--list", action="store_true", help="what can be installed, and what is installed")
    add_write_flags(p)
    listing(p)  # --list
    p.set_defaults(func=cmd_install)


def cmd_install(args: argparse.Namespace) -> int:
    not_listing(args, args.list, "install --list")
    if args.list:
        if args.component or args.sets:
            raise MlopsError(Kind.INVALID, "--list takes no component or --set")
        return _list(args)
    if not args.component:
        raise MlopsError(Kind.INVALID, "which component? e.g. mlopstui install redis (mlopstui install --list)")
    from mlopstui.actions.install import Install
    from mlopstui.models import manifests as mf

    sets = mf.parse_sets(args.sets)  # malformed --set: refused before anything is read
    ctx = make_context(args)
    action = Install(ctx, args.component, namespace=ctx.namespace, sets=sets)
    return run_action(args, ctx, action, server=True)


def _list(args: argparse.Namespace) -> int:
    from mlopstui.actions.install import installed_in
    from mlopstui.models import manifests as mf
    from mlopstui.models.stack import CATALOG

    ctx = make_context(args)
    rows = []
    error = None
    for spec in CATALOG:
        where: list[str] | None
        try:
            where = installed_in(ctx.kube, ctx.settings, spec.id, None) if error is None else None
        except MlopsError as exc:
            error, where = exc, None
        why = mf.refusal(spec.id)
        item = {"id": spec.id, "title": spec.title, "installable": why is None,
                "installed": None if where is None else bool(where), "workloads": where or [],
                "how": mf.INSTALLABLE[spec.id].purpose if why is None else why}
        if why is None:
            item["params"] = [{"key": p.key, "default": p.default, "help": p.help}
                              for p in mf.INSTALLABLE[spec.id].params]
        rows.append(item)

    def text(wide: bool = False) -> str:
        body = table([[r["id"], "?" if r["installed"] is None else ("yes" if r["installed"] else "no"),
                       "built-in" if r["installable"] else "upstream",
                       (", ".join(r["workloads"]) if wide else ", ".join(r["workloads"][:2])) or "-",
                       *([r["title"]] if wide else [])] for r in rows],
                     ["component", "installed", "install", "workloads", *(["title"] if wide else [])])
        lines = [body, ""]
        for r in rows:
            if r["installable"]:
                keys = " ".join(f"{p['key']}={p['default'] or '(auto)'}" for p in r["params"])
                lines.append(f"{r['id']}: {r['how']}\n  --set {keys}")
        lines.append("")
        lines.extend(f"{r['id']}: {r['how']}" for r in rows if not r["installable"])
        if error is not None:
            lines.insert(0, f"CLUSTER UNREADABLE ({error.kind.value}): {error.message}\n"
                            "  installed state unknown; what can be installed:")
        return "\n".join(lines)

    emit(args, {"components": rows, "namespace": ctx.namespace,
                "error": error.to_dict() if error is not None else None}, text, wide=lambda: text(True),
         names=[f"component/{r['id']}" for r in rows])
    return EXIT_UNREACHABLE if error is not None else EXIT_OK

"""Headless MLflow verbs: `experiments`, `runs EXPERIMENT`, `run RUN_ID`, `models`.

The tracking server comes from config, MLFLOW_TRACKING_URI, or the cluster's mlflow Service (the
source is printed on stderr / in the JSON). Listing talks REST (no mlflow import).
"""

from __future__ import annotations

import argparse

from mlopstui.commands._common import (
    EXIT_OK,
    add_global_flags,
    bounded_int,
    emit,
    listing,
    machine_output,
    make_context,
    note,
    table,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiments", help="list MLflow experiments (run counts with --count)")
    add_global_flags(p, suppress=True)
    p.add_argument("--deleted", action="store_true", help="deleted experiments instead of active ones")
    p.add_argument("--all", action="store_true", help="active and deleted")
    p.add_argument("--count", action="store_true", help="count runs per experiment (pages through every run)")
    listing(p)
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("runs", help="list the runs of an experiment (MLflow search syntax, server-side)")
    add_global_flags(p, suppress=True)
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment name or id")
    p.add_argument("--filter", "-f", default="", metavar="EXPR",
                   help="MLflow search, e.g. \"metrics.accuracy > 0.9 and params.learning_rate = '0.01'\"")
    p.add_argument("--order-by", action="append", default=[], metavar="COL",
                   help="column to sort by: accuracy, -accuracy (descending), params.max_depth, start, "
                        "or an MLflow clause ('metrics.accuracy DESC'); repeatable")
    p.add_argument("--max", type=bounded_int(0), default=100, metavar="N", help="at most N runs (default 100; 0 = all)")
    p.add_argument("--columns", "-c", default="", metavar="COLS",
                   help="extra columns: accuracy, params.learning_rate, tags.team (default: the most common)")
    listing(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("run", help="show one MLflow run: params, metrics, tags, artifacts")
    add_global_flags(p, suppress=True)
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--no-artifacts", action="store_true", help="do not list the artifacts")
    p.add_argument("--download", nargs="?", const="", default=None, metavar="PATH",
                   help="download this artifact (a file or directory; no PATH: all of them) into --to")
    p.add_argument("--to", default=".", metavar="DIR", help="where --download writes (default: .)")
    p.add_argument("--max-bytes", type=bounded_int(1), default=None, metavar="N",
                   help="download at most N bytes (default 100 MiB; the sizes are listed first)")
    p.add_argument("--yes", "-y", action="store_true", help="download whatever the size")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("models", help="list registered models, or the versions of one")
    add_global_flags(p, suppress=True)
    p.add_argument("name", nargs="?", metavar="MODEL", help="list the versions of this model")
    listing(p)
    p.set_defaults(func=cmd_models)


def _backend(args: argparse.Namespace):
    from mlopstui.backends.mlflow import MlflowBackend

    ctx = make_context(args)
    b = MlflowBackend.from_context(ctx)
    if not machine_output(args):
        note(f"# MLflow: {b.display}")
    return b


def cmd_experiments(args: argparse.Namespace) -> int:
    from mlopstui.models.experiments import fmt_time

    b = _backend(args)
    view = "ALL" if args.all else ("DELETED_ONLY" if args.deleted else "ACTIVE_ONLY")
    exps = b.search_experiments(view)
    if args.count:
        for e in exps:
            e.run_count, e.run_count_capped, e.last_run_time = b.experiment_stats(e.experiment_id)
    data = {"tracking_uri": b.display, "experiments": [e.to_dict() for e in exps]}

    def text(wide: bool = False) -> str:
        rows = [[e.name, e.experiment_id, e.lifecycle_stage,
                 "" if e.run_count is None else f"{'≥ ' if e.run_count_capped else ''}{e.run_count}",
                 fmt_time(e.last_run_time) if args.count else "",
                 ", ".join(f"{k}={v}" for k, v in sorted(e.user_tags.items())),
                 *([fmt_time(e.creation_time), e.artifact_location] if wide else [])] for e in exps]
        return table(rows, ["name", "id", "stage", "runs", "last run", "tags",
                            *(["created", "artifact location"] if wide else [])])

    emit(args, data, text, wide=lambda: text(True), names=[f"experiment/{e.name}" for e in exps])
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from mlopstui.models.experiments import BASE_RUN_COLUMNS, choose_columns, parse_columns, parse_order_by

    b = _backend(args)
    exp = b.experiment_by_name_or_id(args.experiment)
    order = [parse_order_by(o) for o in args.order_by if o.strip()]
    limit = None if args.max == 0 else max(args.max, 0)
    runs = list(b.iter_runs([exp.experiment_id], filter=args.filter, order_by=order, max_total=limit))
    data = {"tracking_uri": b.display, "experiment": {"id": exp.experiment_id, "name": exp.name},
            "filter": args.filter, "order_by": order, "count": len(runs), "runs": [r.to_dict() for r in runs]}

    def text(wide: bool = False) -> str:
        extra = parse_columns(args.columns) if args.columns else \
            choose_columns(runs, max_metrics=6 if wide else 3, max_params=6 if wide else 3)
        cols = [c for c in BASE_RUN_COLUMNS if wide or c not in ("source",)] + extra
        return table([[r.cell(c) for c in cols] for r in runs], [c.split(".", 1)[-1] for c in cols]) + \
            f"\n({len(runs)} runs)"

    emit(args, data, text, wide=lambda: text(True), names=[f"run/{r.run_id}" for r in runs])
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from mlopstui.models.experiments import fmt_duration, fmt_size, fmt_time, fmt_value

    b = _backend(args)
    if args.download is not None:
        return _download(args, b)
    d = b.run_detail(args.run_id)
    arts = [] if args.no_artifacts else b.list_artifacts(args.run_id)
    data = {**d.to_dict(), "artifacts": [{"path": a.path, "is_dir": a.is_dir, "size": a.size} for a in arts]}
    r = d.run

    def text() -> str:
        lines = [f"run        {r.run_id}  ({r.run_name})", f"experiment {d.experiment_name} ({r.experiment_id})",
                 f"status     {r.status}", f"started    {fmt_time(r.start_time)}   took {fmt_duration(r.duration_s)}",
                 f"user       {r.user_id}", f"source     {r.tags.get('mlflow.source.name', '')}",
                 f"uri        {d.run_uri}", f"artifacts  {r.artifact_uri}", "", "params:"]
        lines += [f"  {k} = {v}" for k, v in sorted(r.params.items())] or ["  -"]
        lines += ["metrics:"] + ([f"  {k} = {fmt_value(v)}" for k, v in sorted(r.metrics.items())] or ["  -"])
        lines += ["tags:"] + ([f"  {k} = {v}" for k, v in sorted(r.tags.items())
                               if k != "mlflow.log-model.history"] or ["  -"])
        if not args.no_artifacts:
            lines += ["artifacts:"] + ([f"  {a.path}{'/' if a.is_dir else ''}  {fmt_size(a.size)}".rstrip()
                                        for a in arts] or ["  -"])
        return "\n".join(lines)

    emit(args, data, text)
    return EXIT_OK


def _download(args: argparse.Namespace, b) -> int:
    """Sizes first (listed), then the bytes: above the cap (--max-bytes, default 100 MiB) only with --yes."""
    from mlopstui.backends.mlflow_artifacts import DOWNLOAD_CONFIRM_BYTES
    from mlopstui.units import human_bytes

    files = b.artifact_files(args.run_id, args.download)
    total = sum(e.size or 0 for e in files)
    note(f"{args.download or 'all artifacts'}: {len(files)} files, {human_bytes(total)}")
    cap = None if args.yes else (args.max_bytes or DOWNLOAD_CONFIRM_BYTES)
    local = b.download_artifacts(args.run_id, args.download, args.to, max_bytes=cap)
    emit(args, {"run_id": args.run_id, "path": args.download, "files": len(files), "bytes": total,
                "local": str(local)}, f"downloaded {len(files)} files ({human_bytes(total)}) to {local}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from mlopstui.models.experiments import fmt_time

    if args.name is not None:
        from mlopstui.models.experiments import validate_model_name

        validate_model_name(args.name)
    b = _backend(args)
    if args.name is not None:
        versions = b.search_model_versions(args.name)
        if not versions:
            b.get_registered_model(args.name)  # not-found (exit 1) rather than an empty table
        data = {"tracking_uri": b.display, "model": args.name, "versions": [v.to_dict() for v in versions]}
        rows = [[f"v{v.version}", v.status, ",".join("@" + a for a in v.aliases), v.run_id, v.source,
                 fmt_time(v.creation_timestamp)] for v in versions]
        headers = ["version", "status", "aliases", "run", "source", "created"]
        wide_rows = [[*r, v.current_stage or "-", ", ".join(f"{k}={x}" for k, x in sorted(v.tags.items()))]
                     for r, v in zip(rows, versions, strict=True)]
        emit(args, data, lambda: table(rows, headers), wide=lambda: table(wide_rows, [*headers, "stage", "tags"]),
             names=[f"modelversion/{args.name}/{v.version}" for v in versions])
        return EXIT_OK
    models = b.search_registered_models()
    data = {"tracking_uri": b.display, "models": [m.to_dict() for m in models]}
    rows = [[m.name, ",".join(m.latest_versions), ", ".join(f"@{a}=v{v}" for a, v in sorted(m.aliases.items())),
             fmt_time(m.last_updated_timestamp)] for m in models]
    headers = ["model", "versions", "aliases", "updated"]
    wide_rows = [[*r, fmt_time(m.creation_timestamp), m.description or "-"] for r, m in zip(rows, models, strict=True)]
    emit(args, data, lambda: table(rows, headers), wide=lambda: table(wide_rows, [*headers, "created", "description"]),
         names=[f"registeredmodel/{m.name}" for m in models])
    return EXIT_OK

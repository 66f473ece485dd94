"""Headless Pipelines verbs: workflows, workflow, workflow-logs, cron-workflows, workflow-templates, and the
actions stop, terminate, suspend, resume, resubmit, retry, submit (Argo Workflows; KFP runs are Argo
Workflows too)."""

from __future__ import annotations

import argparse
import time

from mlopstui.commands._common import (
    EXIT_OK,
    add_global_flags,
    add_write_flags,
    emit,
    listing,
    make_context,
    run_action,
    table,
)
from mlopstui.errors import Kind, MlopsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workflows", help="list Argo Workflows (and KFP runs): phase, progress, start, duration")
    add_global_flags(p, suppress=True)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
    listing(p)
    p.set_defaults(func=cmd_workflows)

    p = sub.add_parser("workflow", help="one workflow: node tree, parameters, artifacts, linked MLflow runs")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("--no-runs", action="store_true", help="do not look up the MLflow runs it created")
    p.set_defaults(func=cmd_workflow)

    p = sub.add_parser("workflow-logs", help="the logs of a workflow node's pod (main container by default)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("node", nargs="?", help="node id, name, display name or pod (default: the last pod node)")
    p.add_argument("-c", "--container", default="main", choices=("main", "init", "wait"))
    p.add_argument("--tail", type=int, default=500, metavar="N", help="last N lines (default 500)")
    p.set_defaults(func=cmd_workflow_logs)

    p = sub.add_parser("cron-workflows", help="list CronWorkflows: schedule, last and next run, suspended")
    add_global_flags(p, suppress=True)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
    listing(p)
    p.set_defaults(func=cmd_cron_workflows)

    p = sub.add_parser("workflow-templates", help="list WorkflowTemplates and ClusterWorkflowTemplates")
    add_global_flags(p, suppress=True)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
    listing(p)
    p.set_defaults(func=cmd_workflow_templates)

    helps = {"stop": "stop a workflow (spec.shutdown=Stop: running steps finish, exit handlers run)",
             "terminate": "terminate a workflow (spec.shutdown=Terminate: pods killed, no exit handlers)",
             "suspend": "suspend a workflow (spec.suspend=true)",
             "resume": "resume a suspended workflow"}
    for verb, text in helps.items():
        p = sub.add_parser(verb, help=text)
        add_global_flags(p, suppress=True)
        p.add_argument("name")
        add_write_flags(p)
        p.set_defaults(func=cmd_patch_action, action_name=verb)

    p = sub.add_parser("resubmit", help="create a new workflow from an old one's spec (-p to change parameters)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    add_write_flags(p)
    p.set_defaults(func=cmd_resubmit)

    p = sub.add_parser("retry", help="retry a failed workflow as `argo retry` does (failed nodes re-run, "
                                     "their pods deleted)")
    add_global_flags(p, suppress=True)
    p.add_argument("name")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--node", action="append", default=[], metavar="NODE",
                   help="also re-run this node (id or name), even if it succeeded (argo --restart-successful)")
    add_write_flags(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("submit", help="submit a workflow --from workflowtemplate/NAME, "
                                      "clusterworkflowtemplate/NAME or cronwf/NAME")
    add_global_flags(p, suppress=True)
    p.add_argument("--from", dest="source", required=True, metavar="KIND/NAME")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    add_write_flags(p)
    p.set_defaults(func=cmd_submit)


def _ts(v: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v)) if v else "-"


def _c(s: object) -> str:
    from mlopstui.models.pipelines import clean_text

    return clean_text(s, keep_newlines=False)


# -- read ------------------------------------------------------------------------------------------
def cmd_workflows(args: argparse.Namespace) -> int:
    from mlopstui.backends.argo import list_workflows
    from mlopstui.models.pipelines import short_duration

    ctx = make_context(args)
    items = list_workflows(ctx.kube, ctx.namespace, all_namespaces=args.all_namespaces)
    now = time.time()

    def text(wide: bool = False) -> str:
        if not items:
            return f"no workflows in {'any namespace' if args.all_namespaces else ctx.namespace}"
        rows = []
        for w in items:
            run_id = w.kfp.run_id if wide else w.kfp.run_id[:8]
            kfp = f"{w.kfp.pipeline or '-'} / {w.kfp.run_name or '-'} ({run_id})" if w.kfp.is_kfp else "-"
            rows.append([*([w.namespace] if args.all_namespaces else []), w.name, _c(w.display_phase),
                         w.progress or "-", _ts(w.started), short_duration(w.duration(now)), w.source, kfp,
                         _c(w.message) if wide else _c(w.message)[:60]])
        headers = [*(["namespace"] if args.all_namespaces else []), "name", "status", "progress", "started",
                   "duration", "from", "kfp pipeline / run", "message"]
        return table(rows, headers)

    emit(args, {"items": [w.summary(now) for w in items]}, text, wide=lambda: text(True),
         names=[f"workflow.argoproj.io/{w.name}" for w in items])
    return EXIT_OK


def tree_text(wf, now: float) -> str:
    from mlopstui.models.pipelines import node_tree, short_duration

    rows = [["STEP", "TEMPLATE", "PODNAME", "DURATION", "RETRIES", "MESSAGE"]]
    for r in node_tree(wf):
        n = r.node
        rows.append([f"{r.prefix}{_icon(n.phase)} {_c(n.display_name)}", _c(n.template_label), n.pod,
                     short_duration(n.duration(now)) if n.type == "Pod" else "",
                     str(n.retries) if n.type == "Retry" else "", _c(n.message)[:70]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _icon(phase: str) -> str:
    return {"Succeeded": "✔", "Failed": "✖", "Error": "⚠", "Running": "●", "Pending": "◷",
            "Skipped": "○", "Omitted": "○"}.get(phase, "?")


def detail_text(wf, now: float, runs, runs_error: str | None) -> str:
    from mlopstui.models.pipelines import short_duration

    lines = [f"Name:        {wf.name}", f"Namespace:   {wf.namespace}", f"UID:         {wf.uid}",
             f"Status:      {_c(wf.display_phase)}", f"Progress:    {wf.progress or '-'}",
             f"Started:     {_ts(wf.started)}", f"Finished:    {_ts(wf.finished)}",
             f"Duration:    {short_duration(wf.duration(now))}", f"From:        {wf.source}"]
    if wf.message:
        lines.append(f"Message:     {_c(wf.message)}")
    if wf.kfp.is_kfp:
        lines.append(f"KFP run:     {_c(wf.kfp.run_name) or '-'} (id {wf.kfp.run_id or '-'}), "
                     f"pipeline {_c(wf.kfp.pipeline) or '-'}")
    if wf.parameters:
        lines.append("Parameters:")
        lines += [f"  {_c(p.name)}: {_c(p.effective if p.effective is not None else '')}" for p in wf.parameters]
    lines += ["", tree_text(wf, now)]
    io = []
    for n in sorted(wf.nodes.values(), key=lambda n: n.started or 0):
        if n.type != "Pod":
            continue
        for p in n.inputs:
            io.append(f"  {_c(n.display_name)}  in   param    {_c(p.name)} = {_c(p.effective or '')[:80]}")
        for a in n.input_artifacts:
            io.append(f"  {_c(n.display_name)}  in   artifact {_c(a.name)} {_c(a.location)}")
        for p in n.outputs:
            io.append(f"  {_c(n.display_name)}  out  param    {_c(p.name)} = {_c(p.effective or '')[:80]}")
        for a in n.output_artifacts:
            io.append(f"  {_c(n.display_name)}  out  artifact {_c(a.name)} {_c(a.location)}")
    if io:
        lines += ["", "Inputs and outputs:", *io]
    lines.append("")
    if runs_error:
        lines.append(f"MLflow runs: not looked up ({runs_error})")
    elif runs is not None:
        from mlopstui.models.pipelines import TAG_WORKFLOW_UID

        lines.append(f"MLflow runs tagged {TAG_WORKFLOW_UID}={wf.uid}: {len(runs) or 'none'}")
        lines += [f"  {r.run_id}  {_c(r.run_name)}  {r.status}  experiment {r.experiment_id}" for r in runs]
    return "\n".join(lines)


def cmd_workflow(args: argparse.Namespace) -> int:
    from mlopstui.backends.argo import get_workflow, linked_runs
    from mlopstui.models.pipelines import node_tree

    ctx = make_context(args)
    wf = get_workflow(ctx.kube, ctx.namespace, args.name)
    now = time.time()
    runs, runs_error = None, None
    if not args.no_runs:
        try:
            from mlopstui.backends.mlflow import MlflowBackend

            runs = linked_runs(MlflowBackend.from_context(ctx), wf)
        except MlopsError as exc:
            runs_error = exc.message
    data = wf.summary(now)
    data["nodes"] = [r.node.summary(now) | {"depth": r.depth} for r in node_tree(wf)]
    data["mlflowRuns"] = None if runs is None else [{"runId": r.run_id, "runName": r.run_name, "status": r.status,
                                                     "experimentId": r.experiment_id} for r in runs]
    if runs_error:
        data["mlflowRunsError"] = runs_error
    emit(args, data, lambda: detail_text(wf, now, runs, runs_error))
    return EXIT_OK


def cmd_workflow_logs(args: argparse.Namespace) -> int:
    from mlopstui.backends.argo import get_workflow, node_for, node_log

    ctx = make_context(args)
    if args.tail is not None and args.tail < 0:
        raise MlopsError(Kind.INVALID, "--tail must be 0 or more")
    wf = get_workflow(ctx.kube, ctx.namespace, args.name)
    node = node_for(wf, args.node)
    text = node_log(ctx.kube, wf, node, args.container, tail_lines=args.tail)
    emit(args, {"workflow": wf.name, "node": node.display_name, "pod": node.pod, "container": args.container,
                "log": text}, lambda: text.rstrip("\n"))
    return EXIT_OK


def cmd_cron_workflows(args: argparse.Namespace) -> int:
    from mlopstui.backends.argo import list_cron_workflows

    ctx = make_context(args)
    items = list_cron_workflows(ctx.kube, ctx.namespace, all_namespaces=args.all_namespaces)
    now = time.time()

    def text() -> str:
        if not items:
            return f"no CronWorkflows in {'any namespace' if args.all_namespaces else ctx.namespace}"
        rows = [[*([c.namespace] if args.all_namespaces else []), c.name, _c(", ".join(c.schedules)),
                 c.timezone or "UTC", "True" if c.suspended else "False", _ts(c.last_scheduled),
                 _ts(c.next_run(now)), ", ".join(c.active) or "-", f"{c.succeeded}/{c.failed}"] for c in items]
        return table(rows, [*(["namespace"] if args.all_namespaces else []), "name", "schedule", "timezone",
                            "suspended", "last run", "next run", "active", "ok/failed"])

    emit(args, {"items": [c.summary(now) for c in items]}, text,
         names=[f"cronworkflow.argoproj.io/{c.name}" for c in items])
    return EXIT_OK


def cmd_workflow_templates(args: argparse.Namespace) -> int:
    from mlopstui.backends.argo import list_workflow_templates

    ctx = make_context(args)
    items = list_workflow_templates(ctx.kube, ctx.namespace, all_namespaces=args.all_namespaces)

    def text() -> str:
        if not items:
            return "no WorkflowTemplates"
        rows = [[t.namespace or "(cluster)", t.name, t.entrypoint, ", ".join(t.templates),
                 _c(", ".join(f"{p.name}={p.effective}" for p in t.parameters) or "-")] for t in items]
        return table(rows, ["namespace", "name", "entrypoint", "templates", "parameters"])

    emit(args, {"items": [t.summary() for t in items]}, text,
         names=[f"{'clusterworkflowtemplate' if t.cluster else 'workflowtemplate'}.argoproj.io/{t.name}"
                for t in items])
    return EXIT_OK


# -- writes ----------------------------------------------------------------------------------------
def _run(args: argparse.Namespace, ctx, action) -> int:
    """plan (an unknown name is a usage error: exit 2, nothing sent) -> print or apply."""
    try:
        plan = action.plan()
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise MlopsError(Kind.INVALID, exc.message, hint=exc.hint or "nothing was sent",
                             source=exc.source) from None
        raise
    return run_action(args, ctx, action, plan)


def _refuse_readonly_early(ctx) -> None:
    if ctx.readonly:
        raise MlopsError(Kind.REFUSED, "read-only mode: refusing to change workflows",
                         hint="restart without --readonly to make changes")


def _write_verb(args: argparse.Namespace, build) -> int:
    """-p values checked first (no request), read-only refused before any request, then plan -> apply."""
    from mlopstui.models.pipelines import parse_parameters

    params = parse_parameters(getattr(args, "parameter", None))
    ctx = make_context(args)
    if args.yes:
        _refuse_readonly_early(ctx)
    return _run(args, ctx, build(ctx, params))


def cmd_patch_action(args: argparse.Namespace) -> int:
    from mlopstui.actions.pipelines import ACTIONS

    return _write_verb(args, lambda ctx, _p: ACTIONS[args.action_name](ctx, ctx.namespace, args.name))


def cmd_resubmit(args: argparse.Namespace) -> int:
    from mlopstui.actions.pipelines import Resubmit

    return _write_verb(args, lambda ctx, p: Resubmit(ctx, ctx.namespace, args.name, p))


def cmd_retry(args: argparse.Namespace) -> int:
    from mlopstui.actions.pipelines import Retry

    return _write_verb(args, lambda ctx, p: Retry(ctx, ctx.namespace, args.name, p, args.node))


def cmd_submit(args: argparse.Namespace) -> int:
    from mlopstui.actions.pipelines import Submit

    return _write_verb(args, lambda ctx, p: Submit(ctx, ctx.namespace, args.source, p))

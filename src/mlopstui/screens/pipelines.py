"""Area 5: Argo Workflows (and the Kubeflow Pipelines runs it executes), CronWorkflows, WorkflowTemplates.

List keys: `enter` details, `v` switch the view (workflows, CronWorkflows, WorkflowTemplates), `a` all
namespaces, and the actions: `s` stop, `T` terminate, `z` suspend, `u` resume, `R` retry, `S` resubmit
(parameters shown and editable), `n` submit from the selected WorkflowTemplate/CronWorkflow (or ask).
Detail keys (a pushed screen): the node tree; `l` the selected node's main log, `i`/`w` its init/wait
container, `m` the MLflow runs the workflow created, `o` open the first of them in Experiments; the same
action keys. Every action: plan in a worker -> ConfirmPlan -> apply (audited; read-only refuses).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from mlopstui.errors import MlopsError
from mlopstui.models import pipelines as m
from mlopstui.screens.base import AreaScreen
from mlopstui.units import clock
from mlopstui.widgets.filter_table import FilterTable

ACTION_BINDINGS = [
    Binding("s", "wf_action('stop')", "Stop"),
    Binding("T", "wf_action('terminate')", "Terminate", show=False),
    Binding("z", "wf_action('suspend')", "Suspend", show=False),
    Binding("u", "wf_action('resume')", "Resume", show=False),
    Binding("R", "retry", "Retry"),
    Binding("S", "resubmit", "Resubmit"),
]
VIEWS = ("workflows", "cron", "templates")


def phase_text(phase: str) -> Text:
    icon = {"Succeeded": "✔", "Failed": "✖", "Error": "⚠", "Running": "●", "Pending": "◷",
            "Skipped": "○", "Omitted": "○"}.get(phase.split(" ")[0], "?")
    style = {"Succeeded": "green", "Failed": "red", "Error": "red", "Running": "cyan"}.get(phase.split(" ")[0], "")
    return Text(f"{icon} {m.clean_text(phase, False)}", style=style)


class PipelineActions:
    """The action flow shared by the list and the detail screen (mixed into an AreaScreen)."""

    def current_workflow(self) -> m.Workflow | None:  # pragma: no cover - overridden
        return None

    def _wf(self) -> m.Workflow | None:
        wf = self.current_workflow()
        if wf is None:
            self.set_status("no workflow selected", error=True)
        return wf

    def start_action(self, action) -> None:
        from mlopstui.screens.confirm import confirm_then_apply

        self.set_status(f"{action.name}: planning ...")

        def planned(plan) -> None:
            confirm_then_apply(self, action, plan, what=action.name, on_applied=self._applied,
                               group="pipelines-apply")

        self.run_io(action.plan, planned, lambda err: self.show_error(err, f"{action.name} refused, nothing sent"),
                    group="pipelines-plan")

    def _applied(self, result) -> None:
        self.set_status(("done: " if result.ok else "failed: ") + result.message, error=not result.ok)
        self.refresh_data()

    def action_wf_action(self, verb: str) -> None:
        from mlopstui.actions.pipelines import ACTIONS

        wf = self._wf()
        if wf is not None:
            self.start_action(ACTIONS[verb](self.ctx, wf.namespace, wf.name))

    def action_retry(self) -> None:
        from mlopstui.actions.pipelines import Retry

        wf = self._wf()
        if wf is not None:
            self.start_action(Retry(self.ctx, wf.namespace, wf.name))

    def _ask_parameters(self, prompt: str, current: dict[str, str | None], build) -> None:
        from mlopstui.screens.confirm import PromptValue

        text = " ".join(f"{k}={v if v is not None else ''}" for k, v in current.items())

        def done(value: str | None) -> None:
            if value is None:
                self.set_status("cancelled: nothing sent")
                return
            try:
                values = m.parse_parameters(value.split())
                changed = {k: v for k, v in values.items() if current.get(k) != v or k not in current}
                action = build(changed)
            except MlopsError as err:
                self.show_error(err, "refused, nothing sent")
                return
            self.start_action(action)

        self.app.push_screen(PromptValue(prompt, text, "name=value name=value"), done)

    def action_resubmit(self) -> None:
        from mlopstui.actions.pipelines import Resubmit

        wf = self._wf()
        if wf is None:
            return
        self._ask_parameters(f"resubmit {wf.name}: parameters (edit, enter to plan)",
                             {p.name: p.effective for p in wf.parameters},
                             lambda changed: Resubmit(self.ctx, wf.namespace, wf.name, changed))


class PipelinesScreen(PipelineActions, AreaScreen):
    AREA = "pipelines"
    TITLE = "Pipelines"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("enter", "open", "Details"),
        Binding("v", "next_view", "View"),
        Binding("a", "all_namespaces", "All ns"),
        Binding("n", "submit", "Submit"),
        *ACTION_BINDINGS,
    ]
    COMMANDS_HELP = [("workflows", "Argo workflows"), ("cronwf", "CronWorkflows"), ("wftmpl", "WorkflowTemplates")]

    def __init__(self) -> None:
        super().__init__()
        self.view = "workflows"
        self.all_ns = False
        self.workflows: dict[str, m.Workflow] = {}
        self.crons: dict[str, m.CronWorkflow] = {}
        self.templates: dict[str, m.WorkflowTemplate] = {}
        self._cache_posted = False
        self._dirty = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="pl-title")
        yield FilterTable(id="pl-table", cursor_type="row", zebra_stripes=False)

    def refresh_data(self) -> None:
        from mlopstui.backends import argo

        ctx, view, all_ns = self.ctx, self.view, self.all_ns

        def load():
            # from the shared watch caches: a change re-renders (CacheChanged), no list while idle
            return view, argo.watched_view(ctx.informers, view, ctx.namespace, all_namespaces=all_ns,
                                           listener=self._cache_listener, timeout=ctx.settings.kube_timeout)

        self.run_io(load, self._loaded, lambda err: self.show_error(err, "reading workflows"), group="pipelines")

    class CacheChanged(Message):
        """A watch cache this list reads changed (from an informer's thread)."""

    def _cache_listener(self) -> None:
        if not self._cache_posted:
            self._cache_posted = True
            self.post_message(self.CacheChanged())

    def on_pipelines_screen_cache_changed(self, _msg: PipelinesScreen.CacheChanged) -> None:
        self._cache_posted = False
        if self.is_current:
            self.refresh_data()
        else:
            self._dirty = True

    def on_screen_resume(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh_data()

    def _loaded(self, res) -> None:
        view, items = res
        if view != self.view:
            return
        table = self.query_one("#pl-table", FilterTable)
        now = clock()
        ns = "all namespaces" if self.all_ns else self.ctx.namespace
        rows = []
        if view == "workflows":
            self.workflows = {f"{w.namespace}/{w.name}": w for w in items}
            table.set_columns("NAME", "STATUS", "PROGRESS", "STARTED", "DURATION", "FROM", "KFP RUN", "MESSAGE")
            for key, w in self.workflows.items():
                kfp = f"{w.kfp.pipeline}/{w.kfp.run_name}" if w.kfp.is_kfp else ""
                rows.append((key, [w.name if not self.all_ns else key, phase_text(w.display_phase),
                                   w.progress or "-", _ago(w.started, now), m.short_duration(w.duration(now)),
                                   w.source, m.clean_text(kfp, False), m.clean_text(w.message, False)[:50]]))
        elif view == "cron":
            self.crons = {f"{c.namespace}/{c.name}": c for c in items}
            table.set_columns("NAME", "SCHEDULE", "SUSPENDED", "LAST RUN", "NEXT RUN", "ACTIVE", "OK/FAILED")
            for key, c in self.crons.items():
                nxt = c.next_run(now)
                rows.append((key, [c.name if not self.all_ns else key, m.clean_text(", ".join(c.schedules), False),
                                   "yes" if c.suspended else "no", _ago(c.last_scheduled, now),
                                   "-" if nxt is None else "in " + m.short_duration(nxt - now),
                                   ", ".join(c.active) or "-", f"{c.succeeded}/{c.failed}"]))
        else:
            self.templates = {f"{t.namespace or '(cluster)'}/{t.name}": t for t in items}
            table.set_columns("NAME", "SCOPE", "ENTRYPOINT", "TEMPLATES", "PARAMETERS")
            for key, t in self.templates.items():
                rows.append((key, [t.name, "cluster" if t.cluster else t.namespace, t.entrypoint,
                                   ", ".join(t.templates), m.clean_text(", ".join(
                                       f"{p.name}={p.effective}" for p in t.parameters), False)]))
        table.set_rows(rows)
        self.query_one("#pl-title", Static).update(
            f"[b]{ {'workflows': 'Workflows', 'cron': 'CronWorkflows', 'templates': 'WorkflowTemplates'}[view]}[/b]"
            f" in {ns}: {len(rows)}   (v: next view, a: all namespaces)")
        self.loaded_at = now
        self.set_status(f"{len(rows)} {view} in {ns}" + ("" if rows else " (none)"))
        if self.focused is None:
            table.focus()

    def current_workflow(self) -> m.Workflow | None:
        if self.view != "workflows":
            return None
        key = self.query_one("#pl-table", FilterTable).selected_key
        return self.workflows.get(key or "")

    def on_data_table_row_selected(self, event) -> None:
        event.stop()
        self.action_open()

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.refresh_data()

    def action_all_namespaces(self) -> None:
        self.all_ns = not self.all_ns
        self.refresh_data()

    def action_open(self) -> None:
        wf = self.current_workflow()
        if wf is not None:
            self.app.push_screen(WorkflowDetailScreen(wf.namespace, wf.name))
        elif self.view == "workflows":
            self.set_status("no workflow selected", error=True)
        else:
            self.set_status("n submits a workflow from the selected one; v back to workflows")

    def action_submit(self) -> None:
        from mlopstui.actions.pipelines import Submit

        key = self.query_one("#pl-table", FilterTable).selected_key or ""
        if self.view == "cron" and key in self.crons:
            c = self.crons[key]
            source, params, ns = f"cronwf/{c.name}", c.parameters, c.namespace
        elif self.view == "templates" and key in self.templates:
            t = self.templates[key]
            source = f"{'clusterworkflowtemplate' if t.cluster else 'workflowtemplate'}/{t.name}"
            params, ns = t.parameters, t.namespace or self.ctx.namespace
        else:
            self.set_status("select a CronWorkflow or WorkflowTemplate first (v switches the view)", error=True)
            return
        self._ask_parameters(f"submit from {source}: parameters (edit, enter to plan)",
                             {p.name: p.effective for p in params},
                             lambda changed: Submit(self.ctx, ns, source, changed))

    def handle_command(self, cmd: str, arg: str) -> bool:
        views = {"workflows": "workflows", "wf": "workflows", "cronwf": "cron", "cwf": "cron",
                 "wftmpl": "templates", "templates": "templates"}
        if cmd in views:
            self.view = views[cmd]
            self.refresh_data()
            return True
        return False


def _ago(ts: float | None, now: float) -> str:
    return "-" if ts is None else m.short_duration(now - ts) + " ago"


class WorkflowDetailScreen(PipelineActions, AreaScreen):
    AREA = "pipelines"
    TITLE = "Pipelines"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("l", "logs('main')", "Logs"),
        Binding("i", "logs('init')", "init log", show=False),
        Binding("w", "logs('wait')", "wait log", show=False),
        Binding("m", "runs", "MLflow runs"),
        Binding("o", "open_run", "Open run"),
        *ACTION_BINDINGS,
    ]
    DEFAULT_CSS = """
    WorkflowDetailScreen #wf-head { height: auto; max-height: 4; }
    WorkflowDetailScreen #wf-tree { height: 1fr; min-height: 5; }
    WorkflowDetailScreen #wf-pane { height: 8; border-top: solid $accent; }
    """

    def __init__(self, namespace: str, name: str):
        super().__init__()
        self.wf_namespace, self.wf_name = namespace, name
        self.wf: m.Workflow | None = None
        self.runs: list | None = None
        self.mlflow = None  # the MlflowBackend the run lookup used

    def compose_body(self) -> ComposeResult:
        yield Static("", id="wf-head")
        yield FilterTable(id="wf-tree", cursor_type="row")
        with VerticalScroll(id="wf-pane"):
            yield Static("", id="wf-pane-text", markup=False)

    def refresh_data(self) -> None:
        from mlopstui.backends.argo import get_workflow

        ctx, ns, name = self.ctx, self.wf_namespace, self.wf_name
        self.run_io(lambda: get_workflow(ctx.kube, ns, name), self._loaded,
                    lambda err: self.show_error(err, f"reading {name}"), group="wf-detail")

    def _loaded(self, wf: m.Workflow) -> None:
        self.wf = wf
        now = clock()
        head = Text()
        head.append(m.clean_text(wf.name, False), style="bold")
        head.append("  ")
        head.append_text(phase_text(wf.display_phase))
        head.append(f"  progress {wf.progress or '-'}  duration {m.short_duration(wf.duration(now))}  "
                    f"from {wf.source}")
        if wf.kfp.is_kfp:
            head.append(f"\nKFP run {m.clean_text(wf.kfp.run_name, False)} (id {wf.kfp.run_id}) pipeline "
                        f"{m.clean_text(wf.kfp.pipeline, False)}")
        if wf.parameters:
            head.append("\nparameters: " + m.clean_text(", ".join(f"{p.name}={p.effective}" for p in wf.parameters),
                                                        False))
        if wf.message:
            head.append("\n" + m.clean_text(wf.message, False))
        self.query_one("#wf-head", Static).update(head)
        table = self.query_one("#wf-tree", FilterTable)
        table.set_columns("STEP", "PHASE", "TEMPLATE", "DURATION", "RETRIES", "MESSAGE")
        rows = []
        for r in m.node_tree(wf, ascii_only=bool(getattr(self.app, "no_color", False))):
            n = r.node
            rows.append((n.id, [f"{r.prefix}{m.clean_text(n.display_name, False)}", phase_text(n.phase),
                                m.clean_text(n.template_label, False),
                                m.short_duration(n.duration(now)) if n.type in ("Pod", "Retry") else "",
                                str(n.retries) if n.type == "Retry" else "", m.clean_text(n.message, False)[:60]]))
        table.set_rows(rows)
        self.loaded_at = now
        if self.focused is None:
            table.focus()
        self._show_node()

    def current_workflow(self) -> m.Workflow | None:
        return self.wf

    def selected_node(self) -> m.Node | None:
        if self.wf is None:
            return None
        key = self.query_one("#wf-tree", FilterTable).selected_key
        return self.wf.nodes.get(key or "")

    def on_data_table_row_highlighted(self, event) -> None:
        self._show_node()

    def _pane(self, text: str) -> None:
        self.query_one("#wf-pane-text", Static).update(m.clean_text(text))

    def _show_node(self) -> None:
        n = self.selected_node()
        if n is None:
            return
        lines = [f"{n.display_name}  {n.type}  {n.phase}  pod {n.pod or '-'}"]
        lines += [f"  in  param    {p.name} = {p.effective or ''}" for p in n.inputs]
        lines += [f"  in  artifact {a.name} {a.location}" for a in n.input_artifacts]
        lines += [f"  out param    {p.name} = {p.effective or ''}" for p in n.outputs]
        lines += [f"  out artifact {a.name} {a.location}" for a in n.output_artifacts]
        if n.exit_code is not None:
            lines.append(f"  exit code {n.exit_code}")
        if n.message:
            lines.append(f"  message: {n.message}")
        if n.type == "Pod":
            lines.append("  l: main log   i: init   w: wait")
        self._pane("\n".join(lines))

    def action_logs(self, container: str) -> None:
        """The node's pod log in the log view (search, follow, previous, wrap; c picks init/wait/main)."""
        from mlopstui.backends.argo import POD_GONE_HINT
        from mlopstui.screens.logs import PodLogScreen

        n, wf = self.selected_node(), self.wf
        if n is None or wf is None or n.type != "Pod":
            self.set_status("select a pod node (a step) to read its log", error=True)
            return
        self.app.push_screen(PodLogScreen(wf.namespace, n.pod, container, area="pipelines",
                                          title=f"Logs {m.clean_text(n.display_name, False)} ({n.pod})",
                                          gone_hint=POD_GONE_HINT))

    def action_runs(self) -> None:
        from mlopstui.backends.argo import linked_runs
        from mlopstui.backends.mlflow import MlflowBackend

        wf, ctx = self.wf, self.ctx
        if wf is None:
            return
        self.set_status(f"looking up MLflow runs tagged {m.TAG_WORKFLOW_UID}={wf.uid} ...")

        def shown(runs) -> None:
            self.runs = runs
            if not runs:
                self._pane(f"no MLflow run is tagged {m.TAG_WORKFLOW_UID}={wf.uid}")
            else:
                self._pane("\n".join([f"MLflow runs of this workflow ({m.TAG_WORKFLOW_UID}); o opens the first:"]
                                     + [f"  {r.run_id}  {r.run_name}  {r.status}  "
                                        + "  ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items()))
                                        for r in runs]))
            self.set_status(f"{len(runs)} MLflow run(s)")

        def load():
            if self.mlflow is None or self.mlflow.is_closed:  # closed with the context on :ctx / :ns
                self.mlflow = MlflowBackend.from_context(ctx)
            return linked_runs(self.mlflow, wf)

        self.run_io(load, shown,
                    lambda err: self.show_error(err, "MLflow runs"), group="wf-runs", timeout=30)

    def action_open_run(self) -> None:
        if not self.runs:
            self.set_status("m first: look up the MLflow runs of this workflow", error=True)
            return
        from mlopstui.screens.run_detail import RunDetailScreen

        run = self.runs[0]
        self.app.pop_screen()
        self.mapp.goto("experiments")  # the run opens in the Experiments area (esc: its experiments)
        self.app.push_screen(RunDetailScreen(self.mlflow, run.run_id, run))

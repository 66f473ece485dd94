"""Drill-ins of the Stack area: a component (workloads, pods, events, env, findings), pod logs, scrubbed
YAML, and the doctor's list of findings. Pushed on top of the StackScreen, which keeps sweeping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from mlopstui.errors import MlopsError
from mlopstui.screens.base import AreaScreen
from mlopstui.secrets import mask_env, mask_text
from mlopstui.text import safe
from mlopstui.units import ago, clock, human_age
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic
from mlopstui.widgets.styles import FINDING_ROLE_STYLE, SEVERITY_STYLE

if TYPE_CHECKING:
    from mlopstui.doctor import Finding
    from mlopstui.models.events import Event
    from mlopstui.models.stack import ComponentStatus
    from mlopstui.models.stack.report import StackReport
    from mlopstui.screens.stack import StackScreen, StackUpdated

EVENTS_SHOWN = 15  # the newest ones, printed oldest first


def render_finding(f: Finding) -> Text:
    """Finding.render_parts (the CLI's words), styled."""
    t = Text()
    for text, role in f.render_parts():
        t.append(text, style=SEVERITY_STYLE[f.severity.value] if role == "severity" else FINDING_ROLE_STYLE.get(role, ""))
    t.append("\n")
    return t


def env_lines(workload: dict[str, Any]) -> list[str]:
    """Each container's environment as it may be shown: literal secrets masked, refs named, never read."""
    from mlopstui.models.stack import containers_of

    out = []
    for c in containers_of(workload):
        out.append(f"  container {c.get('name')} ({c.get('image', '?')})")
        for src in c.get("envFrom") or []:
            if "secretRef" in src:
                out.append(f"    envFrom secret {(src['secretRef'] or {}).get('name')}")
            if "configMapRef" in src:
                out.append(f"    envFrom configmap {(src['configMapRef'] or {}).get('name')}")
        for e in c.get("env") or []:
            name = e.get("name", "?")
            if "value" in e:
                out.append(f"    {name}={mask_env(name, str(e.get('value') or ''))}")
            else:
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"] or {}
                    out.append(f"    {name}=<secret {r.get('name')}/{r.get('key')}>")
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"] or {}
                    out.append(f"    {name}=<configmap {r.get('name')}/{r.get('key')}>")
                else:
                    out.append(f"    {name}=<{next(iter(vf), 'ref')}>")
        if not c.get("env") and not c.get("envFrom"):
            out.append("    (no env)")
    return out


def probe_lines(c: ComponentStatus) -> list[str]:
    p = c.probe
    lines = [f"probe: {p.state.value} {p.summary}  {p.kind} {p.target} (from {p.source or '-'})"]
    if p.detail:
        lines.append(f"  {mask_text(p.detail)}")
    data = {k: v for k, v in p.data.items() if k not in ("buckets",)}
    if data:
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in data.items()))
    if p.data.get("buckets"):
        lines.append(f"  buckets: {', '.join(map(str, p.data['buckets'][:10]))}")
    return lines


class ComponentScreen(AreaScreen):
    """One component: workloads, pods (status, restarts, node), recent events, env (masked), findings."""

    AREA = "stack"
    BINDINGS = [
        Binding("l", "logs", "Logs"),
        Binding("y", "yaml", "YAML"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    ComponentScreen #comp-summary { height: auto; max-height: 8; padding: 0 1; }
    ComponentScreen #pods { height: auto; max-height: 8; }
    ComponentScreen #comp-detail-scroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, stack: StackScreen, component: str):
        super().__init__()
        self.stack = stack
        self.component = component
        self.events: list[Event] = []
        self.events_at: float | None = None
        self.report: StackReport | None = stack.report
        c = self.status
        self.TITLE = f"Stack › {c.spec.title if c else component}"

    @property
    def status(self) -> ComponentStatus | None:
        return self.report.component(self.component) if self.report else None

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("", id="comp-summary")
        yield FilterTable(id="pods")
        with VerticalScroll(id="comp-detail-scroll"):
            yield QuietStatic("", id="comp-detail")

    def on_mount(self) -> None:
        self.query_one("#pods", FilterTable).set_columns("POD", "STATUS", "READY", "RESTARTS", "NODE", "AGE")
        self.query_one("#pods", FilterTable).focus()
        self._paint()

    # -- data --------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        from mlopstui.backends.kube import EVENTS
        from mlopstui.backends.stack import collect_cluster
        from mlopstui.models import events as ev
        from mlopstui.models.stack.report import build_report

        ctx, stack, cid = self.ctx, self.stack, self.component

        def load() -> tuple[StackReport, list[Event]]:
            state = collect_cluster(ctx)
            report = build_report(ctx.settings, state, dict(stack.probes))
            objs = report.snapshot.components.get(cid, [])
            names = {o["metadata"]["name"] for o in objs}
            c = report.component(cid)
            names |= {p.name for w in (c.workloads if c else []) for p in w.pods}
            raw: list[dict[str, Any]] = []
            for ns in sorted({o["metadata"].get("namespace") for o in objs if o["metadata"].get("namespace")}):
                try:
                    raw += [e for e in ctx.kube.list(EVENTS, ns) if ev.involved_name(e) in names]
                except MlopsError:
                    pass
            return report, ev.in_time_order(raw)[-EVENTS_SHOWN:]

        self.run_io(load, self._loaded, lambda err: self.show_error(err, "component"), group="component")

    def _loaded(self, res: tuple[StackReport, list[Event]]) -> None:
        self.report, self.events = res
        self.events_at = clock()
        self.loaded_at = self.events_at
        self.set_status("")
        self._paint()

    def on_stack_updated(self, message: StackUpdated) -> None:
        """The Stack sweep has new probe results: take them (keep our events)."""
        report = message.report
        if self.report is None or report.at >= self.report.at:
            self.report = report
            self._paint()

    # -- rendering ---------------------------------------------------------------------------------
    def _paint(self) -> None:
        c = self.status
        summary = self.query_one("#comp-summary", Static)
        if c is None:
            summary.update(safe(f"{self.component}: unknown component"))
            return
        from mlopstui.widgets.styles import HEALTH_STYLE

        t = Text()
        t.append(f"{c.spec.title}", style="bold")
        t.append(f" ({c.spec.role}) ")
        t.append(f"{c.health.value}", style=HEALTH_STYLE[c.health.value])
        vfrom = f" (from {c.version_source})" if c.version_source else ""
        t.append(f"  version {c.version}{vfrom}  endpoint {c.endpoint}  data {ago(self.report.at if self.report else None)}\n")
        for w in c.workloads:
            t.append(f"{w.kind} {w.namespace}/{w.name}  ")
            t.append(f"{w.ready}/{w.desired} ready" if w.kind not in ("CronJob",) else w.note,
                     style="" if w.is_ready else "yellow")
            t.append(f"  restarts {w.restarts}" + (f"  {w.problem}" if w.problem else "") + "\n",
                     style="bold red" if w.problem else "")
        if not c.workloads:
            t.append("not installed (no workload matched; override in settings.components)\n", style="dim")
        for line in probe_lines(c):
            t.append(line + "\n", style="dim" if line.startswith("  ") else "")
        summary.update(safe(t))
        pods = [p for w in c.workloads for p in w.pods]
        self.query_one("#pods", FilterTable).set_rows([
            (f"{p.namespace}/{p.name}", [p.name, Text(p.status, style="bold red" if p.problem else ""),
                                         f"{p.ready}/{p.containers}", str(p.restarts)
                                         + (f" (last {p.last_terminated})" if p.last_terminated else ""),
                                         p.node, human_age(p.age)])
            for p in pods])
        self.query_one("#comp-detail", Static).update(safe(self._detail(c)))

    def _detail(self, c: ComponentStatus) -> Text:
        t = Text()
        t.append(f"Findings ({len(c.findings)})\n", style="bold underline")
        for f in c.findings:
            t.append_text(render_finding(f))
            t.append("\n")
        if not c.findings:
            t.append("  none\n", style="dim")
        from mlopstui.models.events import ORDER_WORDS

        t.append(f"\nEvents ({len(self.events)}, {ORDER_WORDS}; {ago(self.events_at)})\n", style="bold underline")
        now = clock()
        for e in self.events:
            style = "yellow" if e.type == "Warning" else ""
            t.append(f"  {e.last_seen(now):>5} {e.type} {e.reason} {e.kind}/{e.name}: {mask_text(e.message)}\n",
                     style=style)
        if not self.events:
            t.append("  none\n" if self.events_at else "  loading ...\n", style="dim")
        t.append("\nEnvironment (secrets masked)\n", style="bold underline")
        objs = self.report.snapshot.components.get(self.component, []) if self.report else []
        for o in objs:
            t.append(f" {o.get('kind')} {o['metadata'].get('namespace')}/{o['metadata'].get('name')}\n")
            for line in env_lines(o):
                t.append(line + "\n")
        return t

    # -- keys --------------------------------------------------------------------------------------
    def _selected_pod(self) -> tuple[str, str] | None:
        key = self.query_one("#pods", FilterTable).selected_key
        if key:
            ns, name = key.split("/", 1)
            return ns, name
        c = self.status
        pods = [p for w in (c.workloads if c else []) for p in w.pods]
        return (pods[0].namespace, pods[0].name) if pods else None

    def action_logs(self) -> None:
        sel = self._selected_pod()
        if sel is None:
            self.notify("no pod to show logs of", severity="warning")
            return
        from mlopstui.screens.logs import PodLogScreen

        self.app.push_screen(PodLogScreen(*sel))

    def action_yaml(self) -> None:
        objs = self.report.snapshot.components.get(self.component, []) if self.report else []
        if not objs:
            self.notify("nothing installed to show", severity="warning")
            return
        obj = objs[0]
        sel = self._selected_pod()
        if sel is not None and self.report is not None:
            from mlopstui.models.stack import pods_of

            for o in objs:
                if any(p["metadata"]["name"] == sel[1] for p in pods_of(o, self.report.snapshot.of("Pod"))):
                    obj = o
                    break
        from mlopstui.screens.logs import YamlScreen

        self.app.push_screen(YamlScreen(obj))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_logs()

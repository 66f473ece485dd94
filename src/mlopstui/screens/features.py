"""Area 3: Feast feature views with freshness, and the materialization CronJobs/Jobs.

Keys: enter a view's detail (features, source, a sample online row) or a job's log, `m` materialize
(a Job from the CronJob, confirmed with its manifest, then followed to Succeeded/Failed), `L`
materialize locally (`feast materialize-incremental` in the repo), `l` the selected job's log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from mlopstui.errors import MlopsError
from mlopstui.models import features as m
from mlopstui.screens.base import AreaScreen
from mlopstui.text import clean, safe
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic
from mlopstui.widgets.status import JOB_LEVEL, badge

FEAST_TIMEOUT = 180.0  # the first feast import takes seconds (tens on a busy machine)
FOLLOW_POLL = 1.0
FOLLOW_LIMIT = 900.0

_LEVEL = {m.Freshness.FRESH: "ok", m.Freshness.STALE: "warn", m.Freshness.NEVER: "error"}


def freshness_cell(status: m.Freshness) -> Text:
    """The word carries the meaning (NO_COLOR); the colour only repeats it."""
    return badge(status.word, _LEVEL[status])


class TextView(ModalScreen[None]):
    """A scrollable block of text (a job log); esc or q closes. ansi=True: colour sequences in it (Feast's
    CLI colours its output) are parsed into styles, the rest of the escapes removed (no stray bars)."""

    BINDINGS = [Binding("escape,q,l", "close", "Close")]
    DEFAULT_CSS = """
    TextView { align: center middle; }
    TextView > VerticalScroll { width: 95%; height: 90%; border: round $accent; background: $surface;
                                padding: 0 1; }
    """

    def __init__(self, title: str, text: str, ansi: bool = False):
        super().__init__()
        self._title, self._text, self._ansi = title, text, ansi

    def compose(self) -> ComposeResult:
        with VerticalScroll() as vs:
            vs.border_title = Text(clean(self._title))  # a str border title is markup
            if self._ansi and self._text:
                from mlopstui.text import keep_sgr

                yield Static(Text.from_ansi(keep_sgr(self._text)), markup=False, id="textview-body")
            else:
                yield Static(clean(self._text) or "(empty)", markup=False, id="textview-body")

    def action_close(self) -> None:
        self.dismiss(None)


class FeaturesScreen(AreaScreen):
    AREA = "features"
    TITLE = "Features"
    BINDINGS = [
        Binding("enter", "open", "Detail/Log"),
        Binding("m", "materialize", "Materialize"),
        Binding("L", "materialize_local", "Local mat.", show=False),
        Binding("l", "log", "Job log"),
    ]
    COMMANDS_HELP = [("materialize", "trigger a materialization Job from the CronJob (like `m`)")]
    DEFAULT_CSS = """
    FeaturesScreen #feast-info { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    FeaturesScreen #views-table { height: 1fr; min-height: 4; }
    FeaturesScreen #jobs-title { height: 1; padding: 0 1; background: $panel; }
    FeaturesScreen #jobs-table { height: auto; max-height: 6; }
    FeaturesScreen #job-panel { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel; }
    FeaturesScreen #job-panel.-empty { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.registry: Any = None  # backends.feast.FeastRegistry
        self.registry_error: MlopsError | None = None
        self._cache_posted = False
        self.cronjobs: list[m.MaterializationCronJob] = []
        self.jobs: list[m.MaterializationJob] = []
        self.kube_error: MlopsError | None = None
        self.online: Any = None
        self.following: tuple[str, str] | None = None
        self._follow_started = 0.0

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("loading Feast registry ...", id="feast-info", markup=False)
        views = FilterTable(id="views-table")
        views.set_columns("VIEW", "FRESH", "ENTITIES", "TTL", "LAST MATERIALIZED")
        yield views
        yield Static("Materialization (CronJobs / Jobs)", id="jobs-title")
        jobs = FilterTable(id="jobs-table")
        jobs.set_columns("NAME", "KIND", "STATUS", "SCHEDULE/START", "TOOK")
        yield jobs
        yield QuietStatic("", id="job-panel", markup=False, classes="-empty")

    # -- loading -------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        from mlopstui.backends import feast as fb

        ctx = self.ctx
        if self.registry is None:
            self.set_status("loading Feast registry ... (the feast SDK takes a few seconds to import)")
        self.run_io(lambda: fb.load_registry(ctx), self._registry_loaded, self._registry_failed,
                    group="feast", timeout=FEAST_TIMEOUT)
        self.run_io(lambda: fb.online_store_status(ctx), self._online_loaded, self._online_failed,
                    group="online", timeout=FEAST_TIMEOUT)
        self._load_kube()

    def _load_kube(self) -> None:
        from mlopstui.backends import feast as fb

        ctx, ns = self.ctx, self.ctx.namespace

        def load():
            # from the shared watch caches (one per kind, the Stack's when it runs): a change re-renders
            from mlopstui.backends.kube import CRONJOBS, JOBS
            from mlopstui.backends.stack_watch import objects_of

            t = ctx.settings.kube_timeout
            crons = objects_of(ctx.informers, CRONJOBS, ns, optional=False, listener=self._cache_listener, timeout=t)
            cjs = fb.materialization_cronjobs(ctx.kube, ns, items=crons)
            jobs = objects_of(ctx.informers, JOBS, ns, optional=False, listener=self._cache_listener, timeout=t)
            return cjs, fb.materialization_jobs(ctx.kube, ns, cjs, items=jobs)

        self.run_io(load, self._kube_loaded, self._kube_failed, group="kube")

    class CacheChanged(Message):
        """The Jobs/CronJobs watch cache changed (from an informer's thread)."""

    def _cache_listener(self) -> None:
        if not self._cache_posted:
            self._cache_posted = True
            self.post_message(self.CacheChanged())

    def on_features_screen_cache_changed(self, _msg: FeaturesScreen.CacheChanged) -> None:
        self._cache_posted = False
        self._load_kube()  # the caches only: no request

    def _registry_loaded(self, reg: Any) -> None:
        self.registry, self.registry_error = reg, None
        self.loaded_at = datetime.now(UTC).timestamp()
        self._render_views()
        self._render_info()
        n_bad = sum(1 for v in reg.views if v.freshness(datetime.now(UTC), self.interval).status
                    is not m.Freshness.FRESH)
        if self.following is None:
            self.set_status(f"{len(reg.views)} feature views, {n_bad} not fresh · loaded "
                            f"{datetime.now().strftime('%H:%M:%S')} · m: materialize, enter: detail")

    def _registry_failed(self, err: MlopsError) -> None:
        self.registry_error = err
        self._render_info()
        self.show_error(err, "Feast registry")

    def _online_loaded(self, status: Any) -> None:
        self.online = status
        self._render_info()

    def _online_failed(self, err: MlopsError) -> None:
        self.online = None
        self._render_info()

    def _kube_loaded(self, result: tuple[list, list]) -> None:
        self.cronjobs, self.jobs = result
        self.kube_error = None
        self._render_jobs()
        self._render_views()

    def _kube_failed(self, err: MlopsError) -> None:
        self.kube_error = err
        self.cronjobs, self.jobs = [], []
        self._render_jobs()
        self.query_one("#jobs-title", Static).update(safe(f"Materialization: cluster unavailable ({err.kind.value}: "
                                                     f"{err.message[:60]})"))

    @property
    def interval(self) -> timedelta | None:
        return m.min_schedule_interval(self.cronjobs)

    # -- rendering -----------------------------------------------------------------------------------
    def _render_info(self) -> None:
        parts = []
        if self.registry is not None:
            parts.append(f"project {self.registry.project} · repo {self.registry.repo} ({self.registry.repo_source})")
        elif self.registry_error is not None:
            parts.append(f"Feast registry: {self.registry_error.message}")
        else:
            parts.append("loading Feast registry ...")
        if self.online is not None:
            ok = {True: "ok", False: "DOWN", None: "?"}[self.online.ok]
            parts.append(f"online {self.online.kind} {self.online.address} {ok}: {self.online.message}")
        self.query_one("#feast-info", Static).update(safe("\n".join(parts)))

    def _render_views(self) -> None:
        if self.registry is None:
            return
        now, interval = datetime.now(UTC), self.interval
        rows = []
        for v in self.registry.views:
            f = v.freshness(now, interval)
            age = f"{m.fmt_duration(f.age)} ago" if f.age is not None else "never"
            rows.append((v.name, (v.name, freshness_cell(f.status), ",".join(v.entities),
                                  m.fmt_duration(v.ttl) if v.ttl else "-", age)))
        self.query_one("#views-table", FilterTable).set_rows(rows)

    def _render_jobs(self) -> None:
        now = datetime.now(UTC)
        rows: list[tuple[str, tuple]] = []
        for c in self.cronjobs:
            status = "suspended" if c.suspend else (f"active {len(c.active)}" if c.active else "scheduled")
            rows.append((f"cronjob/{c.name}", (c.name, "CronJob", status, c.schedule,
                                              f"every {m.fmt_duration(c.interval)}" if c.interval else "")))
        for j in self.jobs[:20]:
            started = j.start.astimezone().strftime("%m-%d %H:%M:%S") if j.start else "-"
            rows.append((f"job/{j.name}", (j.name, "Job" + (" (manual)" if j.manual else ""),
                                          badge(j.status, JOB_LEVEL.get(j.status, "unknown")), started,
                                          m.fmt_duration(j.duration(now)))))
        self.query_one("#jobs-table", FilterTable).set_rows(rows)
        title = f"Materialization in {self.ctx.namespace}: {len(self.cronjobs)} CronJob(s), {len(self.jobs)} Job(s)"
        if not self.cronjobs:
            title += " · no CronJob runs feast materialize (L: run locally)"
        self.query_one("#jobs-title", Static).update(safe(title))

    def _panel(self, text: str) -> None:
        panel = self.query_one("#job-panel", Static)
        panel.set_class(not text, "-empty")
        panel.update(clean(text))

    # -- selection helpers ----------------------------------------------------------------------------
    def _selected_job_row(self) -> str | None:
        return self.query_one("#jobs-table", FilterTable).selected_key

    def _target_cronjob(self) -> str | None:
        key = self._selected_job_row() if self.focused is self.query_one("#jobs-table") else None
        if key and key.startswith("cronjob/"):
            return key.split("/", 1)[1]
        if key and key.startswith("job/"):
            job = next((j for j in self.jobs if j.name == key.split("/", 1)[1]), None)
            if job and job.owner:
                return job.owner
        active = [c for c in self.cronjobs if not c.suspend] or self.cronjobs
        return active[0].name if active else None

    # -- keys ----------------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "views-table":
            self._open_view()
        elif event.data_table.id == "jobs-table":
            self.action_log()

    def action_open(self) -> None:
        if self.focused is self.query_one("#jobs-table"):
            self.action_log()
        else:
            self._open_view()

    def _open_view(self) -> None:
        key = self.query_one("#views-table", FilterTable).selected_key
        view = self.registry.view(key) if (self.registry is not None and key) else None
        if view is None:
            self.notify("no feature view selected" if self.registry is not None else "the registry is still loading")
            return
        self.app.push_screen(FeatureViewScreen(view, self.interval))

    def handle_command(self, cmd: str, arg: str) -> bool:
        if cmd in ("materialize", "mat"):
            self.action_materialize()
            return True
        return False

    def action_materialize(self) -> None:
        if self.kube_error is not None and not self.cronjobs:
            self.show_error(self.kube_error, "materialization CronJobs")
            return
        name = self._target_cronjob()
        if name is None:
            self.notify(f"no CronJob runs feast materialize in {self.ctx.namespace}; L materializes locally",
                        severity="warning")
            return
        from mlopstui.actions.features import TriggerMaterialization

        action = TriggerMaterialization(self.ctx, self.ctx.namespace, name)
        self.set_status(f"planning a Job from cronjob/{name} ...")
        self.run_io(action.plan, lambda plan: self._confirm(action, plan), lambda e: self.show_error(e, "plan"),
                    group="plan")

    def action_materialize_local(self) -> None:
        from mlopstui.actions.features import MaterializeLocal
        from mlopstui.backends import feast as fb

        ctx = self.ctx

        def plan():
            repo, _ = fb.repo_path(ctx)
            action = MaterializeLocal(repo)
            return action, action.plan()

        self.run_io(plan, lambda ap: self._confirm(*ap, local=True), lambda e: self.show_error(e, "plan"),
                    group="plan")

    def _confirm(self, action: Any, plan: Any, local: bool = False) -> None:
        from mlopstui.screens.confirm import confirm_then_apply

        confirm_then_apply(self, action, plan, what=plan.action,
                           applying="materializing locally ..." if local else f"creating {plan.target} ...",
                           on_applied=lambda res: self._applied(res, local),
                           on_error=lambda e: self.show_error(e, plan.action), group="apply",
                           timeout=(action.timeout + 10) if local else None)

    def _applied(self, result: Any, local: bool) -> None:
        if local:
            out = (result.data or {}).get("output", "")
            self._panel(("materialized locally" if result.ok else f"FAILED: {result.message}") + "\n"
                        + m.log_tail(out, 4))
            self.set_status(result.message, error=not result.ok)
            self.refresh_data()
            return
        data = result.data or {}
        self.following = (data.get("namespace") or self.ctx.namespace, data.get("job"))
        self._follow_started = datetime.now(UTC).timestamp()
        self.set_status(f"{result.message}: following it ...")
        self._load_kube()
        self._poll_follow()

    def _poll_follow(self) -> None:
        if self.following is None:
            return
        from mlopstui.backends import feast as fb

        ctx = self.ctx
        ns, name = self.following

        def poll():
            return fb.get_job(ctx.kube, ns, name), fb.job_log(ctx.kube, ns, name, tail_lines=50)

        self.run_io(poll, self._followed, self._follow_failed, group="follow")

    def _followed(self, result: tuple[m.MaterializationJob, str]) -> None:
        job, log = result
        now = datetime.now(UTC)
        head = f"job {job.namespace}/{job.name}: {job.status} · {m.fmt_duration(job.duration(now))}"
        if job.message:
            head += f" · {job.message}"
        self._panel(head + "\n" + m.log_tail(log, 4))
        if job.done:
            self.following = None
            self.set_status(f"job {job.name} {job.status}" + (" · registry reloaded" if job.status == "Succeeded"
                                                               else " · l: full log"), error=job.status == "Failed")
            self.refresh_data()
            return
        if now.timestamp() - self._follow_started > FOLLOW_LIMIT:
            self.following = None
            self.set_status(f"stopped following {job.name} (still {job.status}); ctrl+r refreshes", error=True)
            return
        self.set_timer(FOLLOW_POLL, self._poll_follow)

    def _follow_failed(self, err: MlopsError) -> None:
        self.show_error(err, "following the job")
        if self.following is not None:
            self.set_timer(FOLLOW_POLL * 3, self._poll_follow)

    def action_log(self) -> None:
        key = self._selected_job_row()
        if not key or not key.startswith("job/"):
            if self.following:
                key = f"job/{self.following[1]}"
            elif self.jobs:
                key = f"job/{self.jobs[0].name}"
            else:
                self.notify("no materialization Job to show the log of")
                return
        from mlopstui.backends import feast as fb

        ctx, ns, name = self.ctx, self.ctx.namespace, key.split("/", 1)[1]

        def opened(pod: str | None) -> None:
            from mlopstui.screens.logs import PodLogScreen

            if pod is None:
                self.set_status(f"job {name} has no pod yet (its log appears once one starts)")
                return
            self.app.push_screen(PodLogScreen(ns, pod, area="features", title=f"Logs job {ns}/{name} (pod {pod})"))

        self.run_io(lambda: fb.job_pod(ctx.kube, ns, name), opened,
                    lambda e: self.show_error(e, f"log of {name}"), group="log")


class FeatureViewScreen(AreaScreen):
    """One feature view: features with dtypes, source, freshness, intervals, a sample online row."""

    AREA = "features"
    TITLE = "Features"
    BINDINGS = [Binding("s", "sample", "Online sample")]
    DEFAULT_CSS = """
    FeatureViewScreen #fv-scroll { height: 1fr; }
    FeatureViewScreen #fv-detail, FeatureViewScreen #fv-sample { height: auto; padding: 0 1; }
    """

    def __init__(self, view: m.FeatureViewRow, interval: timedelta | None):
        super().__init__()
        self.view = view
        self.interval = interval
        self.TITLE = f"Features › {view.name}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="fv-scroll"):
            yield Static(safe(self.detail_text()), id="fv-detail")
            yield QuietStatic("online sample: loading ...", id="fv-sample", markup=False)

    def detail_text(self) -> Text:
        v, now = self.view, datetime.now(UTC)
        f = v.freshness(now, self.interval)
        t = Text()
        t.append(f"{v.kind} {v.name}\n", style="bold")
        t.append("freshness: ")
        t.append(badge(f.status.word, _LEVEL[f.status]))
        t.append(f" · {f.text}" + (f"\n  why: {f.reason}" if f.reason else "") + "\n")
        t.append(f"entities:  {', '.join(v.entities)} (join keys {', '.join(v.join_keys) or '-'})\n")
        t.append(f"ttl:       {m.fmt_duration(v.ttl) if v.ttl else 'none'} · online: {'yes' if v.online else 'no'}\n")
        t.append(f"source:    {v.source}\n")
        if v.tags:
            t.append("tags:      " + ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items())) + "\n")
        t.append(f"\nfeatures ({len(v.features)}):\n", style="bold")
        width = max((len(x.name) for x in v.features), default=4)
        for x in v.features:
            t.append(f"  {x.name.ljust(width)}  {x.dtype}\n")
        t.append(f"\nmaterialization intervals ({len(v.intervals)}, newest last):\n", style="bold")
        for a, b in v.intervals[-5:]:
            t.append(f"  {m.iso(a)} → {m.iso(b)}\n")
        if not v.intervals:
            t.append("  none: never materialized\n")
        return t

    def refresh_data(self) -> None:
        self.action_sample()

    def action_sample(self) -> None:
        from mlopstui.backends import feast as fb

        ctx, name = self.ctx, self.view.name
        self.query_one("#fv-sample", Static).update(safe("online sample: loading ..."))
        self.run_io(lambda: fb.sample_online(ctx, name), self._sampled, self._sample_failed, group="sample",
                    timeout=FEAST_TIMEOUT)

    def _sampled(self, s: dict) -> None:
        key = ", ".join(f"{k}={v}" for k, v in s["entity"].items())
        lines = [f"online sample for {key}:"]
        width = max((len(k) for k in s["values"]), default=4)
        lines += [f"  {k.ljust(width)}  {v!r}" for k, v in s["values"].items()]
        if s.get("all_null"):
            lines.append("  all values are null: not materialized, expired (ttl) or evicted from the online store")
        self.query_one("#fv-sample", Static).update(safe("\n".join(lines)))

    def _sample_failed(self, err: MlopsError) -> None:
        self.query_one("#fv-sample", Static).update(safe(f"online sample failed: [{err.kind.value}] {err.message}"
                                                    + (f"\n  fix: {err.hint}" if err.hint else "")))

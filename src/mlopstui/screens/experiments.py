"""Area 2: MLflow experiments. Enter drills into the runs; `m` opens the model registry.

The tracking server is reached over its REST API (backends/mlflow.py) from workers only; the
mlflow SDK is never imported here. The source of the tracking URI is shown on the top line.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.experiments import Experiment, fmt_time
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import ago, clock
from mlopstui.widgets.columns import Col
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic

if TYPE_CHECKING:
    from mlopstui.backends.mlflow import MlflowBackend

# counting runs pages through them (MLflow has no count API): small pages, so a page in flight never
# holds up what the user opens on a single-worker tracking server for long. The count of a 100,000-run
# experiment is its server's slowest request each time: a 250-run page took 0.7-1.3 s at load 14-20 and the
# runs' first page queued behind it (1.4 s to the first page instead of 0.5 s); a 100-run page 0.3-0.8 s.
COUNT_PAGE = 100
COUNT_DELAY_S = 1.0
# MLflow has no count: counting pages through every run (params, metrics and tags included). Past this many
# the list says "≥ N" instead of bringing a 100,000-run experiment to the bastion to count it
COUNT_CAP = 10_000
VIEWS = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
VIEW_LABEL = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}


class MlflowSource(QuietStatic):
    DEFAULT_CSS = """
    MlflowSource { height: 1; padding: 0 1; color: $text-muted; }
    """


class ExperimentsScreen(AreaScreen):
    AREA = "experiments"
    TITLE = "Experiments"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("enter", "open", "Runs"),
        Binding("a", "toggle_view", "Active/deleted"),
        Binding("m", "models", "Models"),
    ]
    COMMANDS_HELP = [
        ("runs NAME", "open the runs of an experiment"),
        ("models", "the MLflow model registry"),
        ("run RUN_ID", "open one run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.backend: MlflowBackend | None = None
        self.experiments: list[Experiment] = []
        self.view = "ACTIVE_ONLY"
        self.error: MlopsError | None = None
        self._retry_timer = None
        self._pending_open: str | None = None
        self._count_generation = 0
        self._count_paused = threading.Event()
        self._counting = threading.Event()
        self._under_dialog = False

    def compose_body(self) -> ComposeResult:
        yield MlflowSource("MLflow: resolving the tracking server ...", id="mlflow-source")
        yield FilterTable(id="experiments")

    def on_mount(self) -> None:
        table = self.query_one("#experiments", FilterTable)
        table.set_columns(Col("NAME", 0), Col("ID", 2), Col("RUNS", 1), Col("LAST RUN", 1),
                          Col("TAGS", 3, wide=True))
        self.set_interval(1.0, self._tick)

    # -- data ------------------------------------------------------------------------------------
    def ensure_backend(self) -> MlflowBackend:
        """Blocking (may list cluster Services): call from a worker."""
        if self.backend is None or self.backend.is_closed:  # closed with the context on :ctx / :ns
            from mlopstui.backends.mlflow import MlflowBackend

            self.backend = MlflowBackend.from_context(self.ctx)
        return self.backend

    def refresh_data(self) -> None:
        view = self.view

        def load() -> tuple[MlflowBackend, list[Experiment]]:
            b = self.ensure_backend()
            return b, b.search_experiments(view)

        self.run_io(load, self._loaded, self._failed, group="experiments",
                    timeout=max(self.ctx.settings.kube_timeout * 3, 20.0))

    def _loaded(self, result: tuple[MlflowBackend, list[Experiment]]) -> None:
        backend, exps = result
        old = {e.experiment_id: e for e in self.experiments}
        for e in exps:  # keep counts already known while they are recounted
            if e.experiment_id in old:
                e.run_count, e.run_count_capped, e.last_run_time = (
                    old[e.experiment_id].run_count, old[e.experiment_id].run_count_capped,
                    old[e.experiment_id].last_run_time)
        self.experiments = exps
        self.loaded_at = clock()
        recovered = self.error is not None
        self.error = None
        if self._retry_timer is not None:
            self._retry_timer.stop()
            self._retry_timer = None
        self._render_table()
        self._render_source()
        self.set_status(("reconnected: " if recovered else "")
                        + f"{len(exps)} {VIEW_LABEL[self.view]} experiments; enter opens runs, m the model "
                        "registry, a switches active/deleted")
        if not self._counting.is_set() or {e.experiment_id for e in exps} != set(old):
            self._count_runs(backend, exps)  # a count under way for the same experiments goes on
        if self._pending_open:
            name, self._pending_open = self._pending_open, None
            self.open_experiment(name)

    def _count_runs(self, backend: MlflowBackend, exps: list[Experiment]) -> None:
        """Run counts and last run times page through every run: one background worker, filled as they come."""
        ids = [e.experiment_id for e in exps]
        generation = self._count_generation = self._count_generation + 1

        def between_pages() -> bool:
            # yield the (often single-worker) tracking server to the screen the user is looking at
            while self._count_paused.is_set() and generation == self._count_generation:
                time.sleep(0.2)
            return generation == self._count_generation

        def count() -> None:
            try:
                counting(generation)
            finally:
                if generation == self._count_generation:
                    self._counting.clear()

        def counting(generation: int) -> None:
            time.sleep(COUNT_DELAY_S)  # let the user's first request (e.g. :exp NAME) go first
            for eid in ids:
                # every request waits while the user is elsewhere (the runs of an experiment): the first of
                # each experiment too (its newest run, a full sort on the server), not only the pages between
                if not between_pages():
                    return
                def progress(n: int, eid: str = eid) -> None:  # "≥ N" while the pages come
                    try:
                        self.app.call_from_thread(self._counted, eid, n, True, None)
                    except Exception:  # noqa: BLE001 - the app is gone
                        pass

                try:
                    n, capped, last = backend.experiment_stats(eid, cap=COUNT_CAP, page_size=COUNT_PAGE,
                                                               between_pages=between_pages, progress=progress)
                except MlopsError:
                    continue
                if generation != self._count_generation:
                    return
                try:
                    self.app.call_from_thread(self._counted, eid, n, capped, last)
                except Exception:  # noqa: BLE001 - the app is gone
                    return

        # a plain daemon thread, not a Textual worker: quitting the app must not wait for a count
        self._counting.set()
        threading.Thread(target=count, daemon=True, name="mlflow-count").start()

    def _counted(self, eid: str, n: int, capped: bool, last: int | None) -> None:
        for e in self.experiments:
            if e.experiment_id == eid:
                e.run_count, e.run_count_capped = n, capped
                e.last_run_time = last if last is not None else e.last_run_time
        self._render_table()

    def _failed(self, err: MlopsError) -> None:
        self.error = err
        self.show_error(err, "MLflow")
        self._render_source()
        if err.kind in (Kind.CONFIG, Kind.UNSUPPORTED):
            self.backend = None  # the configuration may change (:ctx); resolve again next time
        if self._retry_timer is None:  # come back by itself when the server returns
            self._retry_timer = self.set_interval(max(self.ctx.settings.refresh_interval, 3.0), self.refresh_data)

    def _render_table(self) -> None:
        table = self.query_one("#experiments", FilterTable)
        rows = []
        for e in self.experiments:
            count = "…" if e.run_count is None else (f"≥ {e.run_count}" if e.run_count_capped else str(e.run_count))
            tags = ", ".join(f"{k}={v}" for k, v in sorted(e.user_tags.items()))
            name = Text(e.name, style="strike dim") if e.lifecycle_stage == "deleted" else e.name
            rows.append((e.experiment_id, [name, e.experiment_id, count, fmt_time(e.last_run_time), tags]))
        table.set_rows(rows)

    def _render_source(self) -> None:
        b = self.backend
        if b is None:
            text = "MLflow: " + (self.error.message if self.error else "resolving ...")
        else:
            auth = {"none": "", "basic": "  auth: user/password", "token": "  auth: token"}[b.auth_mode]
            state = "  [b red]unreachable[/]" if self.error else f"  loaded {ago(self.loaded_at)}"
            text = f"MLflow: {b.display}{auth}  view: {VIEW_LABEL[self.view]}{state}"
        try:
            self.query_one("#mlflow-source", MlflowSource).update(safe(text))
        except Exception:
            pass

    def _tick(self) -> None:
        if self.backend is not None and self.error is None:
            self._render_source()

    def on_unmount(self) -> None:
        self._count_generation += 1  # stops the counting thread at its next page

    def on_screen_suspend(self) -> None:
        from textual.screen import ModalScreen

        self._count_paused.set()
        # under the command line or help (a dialog) nothing changed: closing it does not re-read the list
        # (`:exp NAME` closes the command line and opens the runs at once; a re-read raced their first page)
        self._under_dialog = isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        self._count_paused.clear()
        under_dialog, self._under_dialog = self._under_dialog, False
        if self.loaded_at is not None and not under_dialog:  # back from the runs, another area: read it again
            self.refresh_data()

    def on_context_changed(self) -> None:
        self.backend = None
        self.error = None
        self._counting.clear()
        self.refresh_data()

    # -- keys ------------------------------------------------------------------------------------
    def selected_experiment(self) -> Experiment | None:
        key = self.query_one("#experiments", FilterTable).selected_key
        return next((e for e in self.experiments if e.experiment_id == key), None)

    def on_data_table_row_selected(self, event) -> None:
        if event.data_table.id == "experiments":
            event.stop()
            self.action_open()

    def action_open(self) -> None:
        exp = self.selected_experiment()
        if exp is None or self.backend is None:
            self.notify("no experiment selected")
            return
        from mlopstui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.backend, exp))

    def open_experiment(self, name_or_id: str) -> None:
        exp = next((e for e in self.experiments if name_or_id in (e.name, e.experiment_id)), None)
        if exp is None:
            if self.backend is None:
                self._pending_open = name_or_id
                return
            self.notify(f"no experiment '{name_or_id}'", severity="error")
            return
        from mlopstui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.backend, exp))

    def action_toggle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.set_status(f"showing {VIEW_LABEL[self.view]} experiments ...")
        self.refresh_data()

    def action_models(self) -> None:
        if self.backend is None:
            self.notify("MLflow is not reachable yet", severity="error")
            return
        from mlopstui.screens.model_registry import RegistryScreen

        self.app.push_screen(RegistryScreen(self.backend))

    def action_open_run(self, run_id: str) -> None:
        if self.backend is None:
            self.notify("MLflow is not reachable yet", severity="error")
            return
        from mlopstui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(self.backend, run_id))

    def handle_command(self, cmd: str, arg: str) -> bool:
        if cmd in ("models", "model", "registry"):
            self.action_models()
            return True
        if cmd in ("runs", "exp", "experiments") and arg:
            self.open_experiment(arg)
            return True
        if cmd == "run" and arg:
            self.action_open_run(arg)
            return True
        return False

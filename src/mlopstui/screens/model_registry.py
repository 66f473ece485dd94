"""The MLflow model registry: registered models, their versions (status, aliases, tags, source run).

enter on a model lists its versions; enter on a version opens its source run; `c` on a version
makes it the canary of an InferenceService (actions.serving.SetCanaryModel: plan -> confirm -> apply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.experiments import ModelVersion, RegisteredModel, fmt_time
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.filter_table import FilterTable

if TYPE_CHECKING:
    from mlopstui.backends.mlflow import MlflowBackend


class RegistryScreen(AreaScreen):
    AREA = "experiments"
    TITLE = "Experiments › models"
    BINDINGS = [
        *AreaScreen.BINDINGS,
        Binding("enter", "open", "Open", show=False),
        Binding("c", "canary", "Canary"),
        Binding("tab", "switch_table", "Models/versions", show=False),
    ]
    DEFAULT_CSS = """
    RegistryScreen #models { height: 2fr; }
    RegistryScreen #versions { height: 3fr; }
    RegistryScreen .label { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, backend: MlflowBackend):
        super().__init__()
        self.backend = backend
        self.models: list[RegisteredModel] = []
        self.versions: list[ModelVersion] = []
        self.model_name: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(safe(f"registered models at {self.backend.display}"), classes="label")
        yield FilterTable(id="models")
        yield Static("versions: enter on a model", id="versions-label", classes="label")
        yield FilterTable(id="versions")

    def on_mount(self) -> None:
        self.query_one("#models", FilterTable).set_columns("MODEL", "VERSIONS", "ALIASES", "UPDATED", "TAGS")
        self.query_one("#versions", FilterTable).set_columns("VERSION", "STATUS", "ALIASES", "RUN", "SOURCE",
                                                             "CREATED", "TAGS")

    def refresh_data(self) -> None:
        self.run_io(self.backend.search_registered_models, self._models_loaded,
                    lambda e: self.show_error(e, "model registry"), group="models")
        if self.model_name:
            self.load_versions(self.model_name)

    def _models_loaded(self, models: list[RegisteredModel]) -> None:
        self.models = models
        self.loaded_at = clock()
        rows = []
        for m in models:
            aliases = ", ".join(f"@{a}=v{v}" for a, v in sorted(m.aliases.items()))
            tags = ", ".join(f"{k}={v}" for k, v in sorted(m.tags.items()))
            rows.append((m.name, [m.name, ",".join(m.latest_versions), aliases,
                                  fmt_time(m.last_updated_timestamp), tags]))
        self.query_one("#models", FilterTable).set_rows(rows)
        self.set_status(f"{len(models)} registered models; enter lists versions, enter on a version opens its "
                        "run, c makes a version the canary of an InferenceService")
        if self.model_name is None and len(models) == 1:
            self.load_versions(models[0].name)

    def load_versions(self, name: str) -> None:
        self.model_name = name
        self.query_one("#versions-label", Static).update(safe(f"versions of {name}: loading ..."))
        self.run_io(lambda: self.backend.search_model_versions(name), self._versions_loaded,
                    lambda e: self.show_error(e, f"versions of {name}"), group="versions")

    def _versions_loaded(self, versions: list[ModelVersion]) -> None:
        self.versions = versions
        rows = []
        for v in versions:
            aliases = Text(", ".join(f"@{a}" for a in v.aliases), style="bold")
            tags = ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))
            rows.append((v.version, [f"v{v.version}", v.status, aliases, v.run_id[:8], v.source,
                                     fmt_time(v.creation_timestamp), tags]))
        self.query_one("#versions", FilterTable).set_rows(rows)
        self.query_one("#versions-label", Static).update(safe(
            f"versions of {self.model_name}: enter opens the source run, c canary"))

    # -- keys ------------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event) -> None:
        event.stop()
        if event.data_table.id == "models":
            key = event.data_table.selected_key
            if key:
                self.load_versions(key)
                self.query_one("#versions", FilterTable).focus()
        elif event.data_table.id == "versions":
            self.open_version_run()

    def action_open(self) -> None:
        table = self.focused_table()
        if table is not None and table.id == "versions":
            self.open_version_run()
        elif table is not None and table.selected_key:
            self.load_versions(table.selected_key)

    def action_switch_table(self) -> None:
        other = "#versions" if getattr(self.focused, "id", "") == "models" else "#models"
        self.query_one(other, FilterTable).focus()

    def selected_version(self) -> ModelVersion | None:
        key = self.query_one("#versions", FilterTable).selected_key
        return next((v for v in self.versions if v.version == key), None)

    def open_version_run(self) -> None:
        v = self.selected_version()
        if v is None:
            return
        if not v.run_id:
            self.notify(f"v{v.version} has no source run", severity="warning")
            return
        from mlopstui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(self.backend, v.run_id))

    def action_canary(self) -> None:
        v = self.selected_version()
        if v is None:
            self.notify("select a model version first (enter on a model, then the version)", severity="warning")
            return
        from mlopstui.screens.confirm import PromptValue

        self.app.push_screen(
            PromptValue(f"Make {v.name} v{v.version} the canary of InferenceService ([namespace/]name percent):",
                        value=f"{self.ctx.namespace}/{v.name} 10"),
            lambda value: self._canary_target(v, value))

    def _canary_target(self, v: ModelVersion, value: str | None) -> None:
        if not value or not value.strip():
            return
        try:
            ns, name, percent = parse_canary_target(value, self.ctx.namespace)
        except MlopsError as err:
            self.show_error(err, "canary")
            return
        ctx = self.ctx

        def plan():
            from mlopstui.actions.serving import SetCanaryModel

            uri = self.backend.resolve_storage_uri(v)
            action = SetCanaryModel(ctx, ns, name, uri, percent)
            return action, action.plan()

        self.set_status(f"planning canary of {v.name} v{v.version} on {ns}/{name} ...")
        self.run_io(plan, self._confirm, lambda e: self.show_error(e, "canary plan"), group="canary")

    def _confirm(self, result) -> None:
        from mlopstui.screens.confirm import confirm_then_apply

        action, plan = result
        confirm_then_apply(self, action, plan, what="canary",
                           on_applied=lambda res: self.set_status(f"applied: {res.message}"), group="canary")


def parse_canary_target(value: str, default_ns: str) -> tuple[str, str, int]:
    parts = value.split()
    if not parts:
        raise MlopsError(Kind.INVALID, "give the InferenceService as [namespace/]name and a percent")
    target = parts[0]
    ns, _, name = target.rpartition("/")
    try:
        percent = int(parts[1].rstrip("%")) if len(parts) > 1 else 10
    except ValueError:
        raise MlopsError(Kind.INVALID, f"not a percent: {parts[1]}") from None
    if not 0 <= percent <= 100:
        raise MlopsError(Kind.INVALID, f"percent must be 0..100, not {percent}")
    return ns or default_ns, name, percent

"""The areas of the app: key, mode name, title, where the screen lives, and `:` aliases."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class Area:
    key: str
    mode: str
    title: str
    module: str
    cls: str
    aliases: tuple[str, ...]
    promise: str  # what the placeholder says will be there


AREAS: tuple[Area, ...] = (
    Area("1", "stack", "Stack", "mlopstui.screens.stack", "StackScreen", ("stack", "status", "doctor"),
         "Every component of the stack with readiness, live probes and the doctor's findings."),
    Area("2", "experiments", "Experiments", "mlopstui.screens.experiments", "ExperimentsScreen",
         ("runs", "exp", "experiments", "mlflow", "models", "run"),
         "MLflow experiments, runs, metric plots, artifacts and the model registry."),
    Area("3", "features", "Features", "mlopstui.screens.features", "FeaturesScreen",
         ("features", "feast", "fv"),
         "Feast feature views, freshness and materialization."),
    Area("4", "serving", "Serving", "mlopstui.screens.serving", "ServingScreen",
         ("isvc", "serving", "kserve"),
         "InferenceServices, traffic splits, canary, promote and rollback."),
    Area("5", "pipelines", "Pipelines", "mlopstui.screens.pipelines", "PipelinesScreen",
         ("workflows", "wf", "pipelines", "argo", "kfp", "cronwf", "wftmpl"),
         "Argo Workflows and Kubeflow Pipelines runs: node trees, logs, retry, resubmit."),
    Area("6", "data", "Data", "mlopstui.screens.data", "DataScreen", ("data", "lakefs", "dvc", "datasets"),
         "LakeFS repositories, branches, commits, diffs and objects; the DVC project's datasets."),
    Area("7", "audit", "Audit", "mlopstui.screens.audit", "AuditScreen", ("audit",),
         "Every change made through mlopstui, from the audit log."),
)


def area_for(name: str) -> Area | None:
    name = name.lower()
    for a in AREAS:
        if name == a.mode or name in a.aliases or name == a.key:
            return a
    return None


def make_screen(area: Area) -> Screen:
    from mlopstui.screens.base import PlaceholderScreen

    try:
        mod = importlib.import_module(area.module)
    except ModuleNotFoundError as exc:
        if exc.name != area.module:
            raise
        return PlaceholderScreen(area.mode, area.title, area.promise)
    return getattr(mod, area.cls)()

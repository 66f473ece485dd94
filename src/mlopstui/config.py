"""Settings: defaults < YAML file (XDG config dir or --config) < MLOPSTUI_* env vars < flags.

Endpoint overrides are keyed by component id (see mlopstui.models.stack.CATALOG):
``mlflow``, ``s3``, ``postgresql``, ``pgbouncer``, ``redis``, ``feast_repo``,
``feast_registry``, ``feast_server``, ``ingress``, ``lakefs``, ``argo``, ``kfp``.
Anything not configured is discovered from cluster Services; the source is shown.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from mlopstui import locations
from mlopstui.errors import Kind, MlopsError

ENV_PREFIX = "MLOPSTUI_"
CONFIG_ENV = "MLOPSTUI_CONFIG"  # the settings file, when --config is not given (README, `sandbox env`)


class ConfigError(MlopsError, ValueError):
    """The config file cannot be read or does not validate (exit 2 in the CLI, as every MlopsError)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(Kind.CONFIG, message, hint=hint, source="config")


class Endpoints(BaseModel):
    """Explicit endpoint overrides. Empty means: discover from the cluster."""

    mlflow: str | None = None
    s3: str | None = None
    postgresql: str | None = None
    pgbouncer: str | None = None
    redis: str | None = None
    feast_repo: str | None = None
    feast_registry: str | None = None
    feast_server: str | None = None
    ingress: str | None = None
    lakefs: str | None = None
    # a DVC project in a Git checkout on this machine (the Data area's DVC part)
    dvc_repo: str | None = None
    argo: str | None = None
    kfp: str | None = None
    # Prometheus's HTTP API base URL (the rollout gates' first signal), e.g. http://prometheus-server.monitoring
    prometheus: str | None = None

    model_config = {"extra": "forbid"}


class ComponentOverride(BaseModel):
    """Per-component detection overrides: label selectors or workload names."""

    namespace: str | None = None
    selector: str | None = None
    names: list[str] = Field(default_factory=list)

    model_config = {"extra": "forbid"}


class LakeFSSettings(BaseModel):
    """LakeFS credentials (else lakectl's env, else the Secret the LakeFS Deployment uses)."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    secret: str | None = None  # "namespace/name" of a Secret with access_key_id / secret_access_key

    model_config = {"extra": "forbid"}


class RolloutDefaults(BaseModel):
    """Defaults of `mlopstui rollout` and the TUI's rollout view (flags override them)."""

    model_config = {"extra": "forbid"}

    steps: str = Field(default="10,25,50,100", description="canary percents, increasing, the last 100")
    pause: str = Field(default="60s", description="measuring time per step (e.g. 60s, 2m) or `manual`")
    max_error_rate: str = Field(default="1%", description="canary 5xx share allowed (1% or 0.01)")
    max_p95: str | None = Field(default=None, description="canary p95 latency allowed (e.g. 200ms; unset: no gate)")
    max_p95_ratio: str | None = Field(default=None, description="canary p95 allowed relative to stable (e.g. 1.5)")
    min_requests: int = Field(default=20, ge=0, le=1_000_000_000,
                              description="canary requests in the window before any gate may pass")
    signal: Literal["auto", "prometheus", "pod-metrics", "synthetic"] = Field(
        default="auto", description="where the gates' numbers come from: auto (Prometheus when configured or "
                                    "discovered, else the model servers' /metrics, else synthetic requests)")

    @field_validator("steps", "pause", "max_error_rate", "max_p95", "max_p95_ratio")
    @classmethod
    def _parses(cls, v: str | None, info) -> str | None:
        from mlopstui.models import rollout as r

        parse = {"steps": r.parse_steps, "pause": r.parse_pause, "max_error_rate": r.parse_rate,
                 "max_p95": r.parse_latency_ms, "max_p95_ratio": r.parse_ratio}[info.field_name]
        if v is not None:
            try:
                parse(str(v))
            except MlopsError as exc:
                raise ValueError(exc.message) from None
        return None if v is None else str(v)


class Settings(BaseModel):
    model_config = {"extra": "forbid"}

    # each field's description is its documentation: README.md "Configuration" lists them
    # (tests/unit/test_settings_docs.py checks it)
    kubeconfig: str | None = Field(default=None, description="kubeconfig file (else $KUBECONFIG, else ~/.kube/config)")
    context: str | None = Field(default=None, description="kubeconfig context (else its current-context)")
    namespace: str | None = Field(default=None, description="namespace of the MLOps stack (else the context's)")
    impersonate_user: str | None = Field(
        default=None, description="act as another user (Impersonate-User; like kubectl --as)")
    impersonate_groups: list[str] = Field(
        default_factory=list, description="groups to act as (Impersonate-Group; like kubectl --as-group)")
    route: Literal["auto", "direct", "api"] = Field(
        default="auto", description="how endpoints are reached: auto (configured, env, direct, then through the "
                                    "API server), direct, or api (always through the API server)")
    watched_namespaces: list[str] = Field(
        default_factory=list, description="namespaces the Stack area looks in (else its defaults)")
    readonly: bool = Field(default=False, description="refuse every change (like --readonly)")
    refresh_interval: float = Field(default=10.0, ge=1.0, le=3600.0,
                                    description="seconds between the Stack's live probes (cluster objects come by watch)")
    probe_timeout: float = Field(default=3.0, gt=0.0, le=120.0, description="each live probe's own timeout (s)")
    kube_timeout: float = Field(default=5.0, gt=0.0, le=120.0, description="each Kubernetes API call's timeout (s)")
    deadline: float = Field(default=60.0, gt=0.0, le=3600.0,
                            description="one deadline per headless verb: all its calls end within it (s)")
    canary_step: int = Field(default=10, ge=1, le=100, description="percent per +/- key on the Serving area")
    endpoints: Endpoints = Field(default_factory=Endpoints,
                                 description="endpoint overrides; anything unset is discovered from the cluster")
    components: dict[str, ComponentOverride] = Field(
        default_factory=dict, description="detection overrides per component id (namespace, selector, names)")
    feast_project: str | None = Field(
        default=None, description="the Feast project to show when only a registry is configured and it holds "
                                  "several (with a repository, feature_store.yaml names it)")
    lakefs: LakeFSSettings = Field(default_factory=LakeFSSettings,
                                   description="LakeFS credentials: a Secret, or access_key_id/secret_access_key")
    inference_sample: dict[str, Any] | None = Field(
        default=None, description="the body or rows a test request sends (v1 and/or v2)")
    rollout: RolloutDefaults = Field(default_factory=RolloutDefaults,
                                     description="progressive canary defaults (`rollout.*` below)")
    audit_log: str | None = Field(default=None, description="audit log file (else $XDG_STATE_HOME/mlopstui/audit.jsonl)")
    app_log: str | None = Field(default=None, description="app log file (else $XDG_STATE_HOME/mlopstui/mlopstui.log)")
    theme: str | None = Field(default=None, description="the TUI's Textual theme, e.g. textual-dark, nord, gruvbox")
    keymap: dict[str, str] = Field(
        default_factory=dict, description="binding id -> keys (comma-separated), e.g. app.help: f1; `?` lists "
                                          "the keys in effect, README \"Keys\" the ids")

    # where this was loaded from, for the status line; not a setting
    config_path: str | None = Field(default=None, exclude=True)

    @field_validator("namespace", "context", "kubeconfig", "impersonate_user")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    def audit_log_path(self) -> Path:
        return Path(self.audit_log) if self.audit_log else locations.audit_log_file()

    def app_log_path(self) -> Path:
        return Path(self.app_log) if self.app_log else locations.app_log_file()


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return data


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """MLOPSTUI_<FIELD> (nested with __, e.g. MLOPSTUI_ENDPOINTS__MLFLOW); lists and mappings as JSON.

    Variables that name no setting (MLOPSTUI_CONFIG, MLOPSTUI_SANDBOX_DIR, ...) are not settings.
    """
    out: dict[str, Any] = {}
    for key, raw in (os.environ if environ is None else environ).items():
        if not key.upper().startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        field = Settings.model_fields.get(path[0])
        if field is None:
            continue
        value: Any = raw
        if len(path) == 1 and _is_structured(field.annotation):
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(f"{key} must be JSON (a list or a mapping): {exc}") from exc
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key} conflicts with another MLOPSTUI_ variable")
        node[path[-1]] = value
    return out


def _is_structured(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    if origin in (list, dict):
        return True
    args = getattr(annotation, "__args__", ()) or ()
    return any(getattr(a, "__origin__", None) in (list, dict) or a in (list, dict) for a in args)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def config_path_from(flag: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Which settings file: --config, else $MLOPSTUI_CONFIG, else None (the XDG default, when it exists)."""
    env = os.environ if environ is None else environ
    return str(flag) if flag else (env.get(CONFIG_ENV) or None)


def load(config_path: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Build the settings: defaults < YAML file < MLOPSTUI_* env vars < flags (``None`` = not given).

    The one place settings are resolved, for the CLI and the TUI alike: with no config_path,
    $MLOPSTUI_CONFIG names the file, else the XDG config file when it exists. A named file that is
    missing is an error (ConfigError), never silently skipped.
    """
    config_path = config_path_from(config_path)
    path = Path(config_path) if config_path else locations.config_file()
    file_data: dict[str, Any] = {}
    if config_path or path.exists():
        file_data = read_yaml(path)
    given = {k: v for k, v in flags.items() if v is not None}
    merged = _deep_merge(_deep_merge(file_data, env_values()), given)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings ({path}): {exc}") from exc
    settings.config_path = str(path) if file_data or config_path else None
    return settings


def settings_table() -> str:
    """README.md's table of the settings, from the fields' descriptions (tests/unit/test_settings_docs.py keeps
    the README equal to it; regenerate with `python -c 'from mlopstui.config import settings_table as t; print(t())'`)."""
    rows = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        if f.exclude:
            continue
        default = f.default_factory() if f.default_factory is not None else f.default
        shown = "-" if default in (None, {}, []) or isinstance(default, BaseModel) else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {(f.description or '').replace('|', '/')} |")
        if isinstance(default, RolloutDefaults):  # a section whose fields carry their own descriptions
            for sub, sf in type(default).model_fields.items():
                v = sf.default
                rows.append(f"| `{name}.{sub}` | {'-' if v is None else f'`{v}`'} | "
                            f"{(sf.description or '').replace('|', '/')} |")
    return "\n".join(rows)

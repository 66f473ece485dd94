"""Settings: defaults < YAML file (XDG config dir or --config) < MLOPSTUI_* env vars < flags.

Endpoint overrides are keyed by component id (see mlopstui.models.stack.CATALOG):
``mlflow``, ``s3``, ``postgresql``, ``pgbouncer``, ``redis``, ``feast_repo``,
``feast_registry``, ``feast_server``, ``ingress``, ``lakefs``, ``argo``, ``kfp``.
Anything not configured is discovered from cluster Services; the source is shown.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mlopstui import locations

ENV_PREFIX = "MLOPSTUI_"


class ConfigError(ValueError):
    """The config file cannot be read or does not validate."""


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
    argo: str | None = None
    kfp: str | None = None

    model_config = {"extra": "forbid"}


class ComponentOverride(BaseModel):
    """Per-component detection overrides: label selectors or workload names."""

    namespace: str | None = None
    selector: str | None = None
    names: list[str] = Field(default_factory=list)

    model_config = {"extra": "forbid"}


_file_data: ContextVar[dict[str, Any]] = ContextVar("mlopstui_config_file", default={})


class _FileSource(PydanticBaseSettingsSource):
    """The YAML config file's values (read by load())."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _file_data.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    watched_namespaces: list[str] = Field(default_factory=list)
    readonly: bool = False
    refresh_interval: float = Field(default=10.0, ge=1.0, le=3600.0)
    probe_timeout: float = Field(default=3.0, gt=0.0, le=120.0)
    kube_timeout: float = Field(default=5.0, gt=0.0, le=120.0)
    canary_step: int = Field(default=10, ge=1, le=100)
    endpoints: Endpoints = Field(default_factory=Endpoints)
    components: dict[str, ComponentOverride] = Field(default_factory=dict)
    inference_sample: dict[str, Any] | None = None
    audit_log: str | None = None
    app_log: str | None = None

    # where this was loaded from, for the status line; not a setting
    config_path: str | None = Field(default=None, exclude=True)

    @field_validator("namespace", "context", "kubeconfig")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # flags (init kwargs) beat env vars, which beat the YAML file
        return (init_settings, env_settings, _FileSource(settings_cls))

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


def load(config_path: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Build the settings. ``flags`` are command-line values; ``None`` means not given."""
    path = Path(config_path) if config_path else locations.config_file()
    file_data: dict[str, Any] = {}
    if config_path or path.exists():
        file_data = read_yaml(path)
    given = {k: v for k, v in flags.items() if v is not None}
    token = _file_data.set(file_data)
    try:
        base = Settings(**given)
    except Exception as exc:  # pydantic.ValidationError
        raise ConfigError(f"invalid settings ({path}): {exc}") from exc
    finally:
        _file_data.reset(token)
    base.config_path = str(path) if file_data or config_path else None
    return base

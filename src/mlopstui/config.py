"""Settings: defaults < YAML file (XDG config dir or --config) < MLOPSTUI_* env vars < flags.

Endpoint overrides are keyed by component id (see mlopstui.models.stack.CATALOG):
``mlflow``, ``s3``, ``postgresql``, ``pgbouncer``, ``redis``, ``feast_repo``,
``feast_registry``, ``feast_server``, ``ingress``, ``lakefs``, ``argo``, ``kfp``.
Anything not configured is discovered from cluster Services; the source is shown.

The models are dataclasses validated by hand (`_validate`, from each field's annotation and bounds), not
pydantic: measured (issue 20, `python -X importtime`, bench/bench_headless.py), `from pydantic import
BaseModel` alone cost ~85 ms of CPU and building these models another ~45 ms, while a headless verb's whole
budget is 3x kubectl (~120 ms). What pydantic did here is what this module does: types (with the same
lax conversions of env strings: "7" -> 7.0, "true" -> True), bounds, choices, unknown keys refused, nested
sections, and each error naming its key (README "Configuration"; tests/unit/test_config.py).
"""

# no `from __future__ import annotations`: _validate reads the fields' annotations as types

import json
import os
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from mlopstui import locations
from mlopstui.errors import Kind, MlopsError

ENV_PREFIX = "MLOPSTUI_"
CONFIG_ENV = "MLOPSTUI_CONFIG"  # the settings file, when --config is not given (README, `sandbox env`)


class ConfigError(MlopsError, ValueError):
    """The config file cannot be read or does not validate (exit 2 in the CLI, as every MlopsError)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(Kind.CONFIG, message, hint=hint, source="config")


class Invalid(ValueError):
    """One value that does not validate: where (the key path) and why."""

    def __init__(self, where: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.where, self.message = where, message

    @property
    def key(self) -> str:
        out = ""
        for part in self.where:
            if isinstance(part, int) or not part.isidentifier():  # a list index, a keymap id (app.help)
                out += f"[{part!r}]"
            else:
                out += f".{part}" if out else part
        return out or "(top level)"


# -- the field declarations and the validator ------------------------------------------------------------

def setting(default: Any = None, description: str = "", *, factory: Callable[[], Any] | None = None,
            ge: float | None = None, gt: float | None = None, le: float | None = None,
            check: Callable[[Any], Any] | None = None, numbers_as_text: bool = False, exclude: bool = False) -> Any:
    """A field: its default (or factory), its documentation (README's table), bounds, and an optional check
    (value -> value, raising ValueError(message)) run after the type conversion."""
    meta = {"description": description, "ge": ge, "gt": gt, "le": le, "check": check,
            "numbers_as_text": numbers_as_text, "exclude": exclude}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class FieldInfo:
    """What the validator, env_values and settings_table read of one field."""

    __slots__ = ("name", "annotation", "default", "default_factory", "description", "exclude", "ge", "gt", "le",
                 "check", "numbers_as_text")

    def __init__(self, f: Any):
        self.name, self.annotation = f.name, f.type
        self.default = None if f.default is MISSING else f.default
        self.default_factory = None if f.default_factory is MISSING else f.default_factory
        for k in ("description", "exclude", "ge", "gt", "le", "check", "numbers_as_text"):
            setattr(self, k, f.metadata.get(k))


def model(cls: type) -> type:
    """A settings section: a keyword-only dataclass whose ``model_fields`` the validator reads."""
    cls = dataclass(kw_only=True)(cls)
    cls.model_fields = {f.name: FieldInfo(f) for f in fields(cls)}  # type: ignore[attr-defined]
    return cls


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and "model_fields" in tp.__dict__


_TRUE = frozenset(("true", "1", "yes", "on", "t", "y"))
_FALSE = frozenset(("false", "0", "no", "off", "f", "n"))


def _shown(v: Any) -> str:
    if v is None:
        return "null"
    text = repr(v)
    return (text if len(text) <= 60 else text[:57] + "...") + ("" if isinstance(v, str) else f" ({type(v).__name__})")


def _number(v: Any, kind: type, where: tuple) -> Any:
    what = "a whole number" if kind is int else "a number"
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise Invalid(where, f"must be {what}, not {_shown(v)}")
    try:
        f = float(v.strip()) if isinstance(v, str) else float(v)
    except ValueError:
        raise Invalid(where, f"must be {what}, not {_shown(v)}") from None
    if kind is int:
        if not f.is_integer():
            raise Invalid(where, f"must be {what}, not {_shown(v)}")
        return int(f)
    return f


def _convert(tp: Any, v: Any, where: tuple, info: FieldInfo | None = None) -> Any:
    """v as the annotation's type (lax as pydantic's default mode for strings from env vars), or Invalid."""
    if tp is Any:
        return v
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if v is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # the models use X | None only
        return _convert(inner, v, where, info)
    if origin is Literal:
        choices = get_args(tp)
        if isinstance(v, str) and v in choices:
            return v
        raise Invalid(where, f"must be one of {', '.join(choices)}, not {_shown(v)}")
    if origin is list:
        if not isinstance(v, (list, tuple)):
            raise Invalid(where, f"must be a list, not {_shown(v)}")
        (item,) = get_args(tp)
        return [_convert(item, x, (*where, i)) for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, Mapping):
            raise Invalid(where, f"must be a mapping, not {_shown(v)}")
        _, value_tp = get_args(tp)
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise Invalid((*where, str(k)), f"keys must be strings, not {_shown(k)}")
            out[k] = _convert(value_tp, x, (*where, k))
        return out
    if is_model(tp):
        return _validate(tp, v, where)
    if tp is str:
        if isinstance(v, str):
            return v
        if info is not None and info.numbers_as_text and isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        raise Invalid(where, f"must be a string, not {_shown(v)}")
    if tp is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        raise Invalid(where, f"must be true or false, not {_shown(v)}")
    if tp in (int, float):
        return _number(v, tp, where)
    raise TypeError(f"config: no validator for {tp!r}")  # a new annotation: teach _convert


def _field(info: FieldInfo, v: Any, where: tuple) -> Any:
    v = _convert(info.annotation, v, where, info)
    if v is not None and not isinstance(v, bool) and isinstance(v, (int, float)):
        if info.ge is not None and not v >= info.ge:
            raise Invalid(where, f"must be at least {info.ge:g}, not {v:g}")
        if info.gt is not None and not v > info.gt:
            raise Invalid(where, f"must be greater than {info.gt:g}, not {v:g}")
        if info.le is not None and not v <= info.le:
            raise Invalid(where, f"must be at most {info.le:g}, not {v:g}")
    if info.check is not None:
        try:
            v = info.check(v)
        except ValueError as exc:
            raise Invalid(where, str(exc)) from None
    return v


def _validate(cls: type, data: Any, where: tuple = ()) -> Any:
    """An instance of the model from a mapping: each key known, each value converted and checked."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise Invalid(where, f"must be a mapping, not {_shown(data)}")
    known: dict[str, FieldInfo] = cls.model_fields  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for key, raw in data.items():
        info = known.get(key) if isinstance(key, str) else None
        if info is None or info.exclude:
            names = [n for n, f in known.items() if not f.exclude]
            import difflib  # only on this error

            near = difflib.get_close_matches(str(key), names, n=1)
            raise Invalid((*where, str(key)), "unknown setting" + (f" (did you mean {near[0]}?)" if near else
                                                                   f"; known here: {', '.join(names)}"))
        values[key] = _field(info, raw, (*where, key))
    return cls(**values)


def _uri(key: str, *, paths: bool = False) -> Callable[[Any], Any]:
    """A check: an endpoint is scheme://host[:port][/path]; paths=True (the Feast registry): or a local path, or
    a URI without a host (sqlite:///registry.db, file:///srv/registry.db)."""

    def check(v: str | None) -> str | None:
        if v is None:
            return None
        if any(ord(c) < 32 or ord(c) == 127 for c in v) or (not paths and any(c.isspace() for c in v)):
            raise ValueError(f"must be a URI without spaces or control characters, not {_shown(v)}")
        if paths and "://" not in v:
            return v  # a path
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018  (ValueError when the port is not a number 0..65535)
        except ValueError as exc:
            raise ValueError(f"is not a valid URI ({exc}): {_shown(v)}") from None
        if "://" not in v or not parts.scheme or not (paths or parts.hostname):
            raise ValueError(f"must be a URI (scheme://host[:port]), e.g. {_EXAMPLES.get(key, 'http://host:port')}"
                             f", not {_shown(v)}")
        return v

    return check


_EXAMPLES = {"postgresql": "postgresql://user@host:5432/db", "pgbouncer": "postgresql://user@host:6432/db",
             "redis": "redis://host:6379/0", "feast_registry": "postgresql://user@host:5432/db or a registry.db path"}


def _blank_is_none(v: str | None) -> str | None:
    return v or None


def _rollout(name: str) -> Callable[[Any], Any]:
    """A check: the rollout parser of that option accepts the value (its message, else)."""

    def check(v: str | None) -> str | None:
        from mlopstui.models import rollout as r

        parse = {"steps": r.parse_steps, "pause": r.parse_pause, "max_error_rate": r.parse_rate,
                 "max_p95": r.parse_latency_ms, "max_p95_ratio": r.parse_ratio}[name]
        if v is not None:
            try:
                parse(v)
            except MlopsError as exc:
                raise ValueError(exc.message) from None
        return v

    return check


# -- the settings --------------------------------------------------------------------------------------

def _endpoint(key: str, *, paths: bool = False) -> Any:
    return setting(None, check=_uri(key, paths=paths))


@model
class Endpoints:
    """Explicit endpoint overrides. Empty means: discover from the cluster."""

    mlflow: str | None = _endpoint("mlflow")
    s3: str | None = _endpoint("s3")
    postgresql: str | None = _endpoint("postgresql")
    pgbouncer: str | None = _endpoint("pgbouncer")
    redis: str | None = _endpoint("redis")
    feast_repo: str | None = None  # a directory on this machine
    feast_registry: str | None = _endpoint("feast_registry", paths=True)  # a SQL registry's URI or a registry.db
    feast_server: str | None = _endpoint("feast_server")
    ingress: str | None = _endpoint("ingress")
    lakefs: str | None = _endpoint("lakefs")
    # a DVC project in a Git checkout on this machine (the Data area's DVC part)
    dvc_repo: str | None = None
    argo: str | None = _endpoint("argo")
    kfp: str | None = _endpoint("kfp")
    # Prometheus's HTTP API base URL (the rollout gates' first signal), e.g. http://prometheus-server.monitoring
    prometheus: str | None = _endpoint("prometheus")


@model
class ComponentOverride:
    """Per-component detection overrides: label selectors or workload names."""

    namespace: str | None = None
    selector: str | None = None
    names: list[str] = setting(factory=list)


@model
class LakeFSSettings:
    """LakeFS credentials (else lakectl's env, else the Secret the LakeFS Deployment uses)."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    secret: str | None = None  # "namespace/name" of a Secret with access_key_id / secret_access_key


@model
class RolloutDefaults:
    """Defaults of `mlopstui rollout` and the TUI's rollout view (flags override them)."""

    steps: str = setting("10,25,50,100", "canary percents, increasing, the last 100", check=_rollout("steps"))
    pause: str = setting("60s", "measuring time per step (e.g. 60s, 2m) or `manual`", check=_rollout("pause"),
                         numbers_as_text=True)
    max_error_rate: str = setting("1%", "canary 5xx share allowed (1% or 0.01)", check=_rollout("max_error_rate"),
                                  numbers_as_text=True)
    max_p95: str | None = setting(None, "canary p95 latency allowed (e.g. 200ms; unset: no gate)",
                                  check=_rollout("max_p95"), numbers_as_text=True)
    max_p95_ratio: str | None = setting(None, "canary p95 allowed relative to stable (e.g. 1.5)",
                                        check=_rollout("max_p95_ratio"), numbers_as_text=True)
    min_requests: int = setting(20, "canary requests in the window before any gate may pass", ge=0, le=1_000_000_000)
    signal: Literal["auto", "prometheus", "pod-metrics", "synthetic"] = setting(
        "auto", "where the gates' numbers come from: auto (Prometheus when configured or "
                "discovered, else the model servers' /metrics, else synthetic requests)")


@model
class Settings:
    # each field's description is its documentation: README.md "Configuration" lists them
    # (tests/unit/test_settings_docs.py checks it)
    kubeconfig: str | None = setting(None, "kubeconfig file (else $KUBECONFIG, else ~/.kube/config)",
                                     check=_blank_is_none)
    context: str | None = setting(None, "kubeconfig context (else its current-context)", check=_blank_is_none)
    namespace: str | None = setting(None, "namespace of the MLOps stack (else the context's)", check=_blank_is_none)
    impersonate_user: str | None = setting(None, "act as another user (Impersonate-User; like kubectl --as)",
                                           check=_blank_is_none)
    impersonate_groups: list[str] = setting(
        factory=list, description="groups to act as (Impersonate-Group; like kubectl --as-group)")
    route: Literal["auto", "direct", "api"] = setting(
        "auto", "how endpoints are reached: auto (configured, env, direct, then through the "
                "API server), direct, or api (always through the API server)")
    watched_namespaces: list[str] = setting(
        factory=list, description="namespaces the Stack area looks in (else its defaults)")
    readonly: bool = setting(False, "refuse every change (like --readonly)")
    refresh_interval: float = setting(10.0, "seconds between the Stack's live probes (cluster objects come by watch)",
                                      ge=1.0, le=3600.0)
    probe_timeout: float = setting(3.0, "each live probe's own timeout (s)", gt=0.0, le=120.0)
    kube_timeout: float = setting(5.0, "each Kubernetes API call's timeout (s)", gt=0.0, le=120.0)
    deadline: float = setting(60.0, "one deadline per headless verb: all its calls end within it (s)",
                              gt=0.0, le=3600.0)
    canary_step: int = setting(10, "percent per +/- key on the Serving area", ge=1, le=100)
    endpoints: Endpoints = setting(factory=Endpoints,
                                   description="endpoint overrides; anything unset is discovered from the cluster")
    components: dict[str, ComponentOverride] = setting(
        factory=dict, description="detection overrides per component id (namespace, selector, names)")
    feast_project: str | None = setting(
        None, "the Feast project to show when only a registry is configured and it holds "
              "several (with a repository, feature_store.yaml names it)")
    lakefs: LakeFSSettings = setting(factory=LakeFSSettings,
                                     description="LakeFS credentials: a Secret, or access_key_id/secret_access_key")
    inference_sample: dict[str, Any] | None = setting(
        None, "the body or rows a test request sends (v1 and/or v2)")
    rollout: RolloutDefaults = setting(factory=RolloutDefaults,
                                       description="progressive canary defaults (`rollout.*` below)")
    audit_log: str | None = setting(None, "audit log file (else $XDG_STATE_HOME/mlopstui/audit.jsonl)")
    app_log: str | None = setting(None, "app log file (else $XDG_STATE_HOME/mlopstui/mlopstui.log)")
    theme: str | None = setting(None, "the TUI's Textual theme, e.g. textual-dark, nord, gruvbox")
    keymap: dict[str, str] = setting(
        factory=dict, description="binding id -> keys (comma-separated), e.g. app.help: f1; `?` lists "
                                  "the keys in effect, README \"Keys\" the ids")

    # where this was loaded from, for the status line; not a setting (a key of that name in the file is unknown)
    config_path: str | None = setting(None, exclude=True)

    @classmethod
    def model_validate(cls, data: Mapping[str, Any]) -> "Settings":
        """The settings from a mapping (a file's, merged with env and flags), or Invalid naming the key."""
        return _validate(cls, data)

    def audit_log_path(self) -> Path:
        return Path(self.audit_log) if self.audit_log else locations.audit_log_file()

    def app_log_path(self) -> Path:
        return Path(self.app_log) if self.app_log else locations.app_log_file()


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

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
        info = Settings.model_fields.get(path[0])
        if info is None or info.exclude:
            continue
        value: Any = raw
        if len(path) == 1 and _is_structured(info.annotation):
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


def _origin(where: tuple, env: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    """Where a bad value came from: a flag or argument, an MLOPSTUI_ variable, else the file."""

    def holds(doc: Any) -> bool:
        for part in where:
            if isinstance(part, int):
                return True  # inside a list given whole
            if not isinstance(doc, Mapping) or part not in doc:
                return False
            doc = doc[part]
        return bool(where)

    if holds(given):
        return " (given as an option)"
    if holds(env):
        keys = [str(p) for p in where if not isinstance(p, int)]
        names = [ENV_PREFIX + "__".join(keys[:n]).upper() for n in range(len(keys), 0, -1)]
        return f" (from ${next((n for n in names if n in os.environ), names[0])})"
    return ""


def load(config_path: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Build the settings: defaults < YAML file < MLOPSTUI_* env vars < flags (``None`` = not given).

    The one place settings are resolved, for the CLI and the TUI alike: with no config_path,
    $MLOPSTUI_CONFIG names the file, else the XDG config file when it exists. A named file that is
    missing is an error (ConfigError), never silently skipped. A value that does not validate is a
    ConfigError naming its key (e.g. `refresh_interval: must be a number, not 'abc'`).
    """
    config_path = config_path_from(config_path)
    path = Path(config_path) if config_path else locations.config_file()
    file_data: dict[str, Any] = {}
    if config_path or path.exists():
        file_data = read_yaml(path)
    given = {k: v for k, v in flags.items() if v is not None}
    env = env_values()
    merged = _deep_merge(_deep_merge(file_data, env), given)
    try:
        settings = Settings.model_validate(merged)
    except Invalid as exc:
        raise ConfigError(f"invalid settings ({path}): {exc.key}: {exc.message}{_origin(exc.where, env, given)}",
                          hint="README \"Configuration\" lists the settings") from None
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
        shown = "-" if default in (None, {}, []) or is_model(type(default)) else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {(f.description or '').replace('|', '/')} |")
        if isinstance(default, RolloutDefaults):  # a section whose fields carry their own descriptions
            for sub, sf in type(default).model_fields.items():
                v = sf.default
                rows.append(f"| `{name}.{sub}` | {'-' if v is None else f'`{v}`'} | "
                            f"{(sf.description or '').replace('|', '/')} |")
    return "\n".join(rows)

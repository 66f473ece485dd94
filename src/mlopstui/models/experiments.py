"""MLflow experiments, runs, artifacts and registered models as plain data, plus pure helpers.

No I/O here: the backend (backends/mlflow.py) builds these from the REST API's JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.units import clock, human_bytes

# columns every runs table has, in order (attribute columns, sortable on the server)
BASE_RUN_COLUMNS: tuple[str, ...] = ("run", "name", "status", "start", "duration", "user", "source")
# our column name -> MLflow order_by expression
ATTRIBUTE_ORDER: dict[str, str] = {
    "run": "attributes.run_id",
    "name": "attributes.run_name",
    "status": "attributes.status",
    "start": "attributes.start_time",
    "duration": "attributes.end_time",  # MLflow cannot order by duration; end time is the nearest
    "user": "attributes.user_id",
    "source": "tags.`mlflow.source.name`",
}


def _ms(v: Any) -> int | None:
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    artifact_location: str = ""
    creation_time: int | None = None  # ms since epoch
    last_update_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # filled in later (one search per experiment, in the background)
    run_count: int | None = None
    run_count_capped: bool = False
    last_run_time: int | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Experiment:
        return cls(
            experiment_id=str(d.get("experiment_id", "")),
            name=d.get("name", ""),
            lifecycle_stage=d.get("lifecycle_stage", "active"),
            artifact_location=d.get("artifact_location", ""),
            creation_time=_ms(d.get("creation_time")),
            last_update_time=_ms(d.get("last_update_time")),
            tags={t["key"]: t.get("value", "") for t in d.get("tags", []) if "key" in t},
        )

    @property
    def user_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if not k.startswith("mlflow.")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRow:
    """One run as listed: attributes plus its params, latest metrics and tags."""

    run_id: str
    experiment_id: str
    run_name: str = ""
    status: str = ""
    start_time: int | None = None
    end_time: int | None = None
    user_id: str = ""
    artifact_uri: str = ""
    lifecycle_stage: str = "active"
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> RunRow:
        info, data = d.get("info", {}), d.get("data", {})
        metrics: dict[str, float] = {}
        for m in data.get("metrics", []) or []:
            metrics[m["key"]] = _num(m.get("value"))
        return cls(
            run_id=info.get("run_id") or info.get("run_uuid", ""),
            experiment_id=str(info.get("experiment_id", "")),
            run_name=info.get("run_name", ""),
            status=info.get("status", ""),
            start_time=_ms(info.get("start_time")),
            end_time=_ms(info.get("end_time")),
            user_id=info.get("user_id", ""),
            artifact_uri=info.get("artifact_uri", ""),
            lifecycle_stage=info.get("lifecycle_stage", "active"),
            params={p["key"]: p.get("value", "") for p in data.get("params", []) or []},
            metrics=metrics,
            tags={t["key"]: t.get("value", "") for t in data.get("tags", []) or []},
        )

    @property
    def source(self) -> str:
        src = self.tags.get("mlflow.source.name", "")
        return src.rsplit("/", 1)[-1] if src else ""

    @property
    def duration_s(self) -> float | None:
        return duration_s(self.start_time, self.end_time, self.status)

    def cell(self, column: str, now: float | None = None) -> str:
        """The text of one column: a base column, or metrics.X / params.X / tags.X."""
        if column == "run":
            return self.run_id[:8]
        if column == "name":
            return self.run_name
        if column == "status":
            return self.status
        if column == "start":
            return fmt_time(self.start_time)
        if column == "duration":
            return fmt_duration(self.duration_s)
        if column == "user":
            return self.user_id
        if column == "source":
            return self.source
        kind, _, key = column.partition(".")
        if kind == "metrics":
            return fmt_value(self.metrics.get(key))
        if kind == "params":
            return self.params.get(key, "")
        if kind == "tags":
            return self.tags.get(key, "")
        return ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duration_s"] = self.duration_s
        return d


@dataclass
class MetricPoint:
    step: int
    timestamp: int  # ms
    value: float


@dataclass
class MetricSeries:
    key: str
    points: list[MetricPoint] = field(default_factory=list)

    @classmethod
    def from_api(cls, key: str, items: Iterable[dict[str, Any]]) -> MetricSeries:
        pts = [MetricPoint(int(m.get("step", 0) or 0), int(m.get("timestamp", 0) or 0), _num(m.get("value")))
               for m in items]
        pts.sort(key=lambda p: (p.step, p.timestamp))
        return cls(key, pts)

    def xy(self, by: str = "step") -> tuple[list[float], list[float]]:
        """x and y lists for plotting; by='time' gives seconds since the first point. NaN/inf dropped."""
        pts = [p for p in self.points if math.isfinite(p.value)]
        if by == "time":
            pts = sorted(pts, key=lambda p: p.timestamp)
            t0 = pts[0].timestamp if pts else 0
            return [(p.timestamp - t0) / 1000.0 for p in pts], [p.value for p in pts]
        return [float(p.step) for p in pts], [p.value for p in pts]

    @property
    def last(self) -> float | None:
        return self.points[-1].value if self.points else None


@dataclass
class RunDetail:
    run: RunRow
    experiment_name: str = ""
    tracking_uri: str = ""
    # metric key -> step of the latest value, when known
    metric_steps: dict[str, int] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def run_uri(self) -> str:
        return f"runs:/{self.run.run_id}"

    @property
    def web_url(self) -> str:
        base = self.tracking_uri.rstrip("/")
        return f"{base}/#/experiments/{self.run.experiment_id}/runs/{self.run.run_id}" if base else ""

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.to_dict(), "experiment_name": self.experiment_name,
                "run_uri": self.run_uri, "artifact_uri": self.run.artifact_uri}


@dataclass
class ArtifactEntry:
    path: str  # relative to the run's artifact root
    is_dir: bool = False
    size: int | None = None

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ArtifactEntry:
        size = d.get("file_size")
        return cls(d.get("path", ""), bool(d.get("is_dir", False)), int(size) if size is not None else None)


@dataclass
class ModelVersion:
    name: str
    version: str
    status: str = ""
    current_stage: str = ""
    source: str = ""
    run_id: str = ""
    creation_timestamp: int | None = None
    description: str = ""
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ModelVersion:
        return cls(
            name=d.get("name", ""),
            version=str(d.get("version", "")),
            status=d.get("status", ""),
            current_stage=d.get("current_stage", ""),
            source=d.get("source", ""),
            run_id=d.get("run_id", ""),
            creation_timestamp=_ms(d.get("creation_timestamp")),
            description=d.get("description", "") or "",
            aliases=list(d.get("aliases", []) or []),
            tags={t["key"]: t.get("value", "") for t in d.get("tags", []) or []},
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RegisteredModel:
    name: str
    description: str = ""
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    tags: dict[str, str] = field(default_factory=dict)
    latest_versions: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> RegisteredModel:
        return cls(
            name=d.get("name", ""),
            description=d.get("description", "") or "",
            creation_timestamp=_ms(d.get("creation_timestamp")),
            last_updated_timestamp=_ms(d.get("last_updated_timestamp")),
            aliases={a["alias"]: str(a.get("version", "")) for a in d.get("aliases", []) or [] if "alias" in a},
            tags={t["key"]: t.get("value", "") for t in d.get("tags", []) or []},
            latest_versions=sorted({str(v.get("version")) for v in d.get("latest_versions", []) or []},
                                   key=_version_key),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- pure helpers --------------------------------------------------------------------------------


def _num(v: Any) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)  # "NaN", "Infinity" arrive as strings
    except (TypeError, ValueError):
        return math.nan


def _version_key(v: str) -> tuple[int, str]:
    return (int(v), "") if v.isdigit() else (10**9, v)


def duration_s(start_ms: int | None, end_ms: int | None, status: str = "", now: float | None = None) -> float | None:
    """Run duration in seconds; a RUNNING run counts up to now; None when unknown."""
    if not start_ms:
        return None
    if end_ms:
        return max(0.0, (end_ms - start_ms) / 1000.0)
    if status == "RUNNING":
        return max(0.0, (now if now is not None else clock()) - start_ms / 1000.0)
    return None


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_time(ms: int | None) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fmt_value(v: float | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def fmt_size(n: int | None) -> str:
    return human_bytes(n)


def choose_columns(runs: Sequence[RunRow], *, max_metrics: int = 3, max_params: int = 3,
                   max_tags: int = 0, preferred: Sequence[str] = ()) -> list[str]:
    """Default extra columns for a runs table: the most common metrics, params (and tags).

    `preferred` columns (e.g. the user's last choice) come first when present in any run.
    """
    def common(dicts: Iterable[dict[str, Any]], limit: int, prefix: str, skip_system: bool = False) -> list[str]:
        counts: dict[str, int] = {}
        for d in dicts:
            for k in d:
                if skip_system and k.startswith("mlflow."):
                    continue
                counts[k] = counts.get(k, 0) + 1
        keys = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
        return [f"{prefix}.{k}" for k in sorted(keys)]

    present = set()
    for r in runs:
        present.update(f"metrics.{k}" for k in r.metrics)
        present.update(f"params.{k}" for k in r.params)
        present.update(f"tags.{k}" for k in r.tags)
    cols = [c for c in preferred if c in present]
    for c in (common((r.metrics for r in runs), max_metrics, "metrics")
              + common((r.params for r in runs), max_params, "params")
              + common((r.tags for r in runs), max_tags, "tags", skip_system=True)):
        if c not in cols:
            cols.append(c)
    return cols


def parse_columns(text: str) -> list[str]:
    """'accuracy, params.lr, tags.team' -> ['metrics.accuracy', 'params.lr', 'tags.team'].

    A bare name is a metric; `p:`/`t:`/`m:` prefixes are short forms.
    """
    out: list[str] = []
    short = {"m": "metrics", "metric": "metrics", "p": "params", "param": "params", "t": "tags", "tag": "tags"}
    for raw in text.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        if ":" in item and item.split(":", 1)[0] in short:
            kind, key = item.split(":", 1)
            col = f"{short[kind]}.{key.strip()}"
        elif "." in item and item.split(".", 1)[0] in ("metrics", "params", "tags"):
            col = item
        elif "." in item and item.split(".", 1)[0] in short:
            kind, key = item.split(".", 1)
            col = f"{short[kind]}.{key}"
        else:
            col = f"metrics.{item}"
        if col not in out:
            out.append(col)
    return out


def order_by_for(column: str, ascending: bool) -> str:
    """The MLflow order_by clause that sorts by one of our columns."""
    if column in ATTRIBUTE_ORDER:
        expr = ATTRIBUTE_ORDER[column]
    else:
        kind, _, key = column.partition(".")
        expr = f"{kind}.`{key}`" if kind in ("metrics", "params", "tags") else f"attributes.{column}"
    return f"{expr} {'ASC' if ascending else 'DESC'}"


def parse_order_by(text: str) -> str:
    """CLI shorthand: 'accuracy' -> 'metrics.`accuracy` ASC', '-accuracy' -> DESC; full clauses pass."""
    t = text.strip()
    if not t:
        return t
    if " " in t and t.rsplit(" ", 1)[-1].upper() in ("ASC", "DESC"):
        return t
    desc = t.startswith("-")
    col = t.lstrip("-+")
    if col in ATTRIBUTE_ORDER:
        return order_by_for(col, not desc)
    if col.split(".", 1)[0] in ("metrics", "params", "tags", "attributes", "attribute", "metric", "param", "tag"):
        return f"{col} {'DESC' if desc else 'ASC'}"
    if col in ("start_time", "end_time", "run_name", "status", "user_id", "run_id"):
        return f"attributes.{col} {'DESC' if desc else 'ASC'}"
    return order_by_for(f"metrics.{col}", not desc)


@dataclass
class ParamDiff:
    key: str
    values: list[str | None]  # one per run, None when the run lacks the param

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def diff_params(runs: Sequence[RunRow]) -> list[ParamDiff]:
    """Params of several runs side by side, keys sorted, differing ones flagged."""
    keys = sorted({k for r in runs for k in r.params})
    return [ParamDiff(k, [r.params.get(k) for r in runs]) for k in keys]


def diff_metrics(runs: Sequence[RunRow]) -> list[tuple[str, list[float | None]]]:
    keys = sorted({k for r in runs for k in r.metrics})
    return [(k, [r.metrics.get(k) for r in runs]) for k in keys]


def differ_words(runs: Sequence[RunRow], what: str) -> str:
    """"3 params differ" / "1 metric differs" across the runs compared; "" when none does."""
    if what == "param":
        n = sum(1 for d in diff_params(runs) if d.differs)
    else:
        n = sum(1 for _, values in diff_metrics(runs) if len(set(values)) > 1)
    return "" if n == 0 else f"{n} {what}{'s differ' if n != 1 else ' differs'}"


def best_index(values: Sequence[float | None], higher_is_better: bool = True) -> int | None:
    """Index of the best finite value, or None."""
    cands = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(cands) < 2:
        return None
    return (max if higher_is_better else min)(cands)[1]


def lower_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(w in m for w in ("loss", "error", "rmse", "mse", "mae", "latency", "time"))


def join_uri(root: str, path: str) -> str:
    return root.rstrip("/") + "/" + path.lstrip("/") if path else root


TEXT_SUFFIXES = (".txt", ".log", ".md", ".json", ".yaml", ".yml", ".csv", ".tsv", ".py", ".toml", ".cfg",
                 ".ini", ".xml", ".html", ".sh", ".conf", ".properties", "MLmodel", "requirements.txt",
                 ".jsonl", ".sql", ".env")


def preview_kind(path: str) -> str:
    """'json' | 'yaml' | 'csv' | 'text' | 'binary' from the name alone."""
    p = path.lower()
    if p.endswith((".json", ".jsonl")):
        return "json"
    if p.endswith((".yaml", ".yml")) or p.endswith("mlmodel"):
        return "yaml"
    if p.endswith((".csv", ".tsv")):
        return "csv"
    if p.endswith(tuple(s.lower() for s in TEXT_SUFFIXES)) or "." not in p.rsplit("/", 1)[-1]:
        return "text"
    return "binary"


def looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:4096]:
        return True
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(data[:4096]) - 4  # a cut multibyte char at the end is fine
    return False


def csv_rows(text: str, limit: int = 200) -> tuple[list[str], list[list[str]]]:
    import csv
    import io

    dialect = "excel-tab" if text.count("\t") > text.count(",") else "excel"
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    rows = []
    for i, row in enumerate(reader):
        if i > limit:
            break
        rows.append(row)
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    width = max(len(header), *(len(r) for r in body)) if body else len(header)
    header = header + [f"col{i}" for i in range(len(header), width)]
    return header, [r + [""] * (width - len(r)) for r in body]


def validate_model_name(name: Any) -> str:
    """A registered model name as MLflow itself accepts it (mlflow/utils/validation.py
    _validate_model_name: not empty, no '/' or ':', no '..' path segments) and free of control
    characters; else MlopsError(INVALID) before any request."""
    from mlopstui.text import control_chars

    if not isinstance(name, str) or not name.strip():
        raise MlopsError(Kind.INVALID, "model name is empty", hint="`mlopstui models` lists them")
    shown = name if len(name) <= 70 else name[:60] + f"... ({len(name)} characters)"
    if control_chars(name):
        raise MlopsError(Kind.INVALID, f"model name {shown!r} holds control characters")
    if "/" in name or ":" in name or ".." in name.split("\\") or name in (".", ".."):
        raise MlopsError(Kind.INVALID, f"model name {shown!r} is not valid: MLflow model names cannot contain "
                         "'/' or ':' or be a relative path", hint="`mlopstui models` lists them")
    return name

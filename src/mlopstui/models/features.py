"""Feast feature views, their freshness, and the materialization CronJobs/Jobs (pure: no I/O).

Freshness of a view, from the end of its last materialization interval (from the registry):

- ``never``: the view has no materialization interval at all (online reads return nulls);
- ``stale``: the last end is older than the view's ttl (online rows expire: served as nulls), or
  older than two periods of the materialization CronJob's schedule plus a grace (a run was missed);
- ``fresh``: otherwise.
"""

from __future__ import annotations

import copy
import enum
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlopstui.units import parse_time as parse_ts

INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"
# a Job is late when its CronJob missed this many periods (plus the grace below)
MISSED_PERIODS = 2
GRACE = timedelta(minutes=5)


class Freshness(enum.StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    NEVER = "never"

    @property
    def word(self) -> str:
        return {"fresh": "fresh", "stale": "STALE", "never": "NEVER"}[self.value]


@dataclass
class FieldRow:
    name: str
    dtype: str


@dataclass
class FeatureViewRow:
    name: str
    entities: list[str]
    features: list[FieldRow]
    ttl: timedelta | None  # None or 0: no expiry
    online: bool
    source: str  # e.g. "transactions_source (file data/transactions.parquet)"
    last_end: datetime | None  # end of the last materialization interval (UTC)
    intervals: list[tuple[datetime, datetime]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    join_keys: list[str] = field(default_factory=list)
    kind: str = "FeatureView"

    def freshness(self, now: datetime, schedule_interval: timedelta | None = None) -> FreshnessStatus:
        return freshness(self.last_end, now, self.ttl, schedule_interval)

    def to_dict(self, now: datetime, schedule_interval: timedelta | None = None) -> dict[str, Any]:
        f = self.freshness(now, schedule_interval)
        return {
            "name": self.name, "kind": self.kind, "entities": self.entities, "join_keys": self.join_keys,
            "features": [{"name": x.name, "dtype": x.dtype} for x in self.features],
            "ttl_seconds": int(self.ttl.total_seconds()) if self.ttl else None,
            "online": self.online, "source": self.source,
            "last_materialized_end": iso(self.last_end),
            "intervals": [[iso(a), iso(b)] for a, b in self.intervals],
            "freshness": f.status.value, "age_seconds": int(f.age.total_seconds()) if f.age else None,
            "text": f.text, "reason": f.reason, "tags": self.tags,
        }


@dataclass(frozen=True)
class FreshnessStatus:
    status: Freshness
    age: timedelta | None
    text: str  # "materialized 3h ago, ttl 1d"
    reason: str = ""  # why stale


def freshness(last_end: datetime | None, now: datetime, ttl: timedelta | None,
              schedule_interval: timedelta | None = None) -> FreshnessStatus:
    ttl_text = f"ttl {fmt_duration(ttl)}" if ttl else "no ttl"
    if last_end is None:
        return FreshnessStatus(Freshness.NEVER, None, f"never materialized, {ttl_text}",
                               "no materialization interval in the registry")
    age = now - as_utc(last_end)
    if age < timedelta(0):
        age = timedelta(0)
    text = f"materialized {fmt_duration(age)} ago, {ttl_text}"
    if ttl and age > ttl:
        return FreshnessStatus(Freshness.STALE, age, text,
                               f"older than the ttl {fmt_duration(ttl)}: online reads return nulls")
    if schedule_interval and age > schedule_interval * MISSED_PERIODS + GRACE:
        return FreshnessStatus(Freshness.STALE, age, text,
                               f"the schedule runs every {fmt_duration(schedule_interval)}: "
                               f"{MISSED_PERIODS} or more runs missed or failed")
    return FreshnessStatus(Freshness.FRESH, age, text)


def fmt_duration(d: timedelta | float | None) -> str:
    """Short human duration: 45s, 12m, 3h, 1d, 2d4h, 30d."""
    if d is None:
        return "-"
    s = int(d.total_seconds() if isinstance(d, timedelta) else d)
    if s < 0:
        s = 0
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h" if m == 0 or h >= 10 else f"{h}h{m}m"
    d_, h = divmod(s // 3600, 24)
    return f"{d_}d" if h == 0 or d_ >= 10 else f"{d_}d{h}h"


def as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime | None) -> str | None:
    return as_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as Kubernetes writes it ("2026-01-02T03:04:05Z")."""
    t = parse_ts(value)
    return None if t is None else datetime.fromtimestamp(t, UTC)


# -- cron schedules (cronsim: Vixie cron's rules, as Kubernetes' robfig/cron parser) ----------------
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# worst gaps by walking cronsim's firings from a fixed instant (cached per schedule): every firing
# day has the same times (minute x hour fields), so the walk is one firing day's times, then the
# firing days (day-of-month, month, day-of-week), which repeat within 4 years (Feb 29).
# 2000 is a leap year; naive: schedules are read as UTC. CronSim yields firings after its start:
# start a minute before, so that midnight of the first firing day is one of them
_CRON_FROM = datetime(1999, 12, 31, 23, 59)
_CRON_SPAN = timedelta(days=5 * 366)


def _cron_expr(schedule: str | None) -> str | None:
    """The 5-field expression of a schedule (macros expanded), or None (empty, @every, not 5 fields)."""
    if not schedule:
        return None
    text = _MACROS.get(schedule.strip().lower(), schedule.strip())
    parts = text.split()
    return " ".join(parts) if len(parts) == 5 else None


def cron_interval(schedule: str | None) -> timedelta | None:
    """The longest time between two runs of a cron schedule (cron's calendar, via cronsim); None
    if it cannot be parsed.

    "*/15 * * * *" -> 15m, "0 */6 * * *" -> 6h, "0 0 * * 1-5" -> 3d, "0 0 31 * *" -> 61d,
    "0 0 29 2 *" -> 1461d, "0 9-17 * * 1-5" -> 2d16h, "@hourly" -> 1h, "@every 90m" -> 90m.
    """
    if not schedule:
        return None
    text = schedule.strip()
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        text = text.split(None, 1)[1] if " " in text else ""
    if text.lower().startswith("@every "):
        return _go_duration(text[7:].strip())
    expr = _cron_expr(text)
    return _cron_worst_gap(expr) if expr else None


@functools.lru_cache(maxsize=256)
def _cron_worst_gap(expr: str) -> timedelta | None:
    from cronsim import CronSim, CronSimError

    parts = expr.split()
    try:
        it = CronSim(expr, _CRON_FROM)
        first = next(it)
        times = [first]  # the firings of one day (at most 24 * 60)
        for t in it:
            if t.date() != first.date():
                break
            times.append(t)
        days = CronSim(" ".join(["0", "0", *parts[2:]]), _CRON_FROM)
        # any day of any month: the days repeat every week
        span = timedelta(days=15) if parts[2] in ("*", "?") and parts[3] == "*" else _CRON_SPAN
        prev = next(days)
        day_gap = timedelta(0)
        for d in days:  # at most 5 * 366
            day_gap = max(day_gap, d - prev)
            if d - _CRON_FROM > span:
                break
            prev = d
    except (CronSimError, StopIteration, ValueError):
        return None
    within = max((b - a for a, b in zip(times, times[1:], strict=False)), default=timedelta(0))
    # from the last firing of one firing day to the first of the next
    across = day_gap - (times[-1] - times[0]) if day_gap else timedelta(0)
    return max(within, across) or None


def cron_next(schedule: str | None, after: float) -> float | None:
    """The first time (epoch seconds, UTC) after `after` a 5-field cron schedule fires; None if unknown.

    Standard cron: when both day-of-month and day-of-week are restricted, either matching is enough.
    Bounded: looks at most 366 days ahead.
    """
    if not schedule or schedule.strip().upper().startswith(("TZ=", "CRON_TZ=")):
        return None  # a time zone other than UTC: not computed here
    expr = _cron_expr(schedule)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    start = datetime.fromtimestamp(int(after) // 60 * 60, UTC)  # whole minutes, as cron fires
    try:
        t = next(CronSim(expr, start))
    except (CronSimError, StopIteration, ValueError):
        return None
    return t.timestamp() if t - start <= timedelta(days=366) else None


def _go_duration(text: str) -> timedelta | None:
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1}
    matched = re.fullmatch(r"((\d+(\.\d+)?)(h|m|s))+", text)
    if not matched:
        return None
    for num, _, unit in re.findall(r"(\d+(\.\d+)?)(h|m|s)", text):
        total += float(num) * units[unit]
    return timedelta(seconds=total) if total > 0 else None


# -- Kubernetes side ------------------------------------------------------------------------------
def container_command(pod_spec: dict[str, Any]) -> str:
    """The first container's command + args, joined (what `sh -c` runs included)."""
    c = ((pod_spec or {}).get("containers") or [{}])[0]
    return " ".join(str(x) for x in (c.get("command") or []) + (c.get("args") or []))


def is_materialization_command(cmd: str) -> bool:
    return bool(re.search(r"\bfeast\b.*\bmaterialize(-incremental)?\b", cmd))


@dataclass
class MaterializationCronJob:
    namespace: str
    name: str
    schedule: str
    interval: timedelta | None
    suspend: bool
    command: str
    last_schedule: datetime | None
    last_success: datetime | None
    active: list[str]
    uid: str = ""

    @classmethod
    def from_k8s(cls, obj: dict[str, Any]) -> MaterializationCronJob:
        meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        pod_spec = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        return cls(namespace=meta.get("namespace", ""), name=meta.get("name", ""),
                   schedule=spec.get("schedule", ""), interval=cron_interval(spec.get("schedule")),
                   suspend=bool(spec.get("suspend")), command=container_command(pod_spec),
                   last_schedule=parse_time(st.get("lastScheduleTime")),
                   last_success=parse_time(st.get("lastSuccessfulTime")),
                   active=[a.get("name", "") for a in st.get("active") or []], uid=meta.get("uid", ""))

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "schedule": self.schedule,
                "interval_seconds": int(self.interval.total_seconds()) if self.interval else None,
                "suspend": self.suspend, "command": self.command, "last_schedule": iso(self.last_schedule),
                "last_success": iso(self.last_success), "active": self.active}


def is_materialization_cronjob(obj: dict[str, Any]) -> bool:
    return is_materialization_command(MaterializationCronJob.from_k8s(obj).command)


@dataclass
class MaterializationJob:
    namespace: str
    name: str
    owner: str | None  # the CronJob it was created from
    status: str  # Pending | Running | Succeeded | Failed
    start: datetime | None
    end: datetime | None
    command: str
    manual: bool = False
    message: str = ""

    @classmethod
    def from_k8s(cls, obj: dict[str, Any]) -> MaterializationJob:
        meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        owner = next((r.get("name") for r in meta.get("ownerReferences") or [] if r.get("kind") == "CronJob"), None)
        status, message, end = "Pending", "", None
        for c in st.get("conditions") or []:
            if c.get("status") != "True":
                continue
            if c.get("type") == "Complete":
                status, end = "Succeeded", parse_time(c.get("lastTransitionTime"))
            elif c.get("type") == "Failed":
                status, message, end = "Failed", c.get("message") or c.get("reason") or "", \
                    parse_time(c.get("lastTransitionTime"))
        if status == "Pending":
            if st.get("succeeded"):
                status = "Succeeded"
            elif st.get("failed") and not st.get("active"):
                status = "Failed"
            elif st.get("active"):
                status = "Running"
        if status == "Succeeded":
            end = parse_time(st.get("completionTime")) or end
        pod_spec = ((spec.get("template") or {}).get("spec")) or {}
        return cls(namespace=meta.get("namespace", ""), name=meta.get("name", ""), owner=owner, status=status,
                   start=parse_time(st.get("startTime")) or parse_time(meta.get("creationTimestamp")),
                   end=end, command=container_command(pod_spec),
                   manual=(meta.get("annotations") or {}).get(INSTANTIATE_ANNOTATION) == "manual",
                   message=message)

    @property
    def done(self) -> bool:
        return self.status in ("Succeeded", "Failed")

    def duration(self, now: datetime) -> timedelta | None:
        if self.start is None:
            return None
        return (self.end or now) - self.start

    def to_dict(self, now: datetime) -> dict[str, Any]:
        d = self.duration(now)
        return {"namespace": self.namespace, "name": self.name, "cronjob": self.owner, "status": self.status,
                "start": iso(self.start), "end": iso(self.end), "manual": self.manual,
                "duration_seconds": round(d.total_seconds(), 1) if d else None, "message": self.message,
                "command": self.command}


def jobs_newest_first(jobs: list[MaterializationJob]) -> list[MaterializationJob]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(jobs, key=lambda j: (j.start or epoch, j.name), reverse=True)


def job_from_cronjob(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """The Job `kubectl create job NAME --from=cronjob/CRONJOB` creates."""
    meta = cronjob.get("metadata") or {}
    tmpl = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = tmpl.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[INSTANTIATE_ANNOTATION] = "manual"
    job_meta: dict[str, Any] = {"name": name, "namespace": meta.get("namespace"), "annotations": annotations}
    if tmeta.get("labels"):
        job_meta["labels"] = dict(tmeta["labels"])
    job_meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": meta.get("name"),
                                    "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": copy.deepcopy(tmpl.get("spec") or {})}


def manual_job_name(cronjob: str, now: datetime) -> str:
    """`<cronjob>-manual-<timestamp>`, within the 63 characters a Job name may have."""
    stamp = as_utc(now).strftime("%Y%m%d%H%M%S")
    return f"{cronjob[:63 - len(stamp) - 8]}-manual-{stamp}"


def min_schedule_interval(cronjobs: list[MaterializationCronJob]) -> timedelta | None:
    vals = [c.interval for c in cronjobs if c.interval and not c.suspend]
    return min(vals) if vals else None


def log_tail(text: str, lines: int = 12) -> str:
    return "\n".join((text or "").rstrip("\n").splitlines()[-lines:])

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
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


# -- cron schedules ------------------------------------------------------------------------------
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
          "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
          "oct": 10, "nov": 11, "dec": 12}


def _field_values(text: str, lo: int, hi: int) -> list[int] | None:
    """The values a cron field matches, or None when it cannot be parsed."""
    out: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, _, st = part.partition("/")
            if not st.isdigit() or int(st) == 0:
                return None
            step = int(st)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            x, _, y = part.partition("-")
            a, b = _num(x), _num(y)
            if a is None or b is None:
                return None
        else:
            a = _num(part)
            if a is None:
                return None
            b = hi if step > 1 else a
        if hi == 6 and b == 7:  # day of week 7 is Sunday too
            b = 6
            out.add(0)
        if a < lo or b > hi or a > b:
            return None
        out.update(range(a, b + 1, step))
    return sorted(out)


def _num(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    return _NAMES.get(s[:3])


def _max_gap(values: list[int], period: int) -> int:
    """The longest wait between consecutive firings on a cyclic axis of length period."""
    if len(values) == 1:
        return period
    gaps = [b - a for a, b in zip(values, values[1:], strict=False)]
    gaps.append(values[0] + period - values[-1])
    return max(gaps)


def _cron_fields(text: str) -> tuple[list[str], list[list[int]]] | None:
    """The five fields of a cron line and the values each matches; None when it is not 5 valid fields."""
    parts = text.split()
    if len(parts) != 5:
        return None
    vals = [_field_values(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True)]
    if any(v is None for v in vals):
        return None
    return parts, vals  # type: ignore[return-value]


def cron_interval(schedule: str | None) -> timedelta | None:
    """The longest time between two runs of a cron schedule, for common schedules; None if unknown.

    "*/15 * * * *" -> 15m, "0 * * * *" -> 1h, "0 */6 * * *" -> 6h, "30 2 * * *" -> 1d,
    "0 0 * * 0" -> 7d, "0 0 1 * *" -> 31d, "@hourly" -> 1h.
    """
    if not schedule:
        return None
    text = schedule.strip()
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        text = text.split(None, 1)[1] if " " in text else ""
    text = _MACROS.get(text.lower(), text)
    if text.lower().startswith("@every "):
        return _go_duration(text[7:].strip())
    fields = _cron_fields(text)
    if fields is None:
        return None
    parts, (minutes, hours, dom, months, dow) = fields
    dom_any, dow_any, mon_any = parts[2] in ("*", "?"), parts[4] in ("*", "?"), parts[3] == "*"
    if not mon_any:
        return timedelta(days=365 if len(months) == 1 else 31 * _max_gap(months, 12))
    if not dom_any and dow_any:
        return timedelta(days=_max_gap(dom, 31) if len(dom) > 1 else 31)
    if not dow_any and dom_any:
        day_gap = _max_gap(dow, 7)
    elif not dom_any and not dow_any:  # either matches: at most a week apart
        day_gap = min(_max_gap(dow, 7), 7)
    else:
        day_gap = 1
    if day_gap > 1 or len(hours) == 1:
        return timedelta(days=day_gap)
    if len(hours) < 24:
        # runs in some hours only: the longest pause is from the last run of one active hour
        # to the first run of the next active hour
        hour_gap = _max_gap(hours, 24)
        if hour_gap > 1:
            return timedelta(hours=hour_gap) - timedelta(minutes=minutes[-1] - minutes[0])
    return timedelta(minutes=_max_gap(minutes, 60))


def cron_next(schedule: str | None, after: float) -> float | None:
    """The first time (epoch seconds, UTC) after `after` a 5-field cron schedule fires; None if unknown.

    Standard cron: when both day-of-month and day-of-week are restricted, either matching is enough.
    Bounded: looks at most 366 days ahead.
    """
    if not schedule:
        return None
    text = schedule.strip()
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return None  # a time zone other than UTC: not computed here
    fields = _cron_fields(_MACROS.get(text.lower(), text))
    if fields is None:
        return None
    parts, (minutes, hours, dom, months, dow) = fields
    dom_any, dow_any = parts[2] in ("*", "?"), parts[4] in ("*", "?")
    start = datetime.fromtimestamp(int(after) // 60 * 60 + 60, UTC)
    day = start.replace(hour=0, minute=0)
    for _ in range(367):
        wd = (day.weekday() + 1) % 7  # cron: 0 = Sunday
        if dom_any and dow_any:
            day_ok = True
        elif dom_any:
            day_ok = wd in dow
        elif dow_any:
            day_ok = day.day in dom
        else:
            day_ok = day.day in dom or wd in dow
        if day.month in months and day_ok:
            for h in hours:
                for m in minutes:
                    t = day.replace(hour=h, minute=m)
                    if t >= start:
                        return t.timestamp()
        day = day + timedelta(days=1)
    return None


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

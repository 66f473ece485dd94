"""Probe results and a component's health roll-up (the Stack table's rows). Pure: no I/O."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from mlopstui.models.stack.catalog import ComponentSpec
from mlopstui.models.stack.workloads import WorkloadStatus
from mlopstui.units import clock


class ProbeState(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # answered, but something is off (403, near a limit)
    FAILED = "failed"  # refused, error
    TIMEOUT = "timeout"
    PENDING = "pending"
    SKIPPED = "skipped"  # nothing to probe (no endpoint, no probe for this component)


@dataclass
class ProbeResult:
    component: str
    kind: str  # http | s3 | redis | postgres | none
    target: str  # masked endpoint
    source: str  # where the endpoint came from
    state: ProbeState
    summary: str  # short, for the table: "200 /health 12ms", "PONG 1.2M/256M allkeys-lru"
    latency_ms: float | None = None
    version: str | None = None
    detail: str = ""  # the error text, masked
    data: dict[str, Any] = field(default_factory=dict)  # redis memory, pg connections, http status ...
    at: float = field(default_factory=clock)

    @property
    def ok(self) -> bool:
        return self.state in (ProbeState.OK, ProbeState.DEGRADED)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d


def pending_probe(component: str, kind: str, target: str = "-", source: str = "") -> ProbeResult:
    return ProbeResult(component, kind, target, source, ProbeState.PENDING, "probing ...")


def skipped_probe(component: str, kind: str, why: str, source: str = "", target: str = "-") -> ProbeResult:
    return ProbeResult(component, kind, target, source, ProbeState.SKIPPED, why)



class Health(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"
    ABSENT = "absent"  # not installed
    UNKNOWN = "unknown"


HEALTH_SYMBOL = {Health.OK: "✓", Health.WARN: "!", Health.ERROR: "✗", Health.ABSENT: "·", Health.UNKNOWN: "?"}
HEALTH_RANK = {Health.OK: 0, Health.ABSENT: 0, Health.UNKNOWN: 1, Health.WARN: 2, Health.ERROR: 3}


@dataclass
class ComponentStatus:
    spec: ComponentSpec
    workloads: list[WorkloadStatus]
    probe: ProbeResult
    findings: list[Any] = field(default_factory=list)  # doctor Findings, worst first
    discovered: str = ""  # the endpoint discovery found (masked): config, env, or the catalog's Service

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def installed(self) -> bool:
        return bool(self.workloads)

    @property
    def desired(self) -> int:
        return sum(w.desired for w in self.workloads)

    @property
    def ready(self) -> int:
        return sum(min(w.ready, w.desired) for w in self.workloads)

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self.workloads)

    @property
    def problem(self) -> str:
        for want in ("CrashLoopBackOff", "OOMKilled"):
            if any(w.problem == want for w in self.workloads):
                return want
        return ""

    @property
    def age(self) -> float | None:
        ages = [w.age for w in self.workloads if w.age is not None]
        return min(ages) if ages else None

    @property
    def version(self) -> str:
        return self.version_and_source[0]

    @property
    def version_source(self) -> str:
        """Where the version came from: "endpoint" (the live server answered), "label"
        (app.kubernetes.io/version), "image" (the main container's tag), "status", or ""."""
        return self.version_and_source[1]

    @property
    def version_and_source(self) -> tuple[str, str]:
        if self.probe.version:
            return self.probe.version, "endpoint"
        for w in self.workloads:
            if w.version != "-":
                return w.version, w.version_source
        return "-", ""

    @property
    def endpoint(self) -> str:
        """The endpoint found for this component (masked), or "-" (the probe may reach it by another route)."""
        if self.discovered and self.discovered != "-":
            return self.discovered
        return self.probe.target if self.probe.target and self.probe.target != "-" else "-"

    @property
    def worst_finding(self) -> Any | None:
        return self.findings[0] if self.findings else None

    @property
    def health(self) -> Health:
        return component_health(self)

    def to_dict(self) -> dict[str, Any]:
        wf = self.worst_finding
        return {
            "id": self.id, "title": self.spec.title, "role": self.spec.role, "installed": self.installed,
            "health": self.health.value, "ready": self.ready, "desired": self.desired, "restarts": self.restarts,
            "problem": self.problem or None, "age_seconds": self.age, "version": self.version,
            "version_source": self.version_source or None, "endpoint": self.endpoint,
            "probe": self.probe.to_dict(),
            "workloads": [{"kind": w.kind, "namespace": w.namespace, "name": w.name, "ready": w.ready,
                           "desired": w.desired, "restarts": w.restarts, "problem": w.problem or None,
                           "images": w.images, "note": w.note or None, "version": w.version,
                           "version_source": w.version_source or None} for w in self.workloads],
            "worst_finding": wf.to_dict() if wf is not None else None,
            "findings": len(self.findings),
        }


def component_health(c: ComponentStatus) -> Health:
    """Roll-up: absent when nothing is installed and nothing answers; error on crash/OOM, a failed probe,
    no ready replica, or an error finding; warn on partial readiness, restarts, degraded probe or a warning."""
    probe_answers = c.probe.state in (ProbeState.OK, ProbeState.DEGRADED)
    if not c.installed and not probe_answers:
        if c.probe.state in (ProbeState.FAILED, ProbeState.TIMEOUT) and c.probe.source == "config":
            return Health.ERROR  # configured explicitly, yet unreachable
        return Health.ABSENT
    level = Health.OK
    sev = c.worst_finding.severity.value if c.worst_finding is not None else None
    if (c.problem or c.probe.state in (ProbeState.FAILED, ProbeState.TIMEOUT)
            or (c.desired > 0 and c.ready == 0) or sev == "error"):
        return Health.ERROR
    if (c.ready < c.desired or c.probe.state is ProbeState.DEGRADED or sev == "warning"):
        level = Health.WARN
    if c.probe.state is ProbeState.PENDING and level is Health.OK:
        level = Health.UNKNOWN
    return level


def worst_health(items: Iterable[Health]) -> Health:
    out = Health.OK
    for h in items:
        if HEALTH_RANK[h] > HEALTH_RANK[out]:
            out = h
    return out


def since(ts: float | None, now: float | None = None) -> float | None:
    return None if ts is None else max(0.0, (now or clock()) - ts)

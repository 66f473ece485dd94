"""CronWorkflows and (Cluster)WorkflowTemplates as plain data. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopstui.models.pipelines.names import rfc3339
from mlopstui.models.pipelines.workflow import Param
from mlopstui.units import parse_time


# -- CronWorkflows and WorkflowTemplates -----------------------------------------------------------
@dataclass
class CronWorkflow:
    namespace: str
    name: str
    schedules: list[str]
    timezone: str = ""
    suspended: bool = False
    concurrency: str = ""
    last_scheduled: float | None = None
    active: list[str] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    created: float | None = None
    resource_version: str = ""
    parameters: list[Param] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)

    def next_run(self, now: float) -> float | None:
        from mlopstui.models.features import cron_next

        if self.suspended or (self.timezone and self.timezone not in ("UTC", "Etc/UTC")):
            return None
        times = [t for t in (cron_next(s, now) for s in self.schedules) if t is not None]
        return min(times) if times else None

    def summary(self, now: float) -> dict[str, Any]:
        nxt = self.next_run(now)
        return {"namespace": self.namespace, "name": self.name, "schedules": self.schedules,
                "timezone": self.timezone or None, "suspended": self.suspended,
                "concurrencyPolicy": self.concurrency or None,
                "lastScheduledTime": rfc3339(self.last_scheduled) if self.last_scheduled else None,
                "nextScheduledTime": rfc3339(nxt) if nxt else None, "active": self.active,
                "succeeded": self.succeeded, "failed": self.failed,
                "parameters": {p.name: p.effective for p in self.parameters}}


def parse_cron_workflow(obj: dict) -> CronWorkflow:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    schedules = [str(s) for s in spec.get("schedules") or []] or ([str(spec["schedule"])]
                                                                  if spec.get("schedule") else [])
    wspec = spec.get("workflowSpec") or {}
    return CronWorkflow(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""), schedules=schedules,
        timezone=str(spec.get("timezone") or ""), suspended=bool(spec.get("suspend")),
        concurrency=str(spec.get("concurrencyPolicy") or ""),
        last_scheduled=parse_time(st.get("lastScheduledTime")),
        active=[str(a.get("name")) for a in st.get("active") or [] if isinstance(a, dict)],
        succeeded=int(st.get("succeeded") or 0), failed=int(st.get("failed") or 0),
        created=parse_time(meta.get("creationTimestamp")), resource_version=str(meta.get("resourceVersion") or ""),
        parameters=[Param.parse(p) for p in (wspec.get("arguments") or {}).get("parameters") or []
                    if isinstance(p, dict)], raw=obj)


@dataclass
class WorkflowTemplate:
    namespace: str
    name: str
    entrypoint: str = ""
    templates: list[str] = field(default_factory=list)
    parameters: list[Param] = field(default_factory=list)
    created: float | None = None
    cluster: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"namespace": self.namespace or None, "name": self.name, "cluster": self.cluster,
                "entrypoint": self.entrypoint, "templates": self.templates,
                "parameters": {p.name: p.effective for p in self.parameters}}


def parse_workflow_template(obj: dict, cluster: bool = False) -> WorkflowTemplate:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return WorkflowTemplate(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
        entrypoint=str(spec.get("entrypoint") or ""),
        templates=[str(t.get("name")) for t in spec.get("templates") or [] if isinstance(t, dict)],
        parameters=[Param.parse(p) for p in (spec.get("arguments") or {}).get("parameters") or []
                    if isinstance(p, dict)],
        created=parse_time(meta.get("creationTimestamp")), cluster=cluster, raw=obj)

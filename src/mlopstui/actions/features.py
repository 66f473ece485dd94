"""Feast materialization actions.

- TriggerMaterialization: a Job from a materialization CronJob's jobTemplate, exactly what
  ``kubectl create job <cronjob>-manual-<ts> --from=cronjob/<cronjob>`` creates.
- MaterializeLocal: ``feast materialize-incremental END`` (or ``feast materialize START END``) in the
  repository, for setups without a CronJob.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlopstui.actions.base import Action, Plan, Result, observe_object
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import features as m
from mlopstui.secrets import mask_text

if TYPE_CHECKING:
    from mlopstui.context import AppContext


class TriggerMaterialization(Action):
    name = "materialize"

    def __init__(self, ctx: AppContext, namespace: str | None, cronjob: str, *, now: datetime | None = None):
        self.ctx = ctx
        self.namespace = namespace or ctx.namespace
        self.cronjob = cronjob
        self.now = now

    def plan(self) -> Plan:
        from mlopstui.backends.kube import CRONJOBS, JOBS

        cj = self.ctx.kube.get(CRONJOBS, self.cronjob, self.namespace)
        info = m.MaterializationCronJob.from_k8s(cj)
        name = m.manual_job_name(self.cronjob, self.now or datetime.now(UTC))
        manifest = m.job_from_cronjob(cj, name)
        notes = [f"command: {info.command}"]
        risk = "medium"
        if not m.is_materialization_command(info.command):
            notes.append("this CronJob does not look like a feast materialization")
        if info.active:
            risk = "high"
            notes.append(f"a Job of this CronJob is still running ({', '.join(info.active)}); its "
                         f"concurrencyPolicy does not apply to manual Jobs: both would write the online store")
        notes.append("materialization writes every entity row into the online store: watch Redis memory "
                     "(no maxmemory: OOM-killed; allkeys-lru: features silently evicted)")
        return Plan(action=self.name, summary=f"create Job {name} from CronJob {self.namespace}/{self.cronjob}",
                    target=f"{JOBS.full_name}/{self.namespace}/{name}", context=self.ctx.context_name,
                    patch=manifest, patch_type="Job manifest (POST)", risk=risk, notes=notes)

    def _apply(self, plan: Plan) -> Result:
        from mlopstui.backends.kube import JOBS

        created = self.ctx.kube.create(JOBS, plan.patch, self.namespace)
        meta = created.get("metadata") or {}
        return Result(True, f"created job {self.namespace}/{meta.get('name')}",
                      data={"namespace": self.namespace, "job": meta.get("name"), "uid": meta.get("uid")})

    def observe(self, plan: Plan) -> bool | None:
        from mlopstui.backends.kube import JOBS

        return observe_object(self.ctx.kube, JOBS, plan.patch, self.namespace)


class MaterializeLocal(Action):
    name = "materialize-local"

    def __init__(self, repo: str | Path, start: datetime | None = None, end: datetime | None = None, *,
                 timeout: float = 900.0):
        self.repo = Path(repo)
        self.start = start
        self.end = end
        self.timeout = timeout

    def argv(self, end: datetime) -> list[str]:
        from mlopstui.backends.feast import feast_argv

        fmt = "%Y-%m-%dT%H:%M:%S"
        end_s = m.as_utc(end).strftime(fmt)
        if self.start is not None:
            return [*feast_argv(), "materialize", m.as_utc(self.start).strftime(fmt), end_s]
        return [*feast_argv(), "materialize-incremental", end_s]

    def plan(self) -> Plan:
        from mlopstui.backends.feast import fs_yaml_file

        if not fs_yaml_file(self.repo).is_file():  # the `feast` CLI reads FEAST_FS_YAML_FILE_PATH too
            raise MlopsError(Kind.NOT_FOUND, f"no feature_store.yaml in {self.repo}",
                             hint="point endpoints.feast_repo / FEAST_REPO_PATH at the feature repository")
        end = self.end or datetime.now(UTC)
        argv = self.argv(end)
        shown = " ".join(["feast", *argv[-3 if self.start is not None else -2:]])
        return Plan(action=self.name,
                    summary=f"run `{shown}` in {self.repo}",
                    target=f"feast-repo/{self.repo}", patch={"argv": argv, "cwd": str(self.repo),
                                                             "timeout_seconds": self.timeout},
                    patch_type="command", risk="medium",
                    notes=["runs on this machine with this machine's access to the offline and online "
                           "stores; writes the online store and the registry's materialization intervals"])

    def _apply(self, plan: Plan) -> Result:
        from mlopstui.backends.feast import feast_env

        argv = plan.patch["argv"]
        try:
            proc = subprocess.run(argv, cwd=str(self.repo), env=feast_env(), capture_output=True, text=True,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise MlopsError(Kind.TIMEOUT, f"feast materialization did not finish within {self.timeout:.0f}s",
                             source="feast") from exc
        except OSError as exc:
            raise MlopsError(Kind.ERROR, f"cannot run {argv[0]}: {exc}", hint="install feast in this environment",
                             source="feast") from exc
        output = mask_text((proc.stdout or "") + (proc.stderr or ""))
        if proc.returncode != 0:
            return Result(False, f"feast exited with code {proc.returncode}: {m.log_tail(output, 3)}",
                          data={"output": output, "returncode": proc.returncode})
        return Result(True, "materialization finished", data={"output": output, "returncode": 0})

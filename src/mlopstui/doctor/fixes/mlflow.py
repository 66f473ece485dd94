"""Fixes for MLflow servers: allowed hosts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    FixSpec,
    _No,
    _Opts,
    _pod_template_fix,
    fixer,
)
from mlopstui.doctor.fixes.clients import _servers
from mlopstui.doctor.snapshot import Snapshot, ref


# -- MLflow allowed hosts -------------------------------------------------------------------------------
def _allowed_hosts_fix(finding: Finding, snap: Snapshot, w: Mapping[str, Any], c: Mapping[str, Any], flags: dict,
                       env: Any, extra: list[str]) -> FixSpec:
    from mlopstui.doctor.util import service_hosts

    if isinstance(flags.get("allowed-hosts"), str):
        raise _No(f"the server command of {ref(w)} passes --allowed-hosts itself (it overrides "
                  "MLFLOW_SERVER_ALLOWED_HOSTS): add the Service names to that flag: "
                  + ",".join(h for svc in snap.services_selecting(w) for h in service_hosts(svc)))
    existing = env.get("MLFLOW_SERVER_ALLOWED_HOSTS")
    if env.has("MLFLOW_SERVER_ALLOWED_HOSTS") and existing is None:
        raise _No(f"MLFLOW_SERVER_ALLOWED_HOSTS of {ref(w)} comes from {env.sources.get('MLFLOW_SERVER_ALLOWED_HOSTS')}: "
                  "add the Service names there")
    if env.has("MLFLOW_SERVER_ALLOWED_HOSTS") is None:
        raise _No(f"{ref(w)} takes env from an envFrom Secret whose keys are unknown: it may set "
                  "MLFLOW_SERVER_ALLOWED_HOSTS; set it there")
    have = [h.strip() for h in (existing or "").split(",") if h.strip()]
    needed = [h for svc in snap.services_selecting(w) for h in service_hosts(svc)] + extra
    if not needed:
        raise _No(f"no Service selects {ref(w)}: the host names clients use are unknown; add them to "
                  "--allowed-hosts by hand")
    hosts = list(dict.fromkeys(have + needed))
    if hosts == have:
        raise _No(f"{ref(w)} already allows {', '.join(needed)}")
    value = ",".join(hosts)
    notes = [f"MLflow reads --allowed-hosts from MLFLOW_SERVER_ALLOWED_HOSTS (click envvar); "
             f"{len(hosts) - len(have)} names added" + (f", the existing {len(have)} kept" if have else ""),
             "add your ingress host names too if clients come through an ingress",
             "the tracking server restarts (a new pod); clients retry"]
    return _pod_template_fix(finding, w, {c.get("name"): {"env": [{"name": "MLFLOW_SERVER_ALLOWED_HOSTS",
                                                                    "value": value}]}},
                             f"allow the Service host names on the MLflow server {ref(w)}", "medium", notes,
                             before={"MLFLOW_SERVER_ALLOWED_HOSTS": existing}, after={"MLFLOW_SERVER_ALLOWED_HOSTS": value})


def _server_target(finding: Finding, snap: Snapshot, opts: _Opts):
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    for r in refs:
        for w, c, flags, env in _servers(snap):
            if ref(w) == r:
                return w, c, flags, env
    raise _No("no MLflow server container found in " + (", ".join(refs) or "the cluster"))


@fixer("mlflow-allowed-hosts")
def fix_allowed_hosts(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c, flags, env = _server_target(finding, snap, opts)
    return _allowed_hosts_fix(finding, snap, w, c, flags, env, [])


@fixer("mlflow-host-rejected")
def fix_host_rejected(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c, flags, env = _server_target(finding, snap, opts)
    p = snap.probe("mlflow")
    extra = []
    rejected = str((p.data.get("host_rejected") if p is not None else "") or "")
    if rejected:
        extra = [rejected] + ([rejected.rsplit(":", 1)[0]] if ":" in rejected else [])
    return _allowed_hosts_fix(finding, snap, w, c, flags, env, extra)

"""Helpers the rules share: reading a container's environment, parsing an MLflow server command line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlopstui.doctor.snapshot import Snapshot
from mlopstui.models.commandline import cluster_host, host_of, mlflow_server_args  # noqa: F401 - shared by rules
from mlopstui.models.commandline import tokens as _tokens  # noqa: F401


@dataclass
class EnvView:
    """A container's environment as far as it can be known without reading Secrets."""

    values: dict[str, str | None] = field(default_factory=dict)  # literal value, or None when from a ref
    sources: dict[str, str] = field(default_factory=dict)  # name -> "value" | "secret NAME" | "configmap NAME"
    opaque: list[str] = field(default_factory=list)  # envFrom sources whose keys are unknown

    def has(self, name: str) -> bool | None:
        """True: set. False: certainly not set. None: unknown (it may come from an envFrom Secret)."""
        if name in self.values:
            return True
        return None if self.opaque else False

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def env_of(container: Mapping[str, Any], snap: Snapshot | None = None, namespace: str = "") -> EnvView:
    view = EnvView()
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if "configMapRef" in src:
            name = (src.get("configMapRef") or {}).get("name", "")
            cm = snap.configmap(name, namespace) if snap else None
            if cm is None:
                view.opaque.append(f"configmap {name}")
                continue
            for k, v in (cm.get("data") or {}).items():
                view.values[prefix + k] = v
                view.sources[prefix + k] = f"configmap {name}"
        elif "secretRef" in src:
            view.opaque.append(f"secret {(src.get('secretRef') or {}).get('name', '')}")
    for e in container.get("env") or []:
        name = e.get("name")
        if not name:
            continue
        if "value" in e:
            view.values[name] = "" if e["value"] is None else str(e["value"])
            view.sources[name] = "value"
        elif "valueFrom" in e:
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                view.sources[name] = f"secret {(vf['secretKeyRef'] or {}).get('name', '')}"
                view.values[name] = None
            elif "configMapKeyRef" in vf:
                ref = vf["configMapKeyRef"] or {}
                cm = snap.configmap(ref.get("name", ""), namespace) if snap else None
                view.values[name] = ((cm or {}).get("data") or {}).get(ref.get("key", "")) if cm else None
                view.sources[name] = f"configmap {ref.get('name', '')}"
            else:
                view.values[name] = None
                view.sources[name] = "field"
        else:
            view.values[name] = ""
            view.sources[name] = "value"
    return view


MLFLOW_ENV_FLAGS = {
    "backend-store-uri": "MLFLOW_BACKEND_STORE_URI",
    "default-artifact-root": "MLFLOW_DEFAULT_ARTIFACT_ROOT",
    "artifacts-destination": "MLFLOW_ARTIFACTS_DESTINATION",
    "allowed-hosts": "MLFLOW_SERVER_ALLOWED_HOSTS",
}


def mlflow_setting(flags: Mapping[str, Any], env: EnvView, flag: str) -> tuple[str | None, str]:
    """A server setting from its flag or its env var: (value, where)."""
    v = flags.get(flag)
    if isinstance(v, str):
        return v, f"--{flag}"
    var = MLFLOW_ENV_FLAGS.get(flag)
    if var and env.has(var):
        return env.get(var), f"env {var}"
    return None, ""


def mlflow_servers(snap: Snapshot) -> list[tuple[dict[str, Any], Mapping[str, Any], dict[str, Any], EnvView]]:
    """(workload, container, flags, env) for every MLflow tracking server container in the snapshot."""
    return snap.memo("mlflow_servers", lambda: _mlflow_servers(snap))


def _mlflow_servers(snap: Snapshot) -> list[tuple[dict[str, Any], Mapping[str, Any], dict[str, Any], EnvView]]:
    from mlopstui.models.stack import containers_of

    out = []
    for w in snap.of("Deployment", "StatefulSet"):
        ns = (w.get("metadata") or {}).get("namespace", "")
        for c in containers_of(w):
            flags = mlflow_server_args(c)
            if flags is not None:
                out.append((w, c, flags, env_of(c, snap, ns)))
    return out


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """'2.11.0' / 'v3.5.1' / '3.5.0-debian-12-r0' -> (3, 5, 1); None when not a version."""
    if not text:
        return None
    t = text.strip().lstrip("vV")
    nums: list[int] = []
    for part in t.replace("-", ".").split("."):
        if part.isdigit():
            nums.append(int(part))
        else:
            break
        if len(nums) == 3:
            break
    return tuple(nums) if len(nums) >= 2 else None


def pod_bearers(snap: Snapshot, watched_only: bool = True) -> list[dict[str, Any]]:
    """Objects that define containers, each once: workloads, Jobs not made by a CronJob, CronJobs,
    bare Pods (no owner), Argo Workflows, WorkflowTemplates and CronWorkflows."""
    out = []
    for o in snap.of("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Workflow", "WorkflowTemplate",
                     "ClusterWorkflowTemplate", "CronWorkflow", "Job", "Pod"):
        if o.get("kind") in ("Job", "Pod") and (o.get("metadata") or {}).get("ownerReferences"):
            continue
        if watched_only and not snap.watched(o):
            continue
        out.append(o)
    return out


def component_for(snap: Snapshot, obj: Mapping[str, Any], default: str = "cluster") -> str:
    return snap.component_of(obj) or default


def namespaces_in(snap: Snapshot) -> set[str]:
    return {(o.get("metadata") or {}).get("namespace") for objs in snap.objects.values() for o in objs} - {None}


def service_hosts(svc: Mapping[str, Any]) -> list[str]:
    """Every Host header an in-cluster client may send to a Service: the DNS names with and without port."""
    m = svc.get("metadata") or {}
    name, ns = m.get("name", ""), m.get("namespace", "")
    names = [name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
    ports = [p.get("port") for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port")]
    out = list(names)
    for p in ports:
        out.extend(f"{n}:{p}" for n in names)
    return out

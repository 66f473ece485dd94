"""The MLflow tracking server: artifact root, backend store, allowed hosts."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import (
    cluster_host,
    host_of,
    mlflow_servers,
    mlflow_setting,
    namespaces_in,
    service_hosts,
    version_tuple,
)
from mlopstui.models.stack import VERSION_LABEL, image_tag, pod_template_spec
from mlopstui.secrets import mask_uri


def _is_local(uri: str) -> bool:
    return uri.startswith(("file:", "/", "./", "../")) or "://" not in uri and not uri.startswith("mlflow-artifacts:")


def _has_pvc(w: dict) -> bool:
    ps = pod_template_spec(w) or {}
    return any("persistentVolumeClaim" in v for v in ps.get("volumes") or []) or bool(
        (w.get("spec") or {}).get("volumeClaimTemplates"))


@rule("mlflow-artifact-root-local", "mlflow", "MLflow artifact root on pod disk")
def artifact_root_local(snap: Snapshot) -> Iterator[Finding]:
    for w, c, flags, env in mlflow_servers(snap):
        root, root_src = mlflow_setting(flags, env, "default-artifact-root")
        dest, dest_src = mlflow_setting(flags, env, "artifacts-destination")
        problem = None
        if not root and not dest:
            problem = "neither --default-artifact-root nor --artifacts-destination is set (default ./mlartifacts)"
        elif root and _is_local(root):
            problem = f"{root_src} {root} is a local path"
        elif dest and _is_local(dest) and (not root or root.startswith("mlflow-artifacts:")):
            problem = f"{dest_src} {dest} is a local path"
        if problem:
            sev = Severity.WARNING if _has_pvc(w) else Severity.ERROR
            yield Finding(
                "mlflow-artifact-root-local", sev, "mlflow",
                f"{ref(w)}: MLflow artifacts are stored on the pod's disk", (ref(w),),
                f"container '{c.get('name')}': {problem}"
                + (" (a PersistentVolumeClaim is mounted)" if sev is Severity.WARNING else ""),
                "Artifacts written to the container filesystem are lost when the pod restarts, and "
                "other replicas cannot see them.",
                "Pass --default-artifact-root s3://mlflow-artifacts/ (clients upload to S3) or "
                "--artifacts-destination s3://mlflow-artifacts/ (the server proxies), with "
                "MLFLOW_S3_ENDPOINT_URL and AWS credentials in the server's env.")


@rule("mlflow-backend-store-local", "mlflow", "MLflow backend store on pod disk")
def backend_store_local(snap: Snapshot) -> Iterator[Finding]:
    for w, c, flags, env in mlflow_servers(snap):
        uri, src = mlflow_setting(flags, env, "backend-store-uri")
        if uri is None or uri.startswith(("sqlite:", "file:", "/", "./")) or "://" not in uri:
            seen = f"{src} {mask_uri(uri)}" if uri else "no --backend-store-uri (default: local files / sqlite)"
            yield Finding(
                "mlflow-backend-store-local", Severity.WARNING if _has_pvc(w) else Severity.ERROR, "mlflow",
                f"{ref(w)}: MLflow runs are stored on the pod's disk", (ref(w),),
                f"container '{c.get('name')}': {seen}",
                "Run metadata on the container filesystem is lost on restart and cannot be shared by replicas.",
                "Use a PostgreSQL backend: --backend-store-uri postgresql://USER:PASSWORD@HOST:5432/mlflow "
                "(password from a Secret).")


@rule("mlflow-backend-host-unknown", "mlflow", "MLflow backend store host matches no Service")
def backend_host_unknown(snap: Snapshot) -> Iterator[Finding]:
    known = namespaces_in(snap)
    for w, c, flags, env in mlflow_servers(snap):
        uri, src = mlflow_setting(flags, env, "backend-store-uri")
        if not uri or "://" not in uri:
            continue
        host, _port = host_of(uri)
        ns = (w.get("metadata") or {}).get("namespace", "")
        target = cluster_host(host or "", ns, known)
        if target is None or snap.service(*target) is not None:
            continue
        name, tns = target
        candidates = [s["metadata"]["name"] for s in snap.of("Service")
                      if s["metadata"].get("namespace") == tns
                      and any(k in s["metadata"]["name"] for k in ("postgres", "pgbouncer", "db", "sql"))]
        candidates.sort(key=lambda c: -difflib.SequenceMatcher(None, name, c).ratio())  # the likeliest first
        yield Finding(
            "mlflow-backend-host-unknown", Severity.ERROR, "mlflow",
            f"{ref(w)}: backend store host {host} matches no Service", (ref(w),),
            f"{src} {mask_uri(uri)}: no Service {tns}/{name}"
            + (f"; Services there: {', '.join(candidates)}" if candidates else ""),
            "The tracking server cannot resolve its database host (psycopg2.OperationalError: could not "
            "translate host name); it crash-loops or every request fails.",
            (f"Point the URI at an existing Service, e.g. host {candidates[0]}.{tns}.svc.cluster.local"
             if candidates else "Fix the host in --backend-store-uri to the PostgreSQL Service name") + ".")


def _mlflow_version(snap: Snapshot, w: dict, container: dict) -> tuple[str | None, str]:
    p = snap.probe("mlflow")
    if p is not None and p.version and snap.component_of(w) == "mlflow":
        return p.version, "server /version"
    label = ((w.get("metadata") or {}).get("labels") or {}).get(VERSION_LABEL)
    if label:
        return str(label), f"label {VERSION_LABEL}"
    tag = image_tag(str(container.get("image", "")))
    return tag, f"image tag {container.get('image')}"


@rule("mlflow-allowed-hosts", "mlflow", "MLflow 3.5+ without --allowed-hosts for its Service names")
def allowed_hosts(snap: Snapshot) -> Iterator[Finding]:
    for w, c, flags, env in mlflow_servers(snap):
        live = snap.probe("mlflow")
        if (live is not None and live.data.get("host_checked") and not live.data.get("host_rejected")
                and snap.component_of(w) == "mlflow"):
            continue  # the live server accepted the in-cluster Host header: that evidence wins
        version, vsrc = _mlflow_version(snap, w, c)
        vt = version_tuple(version)
        if vt is None or vt < (3, 5):
            continue
        value, src = mlflow_setting(flags, env, "allowed-hosts")
        patterns = [h.strip() for h in (value or "").split(",") if h.strip()]
        if "*" in patterns:
            continue
        needed = [h for svc in snap.services_selecting(w) for h in service_hosts(svc)]
        missing = [h for h in needed if not any(fnmatch.fnmatch(h, p) if "*" in p else h == p for p in patterns)]
        missing.sort(key=lambda h: (-h.count("."), ":" not in h))  # the full DNS name with port first
        if value is not None and not missing:
            continue
        svc_list = ",".join(needed) if needed else "<service>.<ns>.svc.cluster.local,<service>.<ns>.svc.cluster.local:5000"
        unread = [o for o in env.opaque if o.startswith("secret ")] if value is None else []
        yield Finding(
            "mlflow-allowed-hosts", Severity.WARNING if unread else Severity.ERROR, "mlflow",
            f"{ref(w)}: MLflow {version} rejects in-cluster Host headers", (ref(w),),
            f"version {version} ({vsrc}); "
            + (f"{src}={value}; not covered: {', '.join(missing[:6])}" if value is not None
               else "no --allowed-hosts / MLFLOW_SERVER_ALLOWED_HOSTS")
            + (f" (unless envFrom {', '.join(unread)} sets MLFLOW_SERVER_ALLOWED_HOSTS: Secrets are not read)"
               if unread else ""),
            "MLflow 3.5+ answers HTTP 403 \"Invalid Host header - possible DNS rebinding attack detected\" "
            "to any Host not in its allow-list (default: localhost and private IPs): clients using the "
            "Service DNS name fail while /health still answers.",
            f"Add --allowed-hosts {svc_list} (plus your ingress host names) to the server's command.")


@rule("mlflow-host-rejected", "mlflow", "MLflow answered 403 Invalid Host header")
def host_rejected(snap: Snapshot) -> Iterator[Finding]:
    p = snap.probe("mlflow")
    if p is None or not p.data.get("host_rejected"):
        return
    objs = tuple(ref(w) for w in snap.workloads_of("mlflow"))
    yield Finding(
        "mlflow-host-rejected", Severity.ERROR, "mlflow",
        f"MLflow rejects Host {p.data['host_rejected']} with 403", objs,
        f"GET {p.target} with Host: {p.data['host_rejected']} -> 403 {p.data.get('host_rejected_body', '')}".strip(),
        "The tracking server's host allow-list (MLflow 3.5+) does not include the name clients use; every "
        "API call from in-cluster clients fails with 403 Invalid Host header.",
        f"Add --allowed-hosts including {p.data['host_rejected']} (with and without the port) to the server.")

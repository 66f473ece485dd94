"""Data versioning, from the seed: LakeFS-managed buckets must be read and written through the LakeFS
S3 gateway, not MinIO directly; LakeFS needs its PostgreSQL; a DVC S3 remote needs an endpointurl
(else pushes go to public AWS and time out), credentials, and Signature Version 4.

Besides cluster objects, these rules read two kinds of facts the backends add to the snapshot:
``LakeFSRepository`` (from the LakeFS API: ``spec.storageNamespace``) and ``DVCRemote`` (from the
configured DVC project's config files: ``spec.url``, ``spec.endpointurl``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import _tokens, env_of, host_of, pod_bearers
from mlopstui.models.stack import containers_of, workload_status

ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "S3_ENDPOINT_URL",
                 "S3_ENDPOINT", "AWS_S3_ENDPOINT", "MINIO_ENDPOINT")
S3_SERVICE_NAMES = ("minio", "minio-api", "rook-ceph-rgw", "s3", "seaweedfs-s3", "ceph-rgw")
_S3_URI = re.compile(r"s3a?://([a-z0-9][a-z0-9.\-]{1,62})(?=/|$|\s|\"|')")


def lakefs_buckets(snap: Snapshot) -> dict[str, list[str]]:
    """bucket -> the LakeFS repositories whose storage namespace is in it."""
    out: dict[str, list[str]] = {}
    for r in snap.of("LakeFSRepository"):
        ns = ((r.get("spec") or {}).get("storageNamespace") or "")
        if ns.startswith(("s3://", "s3a://")):
            bucket = ns.split("://", 1)[1].split("/", 1)[0]
            out.setdefault(bucket, []).append((r.get("metadata") or {}).get("name", "?"))
    return out


def _lakefs_hosts(snap: Snapshot) -> set[str]:
    names = {"lakefs"}
    for w in snap.workloads_of("lakefs"):
        for svc in snap.services_selecting(w):
            names.add((svc.get("metadata") or {}).get("name", ""))
    return names


def _s3_hosts(snap: Snapshot) -> set[str]:
    names = set(S3_SERVICE_NAMES)
    for w in snap.workloads_of("s3"):
        for svc in snap.services_selecting(w):
            names.add((svc.get("metadata") or {}).get("name", ""))
    return names


def _endpoint(c: Mapping[str, Any], env) -> tuple[str | None, str]:
    for var in ENDPOINT_VARS:
        v = env.get(var)
        if v:
            return v, var
    toks = _tokens(c)
    for i, t in enumerate(toks):
        if t.startswith("--endpoint-url="):
            return t.split("=", 1)[1], "--endpoint-url"
        if t == "--endpoint-url" and i + 1 < len(toks):
            return toks[i + 1], "--endpoint-url"
    return None, ""


def _buckets_used(c: Mapping[str, Any], env) -> set[str]:
    text = " ".join(_tokens(c)) + " " + " ".join(v for v in env.values.values() if v)
    return set(_S3_URI.findall(text))


def _gateway_hint(snap: Snapshot) -> str:
    for w in snap.workloads_of("lakefs"):
        for svc in snap.services_selecting(w):
            m = svc.get("metadata") or {}
            port = ((svc.get("spec") or {}).get("ports") or [{}])[0].get("port", 80)
            return f"http://{m.get('name')}.{m.get('namespace')}.svc.cluster.local" + (f":{port}" if port != 80 else "")
    return "http://lakefs.<namespace>.svc.cluster.local"


@rule("lakefs-bucket-via-minio", "lakefs", "Clients of a LakeFS-managed bucket that bypass the LakeFS S3 gateway")
def bucket_via_minio(snap: Snapshot) -> Iterator[Finding]:
    managed = lakefs_buckets(snap)
    if not managed:
        return
    lakefs, s3 = _lakefs_hosts(snap), _s3_hosts(snap)
    gateway = _gateway_hint(snap)
    for obj in pod_bearers(snap):
        if snap.component_of(obj) in ("lakefs", "s3"):
            continue  # LakeFS itself writes the bucket through MinIO, by design
        ns = (obj.get("metadata") or {}).get("namespace", "")
        for c in containers_of(obj):
            env = env_of(c, snap, ns)
            hit = sorted(_buckets_used(c, env) & set(managed))
            if not hit:
                continue
            url, var = _endpoint(c, env)
            host = (host_of(url)[0] or "") if url else ""
            first = host.split(".")[0]
            if not url or first in lakefs or first not in s3:
                continue
            repos = sorted({r for b in hit for r in managed[b]})
            yield Finding(
                "lakefs-bucket-via-minio", Severity.ERROR, "lakefs",
                f"{ref(obj)} uses LakeFS-managed bucket {', '.join(hit)} through {host} directly",
                (ref(obj),),
                f"container {c.get('name')}: {var}={url}; references s3://{hit[0]}/... (storage namespace of "
                f"LakeFS repository {', '.join(repos)})",
                "Objects under a LakeFS storage namespace are LakeFS's own: written directly they are not in "
                "any commit or branch (invisible to readers of LakeFS, lost to garbage collection), and reading "
                "them directly skips LakeFS's versioning. Applications must use the LakeFS S3 gateway.",
                f"Point {var} at the LakeFS S3 gateway ({gateway}) with a LakeFS access key, and address objects "
                f"as s3://<repository>/<branch>/<path> (e.g. s3://{repos[0]}/main/...).")


def _lakefs_db_host(snap: Snapshot, w: Mapping[str, Any]) -> tuple[str | None, str]:
    ns = (w.get("metadata") or {}).get("namespace", "")
    for c in containers_of(w):
        env = env_of(c, snap, ns)
        if env.has("LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING"):
            v = env.get("LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING")
            if v:
                return host_of(v)[0], "LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING"
            return None, env.sources.get("LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING", "")
    return None, ""


def _lakefs_databases(snap: Snapshot, ns: str) -> list[dict[str, Any]]:
    out = []
    for o in snap.of("StatefulSet", "Deployment"):
        m = o.get("metadata") or {}
        if m.get("namespace") != ns or "lakefs" not in m.get("name", ""):
            continue
        images = " ".join(c.get("image", "") for c in containers_of(o))
        if "postgres" in images or "postgres" in m.get("name", ""):
            out.append(o)
    return out


@rule("lakefs-not-ready", "lakefs", "LakeFS not ready, or its PostgreSQL down")
def lakefs_not_ready(snap: Snapshot) -> Iterator[Finding]:
    pods = snap.pods_by_namespace()
    probe = snap.probe("lakefs")
    for w in snap.workloads_of("lakefs"):
        m = w.get("metadata") or {}
        ns = m.get("namespace", "")
        dbs = _lakefs_databases(snap, ns)
        if w.get("kind") not in ("Deployment", "StatefulSet") or any(ref(d) == ref(w) for d in dbs):
            continue  # its database (named lakefs-*, so in the component too) is reported with it
        db_down = [d for d in dbs if not workload_status(d, pods).is_ready]
        host, where = _lakefs_db_host(snap, w)
        missing_svc = host is not None and "." in host and host.split(".")[0] and \
            snap.service(host.split(".")[0], host.split(".")[1] if host.count(".") >= 1 else ns) is None
        ws = workload_status(w, pods)
        probe_bad = probe is not None and probe.state.value in ("failed", "timeout")
        if ws.is_ready and not db_down and not missing_svc and not probe_bad:
            continue
        evidence = [f"{ws.ready}/{ws.desired} replicas ready"]
        if probe_bad:
            evidence.append(f"/_health probe: {probe.detail or probe.summary or probe.state.value}")
        if db_down:
            evidence.append("its PostgreSQL " + ", ".join(f"{ref(d)} ({workload_status(d, pods).ready}/"
                                                          f"{workload_status(d, pods).desired} ready)"
                                                          for d in db_down))
        if missing_svc:
            evidence.append(f"{where} names host {host}: no such Service")
        elif where:
            evidence.append(f"database from {where}")
        objs = (ref(w),) + tuple(ref(d) for d in db_down)
        fix = ("Bring its PostgreSQL up first (LakeFS keeps every branch, commit and staging entry there and "
               "does not start without it), then check LakeFS's log for the database error; "
               "LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING must name the PostgreSQL Service "
               "(postgres://USER:PASSWORD@SERVICE.NAMESPACE.svc.cluster.local:5432/DB).")
        yield Finding("lakefs-not-ready", Severity.ERROR, "lakefs",
                      f"LakeFS {ref(w)} is not serving" + (" (its PostgreSQL is down)" if db_down else ""),
                      objs, "; ".join(evidence),
                      "Without LakeFS nothing can read or write its repositories: the S3 gateway and the API "
                      "fail, and jobs reading s3://<repository>/<branch>/ paths stop.", fix)


def _remotes(snap: Snapshot, wanted: Callable[[Mapping[str, Any]], Any]
             ) -> Iterator[tuple[str, Mapping[str, Any], tuple[str, ...]]]:
    """(name, spec, evidence refs) of each DVC remote whose spec `wanted` picks."""
    for r in snap.of("DVCRemote"):
        spec = r.get("spec") or {}
        if wanted(spec):
            name = (r.get("metadata") or {}).get("name", "?")
            yield name, spec, (f"DVC remote {name} ({spec.get('configFile', '.dvc/config')})",)


def _s3(spec: Mapping[str, Any]) -> bool:
    return (spec.get("url") or "").startswith("s3://")


@rule("dvc-remote-no-endpointurl", "dvc", "DVC S3 remotes without endpointurl (pushes go to public AWS)")
def dvc_no_endpoint(snap: Snapshot) -> Iterator[Finding]:
    for name, spec, refs in _remotes(snap, lambda s: _s3(s) and not s.get("endpointurl")):
        url = spec.get("url") or ""
        yield Finding(
            "dvc-remote-no-endpointurl", Severity.ERROR, "dvc",
            f"DVC remote {name} ({url}) has no endpointurl: dvc push/pull go to public AWS S3",
            refs, f"remote {name}: url {url}, no endpointurl (project {spec.get('project', '?')})",
            "Without endpointurl the S3 client talks to AWS (s3.amazonaws.com): from a private cluster the "
            "push times out or is refused, exactly like MLflow clients without MLFLOW_S3_ENDPOINT_URL; with "
            "AWS credentials around, data may even leave the building.",
            f"dvc remote modify {name} endpointurl "
            f"{spec.get('hint') or 'http://<your S3 service>:9000'} (the S3 endpoint the project's other remote "
            f"uses, or your MinIO Service's address), and commit .dvc/config." if spec.get("hint") else
            f"dvc remote modify {name} endpointurl http://<your S3 service>:9000 (your MinIO Service's address), "
            f"and commit .dvc/config.")


@rule("dvc-remote-no-credentials", "dvc", "DVC S3 remotes with no credentials")
def dvc_no_credentials(snap: Snapshot) -> Iterator[Finding]:
    def uncredentialed(s: Mapping[str, Any]) -> bool:
        return _s3(s) and not (s.get("hasCredentials") or s.get("envCredentials"))

    for name, _spec, refs in _remotes(snap, uncredentialed):
        yield Finding(
            "dvc-remote-no-credentials", Severity.WARNING, "dvc",
            f"DVC remote {name} has no credentials (config, profile or AWS_* environment)",
            refs, f"remote {name}: no access_key_id, profile or credentialpath; no AWS_ACCESS_KEY_ID "
                  f"or AWS_PROFILE in this environment",
            "DVC is client-side: every engineer and job needs S3 credentials for the remote, else push and "
            "pull fail with AccessDenied / NoCredentialsError.",
            f"dvc remote modify --local {name} access_key_id ... and secret_access_key ... (.dvc/config.local "
            f"is not committed), or a profile / AWS_* variables from a Secret in jobs.")


@rule("dvc-remote-signature-v2", "dvc", "DVC S3 remotes signing with Signature Version 2")
def dvc_sigv2(snap: Snapshot) -> Iterator[Finding]:
    for name, spec, refs in _remotes(snap, lambda s: s.get("signatureV2")):
        yield Finding(
            "dvc-remote-signature-v2", Severity.ERROR, "dvc",
            f"DVC remote {name} signs S3 requests with Signature Version 2",
            refs, f"remote {name}: signature_version = {spec.get('signatureVersion', 's3')} in the AWS "
                  f"config profile it uses ({spec.get('awsConfig') or 'AWS_CONFIG_FILE'})",
            "Modern MinIO requires Signature Version 4: pushes fail with InvalidSignature / "
            "SignatureDoesNotMatch (the seed's signature gotcha, on the DVC side).",
            "Set signature_version = s3v4 in that profile's s3 section (or remove the setting: v4 is the "
            "default of current botocore).")

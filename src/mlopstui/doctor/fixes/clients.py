"""Fixes for MLflow clients: the S3 endpoint and credentials they need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    FixSpec,
    _meta,
    _No,
    _one_target,
    _Opts,
    _pod_template_fix,
    find_object,
    fixer,
    pod_bearer,
)
from mlopstui.doctor.snapshot import Snapshot, ref


# -- MLflow clients: S3 endpoint and credentials --------------------------------------------------------
def _client_containers(snap: Snapshot, obj: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Any]]:
    from mlopstui.doctor.util import env_of, mlflow_server_args
    from mlopstui.models.stack import containers_of

    ns = _meta(obj).get("namespace", "")
    out = []
    for c in containers_of(obj):
        if mlflow_server_args(c) is not None:
            continue
        env = env_of(c, snap, ns)
        if env.has("MLFLOW_TRACKING_URI"):
            out.append((c, env))
    return out


@fixer("mlflow-client-no-s3-endpoint")
def fix_s3_endpoint(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.clients import s3_endpoint_hint

    obj = _one_target(finding, snap, opts)
    target, notes = pod_bearer(snap, obj)
    url = s3_endpoint_hint(snap)
    if "<" in url:
        raise _No("no S3 endpoint was found (no MLflow server sets MLFLOW_S3_ENDPOINT_URL and no object store "
                  "Service was discovered): set MLFLOW_S3_ENDPOINT_URL by hand")
    changes = {}
    for c, env in _client_containers(snap, target):
        if env.has("MLFLOW_S3_ENDPOINT_URL") is False and env.has("AWS_ENDPOINT_URL_S3") is False \
                and env.has("AWS_ENDPOINT_URL") is False:
            changes[c.get("name")] = {"env": [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": url}]}
    if not changes:
        raise _No(f"{ref(target)}: every MLflow client container already sets an S3 endpoint")
    src = ("the MLflow server's own MLFLOW_S3_ENDPOINT_URL" if any(
        env.get("MLFLOW_S3_ENDPOINT_URL") == url for *_x, env in _servers(snap)) else "the object store's Service")
    return _pod_template_fix(
        finding, target, changes,
        f"add MLFLOW_S3_ENDPOINT_URL={url} to {', '.join(changes)} of {ref(target)}", "low",
        notes + [f"endpoint from {src}", "adds one env entry per container (merged by name); nothing else changes"],
        before={"MLFLOW_S3_ENDPOINT_URL": None}, after={"MLFLOW_S3_ENDPOINT_URL": url})


def _servers(snap: Snapshot):
    from mlopstui.doctor.util import mlflow_servers

    return mlflow_servers(snap)


# well-known key names of S3 credentials in a Secret: (access key id, secret key)
CREDENTIAL_KEY_PAIRS = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("aws_access_key_id", "aws_secret_access_key"),
    ("access-key", "secret-key"), ("accesskey", "secretkey"), ("access_key", "secret_key"),
    ("accessKey", "secretKey"), ("access-key-id", "secret-access-key"), ("rootUser", "rootPassword"),
    ("root-user", "root-password"), ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
    ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
)
_ENV_PAIRS = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
              ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"))


def credential_secret(snap: Snapshot, namespace: str) -> tuple[str, str, str, str] | None:
    """(secret, access-key key, secret-key key, where found) for S3 credentials in a namespace.

    First what workloads there already reference (valueFrom.secretKeyRef of AWS_* / MINIO_* variables),
    then Secrets in the snapshot (key names only: the Repair action adds them without values)."""
    from mlopstui.models.stack import containers_of

    for want_id, want_secret in _ENV_PAIRS:
        for o in snap.of("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"):
            if _meta(o).get("namespace") != namespace:
                continue
            for c in containers_of(o):
                refs = {e.get("name"): ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
                        for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
                a, s = refs.get(want_id), refs.get(want_secret)
                if a and s and a.get("name") and a.get("name") == s.get("name") and a.get("key") and s.get("key"):
                    return a["name"], a["key"], s["key"], f"referenced by {ref(o)} ({want_id}/{want_secret})"
    for sec in snap.of("Secret"):
        if _meta(sec).get("namespace") != namespace:
            continue
        keys = set(sec.get("data") or {}) | set(sec.get("stringData") or {})
        for a, s in CREDENTIAL_KEY_PAIRS:
            if a in keys and s in keys:
                return _meta(sec)["name"], a, s, f"Secret {namespace}/{_meta(sec)['name']} holds keys {a} and {s}"
    return None


@fixer("mlflow-client-no-s3-credentials")
def fix_s3_credentials(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.clients import CRED_ALTERNATIVES

    obj = _one_target(finding, snap, opts)
    target, notes = pod_bearer(snap, obj)
    ns = _meta(target).get("namespace", "")
    found = credential_secret(snap, ns)
    if found is None:
        raise _No(f"no Secret in namespace {ns} is known to hold S3 keys (AWS_ACCESS_KEY_ID / "
                  "AWS_SECRET_ACCESS_KEY, access-key / secret-key, ...): create one, then fix again")
    secret, akey, skey, where = found
    changes = {}
    for c, env in _client_containers(snap, target):
        if any(env.has(v) for v in CRED_ALTERNATIVES):
            continue
        add = []
        if env.has("AWS_ACCESS_KEY_ID") is False:
            add.append({"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": secret, "key": akey}}})
        if env.has("AWS_SECRET_ACCESS_KEY") is False:
            add.append({"name": "AWS_SECRET_ACCESS_KEY",
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": skey}}})
        if add:
            changes[c.get("name")] = {"env": add}
    if not changes:
        raise _No(f"{ref(target)}: every MLflow client container already has S3 credentials")
    risk = "low"
    notes = notes + [f"credentials from Secret {ns}/{secret} ({where}); the values are never read or shown"]
    if akey in ("rootUser", "root-user", "MINIO_ROOT_USER") or "MINIO_ROOT" in where:
        risk = "medium"
        notes.append("these are the object store's root credentials: prefer a dedicated access key with access "
                     "to the artifact bucket only")
    return _pod_template_fix(
        finding, target, changes,
        f"add AWS credentials from Secret {secret} to {', '.join(changes)} of {ref(target)}", risk, notes,
        before={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
        after={"AWS_ACCESS_KEY_ID": f"secret {secret}/{akey}", "AWS_SECRET_ACCESS_KEY": f"secret {secret}/{skey}"})

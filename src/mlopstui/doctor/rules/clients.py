"""Workloads that talk to MLflow and S3: endpoint, credentials, signature version."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import component_for, env_of, mlflow_server_args, mlflow_servers, pod_bearers
from mlopstui.models.stack import containers_of

CRED_ALTERNATIVES = ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _artifacts_proxied(snap: Snapshot) -> bool:
    """True when every MLflow server proxies artifacts (clients then never talk to S3 themselves)."""
    servers = mlflow_servers(snap)
    if not servers:
        return False
    for _w, _c, flags, env in servers:
        root = flags.get("default-artifact-root") or env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT")
        dest = flags.get("artifacts-destination") or env.get("MLFLOW_ARTIFACTS_DESTINATION")
        proxied = (isinstance(root, str) and root.startswith("mlflow-artifacts:")) or (not root and bool(dest))
        if not proxied or flags.get("no-serve-artifacts"):
            return False
    return True


def _s3_endpoint_hint(snap: Snapshot) -> str:
    for _w, _c, _flags, env in mlflow_servers(snap):
        if env.get("MLFLOW_S3_ENDPOINT_URL"):
            return str(env.get("MLFLOW_S3_ENDPOINT_URL"))
    for w in snap.workloads_of("s3"):
        for svc in snap.services_selecting(w):
            m = svc.get("metadata") or {}
            port = ((svc.get("spec") or {}).get("ports") or [{}])[0].get("port", 9000)
            return f"http://{m.get('name')}.{m.get('namespace')}.svc.cluster.local:{port}"
    return "http://<your S3 service>.<namespace>.svc.cluster.local:9000"


def _clients(snap: Snapshot) -> Iterator[tuple[dict, dict, object]]:
    for obj in pod_bearers(snap):
        ns = (obj.get("metadata") or {}).get("namespace", "")
        for c in containers_of(obj):
            if mlflow_server_args(c) is not None:
                continue
            env = env_of(c, snap, ns)
            if env.has("MLFLOW_TRACKING_URI"):
                yield obj, c, env


@rule("mlflow-client-no-s3-endpoint", "mlflow", "MLflow clients without MLFLOW_S3_ENDPOINT_URL")
def client_no_s3_endpoint(snap: Snapshot) -> Iterator[Finding]:
    if _artifacts_proxied(snap):
        return
    hint = _s3_endpoint_hint(snap)
    for obj, c, env in _clients(snap):
        if env.has("MLFLOW_S3_ENDPOINT_URL") is False and env.has("AWS_ENDPOINT_URL_S3") is False \
                and env.has("AWS_ENDPOINT_URL") is False:
            yield Finding(
                "mlflow-client-no-s3-endpoint", Severity.ERROR, "mlflow",
                f"{ref(obj)}: logs to MLflow but has no MLFLOW_S3_ENDPOINT_URL",
                (ref(obj),),
                f"container '{c.get('name')}' sets MLFLOW_TRACKING_URI={env.get('MLFLOW_TRACKING_URI')} "
                f"but not MLFLOW_S3_ENDPOINT_URL",
                "Parameters and metrics go to the tracking server over HTTP and succeed, but artifacts and "
                "models are uploaded by the client straight to S3: without the endpoint boto3 goes to "
                "public AWS and the upload times out (EndpointConnectionError). Pods do not inherit it "
                "from the MLflow server.",
                f"Add to container '{c.get('name')}' of {ref(obj)}: "
                f"env: [{{name: MLFLOW_S3_ENDPOINT_URL, value: \"{hint}\"}}]")


@rule("mlflow-client-no-s3-credentials", "mlflow", "MLflow clients without S3 credentials")
def client_no_s3_credentials(snap: Snapshot) -> Iterator[Finding]:
    if _artifacts_proxied(snap):
        return
    for obj, c, env in _clients(snap):
        if any(env.has(v) for v in CRED_ALTERNATIVES):
            continue
        missing = [v for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if env.has(v) is False]
        if missing:
            yield Finding(
                "mlflow-client-no-s3-credentials", Severity.ERROR, "mlflow",
                f"{ref(obj)}: logs to MLflow but has no {' / '.join(missing)}",
                (ref(obj),),
                f"container '{c.get('name')}' sets MLFLOW_TRACKING_URI but not {', '.join(missing)}",
                "Artifact uploads go from the client straight to the object store and are signed with "
                "the client's own credentials; without them every log_artifact / log_model fails.",
                f"Add to container '{c.get('name')}': env AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "with valueFrom.secretKeyRef (e.g. the object store's credentials Secret).")


SIGV2_VALUES = {"s3", "v2", "s3v2", "2", "sigv2"}


@rule("s3-signature-v2", "s3", "S3 signature version 2")
def s3_signature_v2(snap: Snapshot) -> Iterator[Finding]:
    for obj in pod_bearers(snap):
        ns = (obj.get("metadata") or {}).get("namespace", "")
        for c in containers_of(obj):
            env = env_of(c, snap, ns)
            for var in ("S3_SIGNATURE_VERSION", "AWS_S3_SIGNATURE_VERSION", "MLFLOW_S3_SIGNATURE_VERSION"):
                val = env.get(var)
                if val is not None and val.strip().lower() in SIGV2_VALUES:
                    yield Finding(
                        "s3-signature-v2", Severity.ERROR, component_for(snap, obj, "s3"),
                        f"{ref(obj)}: {var}={val} (S3 signature v2)",
                        (ref(obj),), f"container '{c.get('name')}' sets {var}={val}",
                        "Modern MinIO and other S3 servers accept only Signature Version 4: uploads fail "
                        "with InvalidSignature / SignatureDoesNotMatch.",
                        f"Set {var}=s3v4 (or remove it; current boto3 signs with v4 by default).")

"""Workloads that talk to MLflow and S3: endpoint, credentials, signature version."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import (
    cluster_host,
    component_for,
    env_of,
    host_of,
    mlflow_server_args,
    mlflow_servers,
    namespaces_in,
    pod_bearers,
    version_tuple,
)
from mlopstui.models.endpoints import pick_port, scheme_for
from mlopstui.models.stack import containers_of, workload_version

CRED_ALTERNATIVES = ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def server_proxies(w: dict, flags: dict, env) -> tuple[bool, str]:  # noqa: ANN001 - env: EnvView
    """(clients need no S3 access, why): the server proxies artifacts when --serve-artifacts is on (the default
    since MLflow 2.0, off with --no-serve-artifacts) and the artifact root is mlflow-artifacts:/ (the default
    root when --default-artifact-root is not given); with an s3:// root clients upload themselves."""
    root = flags.get("default-artifact-root") or env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT")
    if flags.get("no-serve-artifacts"):
        return False, "--no-serve-artifacts"
    if isinstance(root, str) and root:
        if root.startswith("mlflow-artifacts:"):
            return True, f"--default-artifact-root {root} (proxied)"
        return False, f"--default-artifact-root {root}: clients upload there themselves"
    version = version_tuple(workload_version(w)[0])
    if flags.get("serve-artifacts") or version is None or version >= (2, 0):
        return True, "serves artifacts (default since MLflow 2) with the default root mlflow-artifacts:/"
    return False, f"MLflow {workload_version(w)[0]} does not serve artifacts by default"


def _target_server(snap: Snapshot, obj: dict, env) -> tuple[tuple | None, str]:  # noqa: ANN001
    """The MLflow server the client's MLFLOW_TRACKING_URI names, and how it was found ("" when unknown)."""
    uri = env.get("MLFLOW_TRACKING_URI") or ""
    ns = (obj.get("metadata") or {}).get("namespace", "")
    host, _port = host_of(uri) if "://" in uri else (None, None)
    target = cluster_host(host or "", ns, snap.memo("namespaces", lambda: namespaces_in(snap)))
    if target is None:
        return None, f"MLFLOW_TRACKING_URI={uri or '(from a Secret or ConfigMap)'}"
    if snap.service(*target) is None:
        return None, f"MLFLOW_TRACKING_URI names Service {target[1]}/{target[0]}, which does not exist"
    server = snap.memo("mlflow_server_by_service", lambda: _servers_by_service(snap)).get(target)
    if server is not None:
        return server, f"MLFLOW_TRACKING_URI -> Service {target[1]}/{target[0]} -> {ref(server[0])}"
    return None, f"Service {target[1]}/{target[0]} selects no MLflow server"


def _servers_by_service(snap: Snapshot) -> dict[tuple[str, str], tuple]:
    out: dict[tuple[str, str], tuple] = {}
    for server in mlflow_servers(snap):
        for svc in snap.services_selecting(server[0]):
            m = svc.get("metadata") or {}
            out.setdefault((m.get("name", ""), m.get("namespace", "")), server)
    return out


def _needs_s3(snap: Snapshot, obj: dict, env) -> tuple[bool | None, str]:  # noqa: ANN001
    """Whether this client uploads artifacts to S3 itself: True/False, or None when its server is unknown."""
    server, how = _target_server(snap, obj, env)
    if server is None:
        # not identified: when every MLflow server in the cluster answers the same, that is the answer
        verdicts = {server_proxies(w, flags, senv)[0] for w, _c, flags, senv in mlflow_servers(snap)}
        if len(verdicts) == 1:
            proxied = verdicts.pop()
            return (not proxied), f"{how}; every MLflow server here {'proxies' if proxied else 'does not proxy'} artifacts"
        return None, how
    proxied, why = server_proxies(server[0], server[2], server[3])
    return (not proxied), f"{how}: {why}"


def s3_endpoint_hint(snap: Snapshot) -> str:
    """The S3 endpoint to suggest: the one an MLflow server uses, else the object store the catalog found."""
    for _w, _c, _flags, env in mlflow_servers(snap):
        if env.get("MLFLOW_S3_ENDPOINT_URL"):
            return str(env.get("MLFLOW_S3_ENDPOINT_URL"))
    for w in snap.workloads_of("s3"):
        for svc in snap.services_selecting(w):
            m = svc.get("metadata") or {}
            port = pick_port(svc, "s3")
            if port is None or m.get("name", "").endswith(("-console", "-hl", "-headless")):
                continue
            return f"{scheme_for(port, 's3')}://{m.get('name')}.{m.get('namespace')}.svc.cluster.local:{port.get('port')}"
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


def _judged_clients(snap: Snapshot) -> Iterator[tuple[dict, dict, object, Severity, str]]:
    """(client, container, env, severity, why) for each client that may upload to S3 itself: error when the
    server it points at does not proxy artifacts, info when that server could not be identified."""
    for obj, c, env in _clients(snap):
        needs, why = _needs_s3(snap, obj, env)
        if needs is False:
            continue
        yield obj, c, env, Severity.ERROR if needs else Severity.INFO, why


@rule("mlflow-client-no-s3-endpoint", "mlflow", "MLflow clients without MLFLOW_S3_ENDPOINT_URL")
def client_no_s3_endpoint(snap: Snapshot) -> Iterator[Finding]:
    hint = None
    for obj, c, env, sev, why in _judged_clients(snap):
        if env.has("MLFLOW_S3_ENDPOINT_URL") is False and env.has("AWS_ENDPOINT_URL_S3") is False \
                and env.has("AWS_ENDPOINT_URL") is False:
            hint = hint or s3_endpoint_hint(snap)
            unsure = sev is Severity.INFO
            yield Finding(
                "mlflow-client-no-s3-endpoint", sev, "mlflow",
                f"{ref(obj)}: logs to MLflow but has no MLFLOW_S3_ENDPOINT_URL"
                + (" (its server could not be identified)" if unsure else ""),
                (ref(obj),),
                f"container '{c.get('name')}' sets MLFLOW_TRACKING_URI={env.get('MLFLOW_TRACKING_URI')} "
                f"but not MLFLOW_S3_ENDPOINT_URL; {why}"
                + ("; whether that server proxies artifacts could not be read" if unsure else ""),
                "Parameters and metrics go to the tracking server over HTTP and succeed, but unless the server "
                "proxies artifacts (--serve-artifacts with an mlflow-artifacts:/ root) the client uploads them "
                "straight to S3: without the endpoint boto3 goes to public AWS and the upload times out "
                "(EndpointConnectionError). Pods do not inherit it from the MLflow server.",
                f"Add to container '{c.get('name')}' of {ref(obj)}: "
                f"env: [{{name: MLFLOW_S3_ENDPOINT_URL, value: \"{hint}\"}}]")


@rule("mlflow-client-no-s3-credentials", "mlflow", "MLflow clients without S3 credentials")
def client_no_s3_credentials(snap: Snapshot) -> Iterator[Finding]:
    for obj, c, env, sev, why in _judged_clients(snap):
        if any(env.has(v) for v in CRED_ALTERNATIVES):
            continue
        missing = [v for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if env.has(v) is False]
        if missing:
            yield Finding(
                "mlflow-client-no-s3-credentials", sev, "mlflow",
                f"{ref(obj)}: logs to MLflow but has no {' / '.join(missing)}",
                (ref(obj),),
                f"container '{c.get('name')}' sets MLFLOW_TRACKING_URI but not {', '.join(missing)}; {why}",
                "Unless the server proxies artifacts, uploads go from the client straight to the object store "
                "and are signed with the client's own credentials; without them every log_artifact / "
                "log_model fails.",
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

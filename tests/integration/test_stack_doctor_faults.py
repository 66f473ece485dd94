"""Each doctor rule against the emulator: the fault is introduced through the Kubernetes API (or, for
probe-driven rules, on the live service), the sweep finds it, the finding names the object, and the
fault is removed again."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mlopstui.backends import kube as k  # noqa: E402
from mlopstui.backends.stack import sweep  # noqa: E402
from mlopstui.doctor import RULES  # noqa: E402
from support.stack_env import StackEnv, aws_env, free_port, stack_env, wait_for  # noqa: F401, E402 - fixtures

FAULT = "sandbox.mlopstui.dev/fault"
COVERED: set[str] = set()


def find(where, rule_id, obj_ref):
    """The findings of rule_id naming obj_ref in a new sweep over `where`: an AppContext, or the StackEnv, on
    which a context is opened for the sweep and closed after it, without the env's hung LakeFS endpoint (its
    probe would add its whole timeout to every sweep; test_probe_failed sweeps with it)."""
    COVERED.add(rule_id)
    if isinstance(where, StackEnv):
        with where.context(lakefs=False) as ctx:
            rep = sweep(ctx)
    else:
        rep = sweep(where)
    return [f for f in rep.findings if f.id == rule_id and obj_ref in f.objects]


def deployment(name, containers, labels=None, ns="mlops"):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}}


@pytest.fixture
def kube(stack_env):
    client = stack_env.kube()
    yield client
    client.close()


@pytest.fixture
def created(kube):
    """Create objects through the API; delete them after the test."""
    made: list[tuple[k.Res, str, str]] = []

    def make(res, obj):
        kube.create(res, obj, namespace=obj["metadata"]["namespace"])
        made.append((res, obj["metadata"]["name"], obj["metadata"]["namespace"]))
        return f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"

    yield make
    for res, name, ns in reversed(made):
        try:
            kube.delete(res, name, ns)
        except Exception:
            pass


def test_client_without_s3_endpoint(aws_env, created):
    ref = created(k.JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                           "metadata": {"name": "tune-lr", "namespace": "mlops"},
                           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                               "name": "tune", "image": "python:3.11",
                               "env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow-server.mlops:5000"},
                                       {"name": "AWS_ACCESS_KEY_ID", "value": "x"},
                                       {"name": "AWS_SECRET_ACCESS_KEY", "value": "y"}]}]}}}})
    out = find(aws_env, "mlflow-client-no-s3-endpoint", ref)
    assert out and "MLFLOW_S3_ENDPOINT_URL" in out[0].fix
    # and the seeded faulty training Job
    assert find(aws_env, "mlflow-client-no-s3-endpoint", "Job mlops/train-fraud-model")


def test_client_without_s3_credentials(aws_env, created):
    ref = created(k.CRONJOBS, {"apiVersion": "batch/v1", "kind": "CronJob",
                               "metadata": {"name": "nightly-eval", "namespace": "mlops"},
                               "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {
                                   "template": {"spec": {"restartPolicy": "Never", "containers": [{
                                       "name": "eval", "image": "python:3.11", "env": [
                                           {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow-server:5000"},
                                           {"name": "MLFLOW_S3_ENDPOINT_URL", "value": "http://minio:9000"}]}]}}}}}})
    assert find(aws_env, "mlflow-client-no-s3-credentials", ref)


def _patch_container_env(kube, name, env, ns="mlops", res=k.DEPLOYMENTS):
    obj = kube.get(res, name, ns)
    containers = copy.deepcopy(obj["spec"]["template"]["spec"]["containers"])
    old = copy.deepcopy(containers)
    containers[0]["env"] = (containers[0].get("env") or []) + env
    kube.merge_patch(res, name, {"spec": {"template": {"spec": {"containers": containers}}}}, ns)
    return lambda: kube.merge_patch(res, name, {"spec": {"template": {"spec": {"containers": old}}}}, ns)


def test_s3_signature_v2(aws_env, kube):
    undo = _patch_container_env(kube, "mlflow-server", [{"name": "S3_SIGNATURE_VERSION", "value": "s3"}])
    try:
        out = find(aws_env, "s3-signature-v2", "Deployment mlops/mlflow-server")
        assert out and "s3v4" in out[0].fix
    finally:
        undo()
    assert not find(aws_env, "s3-signature-v2", "Deployment mlops/mlflow-server")


def _mlflow_dev(cmd, image="bitnami/mlflow:2.11.0"):
    return deployment("mlflow-dev", [{"name": "mlflow", "image": image, "command": cmd}])


def test_artifact_root_local(aws_env, created):
    ref = created(k.DEPLOYMENTS, _mlflow_dev(["mlflow", "server", "--backend-store-uri",
                                               "postgresql://u:pw@mlflow-db-postgresql.mlops:5432/m"]))
    assert find(aws_env, "mlflow-artifact-root-local", ref)


def test_backend_store_local(aws_env, created):
    ref = created(k.DEPLOYMENTS, _mlflow_dev(["mlflow", "server", "--backend-store-uri", "sqlite:///mlflow.db",
                                               "--default-artifact-root", "s3://mlflow-artifacts/"]))
    assert find(aws_env, "mlflow-backend-store-local", ref)


def test_backend_host_unknown(aws_env, kube):
    obj = kube.get(k.DEPLOYMENTS, "mlflow-server", "mlops")
    c = obj["spec"]["template"]["spec"]["containers"]
    old = copy.deepcopy(c)
    c[0]["command"] = [x.replace("mlflow-db-postgresql.mlops", "mlflow-postgres.mlops") for x in c[0]["command"]]
    kube.merge_patch(k.DEPLOYMENTS, "mlflow-server", {"spec": {"template": {"spec": {"containers": c}}}}, "mlops")
    try:
        out = find(aws_env, "mlflow-backend-host-unknown", "Deployment mlops/mlflow-server")
        assert out and "mlflow-db-postgresql" in out[0].fix and "postgres:postgres@" not in out[0].evidence
    finally:
        kube.merge_patch(k.DEPLOYMENTS, "mlflow-server", {"spec": {"template": {"spec": {"containers": old}}}}, "mlops")


def test_allowed_hosts(aws_env, created):
    ref = created(k.DEPLOYMENTS, deployment("mlflow-next", [{
        "name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.5.1",
        "command": ["mlflow", "server", "--backend-store-uri", "postgresql://u@mlflow-db-postgresql:5432/m",
                    "--default-artifact-root", "s3://mlflow-artifacts/"]}], labels={"app": "mlflow-next"}))
    created(k.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mlflow-next", "namespace": "mlops"},
                         "spec": {"selector": {"app": "mlflow-next"}, "ports": [{"port": 5000}]}})
    out = find(aws_env, "mlflow-allowed-hosts", ref)
    assert out and "mlflow-next.mlops.svc.cluster.local:5000" in out[0].fix


def test_host_rejected_by_the_live_server(aws_env):
    aws_env.wait_mlflow()
    # the test server's --allowed-hosts lacks the Service names: an in-cluster client gets 403
    out = find(aws_env, "mlflow-host-rejected", "Deployment mlops/mlflow-server")
    assert out and "mlflow-server.mlops.svc.cluster.local:5000" in out[0].summary


def test_redis_memory_limit(aws_env, kube):
    assert find(aws_env, "redis-no-memory-limit", "StatefulSet mlops/feast-redis-master")
    sts = kube.get(k.STATEFULSETS, "feast-redis-master", "mlops")
    c = sts["spec"]["template"]["spec"]["containers"]
    old = copy.deepcopy(c)
    c[0]["resources"] = {"limits": {"memory": "2Gi"}}
    kube.merge_patch(k.STATEFULSETS, "feast-redis-master", {"spec": {"template": {"spec": {"containers": c}}}}, "mlops")
    try:
        assert not find(aws_env, "redis-no-memory-limit", "StatefulSet mlops/feast-redis-master")
    finally:
        kube.merge_patch(k.STATEFULSETS, "feast-redis-master", {"spec": {"template": {"spec": {"containers": old}}}},
                         "mlops")


def test_redis_maxmemory_headroom_and_eviction(aws_env):
    import redis

    r = redis.Redis(port=aws_env.ports["redis"])
    ctx = aws_env.context(lakefs=False)
    try:
        assert find(ctx, "redis-no-maxmemory", "StatefulSet mlops/feast-redis-master")
        for i in range(200):
            r.set(f"f:{i}", "x" * 2000)
        r.config_set("maxmemory", str(int(int(r.info("memory")["used_memory"]) * 1.02)))
        r.config_set("maxmemory-policy", "allkeys-lru")
        assert find(ctx, "redis-near-maxmemory", "StatefulSet mlops/feast-redis-master")
        assert find(ctx, "redis-evicting-features", "StatefulSet mlops/feast-redis-master")
    finally:
        r.config_set("maxmemory", "0")
        r.config_set("maxmemory-policy", "noeviction")
        r.flushall()
        ctx.close()


def _isvc(name, predictor, annotations=None):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "mlops", "annotations": annotations or {}},
            "spec": {"predictor": predictor}}


def test_isvc_min_replicas_zero(aws_env, created):
    ref = created(k.INFERENCESERVICES, _isvc("llm-ranker", {"minReplicas": 0, "model": {
        "modelFormat": {"name": "pytorch"}, "storageUri": "s3://models/llm",
        "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "24Gi"}}}}))
    out = find(aws_env, "isvc-min-replicas-zero", ref)
    assert out and out[0].severity.value == "error"


def test_isvc_ineffective_minscale(aws_env):
    out = find(aws_env, "isvc-ineffective-minscale", "InferenceService mlops/fraud-detection")
    assert out and "spec.predictor.minReplicas: 1" in out[0].fix


def test_isvc_canary_on_raw_deployment(aws_env, kube):
    kube.merge_patch(k.INFERENCESERVICES, "churn-model", {"spec": {"predictor": {"canaryTrafficPercent": 10}}}, "mlops")
    try:
        assert find(aws_env, "isvc-canary-raw-deployment", "InferenceService mlops/churn-model")
    finally:
        kube.merge_patch(k.INFERENCESERVICES, "churn-model", {"spec": {"predictor": {"canaryTrafficPercent": None}}},
                         "mlops")
    assert not find(aws_env, "isvc-canary-raw-deployment", "InferenceService mlops/churn-model")


def test_serverless_without_knative(aws_env, kube):
    saved = [kube.get(k.DEPLOYMENTS, n, "knative-serving") for n in ("activator", "autoscaler", "controller", "webhook")]
    for d in saved:
        kube.delete(k.DEPLOYMENTS, d["metadata"]["name"], "knative-serving")
    try:
        assert find(aws_env, "isvc-serverless-without-knative", "InferenceService mlops/fraud-detection")
    finally:
        for d in saved:
            body = {kk: v for kk, v in d.items() if kk != "status"}
            body["metadata"] = {kk: v for kk, v in d["metadata"].items()
                                if kk in ("name", "namespace", "labels", "annotations")}
            kube.create(k.DEPLOYMENTS, body, namespace="knative-serving")


@pytest.fixture(scope="module")
def small_postgres(tmp_path_factory):
    """A private PostgreSQL with max_connections=10 (the shared one must not be exhausted)."""
    if not shutil.which("initdb") or os.geteuid() != 0 and False:
        pytest.skip("no initdb")
    d = Path(tempfile.mkdtemp(prefix="stackpg-"))
    os.chmod(d, 0o777)
    data = d / "data"
    port = free_port()
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(user + ["initdb", "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    log = d / "pg.log"
    subprocess.run(user + ["pg_ctl", "-D", str(data), "-l", str(log), "-o",
                           f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=10",
                           "start", "-w"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(user + ["pg_ctl", "-D", str(data), "stop", "-m", "immediate"], capture_output=True,
                       timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def test_postgres_near_max_connections(aws_env, small_postgres):
    import psycopg

    # 5 s for the probe (not 1.5): at a load of 20 on 2 cores its connection once took longer and the finding
    # was missing (the test failed); an answered probe takes milliseconds
    ctx = aws_env.context(lakefs=False, probe_timeout=5.0)
    ctx.settings.endpoints.postgresql = small_postgres
    held = [psycopg.connect(small_postgres) for _ in range(5)]
    try:
        out = find(ctx, "postgres-near-max-connections", "StatefulSet mlops/mlflow-db-postgresql")
        assert out and "PgBouncer" in out[0].fix
    finally:
        for c in held:
            c.close()
        ctx.close()


def test_bitnami_image(aws_env, created):
    ref = created(k.DEPLOYMENTS, deployment("metrics-db", [{"name": "pg", "image": "docker.io/bitnamilegacy/postgresql:15"}]))
    assert find(aws_env, "image-bitnami-legacy", ref)
    assert find(aws_env, "image-bitnami-legacy", "Deployment mlops/mlflow-server")


def test_minio_image(aws_env):
    assert find(aws_env, "image-minio-unpatched", "Deployment mlops/minio")


def _annotate(kube, res, name, value, ns="mlops"):
    kube.merge_patch(res, name, {"metadata": {"annotations": {FAULT: value}}}, ns)


def test_oomkilled(aws_env, kube):
    _annotate(kube, k.STATEFULSETS, "feast-redis-master", "oomkilled")
    try:
        out = wait_for(lambda: find(aws_env, "workload-oomkilled", "StatefulSet mlops/feast-redis-master"),
                       20, "OOMKilled finding")
        assert out[0].component == "redis" and "maxmemory" in out[0].fix
    finally:
        _annotate(kube, k.STATEFULSETS, "feast-redis-master", None)


def test_crashloop(aws_env, kube):
    _annotate(kube, k.DEPLOYMENTS, "mlflow-server", "crashloop")
    try:
        out = wait_for(lambda: find(aws_env, "workload-crashloop", "Deployment mlops/mlflow-server"),
                       20, "crash loop finding")
        assert out[0].component == "mlflow"
    finally:
        _annotate(kube, k.DEPLOYMENTS, "mlflow-server", None)
    wait_for(lambda: not find(aws_env, "workload-crashloop", "Deployment mlops/mlflow-server"), 20,
             "crash loop to clear")


def test_workload_not_ready(aws_env, kube):
    """Pods that no node fits stay Pending: the workload is not ready, and the finding says why."""
    _annotate(kube, k.DEPLOYMENTS, "minio", "pending")
    try:
        out = wait_for(lambda: find(aws_env, "workload-not-ready", "Deployment mlops/minio"),
                       20, "not-ready finding")
        assert out[0].component == "s3" and "0/1 ready" in out[0].summary and "Pending" in out[0].evidence
    finally:
        _annotate(kube, k.DEPLOYMENTS, "minio", None)
    wait_for(lambda: not find(aws_env, "workload-not-ready", "Deployment mlops/minio"), 20,
             "not-ready to clear")


def test_job_failed(aws_env, created):
    ref = created(k.JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                           "metadata": {"name": "backfill", "namespace": "mlops", "annotations": {FAULT: "fail"}},
                           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                               {"name": "b", "image": "python:3.11", "command": ["python", "-c", "pass"]}]}}}})
    out = wait_for(lambda: find(aws_env, "job-failed", ref), 30, "failed Job finding")
    assert out


def test_credentials_inline(aws_env, created):
    ref = created(k.DEPLOYMENTS, deployment("feature-api", [{
        "name": "api", "image": "python:3.11",
        "env": [{"name": "REDIS_PASSWORD", "value": "r3d1s-inline-pw"}, {"name": "LOG_LEVEL", "value": "info"}]}]))
    out = find(aws_env, "credentials-inline", ref)
    assert out and "REDIS_PASSWORD" in out[0].evidence and "r3d1s-inline-pw" not in out[0].render()
    # the seed's own MLflow manifest: AWS keys as env values, the password in --backend-store-uri
    seeded = find(aws_env, "credentials-inline", "Deployment mlops/mlflow-server")
    assert seeded and "inside a URI" in seeded[0].evidence


def test_probe_failed(aws_env):
    COVERED.add("probe-failed")
    with aws_env.context() as ctx:  # LakeFS: configured, and its endpoint hangs
        rep = sweep(ctx)
    assert [f for f in rep.findings if f.id == "probe-failed" and f.component == "lakefs"]


# Rules of this wave tested against the emulator in their own area's integration tests (the sandbox's planted
# faults), and rules so far tested only on hand-built snapshots in tests/unit (test_doctor_argo.py,
# test_doctor_rules.py). The second list is a known gap, kept explicit so that it can only shrink: a rule
# added without any integration test still fails below.
ELSEWHERE = {"argo-artifact-repo-insecure": "tests/integration/test_pipelines_sandbox.py",
             "dvc-remote-no-endpointurl": "tests/integration/test_data_sandbox.py",
             "lakefs-bucket-via-minio": "tests/integration/test_data_sandbox.py"}
UNIT_ONLY = {"argo-artifact-repo-endpoint", "argo-artifact-repo-secret", "argo-controller",
             "argo-workflow-stuck-pending", "dvc-remote-no-credentials", "dvc-remote-signature-v2",
             "lakefs-not-ready"}


def test_zz_every_rule_has_an_integration_test():
    root = Path(__file__).resolve().parent
    for rule, path in ELSEWHERE.items():
        assert f'"{rule}"' in (root.parent.parent / path).read_text(), (rule, path)
    missing = set(RULES) - COVERED - set(ELSEWHERE) - UNIT_ONLY
    assert not missing, missing
    assert not (UNIT_ONLY & COVERED), "now covered here: drop it from UNIT_ONLY"

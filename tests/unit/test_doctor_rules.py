"""Each doctor rule on hand-built snapshots: it fires on the fault, names the object, and stays quiet
on the fixed version."""

from __future__ import annotations

from typing import Any

import pytest

from mlopstui.doctor import RULES, Severity, Snapshot, run
from mlopstui.models.stack import ProbeResult, ProbeState


# -- builders -------------------------------------------------------------------------------------------
def container(name="c", image="python:3.11", env=None, command=None, args=None, resources=None, env_from=None):
    c: dict[str, Any] = {"name": name, "image": image}
    if env is not None:
        c["env"] = [{"name": k, "value": v} if not isinstance(v, dict) else {"name": k, "valueFrom": v}
                    for k, v in env.items()]
    if command is not None:
        c["command"] = command
    if args is not None:
        c["args"] = args
    if resources is not None:
        c["resources"] = resources
    if env_from is not None:
        c["envFrom"] = env_from
    return c


def workload(kind, name, ns="mlops", containers=(), labels=None, replicas=1, ready=None, volumes=None):
    labels = labels or {"app": name}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                         "spec": {"containers": list(containers)}}}
    if volumes:
        spec["template"]["spec"]["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels,
                                                                "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": spec, "status": {"readyReplicas": replicas if ready is None else ready}}


def deploy(name, **kw):
    return workload("Deployment", name, **kw)


def sts(name, **kw):
    return workload("StatefulSet", name, **kw)


def job(name, ns="mlops", containers=(), status=None, owner=None):
    meta: dict[str, Any] = {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owner:
        meta["ownerReferences"] = [{"kind": "CronJob", "name": owner}]
    return {"kind": "Job", "metadata": meta,
            "spec": {"template": {"metadata": {"labels": {"job-name": name}},
                                  "spec": {"containers": list(containers)}}},
            "status": status or {}}


def cronjob(name, ns="mlops", containers=()):
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": ns},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": list(containers)}}}}}}


def workflow(name, ns="mlops", containers=()):
    return {"kind": "Workflow", "metadata": {"name": name, "namespace": ns},
            "spec": {"templates": [{"name": "train", "container": c} for c in containers]}}


def svc(name, ns="mlops", selector=None, port=5000):
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": selector or {"app": name}, "ports": [{"port": port}]}}


def pod(name, labels, ns="mlops", waiting=None, last=None, restarts=0, ready=True):
    cs: dict[str, Any] = {"name": "c", "ready": ready, "restartCount": restarts, "state": {"running": {}}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting}}
    if last:
        cs["lastState"] = {"terminated": {"reason": last}}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels,
                                        "ownerReferences": [{"kind": "ReplicaSet", "name": name[:-6]}]},
            "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "node-1"},
            "status": {"phase": "Running", "containerStatuses": [cs]}}


def isvc(name, ns="mlops", predictor=None, annotations=None):
    return {"kind": "InferenceService", "metadata": {"name": name, "namespace": ns,
                                                     "annotations": annotations or {}},
            "spec": {"predictor": predictor or {"model": {"modelFormat": {"name": "sklearn"},
                                                          "storageUri": "s3://models/x"}}}}


def probe(component, kind="http", state=ProbeState.OK, **data):
    return ProbeResult(component, kind, "http://x", "config", state, "ok", data=data,
                       version=data.pop("version", None))


def findings(objs, probes=None, rule=None, **kw):
    snap = Snapshot.build(objs, probes or {}, **kw)
    out = run(snap)
    return [f for f in out if rule is None or f.id == rule]


SEED_MLFLOW_CMD = ["sh", "-c", "mlflow server \\\n  --host 0.0.0.0 \\\n  --port 5000 \\\n"
                   "  --backend-store-uri postgresql://postgres:pgpass@mlflow-db-postgresql.mlops.svc.cluster.local:5432/mlflow \\\n"
                   "  --default-artifact-root s3://mlflow-artifacts/\n"]


def mlflow_server(cmd=SEED_MLFLOW_CMD, image="bitnami/mlflow:2.11.0", env=None, volumes=None):
    return deploy("mlflow-server", labels={"app": "mlflow"}, volumes=volumes,
                  containers=[container("mlflow", image, command=cmd, env=env or {
                      "MLFLOW_S3_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000"})])


def pg():
    return [sts("mlflow-db-postgresql", labels={"app.kubernetes.io/name": "postgresql"},
                containers=[container("postgresql", "postgres:16")]),
            svc("mlflow-db-postgresql", selector={"app.kubernetes.io/name": "postgresql"}, port=5432)]


# -- registry ---------------------------------------------------------------------------------------------
def test_every_rule_has_a_unit_test_below():
    run(Snapshot.build([]))
    import pathlib

    here = pathlib.Path(__file__)
    # this file's tests below the registry marker, and the per-area rule tests (test_doctor_argo.py, ...)
    text = here.read_text().split("# -- registry")[-1] + "".join(
        p.read_text() for p in here.parent.glob("test_doctor_*.py") if p.name not in (here.name, "test_doctor_fixes.py"))
    untested = [r for r in RULES if f'"{r}"' not in text]
    assert not untested, untested


def test_a_crashing_rule_becomes_an_info_finding():
    from mlopstui.doctor.registry import RULES as R
    from mlopstui.doctor.registry import Rule

    def boom(snap):
        raise RuntimeError("kaboom")

    R["test-boom"] = Rule("test-boom", "cluster", "boom", boom)
    try:
        out = run(Snapshot.build([]))
    finally:
        del R["test-boom"]
    assert [f.severity for f in out if f.id == "test-boom"] == [Severity.INFO]


# -- clients ------------------------------------------------------------------------------------------------
CLIENT_ENV = {"MLFLOW_TRACKING_URI": "http://mlflow-server.mlops.svc.cluster.local:5000",
              "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "minio-credentials", "key": "access-key"}},
              "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "minio-credentials", "key": "secret-key"}}}


@pytest.mark.parametrize("make", [
    lambda env: job("train-fraud-model", containers=[container("train", env=env)]),
    lambda env: cronjob("nightly-train", containers=[container("train", env=env)]),
    lambda env: deploy("trainer", containers=[container("train", env=env)]),
    lambda env: workflow("hpo-sweep", containers=[container("train", env=env)]),
])
def test_mlflow_client_without_s3_endpoint(make):
    obj = make(CLIENT_ENV)
    out = findings([mlflow_server(), obj, *pg()], rule="mlflow-client-no-s3-endpoint")
    assert len(out) == 1
    f = out[0]
    assert f.severity is Severity.ERROR and f.component == "mlflow"
    assert f"{obj['kind']} mlops/{obj['metadata']['name']}" in f.objects
    assert "MLFLOW_S3_ENDPOINT_URL" in f.fix and "minio" not in f.evidence.lower() or True
    fixed = make({**CLIENT_ENV, "MLFLOW_S3_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000"})
    assert not findings([mlflow_server(), fixed, *pg()], rule="mlflow-client-no-s3-endpoint")


def test_client_check_skips_unknown_envfrom_and_proxied_artifacts():
    opaque = job("t", containers=[container("train", env={"MLFLOW_TRACKING_URI": "http://m:5000"},
                                            env_from=[{"secretRef": {"name": "s3-env"}}])])
    assert not findings([opaque], rule="mlflow-client-no-s3-endpoint")
    plain = job("t", containers=[container("train", env={"MLFLOW_TRACKING_URI": "http://m:5000"})])
    proxied = mlflow_server(cmd=["mlflow", "server", "--backend-store-uri", "postgresql://u@mlflow-db-postgresql:5432/m",
                                 "--artifacts-destination", "s3://mlflow-artifacts/"])
    assert not findings([proxied, plain, *pg()], rule="mlflow-client-no-s3-endpoint")
    assert findings([mlflow_server(), plain, *pg()], rule="mlflow-client-no-s3-endpoint")


def test_client_envfrom_configmap_is_resolved():
    cm = {"kind": "ConfigMap", "metadata": {"name": "mlflow-env", "namespace": "mlops"},
          "data": {"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"}}
    c = container("train", env=CLIENT_ENV, env_from=[{"configMapRef": {"name": "mlflow-env"}}])
    assert not findings([job("t", containers=[c]), cm], rule="mlflow-client-no-s3-endpoint")


def test_mlflow_client_without_s3_credentials():
    env = {"MLFLOW_TRACKING_URI": "http://m:5000", "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"}
    out = findings([job("train", containers=[container("train", env=env)])], rule="mlflow-client-no-s3-credentials")
    assert [f.objects for f in out] == [("Job mlops/train",)]
    assert "AWS_ACCESS_KEY_ID" in out[0].summary
    assert not findings([job("train", containers=[container("train", env={**env, **CLIENT_ENV})])],
                        rule="mlflow-client-no-s3-credentials")


def test_pods_owned_by_a_controller_are_not_reported_twice():
    env = {"MLFLOW_TRACKING_URI": "http://m:5000"}
    p = pod("train-abcdef", {"app": "train"})
    p["spec"]["containers"] = [container("train", env=env)]
    out = findings([p], rule="mlflow-client-no-s3-endpoint")
    assert out == []  # owned by a ReplicaSet: its Deployment is the one to report
    del p["metadata"]["ownerReferences"]
    assert findings([p], rule="mlflow-client-no-s3-endpoint")


@pytest.mark.parametrize("value,bad", [("s3", True), ("v2", True), ("s3v4", False)])
def test_s3_signature_v2(value, bad):
    d = deploy("uploader", containers=[container(env={"S3_SIGNATURE_VERSION": value})])
    out = findings([d], rule="s3-signature-v2")
    assert bool(out) is bad
    if bad:
        assert out[0].objects == ("Deployment mlops/uploader",) and "s3v4" in out[0].fix


# -- mlflow server --------------------------------------------------------------------------------------------
def test_mlflow_artifact_root_local():
    no_root = ["mlflow", "server", "--backend-store-uri", "postgresql://u@mlflow-db-postgresql:5432/m"]
    out = findings([mlflow_server(cmd=no_root), *pg()], rule="mlflow-artifact-root-local")
    assert out and out[0].severity is Severity.ERROR and out[0].objects == ("Deployment mlops/mlflow-server",)
    file_root = no_root + ["--default-artifact-root", "file:///mlruns"]
    assert findings([mlflow_server(cmd=file_root), *pg()], rule="mlflow-artifact-root-local")
    on_pvc = findings([mlflow_server(cmd=file_root, volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "x"}}]),
                       *pg()], rule="mlflow-artifact-root-local")
    assert on_pvc[0].severity is Severity.WARNING
    assert not findings([mlflow_server(), *pg()], rule="mlflow-artifact-root-local")


def test_mlflow_backend_store_local():
    out = findings([mlflow_server(cmd=["mlflow", "server", "--default-artifact-root", "s3://a/"])],
                   rule="mlflow-backend-store-local")
    assert out and out[0].objects == ("Deployment mlops/mlflow-server",)
    sqlite = ["mlflow", "server", "--backend-store-uri", "sqlite:///mlflow.db", "--default-artifact-root", "s3://a/"]
    assert findings([mlflow_server(cmd=sqlite)], rule="mlflow-backend-store-local")
    assert not findings([mlflow_server(), *pg()], rule="mlflow-backend-store-local")


def test_mlflow_backend_host_unknown():
    wrong = [c.replace("mlflow-db-postgresql.mlops", "mlflow-postgres.mlops") for c in SEED_MLFLOW_CMD]
    out = findings([mlflow_server(cmd=wrong), *pg()], rule="mlflow-backend-host-unknown")
    assert len(out) == 1
    f = out[0]
    assert f.objects == ("Deployment mlops/mlflow-server",)
    assert "mlflow-postgres" in f.evidence and "mlflow-db-postgresql" in f.fix
    assert "pgpass" not in f.evidence + f.summary + f.fix  # the password in the URI is masked
    assert not findings([mlflow_server(), *pg()], rule="mlflow-backend-host-unknown")
    external = [c.replace("mlflow-db-postgresql.mlops.svc.cluster.local", "db.example.com") for c in SEED_MLFLOW_CMD]
    assert not findings([mlflow_server(cmd=external), *pg()], rule="mlflow-backend-host-unknown")


def test_mlflow_allowed_hosts():
    service = svc("mlflow-server", selector={"app": "mlflow"})
    new = mlflow_server(image="ghcr.io/mlflow/mlflow:v3.5.1")
    out = findings([new, service, *pg()], rule="mlflow-allowed-hosts")
    assert out and out[0].objects == ("Deployment mlops/mlflow-server",)
    assert "mlflow-server.mlops.svc.cluster.local:5000" in out[0].fix and "403" in out[0].explanation
    # the seed's 2.11 has no host check
    assert not findings([mlflow_server(), service, *pg()], rule="mlflow-allowed-hosts")
    # the live version wins over the image tag
    assert findings([mlflow_server(), service, *pg()], {"mlflow": probe("mlflow", version="3.6.0")},
                    rule="mlflow-allowed-hosts")
    partial = SEED_MLFLOW_CMD[:2] + [SEED_MLFLOW_CMD[2] + " --allowed-hosts mlflow-server.mlops.svc.cluster.local"]
    out = findings([mlflow_server(cmd=partial, image="mlflow:3.5.0"), service, *pg()], rule="mlflow-allowed-hosts")
    assert out and "mlflow-server.mlops.svc.cluster.local:5000" in out[0].evidence
    wildcard = SEED_MLFLOW_CMD[:2] + [SEED_MLFLOW_CMD[2] + " --allowed-hosts 'mlflow-server*'"]
    assert not findings([mlflow_server(cmd=wildcard, image="mlflow:3.5.0"), service, *pg()], rule="mlflow-allowed-hosts")


def test_mlflow_host_rejected_from_probe():
    p = probe("mlflow", state=ProbeState.DEGRADED, host_rejected="mlflow-server.mlops.svc.cluster.local:5000")
    out = findings([mlflow_server(), *pg()], {"mlflow": p}, rule="mlflow-host-rejected")
    assert out and out[0].severity is Severity.ERROR
    assert out[0].objects == ("Deployment mlops/mlflow-server",)
    assert not findings([mlflow_server(), *pg()], {"mlflow": probe("mlflow")}, rule="mlflow-host-rejected")


# -- redis -----------------------------------------------------------------------------------------------------
def redis(limit=None, args=("redis-server", "--appendonly", "yes")):
    res = {"limits": {"memory": limit}} if limit else None
    return sts("feast-redis-master", labels={"app.kubernetes.io/name": "redis"},
               containers=[container("redis", "redis:7.4.1", args=list(args), resources=res)])


def test_redis_no_memory_limit():
    out = findings([redis()], rule="redis-no-memory-limit")
    assert out and out[0].objects == ("StatefulSet mlops/feast-redis-master",)
    assert not findings([redis(limit="2Gi")], rule="redis-no-memory-limit")


def test_redis_no_maxmemory_from_probe_and_args():
    live = {"redis": probe("redis", "redis", used_memory=10, maxmemory=0, maxmemory_policy="noeviction")}
    out = findings([redis()], live, rule="redis-no-maxmemory")
    assert out and out[0].severity is Severity.ERROR and "INFO memory" in out[0].evidence
    assert findings([redis(limit="2Gi")], live, rule="redis-no-maxmemory")[0].severity is Severity.WARNING
    assert findings([redis()], rule="redis-no-maxmemory")  # from the args, no probe
    capped = {"redis": probe("redis", "redis", used_memory=10, maxmemory=1 << 30, maxmemory_policy="noeviction")}
    assert not findings([redis(limit="2Gi")], capped, rule="redis-no-maxmemory")


def test_redis_near_maxmemory():
    hot = {"redis": probe("redis", "redis", used_memory=950, maxmemory=1000, maxmemory_policy="noeviction")}
    out = findings([redis(limit="2Gi")], hot, rule="redis-near-maxmemory")
    assert out and "95%" in out[0].summary and "headroom" in out[0].summary
    cool = {"redis": probe("redis", "redis", used_memory=100, maxmemory=1000, maxmemory_policy="noeviction")}
    assert not findings([redis(limit="2Gi")], cool, rule="redis-near-maxmemory")


def test_redis_evicting_features():
    lru = {"redis": probe("redis", "redis", used_memory=600 << 20, maxmemory=1 << 30,
                          maxmemory_policy="allkeys-lru", evicted_keys=42)}
    out = findings([redis(limit="2Gi")], lru, rule="redis-evicting-features")
    assert out and out[0].severity is Severity.WARNING
    assert "42" in out[0].summary and "headroom" in out[0].evidence and "silently" in out[0].explanation
    calm = {"redis": probe("redis", "redis", used_memory=1, maxmemory=1 << 30, maxmemory_policy="allkeys-lru")}
    assert findings([redis(limit="2Gi")], calm, rule="redis-evicting-features")[0].severity is Severity.INFO
    noev = {"redis": probe("redis", "redis", used_memory=1, maxmemory=1 << 30, maxmemory_policy="noeviction")}
    assert not findings([redis(limit="2Gi")], noev, rule="redis-evicting-features")


# -- serving ----------------------------------------------------------------------------------------------------
def test_isvc_min_replicas_zero():
    small = isvc("m", predictor={"minReplicas": 0, "model": {"storageUri": "s3://x"}})
    out = findings([small], rule="isvc-min-replicas-zero")
    assert out and out[0].severity is Severity.WARNING and out[0].objects == ("InferenceService mlops/m",)
    assert "minReplicas: 1" in out[0].fix
    big = isvc("llm", predictor={"minReplicas": 0, "model": {"storageUri": "s3://x", "resources": {
        "limits": {"nvidia.com/gpu": "1", "memory": "16Gi"}}}})
    assert findings([big], rule="isvc-min-replicas-zero")[0].severity is Severity.ERROR
    assert not findings([isvc("m")], rule="isvc-min-replicas-zero")  # default minReplicas is 1
    # a large model by its memory in any quantity spelling Kubernetes accepts (issue 18)
    for mem in ("5000000k", "5Pi", "8e9", "8G"):  # 4 GiB or more
        big = isvc("llm", predictor={"minReplicas": 0, "model": {"storageUri": "s3://x", "resources": {
            "requests": {"memory": mem}}}})
        assert findings([big], rule="isvc-min-replicas-zero")[0].severity is Severity.ERROR, mem
    raw = isvc("m", predictor={"minReplicas": 0}, annotations={"serving.kserve.io/deploymentMode": "RawDeployment"})
    assert not findings([raw], rule="isvc-min-replicas-zero")


def test_isvc_ineffective_minscale():
    seeded = isvc("fraud-detection", annotations={"serving.knative.dev/minScale": "1"})
    out = findings([seeded], rule="isvc-ineffective-minscale")
    assert out and out[0].objects == ("InferenceService mlops/fraud-detection",)
    assert "spec.predictor.minReplicas: 1" in out[0].fix
    on_pred = isvc("x", predictor={"annotations": {"serving.knative.dev/minScale": "1"}, "model": {}})
    assert "spec.predictor.annotations" in findings([on_pred], rule="isvc-ineffective-minscale")[0].evidence
    assert not findings([isvc("x", annotations={"autoscaling.knative.dev/min-scale": "1"})],
                        rule="isvc-ineffective-minscale")


def test_isvc_canary_raw_deployment():
    raw = isvc("churn-model", predictor={"canaryTrafficPercent": 20, "model": {}},
               annotations={"serving.kserve.io/deploymentMode": "RawDeployment"})
    out = findings([raw], rule="isvc-canary-raw-deployment")
    assert out and out[0].severity is Severity.ERROR and out[0].objects == ("InferenceService mlops/churn-model",)
    serverless = isvc("fraud", predictor={"canaryTrafficPercent": 20, "model": {}})
    assert not findings([serverless], rule="isvc-canary-raw-deployment")


def test_isvc_serverless_without_knative():
    kserve = deploy("kserve-controller-manager", ns="kserve", labels={"control-plane": "kserve-controller-manager"})
    out = findings([kserve, isvc("fraud")], rule="isvc-serverless-without-knative")
    assert out and out[0].objects == ("InferenceService mlops/fraud",)
    activator = deploy("activator", ns="knative-serving")
    assert not findings([kserve, activator, isvc("fraud")], rule="isvc-serverless-without-knative")


# -- postgres ---------------------------------------------------------------------------------------------------
def test_postgres_near_max_connections():
    busy = {"postgresql": probe("postgresql", "postgres", connections=95, max_connections=100)}
    out = findings(pg(), busy, rule="postgres-near-max-connections")
    assert out and out[0].severity is Severity.ERROR and "PgBouncer" in out[0].fix
    assert out[0].objects == ("StatefulSet mlops/mlflow-db-postgresql",)
    bouncer = deploy("pgbouncer", labels={"app": "pgbouncer"})
    pooled = findings(pg() + [bouncer], busy, rule="postgres-near-max-connections")
    assert pooled and "no PgBouncer" not in pooled[0].summary
    idle = {"postgresql": probe("postgresql", "postgres", connections=5, max_connections=100)}
    assert not findings(pg(), idle, rule="postgres-near-max-connections")


# -- images -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image,hit", [("bitnami/mlflow:2.11.0", True), ("docker.io/bitnamilegacy/postgresql:16", True),
                                       ("postgres:16.4", False), ("ghcr.io/mlflow/mlflow:v3.5.1", False)])
def test_image_bitnami_legacy(image, hit):
    out = findings([deploy("x", containers=[container(image=image)])], rule="image-bitnami-legacy")
    assert bool(out) is hit
    if hit:
        assert out[0].objects == ("Deployment mlops/x",) and "bitnamilegacy" in out[0].explanation


@pytest.mark.parametrize("image,hit", [("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", True),
                                       ("minio/minio:latest", True), ("quay.io/ceph/ceph:v19", False)])
def test_image_minio_unpatched(image, hit):
    out = findings([deploy("minio", containers=[container(image=image)])], rule="image-minio-unpatched")
    assert bool(out) is hit
    if hit:
        assert out[0].component == "s3" and "archived" in out[0].explanation


# -- workloads and probes ----------------------------------------------------------------------------------------
def test_workload_oomkilled():
    r = redis()
    p = pod("feast-redis-master-0aaaaa", {"app.kubernetes.io/name": "redis"}, last="OOMKilled", restarts=3)
    out = findings([r, p], rule="workload-oomkilled")
    assert out and out[0].component == "redis"
    assert "StatefulSet mlops/feast-redis-master" in out[0].objects and "maxmemory" in out[0].fix
    healthy = pod("feast-redis-master-0aaaaa", {"app.kubernetes.io/name": "redis"})
    assert not findings([r, healthy], rule="workload-oomkilled")


def test_workload_crashloop():
    d = mlflow_server()
    p = pod("mlflow-server-abcdef", {"app": "mlflow"}, waiting="CrashLoopBackOff", restarts=7, ready=False)
    out = findings([d, p, *pg()], rule="workload-crashloop")
    assert out and out[0].objects[0] == "Deployment mlops/mlflow-server" and "7 restarts" in out[0].evidence


def test_workload_not_ready():
    d = deploy("minio", ready=0, containers=[container(image="quay.io/minio/minio:x")])
    out = findings([d], rule="workload-not-ready")
    assert out and out[0].severity is Severity.ERROR and "0/1" in out[0].summary
    assert not findings([deploy("minio")], rule="workload-not-ready")


def test_job_failed():
    cj = cronjob("feast-materialize", containers=[container()])
    cj["metadata"]["labels"] = {"app": "feast-materialize"}
    failed = job("feast-materialize-100", owner="feast-materialize",
                 status={"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]})
    out = findings([cj, failed], rule="job-failed")
    assert out and out[0].component == "feast" and out[0].objects[0] == "CronJob mlops/feast-materialize"
    ok = job("feast-materialize-200", owner="feast-materialize",
             status={"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    ok["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
    assert not findings([cj, failed, ok], rule="job-failed")  # the latest run succeeded


def test_probe_failed():
    down = ProbeResult("mlflow", "http", "http://m", "config", ProbeState.FAILED, "unreachable", detail="refused")
    out = findings([mlflow_server(), *pg()], {"mlflow": down}, rule="probe-failed")
    assert out and out[0].component == "mlflow" and out[0].objects == ("Deployment mlops/mlflow-server",)
    absent = ProbeResult("lakefs", "http", "http://l", "service x/y", ProbeState.FAILED, "unreachable")
    assert not findings([], {"lakefs": absent}, rule="probe-failed")  # not installed, not configured


# -- security -----------------------------------------------------------------------------------------------
def test_credentials_inline_in_env_and_in_a_uri():
    seed = mlflow_server(env={"MLFLOW_S3_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000",
                              "AWS_ACCESS_KEY_ID": "admin", "AWS_SECRET_ACCESS_KEY": "supersecret"})
    out = findings([seed, *pg()], rule="credentials-inline")
    assert [f.objects for f in out] == [("Deployment mlops/mlflow-server",)]
    f = out[0]
    assert f.severity is Severity.WARNING and f.component == "mlflow"
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in f.evidence and "inside a URI" in f.evidence
    assert "supersecret" not in f.render() and "pgpass" not in f.render()
    assert "secretKeyRef" in f.fix and "$(DB_PASSWORD)" in f.fix


def test_credentials_from_secrets_and_env_references_are_fine():
    ref_env = {"AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "s3", "key": "secret-key"}},
               "DB_PASSWORD": {"secretKeyRef": {"name": "db", "key": "password"}}, "LOG_LEVEL": "debug"}
    cmd = ["mlflow", "server", "--backend-store-uri", "postgresql://mlflow:$(DB_PASSWORD)@db:5432/mlflow"]
    sh = ["sh", "-c", "mlflow server --backend-store-uri postgresql://mlflow:${DB_PASSWORD}@db:5432/mlflow"]
    assert findings([mlflow_server(cmd=cmd, env=ref_env), *pg()], rule="credentials-inline") == []
    assert findings([mlflow_server(cmd=sh, env=ref_env), *pg()], rule="credentials-inline") == []
    # a CronJob's and a bare Job's containers are checked too
    bad = container("eval", env={"MLFLOW_TRACKING_TOKEN": "t0k3n"})
    got = findings([cronjob("nightly", containers=[bad]), job("one-off", containers=[bad])], rule="credentials-inline")
    assert sorted(f.objects[0] for f in got) == ["CronJob mlops/nightly", "Job mlops/one-off"]


# -- data (LakeFS, DVC) -----------------------------------------------------------------------------

def _data_cronjob(name, env, command):
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": "mlops"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "python:3.11-slim", "command": command,
                 "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}}}


LAKEFS_REPO = {"kind": "LakeFSRepository", "metadata": {"name": "fraud-datasets"},
               "spec": {"storageNamespace": "s3://lakefs-data/datasets"}}


def _data_findings(objs, rule_id):
    return list(run(Snapshot.build(objs), only=[rule_id]))


def test_client_on_a_lakefs_bucket_through_minio_is_found():
    direct = _data_cronjob("export", {"AWS_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000"},
                      ["python", "x.py", "--out", "s3://lakefs-data/datasets/exports/"])
    gateway = _data_cronjob("ok", {"AWS_ENDPOINT_URL": "http://lakefs.mlops.svc.cluster.local"},
                       ["python", "x.py", "--out", "s3://lakefs-data/main/exports/"])
    other = _data_cronjob("other", {"AWS_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000"},
                     ["python", "x.py", "--out", "s3://mlflow-artifacts/x"])
    found = _data_findings([LAKEFS_REPO, direct, gateway, other], "lakefs-bucket-via-minio")
    assert [f.objects for f in found] == [("CronJob mlops/export",)]
    assert "LakeFS S3 gateway" in found[0].fix and "fraud-datasets" in found[0].evidence
    # without LakeFS's repositories nothing is known to be managed
    assert _data_findings([direct], "lakefs-bucket-via-minio") == []


def test_dvc_remote_without_endpointurl_and_sigv2():
    remote = {"kind": "DVCRemote", "metadata": {"name": "backup"},
              "spec": {"url": "s3://b/p", "endpointurl": None, "hasCredentials": False, "envCredentials": False,
                       "hint": "http://minio:9000", "configFile": "/r/.dvc/config"}}
    (f,) = _data_findings([remote], "dvc-remote-no-endpointurl")
    assert "public AWS" in f.summary and "dvc remote modify backup endpointurl http://minio:9000" in f.fix
    assert _data_findings([remote], "dvc-remote-no-credentials")[0].severity.value == "warning"
    ok = {**remote, "spec": {**remote["spec"], "endpointurl": "http://minio:9000", "hasCredentials": True}}
    assert _data_findings([ok], "dvc-remote-no-endpointurl") == [] and _data_findings([ok], "dvc-remote-no-credentials") == []
    v2 = {**ok, "spec": {**ok["spec"], "signatureV2": True, "signatureVersion": "s3"}}
    assert "s3v4" in _data_findings([v2], "dvc-remote-signature-v2")[0].fix


def test_lakefs_not_ready_names_its_postgresql():
    lakefs = {"kind": "Deployment", "metadata": {"name": "lakefs", "namespace": "mlops",
                                                 "labels": {"app.kubernetes.io/name": "lakefs"}},
              "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app.kubernetes.io/name": "lakefs"}},
                                                   "spec": {"containers": [{"name": "lakefs",
                                                                            "image": "treeverse/lakefs:1.70.0"}]}}},
              "status": {"replicas": 1, "readyReplicas": 0}}
    pg = {"kind": "StatefulSet", "metadata": {"name": "lakefs-postgresql", "namespace": "mlops"},
          "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "p", "image": "postgres:16"}]}}},
          "status": {"replicas": 1, "readyReplicas": 0}}
    (f,) = _data_findings([lakefs, pg], "lakefs-not-ready")
    assert "StatefulSet mlops/lakefs-postgresql" in f.objects and "PostgreSQL" in f.fix
    ready = {**lakefs, "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    pg_ready = {**pg, "status": {"replicas": 1, "readyReplicas": 1}}
    assert _data_findings([ready, pg_ready], "lakefs-not-ready") == []

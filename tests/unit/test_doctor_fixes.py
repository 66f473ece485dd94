"""doctor/fixes/ on hand-built snapshots: the findings come from the real rules; each fix's patch is
exactly right (with the resourceVersion it was computed from); unsafe cases return None with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlopstui.doctor import Finding, Severity, Snapshot, run
from mlopstui.doctor.fixes import (
    CREATE,
    MERGE,
    STRATEGIC,
    double_quantity,
    explain,
    fix_for,
    has_fixer,
    parse_ref,
    why_not,
)
from mlopstui.models.stack import ProbeResult, ProbeState

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
S3 = "http://minio.mlops.svc.cluster.local:9000"
SECRET_VALUE = "s3cr3t-Value-never-shown"


# -- builders ---------------------------------------------------------------------------------------------
def env(**kv):
    return [{"name": k, "value": v} if not isinstance(v, dict) else {"name": k, "valueFrom": v} for k, v in kv.items()]


def ctr(name="c", image="python:3.11", **kw) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image}
    c.update({k: v for k, v in kw.items() if v is not None})
    return c


def workload(kind, name, containers, labels=None, rv="100", annotations=None, replicas=1, init=None):
    labels = labels or {"app": name}
    meta: dict[str, Any] = {"name": name, "namespace": "mlops", "labels": labels, "resourceVersion": rv}
    if annotations:
        meta["annotations"] = annotations
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"kind": kind, "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}},
            "status": {"readyReplicas": replicas}}


def cronjob(name, containers, rv="200", uid="cj-uid-1"):
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": "mlops", "resourceVersion": rv, "uid": uid},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                                  "containers": containers}}}}}}


def job(name, containers=(), owner=None, failed=False, rv="300", ts="2026-01-01T00:00:00Z"):
    meta: dict[str, Any] = {"name": name, "namespace": "mlops", "resourceVersion": rv, "creationTimestamp": ts}
    if owner:
        meta["ownerReferences"] = [{"kind": "CronJob", "name": owner}]
    status = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                           "message": "Job has reached the specified backoff limit"}]} if failed else {}
    return {"kind": "Job", "metadata": meta,
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": list(containers)}}},
            "status": status}


def svc(name, selector, port):
    return {"kind": "Service", "metadata": {"name": name, "namespace": "mlops"},
            "spec": {"selector": selector, "ports": [{"port": port}]}}


def isvc(name, predictor, annotations=None, rv="7"):
    return {"kind": "InferenceService", "metadata": {"name": name, "namespace": "mlops", "resourceVersion": rv,
                                                     "annotations": annotations or {}},
            "spec": {"predictor": predictor}}


def mlflow_server(image="bitnami/mlflow:2.11.0", extra_env=None, command=None, rv="50"):
    e = env(MLFLOW_S3_ENDPOINT_URL=S3, AWS_ACCESS_KEY_ID="AKIA-literal", AWS_SECRET_ACCESS_KEY=SECRET_VALUE,
            **(extra_env or {}))
    cmd = command or ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--backend-store-uri",
                      "postgresql://u@mlflow-db-postgresql:5432/m", "--default-artifact-root", "s3://mlflow-artifacts/"]
    return workload("Deployment", "mlflow-server", [ctr("mlflow", image, command=cmd, env=e)],
                    labels={"app": "mlflow"}, rv=rv)


CLIENT_ENV = {"MLFLOW_TRACKING_URI": "http://mlflow-server.mlops:5000"}
REF_CREDS = {"AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "minio-credentials", "key": "access-key"}},
             "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "minio-credentials", "key": "secret-key"}}}


def probe(component, kind="http", **data):
    return ProbeResult(component, kind, "http://x", "config", ProbeState.OK, "ok", data=data,
                       version=data.pop("version", None))


def snap_of(objs, probes=None) -> Snapshot:
    return Snapshot.build(objs, probes or {})


def the(snap: Snapshot, rule: str, obj: str | None = None) -> Finding:
    out = [f for f in run(snap, only=[rule]) if obj is None or obj in f.objects]
    assert out, f"rule {rule} did not fire"
    return out[0]


def containers_patch(spec_path: list[str], containers: list[dict], rv: str) -> dict:
    out: Any = {"containers": containers}
    for key in reversed(spec_path):
        out = {key: out}
    out["metadata"] = {"resourceVersion": rv}
    return out


DEPLOY_SPEC = ["spec", "template", "spec"]
CRON_SPEC = ["spec", "jobTemplate", "spec", "template", "spec"]


# -- MLflow clients: S3 endpoint ----------------------------------------------------------------------------
def test_s3_endpoint_on_a_deployment_is_one_env_entry():
    client = workload("Deployment", "scorer", [ctr("score", env=env(**CLIENT_ENV, **REF_CREDS)),
                                               ctr("sidecar", "envoy:1")], rv="42")
    snap = snap_of([mlflow_server(), client])
    spec = fix_for(the(snap, "mlflow-client-no-s3-endpoint"), snap)
    assert spec is not None and spec.patch_type == STRATEGIC and spec.target == "Deployment mlops/scorer"
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "score", "env": [
        {"name": "MLFLOW_S3_ENDPOINT_URL", "value": S3}]}], "42")
    assert spec.resource_version == "42" and spec.risk == "low"


def test_s3_endpoint_on_a_cronjob_goes_into_the_job_template():
    snap = snap_of([mlflow_server(), cronjob("nightly-eval", [ctr("eval", env=env(**CLIENT_ENV, **REF_CREDS))])])
    spec = fix_for(the(snap, "mlflow-client-no-s3-endpoint"), snap)
    assert spec.kind == "CronJob" and spec.patch == containers_patch(CRON_SPEC, [{"name": "eval", "env": [
        {"name": "MLFLOW_S3_ENDPOINT_URL", "value": S3}]}], "200")


def test_s3_endpoint_from_the_object_store_service_and_init_containers():
    minio = workload("Deployment", "minio", [ctr("minio", "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z")],
                     labels={"app.kubernetes.io/name": "minio"})
    client = workload("StatefulSet", "trainer", [ctr("main", env=env(**REF_CREDS))], rv="9",
                      init=[ctr("prep", env=env(**CLIENT_ENV, **REF_CREDS))])
    snap = snap_of([minio, svc("minio", {"app.kubernetes.io/name": "minio"}, 9000), client])
    spec = fix_for(the(snap, "mlflow-client-no-s3-endpoint"), snap)
    assert spec.patch == {"spec": {"template": {"spec": {"initContainers": [
        {"name": "prep", "env": [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": S3}]}]}}},
        "metadata": {"resourceVersion": "9"}}


def test_job_of_a_cronjob_is_fixed_in_the_cronjob_and_a_bare_job_is_not():
    c = [ctr("eval", env=env(**CLIENT_ENV, **REF_CREDS))]
    snap = snap_of([mlflow_server(), cronjob("nightly-eval", c), job("nightly-eval-123", c, owner="nightly-eval")])
    f = Finding("mlflow-client-no-s3-endpoint", Severity.ERROR, "mlflow", "x", ("Job mlops/nightly-eval-123",),
                "", "", "")
    spec = fix_for(f, snap)
    assert spec.target == "CronJob mlops/nightly-eval" and any("immutable" in n for n in spec.notes)
    bare = snap_of([mlflow_server(), job("train-fraud-model", c)])
    f = the(bare, "mlflow-client-no-s3-endpoint", "Job mlops/train-fraud-model")
    assert fix_for(f, bare) is None
    reason = why_not(f, bare)
    assert "immutable" in reason and "not owned by a CronJob" in reason


def test_no_known_s3_endpoint_means_no_fix():
    snap = snap_of([workload("Deployment", "scorer", [ctr("score", env=env(**CLIENT_ENV, **REF_CREDS))])])
    f = the(snap, "mlflow-client-no-s3-endpoint")
    assert fix_for(f, snap) is None and "no S3 endpoint" in why_not(f, snap)


# -- MLflow clients: credentials --------------------------------------------------------------------------
def test_credentials_from_the_secret_other_workloads_reference():
    referrer = job("train-fraud-model", [ctr("train", env=env(**CLIENT_ENV, **REF_CREDS))])
    client = workload("Deployment", "scorer", [ctr("score", env=env(**CLIENT_ENV, MLFLOW_S3_ENDPOINT_URL=S3))], rv="5")
    snap = snap_of([mlflow_server(), referrer, client])
    spec = fix_for(the(snap, "mlflow-client-no-s3-credentials", "Deployment mlops/scorer"), snap)
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "score", "env": [
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "minio-credentials", "key": "access-key"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "minio-credentials",
                                                                         "key": "secret-key"}}}]}], "5")
    assert SECRET_VALUE not in repr(spec) and "AKIA-literal" not in repr(spec)  # literals are never copied


def test_credentials_from_secret_key_names_and_only_the_missing_one():
    secret = {"kind": "Secret", "metadata": {"name": "s3-keys", "namespace": "mlops"},
              "data": {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}}
    client = workload("Deployment", "scorer", [ctr("score", env=env(
        **CLIENT_ENV, MLFLOW_S3_ENDPOINT_URL=S3,
        AWS_ACCESS_KEY_ID={"secretKeyRef": {"name": "s3-keys", "key": "AWS_ACCESS_KEY_ID"}}))], rv="6")
    snap = snap_of([client, secret])
    spec = fix_for(the(snap, "mlflow-client-no-s3-credentials"), snap)
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "score", "env": [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3-keys",
                                                                         "key": "AWS_SECRET_ACCESS_KEY"}}}]}], "6")


def test_no_credentials_secret_means_no_fix():
    client = workload("Deployment", "scorer", [ctr("score", env=env(**CLIENT_ENV, MLFLOW_S3_ENDPOINT_URL=S3))])
    snap = snap_of([client])
    f = the(snap, "mlflow-client-no-s3-credentials")
    assert fix_for(f, snap) is None and "no Secret in namespace mlops" in why_not(f, snap)


# -- Redis ----------------------------------------------------------------------------------------------------
def redis(args=("redis-server", "--appendonly", "yes"), limit=None, image="redis:7.4.1", command=None, rv="77"):
    res = {"limits": {"memory": limit}} if limit else None
    return workload("StatefulSet", "feast-redis-master",
                    [ctr("redis", image, args=list(args) if args is not None else None, resources=res, command=command)],
                    labels={"app.kubernetes.io/name": "redis"}, rv=rv)


def test_redis_limit_and_maxmemory_in_one_patch():
    snap = snap_of([redis()])
    for rule in ("redis-no-memory-limit", "redis-no-maxmemory"):
        spec = fix_for(the(snap, rule), snap)
        assert spec.patch == containers_patch(DEPLOY_SPEC, [{
            "name": "redis",
            "args": ["redis-server", "--appendonly", "yes", "--maxmemory", "1638mb", "--maxmemory-policy", "noeviction"],
            "resources": {"limits": {"memory": "2Gi"}}}], "77")
        assert spec.risk == "medium"
        assert spec.before == {"limits.memory": None, "args": ["redis-server", "--appendonly", "yes"]}
        assert spec.after["limits.memory"] == "2Gi"
        text = " ".join(spec.notes)
        assert "allkeys-lru" in text and "silently evict" in text and "noeviction" in text


def test_redis_with_a_limit_gets_maxmemory_at_80_percent_of_it():
    snap = snap_of([redis(limit="4Gi")])
    spec = fix_for(the(snap, "redis-no-maxmemory"), snap)
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "redis", "args": [
        "redis-server", "--appendonly", "yes", "--maxmemory", "3276mb", "--maxmemory-policy", "noeviction"]}], "77")


def test_redis_limit_sized_from_live_usage():
    live = {"redis": probe("redis", "redis", used_memory=3 * 1024**3, maxmemory=0, maxmemory_policy="noeviction")}
    snap = snap_of([redis()], live)
    spec = fix_for(the(snap, "redis-no-memory-limit"), snap)
    assert spec.after["limits.memory"] == "6Gi" and "--maxmemory" in spec.after["args"]
    assert spec.after["args"][spec.after["args"].index("--maxmemory") + 1] == "4915mb"


def test_redis_image_default_args_and_unfixable_shapes():
    snap = snap_of([redis(args=None, limit="1Gi")])
    spec = fix_for(the(snap, "redis-no-maxmemory"), snap)
    assert spec.after["args"] == ["--maxmemory", "819mb", "--maxmemory-policy", "noeviction"]
    bitnami = snap_of([redis(image="bitnami/redis:7.2")])
    assert "Bitnami" in why_not(the(bitnami, "redis-no-memory-limit"), bitnami)
    conf = snap_of([redis(args=["redis-server", "/etc/redis/redis.conf"], limit="1Gi")])
    f = Finding("redis-no-maxmemory", Severity.WARNING, "redis", "x", ("StatefulSet mlops/feast-redis-master",),
                "", "", "")
    assert fix_for(f, conf) is None and "config file" in why_not(f, conf)


# -- InferenceServices -----------------------------------------------------------------------------------------
GPU_MODEL = {"modelFormat": {"name": "pytorch"}, "storageUri": "s3://models/llm",
             "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "24Gi"}}}


def test_isvc_min_replicas_zero():
    snap = snap_of([isvc("llm-ranker", {"minReplicas": 0, "model": GPU_MODEL})])
    spec = fix_for(the(snap, "isvc-min-replicas-zero"), snap)
    assert spec.patch_type == MERGE and spec.kind == "InferenceService"
    assert spec.patch == {"spec": {"predictor": {"minReplicas": 1}}, "metadata": {"resourceVersion": "7"}}
    assert spec.risk == "medium" and any("GPU" in n for n in spec.notes)


def test_isvc_ineffective_annotation_removed_with_null_and_min_replicas_set():
    snap = snap_of([isvc("fraud-detection", {"canaryTrafficPercent": 20, "model": {"storageUri": "s3://m/v2"}},
                         annotations={"serving.knative.dev/minScale": "1"})])
    spec = fix_for(the(snap, "isvc-ineffective-minscale"), snap)
    assert spec.patch == {"metadata": {"annotations": {"serving.knative.dev/minScale": None}, "resourceVersion": "7"},
                          "spec": {"predictor": {"minReplicas": 1}}}
    assert any("new revision" in n and "canary" in n for n in spec.notes)
    # already minReplicas 2 on the predictor, annotation in the predictor: only the removal
    snap = snap_of([isvc("x", {"minReplicas": 2, "annotations": {"serving.knative.dev/minScale": "1"},
                               "model": {"storageUri": "s3://m"}})])
    spec = fix_for(the(snap, "isvc-ineffective-minscale"), snap)
    assert spec.patch == {"spec": {"predictor": {"annotations": {"serving.knative.dev/minScale": None}}},
                          "metadata": {"resourceVersion": "7"}}


def test_isvc_canary_on_raw_deployment_removed():
    snap = snap_of([isvc("churn-model", {"canaryTrafficPercent": 10, "model": {"storageUri": "s3://m"}},
                         annotations={"serving.kserve.io/deploymentMode": "RawDeployment"})])
    spec = fix_for(the(snap, "isvc-canary-raw-deployment"), snap)
    assert spec.patch == {"spec": {"predictor": {"canaryTrafficPercent": None}}, "metadata": {"resourceVersion": "7"}}


# -- MLflow allowed hosts ----------------------------------------------------------------------------------------
HOSTS = ["mlflow-server", "mlflow-server.mlops", "mlflow-server.mlops.svc", "mlflow-server.mlops.svc.cluster.local",
         "mlflow-server:5000", "mlflow-server.mlops:5000", "mlflow-server.mlops.svc:5000",
         "mlflow-server.mlops.svc.cluster.local:5000"]


def test_allowed_hosts_env_lists_every_service_name():
    snap = snap_of([mlflow_server("ghcr.io/mlflow/mlflow:v3.5.1"), svc("mlflow-server", {"app": "mlflow"}, 5000)])
    spec = fix_for(the(snap, "mlflow-allowed-hosts"), snap)
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "mlflow", "env": [
        {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": ",".join(HOSTS)}]}], "50")


def test_allowed_hosts_keeps_the_existing_value():
    snap = snap_of([mlflow_server("ghcr.io/mlflow/mlflow:v3.5.1",
                                  extra_env={"MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com,mlflow-server"}),
                    svc("mlflow-server", {"app": "mlflow"}, 5000)])
    spec = fix_for(the(snap, "mlflow-allowed-hosts"), snap)
    value = spec.after["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert value == ",".join(["mlflow.example.com"] + HOSTS)


def test_allowed_hosts_on_the_command_line_is_not_patched():
    cmd = ["mlflow", "server", "--allowed-hosts", "localhost", "--backend-store-uri", "postgresql://u@h/m",
           "--default-artifact-root", "s3://b/"]
    snap = snap_of([mlflow_server("ghcr.io/mlflow/mlflow:v3.5.1", command=cmd),
                    svc("mlflow-server", {"app": "mlflow"}, 5000)])
    f = the(snap, "mlflow-allowed-hosts")
    assert fix_for(f, snap) is None and "overrides" in why_not(f, snap)


def test_host_rejected_adds_the_rejected_host():
    live = {"mlflow": probe("mlflow", host_checked=True, host_rejected="mlflow.internal:5000", version="3.6.0")}
    snap = snap_of([mlflow_server(), svc("mlflow-server", {"app": "mlflow"}, 5000)], live)
    spec = fix_for(the(snap, "mlflow-host-rejected"), snap)
    hosts = spec.after["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert hosts == HOSTS + ["mlflow.internal:5000", "mlflow.internal"]


# -- workloads --------------------------------------------------------------------------------------------------
def pod(name, labels, container="c", waiting=None, last=None):
    cs: dict[str, Any] = {"name": container, "ready": False, "restartCount": 3, "state": {"running": {}}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting}}
    if last:
        cs["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "mlops", "labels": labels,
                                        "ownerReferences": [{"kind": "ReplicaSet", "name": "x"}]},
            "spec": {"containers": [{"name": container}]}, "status": {"phase": "Running", "containerStatuses": [cs]}}


def test_crashloop_is_a_rollout_restart():
    d = workload("Deployment", "api", [ctr("api")], rv="11", replicas=2)
    snap = snap_of([d, pod("api-abc-12345", {"app": "api"}, waiting="CrashLoopBackOff")])
    spec = fix_for(the(snap, "workload-crashloop"), snap, now=NOW)
    assert spec.patch_type == STRATEGIC
    assert spec.patch == {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-03-04T05:06:07Z"}}}}, "metadata": {"resourceVersion": "11"}}
    assert spec.risk == "low" and any("transient" in n for n in spec.notes)


def test_not_ready_statefulset_restart_and_cronjob_crashloop_unfixable():
    s = workload("StatefulSet", "db", [ctr("db")], rv="12")
    s["status"] = {"readyReplicas": 0}
    snap = snap_of([s])
    spec = fix_for(the(snap, "workload-not-ready"), snap, now=NOW)
    assert spec.target == "StatefulSet mlops/db" and spec.risk == "medium"
    f = Finding("workload-crashloop", Severity.ERROR, "cluster", "x", ("CronJob mlops/nightly",), "", "", "")
    cj = snap_of([cronjob("nightly", [ctr("n")])])
    assert fix_for(f, cj) is None and "rollout restart works on" in why_not(f, cj)


def test_oomkilled_doubles_the_limit_of_the_killed_container():
    d = workload("Deployment", "embedder", [ctr("embed", resources={"limits": {"memory": "512Mi", "cpu": "1"},
                                                                   "requests": {"memory": "256Mi"}}),
                                            ctr("proxy", "envoy:1", resources={"limits": {"memory": "64Mi"}})], rv="13")
    snap = snap_of([d, pod("embedder-abc-12345", {"app": "embedder"}, container="embed", last="OOMKilled")])
    spec = fix_for(the(snap, "workload-oomkilled"), snap)
    assert spec.patch == containers_patch(DEPLOY_SPEC, [{"name": "embed", "resources": {
        "limits": {"memory": "1Gi"}}}], "13")
    assert spec.risk == "medium"
    assert spec.before == {"embed.limits.memory": "512Mi"} and spec.after == {"embed.limits.memory": "1Gi"}
    assert "512Mi -> 1Gi" in spec.notes[0]
    # picking the killed pod means its workload
    assert fix_for(the(snap, "workload-oomkilled"), snap, obj_ref="Pod mlops/embedder-abc-12345").patch == spec.patch


def test_oomkilled_without_a_limit_is_not_doubled():
    r = redis()
    snap = snap_of([r, pod("feast-redis-master-0", {"app.kubernetes.io/name": "redis"}, container="redis",
                           last="OOMKilled")])
    f = the(snap, "workload-oomkilled")
    assert fix_for(f, snap) is None
    assert "no memory limit" in why_not(f, snap) and "redis-no-memory-limit" in why_not(f, snap)


@pytest.mark.parametrize("before,after", [("512Mi", "1Gi"), ("1536Mi", "3Gi"), ("1500M", "3G"), ("0.5Gi", "1Gi"),
                                          ("3Gi", "6Gi"), ("1000", "2000"), ("300Ki", "600Ki")])
def test_double_quantity(before, after):
    assert double_quantity(before) == after


def test_failed_job_of_a_cronjob_is_rerun_from_its_template():
    cj = cronjob("backfill", [ctr("b", command=["python", "-c", "pass"])])
    snap = snap_of([cj, job("backfill-1", owner="backfill", failed=True)])
    spec = fix_for(the(snap, "job-failed"), snap, now=NOW)
    assert spec.patch_type == CREATE and spec.kind == "Job" and spec.name == "backfill-manual-20260304050607"
    assert spec.source == "CronJob mlops/backfill" and spec.resource_version == "200"
    assert spec.patch == {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "backfill-manual-20260304050607", "namespace": "mlops",
                     "annotations": {"cronjob.kubernetes.io/instantiate": "manual"}, "labels": {"app": "backfill"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "backfill",
                                          "uid": "cj-uid-1", "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "b", "image": "python:3.11", "command": ["python", "-c", "pass"]}]}}}}


def test_failed_bare_job_is_not_rerun():
    snap = snap_of([job("backfill", failed=True)])
    f = the(snap, "job-failed")
    assert fix_for(f, snap) is None and "cannot be re-run in place" in why_not(f, snap)


# -- no automatic fix ------------------------------------------------------------------------------------------
def test_stateful_image_swap_and_local_artifact_root_and_probe_are_not_fixed():
    pg = workload("StatefulSet", "mlflow-db-postgresql", [ctr("postgresql", "bitnami/postgresql:16.1.0")],
                  labels={"app.kubernetes.io/name": "postgresql"})
    snap = snap_of([pg])
    f = the(snap, "image-bitnami-legacy")
    assert fix_for(f, snap) is None and "not drop-in" in why_not(f, snap) and not has_fixer(f.id)
    local = snap_of([mlflow_server(command=["mlflow", "server", "--backend-store-uri", "postgresql://u@h/m"])])
    f = the(local, "mlflow-artifact-root-local")
    assert fix_for(f, local) is None and "bucket decision" in why_not(f, local)
    f = Finding("probe-failed", Severity.ERROR, "lakefs", "x", (), "", "", "")
    assert "unreachable" in why_not(f, snap_of([]))


def test_explain_refuses_an_object_that_is_not_the_findings():
    snap = snap_of([mlflow_server(), cronjob("a", [ctr("e", env=env(**CLIENT_ENV, **REF_CREDS))])])
    f = the(snap, "mlflow-client-no-s3-endpoint")
    assert "not one of this finding's objects" in explain(f, snap, obj_ref="Deployment mlops/other").reason


def test_parse_ref():
    assert parse_ref("InferenceService mlops/fraud-detection") == ("InferenceService", "mlops", "fraud-detection")


# -- credentials in the spec ------------------------------------------------------------------------------
def test_credentials_inline_move_into_a_new_secret_by_reference():
    seed_cmd = ["sh", "-c", "mlflow server --backend-store-uri postgresql://postgres:pgpw@db:5432/m"]
    snap = snap_of([mlflow_server(command=seed_cmd)])
    f = the(snap, "credentials-inline", "Deployment mlops/mlflow-server")
    spec = fix_for(f, snap)
    assert spec is not None and spec.patch_type == STRATEGIC and spec.risk == "medium"
    [secret] = spec.prepare
    assert secret["kind"] == "Secret" and secret["metadata"] == {
        "name": "mlflow-server-credentials", "namespace": "mlops", "labels": {"app.kubernetes.io/managed-by": "mlopstui"}}
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "AKIA-literal", "AWS_SECRET_ACCESS_KEY": SECRET_VALUE}
    c = spec.patch["spec"]["template"]["spec"]["containers"][0]
    assert spec.patch["metadata"] == {"resourceVersion": "50"} and c["name"] == "mlflow"
    assert c["env"] == [
        {"name": "AWS_ACCESS_KEY_ID", "value": None,
         "valueFrom": {"secretKeyRef": {"name": "mlflow-server-credentials", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": None,
         "valueFrom": {"secretKeyRef": {"name": "mlflow-server-credentials", "key": "AWS_SECRET_ACCESS_KEY"}}}]
    text = " ".join(spec.notes) + spec.summary + str(spec.patch) + str(spec.before) + str(spec.after)
    assert SECRET_VALUE not in text and "AKIA-literal" not in text
    assert any("URI" in n and "$(DB_PASSWORD)" in n for n in spec.notes)  # the URI is left, and said so


def test_credentials_inline_only_in_a_uri_has_no_automatic_fix():
    w = workload("Deployment", "api", [ctr("api", command=["app", "--db", "postgresql://u:pw@db/x"])])
    snap = snap_of([w])
    f = the(snap, "credentials-inline", "Deployment mlops/api")
    assert fix_for(f, snap) is None and "$(DB_PASSWORD)" in why_not(f, snap)

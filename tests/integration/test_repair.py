"""`mlopstui repair` and the Repair action against the sandbox's Kubernetes API emulator over HTTPS.

The emulator runs in this process (its request log is read directly, as in test_serving_cli.py), seeded
with the sandbox's platform manifests (test_stack_env.seed_objects) and running its controllers. Each
fault is introduced through the Kubernetes API (or is one the seed carries); the repair sends exactly
one write, the object changes as planned, and a fresh doctor run no longer reports the finding.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import yaml

from mlopstui.backends import kube as k  # noqa: E402
from mlopstui.cli import main  # noqa: E402
from mlopstui.errors import Kind, MlopsError  # noqa: E402
from support.stack_env import SECRETS, apply_objects, seed_objects, wait_for, wait_ready  # noqa: E402

NS = "mlops"
FAULT = "sandbox.mlopstui.dev/fault"
ENDPOINT = "http://minio.mlops.svc.cluster.local:9000"  # the seeded MLflow server's MLFLOW_S3_ENDPOINT_URL


class Env:
    def __init__(self, srv, d: Path):
        self.srv = srv
        self.dir = d
        self.kubeconfig = Path(srv.kubeconfig_path)
        self.config = d / "mlopstui.yaml"
        self.audit = d / "audit.jsonl"
        self.config.write_text(yaml.safe_dump({
            "kubeconfig": str(self.kubeconfig), "context": "mlopstui-sandbox", "namespace": NS,
            "probe_timeout": 1.0, "kube_timeout": 5.0, "audit_log": str(self.audit),
            "app_log": str(d / "app.log")}))
        self._admin = k.KubeClient.from_settings(str(self.kubeconfig), "mlopstui-sandbox", NS)

    def kube(self):
        """The module's admin client (shared: its pools stay open across tests; closed with the module)."""
        return self._admin

    def close(self) -> None:
        self._admin.close()

    def context(self, **flags):
        """A new AppContext on the config: the caller closes it (`with env.context() as ctx:`)."""
        from mlopstui import config
        from mlopstui.context import AppContext

        return AppContext.create(config.load(str(self.config), **flags))

    def mark(self) -> int:
        return len(self.srv.request_log)

    def writes(self, since: int, method: str | None = None) -> list[dict]:
        return [e for e in self.srv.request_log[since:]
                if e["method"] in ((method,) if method else ("PATCH", "POST", "PUT", "DELETE"))]

    def findings(self, rule_id: str, obj_ref: str) -> list:
        from mlopstui.backends.stack import sweep

        with self.context() as ctx:
            return [f for f in sweep(ctx).findings if f.id == rule_id and obj_ref in f.objects]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    d = tmp_path_factory.mktemp("repair")
    srv = KubeApiServer(str(d / "kube"), port=0).start()
    try:
        e = Env(srv, d)
        try:
            apply_objects(e.kube(), seed_objects())
            wait_ready(e.kube())
            yield e
        finally:
            e.close()
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """Endpoints come from the config and cluster Services only, never from this machine's environment."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "MLOPSTUI_CONFIG", "KUBECONFIG",
                "FEAST_REPO_PATH", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))


@pytest.fixture
def created(env):
    """Create objects through the API; delete them after the test."""
    kube = env.kube()
    made: list[tuple[k.Res, str]] = []

    def make(res, obj):
        kube.create(res, obj, namespace=NS)
        made.append((res, obj["metadata"]["name"]))
        return f"{obj['kind']} {NS}/{obj['metadata']['name']}"

    yield make
    for res, name in reversed(made):
        try:
            kube.delete(res, name, NS)
        except MlopsError:
            pass


@pytest.fixture
def ctx(env):
    """An AppContext on the module's config, closed after the test."""
    with env.context() as c:
        yield c


def cli(env, capsys, *argv, context="mlopstui-sandbox"):
    code = main(["repair", *argv, "--config", str(env.config), "--context", context])
    out = capsys.readouterr()
    return code, out.out, out.err


def deployment(name, containers, labels=None, annotations=None, replicas=1):
    labels = labels or {"app": name}
    meta = {"name": name, "namespace": NS}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}}


# an MLflow client with S3 credentials from the Secret but no MLFLOW_S3_ENDPOINT_URL
S3_CLIENT_ENV = [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow-server.mlops:5000"},
                 {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "minio-credentials",
                                                                              "key": "access-key"}}},
                 {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "minio-credentials",
                                                                                  "key": "secret-key"}}}]


def cronjob(name, containers, suspend=True):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": "0 3 * * *", "suspend": suspend, "jobTemplate": {"spec": {
                "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": containers}}}}}}


def isvc(name, predictor, annotations=None):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"predictor": predictor}}


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def assert_no_secret(text: str) -> None:
    for s in SECRETS:
        assert s not in text


# -- listing --------------------------------------------------------------------------------------------
def test_list_says_which_findings_have_a_fix(env, capsys):
    mark = env.mark()
    code, out, _ = cli(env, capsys, "--json")
    assert code == 0
    items = json.loads(out)["findings"]
    by = {(i["id"], i["objects"][0] if i["objects"] else ""): i for i in items}
    bare = by[("mlflow-client-no-s3-endpoint", "Job mlops/train-fraud-model")]
    assert not bare["fixable"] and "immutable" in bare["reason"]
    assert by[("isvc-ineffective-minscale", "InferenceService mlops/fraud-detection")]["fixable"]
    assert by[("redis-no-maxmemory", "StatefulSet mlops/feast-redis-master")]["fixable"]
    stateful = by[("image-bitnami-legacy", "StatefulSet mlops/mlflow-db-postgresql")]
    assert not stateful["fixable"] and "not drop-in" in stateful["reason"]
    code, out, _ = cli(env, capsys)
    assert code == 0 and "auto-fix" in out.lower() and "immutable" in out
    assert env.writes(mark) == []
    assert_no_secret(out)


def test_no_automatic_fix_sends_nothing(env, capsys):
    mark = env.mark()
    code, _, err = cli(env, capsys, "mlflow-client-no-s3-endpoint", "--object", "Job/mlops/train-fraud-model",
                       "--yes")
    assert code == 2 and "immutable" in err
    assert env.writes(mark) == []


# -- MLflow clients -------------------------------------------------------------------------------------
def test_s3_endpoint_on_a_cronjob_cli(env, capsys, created):
    ref = created(k.CRONJOBS, cronjob("nightly-eval", [{
        "name": "eval", "image": "python:3.11",
        "env": S3_CLIENT_ENV}]))
    assert env.findings("mlflow-client-no-s3-endpoint", ref)
    path = f"/apis/batch/v1/namespaces/{NS}/cronjobs/nightly-eval"
    args = ("mlflow-client-no-s3-endpoint", "--object", "CronJob/mlops/nightly-eval")

    mark = env.mark()
    code, out, _ = cli(env, capsys, *args, "--dry-run")
    assert code == 0 and "dry run" in out and ENDPOINT in out and "resourceVersion" in out
    code, _, err = cli(env, capsys, *args, "--yes", "--readonly")
    assert code == 2 and "read-only" in err
    code, out, _ = cli(env, capsys, *args)  # neither --yes nor --dry-run: shows the plan, sends nothing
    assert code == 2 and "not applied" in out
    assert env.writes(mark) == []

    code, out, err = cli(env, capsys, *args, "--yes", "--json")
    assert code == 0, (out, err)
    doc = json.loads(out)
    assert doc["applied"] and doc["result"]["ok"]
    sent = env.writes(mark)
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [("PATCH", path, 200)]
    cj = env.kube().get(k.CRONJOBS, "nightly-eval", NS)
    c = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    got = env_of(c)
    assert got["MLFLOW_S3_ENDPOINT_URL"] == ENDPOINT
    assert got["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "minio-credentials", "key": "access-key"}}
    assert not env.findings("mlflow-client-no-s3-endpoint", ref)
    audit = env.audit.read_text()
    assert "nightly-eval" in audit and '"action": "repair"' in audit
    assert_no_secret(audit)


def test_s3_credentials_as_secret_refs(env, created, ctx):
    from mlopstui.actions.repair import Repair

    ref = created(k.DEPLOYMENTS, deployment("scorer", [{
        "name": "score", "image": "python:3.11",
        "env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow-server.mlops:5000"},
                {"name": "MLFLOW_S3_ENDPOINT_URL", "value": ENDPOINT}]}]))
    assert env.findings("mlflow-client-no-s3-credentials", ref)
    action = Repair(ctx, "mlflow-client-no-s3-credentials", obj_ref=ref)
    plan = action.plan()
    text = plan.render()
    assert "minio-credentials" in text and "secretKeyRef" in text
    assert_no_secret(text + json.dumps(plan.to_dict()))
    mark = env.mark()
    result = action.apply(plan, readonly=False, audit=ctx.audit)
    assert result.ok
    sent = env.writes(mark)
    assert [(e["method"], e["status"]) for e in sent] == [("PATCH", 200)]
    c = env.kube().get(k.DEPLOYMENTS, "scorer", NS)["spec"]["template"]["spec"]["containers"][0]
    got = env_of(c)
    assert got["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "minio-credentials", "key": "access-key"}}
    assert got["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "minio-credentials", "key": "secret-key"}}
    assert got["MLFLOW_S3_ENDPOINT_URL"] == ENDPOINT  # merged by name: the rest is kept
    assert not env.findings("mlflow-client-no-s3-credentials", ref)
    assert_no_secret(env.audit.read_text())


# -- Redis ----------------------------------------------------------------------------------------------
def test_redis_limit_and_maxmemory(env, capsys):
    ref = "StatefulSet mlops/feast-redis-master"
    kube = env.kube()
    old = copy.deepcopy(kube.get(k.STATEFULSETS, "feast-redis-master", NS)["spec"]["template"]["spec"]["containers"])
    assert env.findings("redis-no-maxmemory", ref) and env.findings("redis-no-memory-limit", ref)
    try:
        mark = env.mark()
        code, out, err = cli(env, capsys, "redis-no-maxmemory", "--yes")
        assert code == 0, (out, err)
        assert "noeviction" in out and "allkeys-lru" in out  # the note says why not allkeys-lru
        sent = env.writes(mark)
        assert [(e["method"], e["path"]) for e in sent] == [
            ("PATCH", f"/apis/apps/v1/namespaces/{NS}/statefulsets/feast-redis-master")]
        c = kube.get(k.STATEFULSETS, "feast-redis-master", NS)["spec"]["template"]["spec"]["containers"][0]
        assert c["resources"]["limits"]["memory"] == "2Gi"
        assert c["args"] == ["redis-server", "--appendonly", "yes", "--maxmemory", "1638mb",
                             "--maxmemory-policy", "noeviction"]
        assert not env.findings("redis-no-maxmemory", ref)
        assert not env.findings("redis-no-memory-limit", ref)
    finally:
        kube.merge_patch(k.STATEFULSETS, "feast-redis-master", {"spec": {"template": {"spec": {"containers": old}}}},
                         NS)


# -- InferenceServices ------------------------------------------------------------------------------------
def _repair_isvc(env, capsys, rule, name):
    mark = env.mark()
    code, out, err = cli(env, capsys, rule, "--object", f"InferenceService/{NS}/{name}", "--yes")
    assert code == 0, (out, err)
    sent = env.writes(mark)
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [
        ("PATCH", f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{name}", 200)]
    return env.kube().get(k.INFERENCESERVICES, name, NS)


def test_isvc_min_replicas_zero(env, capsys, created):
    ref = created(k.INFERENCESERVICES, isvc("llm-ranker", {"minReplicas": 0, "model": {
        "modelFormat": {"name": "pytorch"}, "storageUri": "s3://models/llm",
        "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "24Gi"}}}}))
    assert env.findings("isvc-min-replicas-zero", ref)
    obj = _repair_isvc(env, capsys, "isvc-min-replicas-zero", "llm-ranker")
    assert obj["spec"]["predictor"]["minReplicas"] == 1
    assert not env.findings("isvc-min-replicas-zero", ref)


def test_isvc_ineffective_minscale(env, capsys, created):
    ref = created(k.INFERENCESERVICES, isvc("fraud-copy", {"model": {
        "modelFormat": {"name": "xgboost"}, "storageUri": "s3://models/fraud-detection/v1"}},
        annotations={"serving.knative.dev/minScale": "1", "team": "risk"}))
    assert env.findings("isvc-ineffective-minscale", ref)
    obj = _repair_isvc(env, capsys, "isvc-ineffective-minscale", "fraud-copy")
    assert obj["metadata"]["annotations"] == {"team": "risk"}
    assert obj["spec"]["predictor"]["minReplicas"] == 1
    assert not env.findings("isvc-ineffective-minscale", ref)


def test_isvc_canary_on_raw_deployment(env, capsys, created):
    ref = created(k.INFERENCESERVICES, isvc("churn-copy", {"canaryTrafficPercent": 10, "model": {
        "modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/churn-model/v1"}},
        annotations={"serving.kserve.io/deploymentMode": "RawDeployment"}))
    assert env.findings("isvc-canary-raw-deployment", ref)
    obj = _repair_isvc(env, capsys, "isvc-canary-raw-deployment", "churn-copy")
    assert "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert not env.findings("isvc-canary-raw-deployment", ref)


# -- MLflow server ----------------------------------------------------------------------------------------
def test_mlflow_allowed_hosts_keeps_existing_value(env, capsys, created):
    ref = created(k.DEPLOYMENTS, deployment("mlflow-next", [{
        "name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.5.1",
        "command": ["mlflow", "server", "--backend-store-uri", "postgresql://u@mlflow-db-postgresql:5432/m",
                    "--default-artifact-root", "s3://mlflow-artifacts/"],
        "env": [{"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": "mlflow.example.com"}]}]))
    created(k.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mlflow-next", "namespace": NS},
                         "spec": {"selector": {"app": "mlflow-next"}, "ports": [{"port": 5000}]}})
    assert env.findings("mlflow-allowed-hosts", ref)
    mark = env.mark()
    code, out, err = cli(env, capsys, "mlflow-allowed-hosts", "--object", "Deployment/mlops/mlflow-next", "--yes")
    assert code == 0, (out, err)
    assert len(env.writes(mark, "PATCH")) == 1 and len(env.writes(mark)) == 1
    c = env.kube().get(k.DEPLOYMENTS, "mlflow-next", NS)["spec"]["template"]["spec"]["containers"][0]
    hosts = env_of(c)["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert hosts[0] == "mlflow.example.com"
    for h in ("mlflow-next", "mlflow-next.mlops", "mlflow-next.mlops.svc", "mlflow-next.mlops.svc.cluster.local",
              "mlflow-next:5000", "mlflow-next.mlops.svc.cluster.local:5000"):
        assert h in hosts
    assert c["command"][:2] == ["mlflow", "server"]
    assert not env.findings("mlflow-allowed-hosts", ref)


# -- workloads --------------------------------------------------------------------------------------------
def test_crashloop_rollout_restart(env, capsys, created):
    ref = created(k.DEPLOYMENTS, deployment("flaky-api", [{"name": "api", "image": "python:3.11"}],
                                            annotations={FAULT: "crashloop"}))
    wait_for(lambda: env.findings("workload-crashloop", ref), 20, "crash loop finding")
    kube = env.kube()
    rs_before = {r["metadata"]["name"] for r in kube.list(k.REPLICASETS, NS) if r["metadata"]["name"].startswith(
        "flaky-api-")}
    mark = env.mark()
    code, out, err = cli(env, capsys, "workload-crashloop", "--object", "Deployment/mlops/flaky-api", "--yes")
    assert code == 0, (out, err)
    sent = env.writes(mark)
    assert [(e["method"], e["path"]) for e in sent] == [("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/flaky-api")]
    d = kube.get(k.DEPLOYMENTS, "flaky-api", NS)
    stamp = d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert stamp.endswith("Z") and stamp[:2] == "20"
    # the controller rolled a new ReplicaSet for the new template (the injected fault itself stays: a restart
    # does not fix a persistent crash, and the plan says so)
    wait_for(lambda: {r["metadata"]["name"] for r in kube.list(k.REPLICASETS, NS)
                      if r["metadata"]["name"].startswith("flaky-api-")} - rs_before, 20, "a new ReplicaSet")
    assert "transient" in out


def test_oomkilled_doubles_the_limit(env, capsys, created):
    ref = created(k.DEPLOYMENTS, deployment("embedder", [{"name": "embed", "image": "python:3.11",
                                                          "resources": {"limits": {"memory": "512Mi"},
                                                                        "requests": {"memory": "256Mi"}}}],
                                            annotations={FAULT: "oomkilled"}))
    wait_for(lambda: env.findings("workload-oomkilled", ref), 20, "OOMKilled finding")
    mark = env.mark()
    code, out, err = cli(env, capsys, "workload-oomkilled", "--object", "Deployment/mlops/embedder", "--yes")
    assert code == 0, (out, err)
    assert "512Mi -> 1Gi" in out and "risk:    medium" in out
    assert len(env.writes(mark)) == 1
    c = env.kube().get(k.DEPLOYMENTS, "embedder", NS)["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"memory": "1Gi"}, "requests": {"memory": "256Mi"}}


def test_failed_job_of_a_cronjob_is_rerun(env, capsys, created):
    cj_ref = created(k.CRONJOBS, cronjob("backfill", [{"name": "b", "image": "python:3.11",
                                                        "command": ["python", "-c", "pass"]}]))
    kube = env.kube()
    cj = kube.get(k.CRONJOBS, "backfill", NS)
    created(k.JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": "backfill-28999", "namespace": NS, "annotations": {FAULT: "fail"},
                                  "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "backfill",
                                                       "uid": cj["metadata"]["uid"], "controller": True}]},
                     "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                         {"name": "b", "image": "python:3.11", "command": ["python", "-c", "pass"]}]}}}})
    wait_for(lambda: env.findings("job-failed", cj_ref), 30, "failed Job finding")
    time.sleep(1.1)  # creationTimestamp has whole seconds: the re-run must be the newer Job
    mark = env.mark()
    code, out, err = cli(env, capsys, "job-failed", "--object", "CronJob/mlops/backfill", "--yes", "--json")
    assert code == 0, (out, err)
    sent = env.writes(mark)
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [
        ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", 201)]
    name = json.loads(out)["result"]["data"]["name"]
    assert name.startswith("backfill-manual-")
    job = kube.get(k.JOBS, name, NS)
    assert job["metadata"]["ownerReferences"][0]["name"] == "backfill"
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    try:
        assert not env.findings("job-failed", cj_ref)
    finally:
        kube.delete(k.JOBS, name, NS)


# -- safety -----------------------------------------------------------------------------------------------
def test_credentials_inline_move_into_a_secret(env, capsys, created):
    """Inline credentials: one POST (the Secret, values copied from the spec) then one PATCH (env by reference);
    nothing shows or audits a value; the finding is gone; a second attempt is refused (the Secret exists)."""
    import base64

    inline = "inline-S3-key-7f3e9a"
    ref = created(k.DEPLOYMENTS, deployment("feature-api", [{
        "name": "api", "image": "python:3.11",
        "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": inline}, {"name": "LOG_LEVEL", "value": "info"}]}]))
    assert env.findings("credentials-inline", ref)
    args = ("credentials-inline", "--object", "Deployment/mlops/feature-api")
    mark = env.mark()
    code, out, _ = cli(env, capsys, *args, "--dry-run")
    assert code == 0 and "feature-api-credentials" in out and inline not in out
    assert env.writes(mark) == []
    try:
        code, out, err = cli(env, capsys, *args, "--yes")
        assert code == 0, (out, err)
        assert inline not in out + err and inline not in env.audit.read_text()
        writes = [(e["method"], e["path"].split(f"/namespaces/{NS}/")[1].split("/")[0]) for e in env.writes(mark)]
        assert writes == [("POST", "secrets"), ("PATCH", "deployments")]
        kube = env.kube()
        sec = kube.get(k.SECRETS, "feature-api-credentials", NS)
        assert base64.b64decode(sec["data"]["AWS_SECRET_ACCESS_KEY"]).decode() == inline
        c = kube.get(k.DEPLOYMENTS, "feature-api", NS)["spec"]["template"]["spec"]["containers"][0]
        got = {e["name"]: e for e in c["env"]}
        assert "value" not in got["AWS_SECRET_ACCESS_KEY"]
        assert got["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "feature-api-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
        assert got["LOG_LEVEL"]["value"] == "info"
        assert env.findings("credentials-inline", ref) == []
        # again on another inline value: the Secret exists, so nothing is changed
        kube.merge_patch(k.DEPLOYMENTS, "feature-api", {"spec": {"template": {"spec": {"containers": [{
            "name": "api", "image": "python:3.11", "env": [{"name": "API_TOKEN", "value": "t-1"}]}]}}}}, NS)
        mark = env.mark()
        code, _, err = cli(env, capsys, *args, "--yes")
        assert code != 0 and "already exists" in err
        assert [e["method"] for e in env.writes(mark)] == ["POST"]  # the refused create, no PATCH
    finally:
        env.kube().delete(k.SECRETS, "feature-api-credentials", NS)


def test_concurrent_edit_is_a_conflict_and_changes_nothing(env, created, ctx):
    from mlopstui.actions.repair import Repair

    ref = created(k.DEPLOYMENTS, deployment("ranker", [{
        "name": "rank", "image": "python:3.11",
        "env": S3_CLIENT_ENV}]))
    action = Repair(ctx, "mlflow-client-no-s3-endpoint", obj_ref=ref)
    plan = action.plan()
    rv = plan.patch["metadata"]["resourceVersion"]
    kube = env.kube()
    kube.merge_patch(k.DEPLOYMENTS, "ranker", {"metadata": {"labels": {"edited-by": "someone-else"}}}, NS)
    mark = env.mark()
    with pytest.raises(MlopsError) as ei:
        action.apply(plan, readonly=False, audit=ctx.audit)
    assert ei.value.kind is Kind.CONFLICT and rv in ei.value.message
    assert [e["status"] for e in env.writes(mark)] == [409]
    c = kube.get(k.DEPLOYMENTS, "ranker", NS)["spec"]["template"]["spec"]["containers"][0]
    assert "MLFLOW_S3_ENDPOINT_URL" not in env_of(c)
    # planned again from what is there now, it applies
    again = Repair(ctx, "mlflow-client-no-s3-endpoint", obj_ref=ref)
    assert again.apply(again.plan(), readonly=False, audit=ctx.audit).ok


def test_readonly_action_refuses_before_any_request(env):
    from mlopstui.actions.repair import Repair

    with env.context(readonly=True) as ctx:
        action = Repair(ctx, "isvc-ineffective-minscale", obj_ref="InferenceService/mlops/fraud-detection")
        plan = action.plan()
        mark = env.mark()
        with pytest.raises(MlopsError) as ei:
            action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
    assert ei.value.kind is Kind.REFUSED
    assert env.srv.request_log[mark:] == []


def test_viewer_gets_the_403_message(env, capsys):
    mark = env.mark()
    code, _, err = cli(env, capsys, "isvc-ineffective-minscale", "--object", "InferenceService/mlops/fraud-detection",
                       "--yes", context="mlopstui-sandbox-viewer")
    assert code == 1 and "forbidden" in err.lower() and "RBAC" in err
    assert [(e["method"], e["status"], e["user"]) for e in env.writes(mark)] == [("PATCH", 403, "viewer")]
    obj = env.kube().get(k.INFERENCESERVICES, "fraud-detection", NS)
    assert "serving.knative.dev/minScale" in obj["metadata"]["annotations"]


def test_all_dry_run_shows_every_plan_and_sends_nothing(env, capsys):
    mark = env.mark()
    code, out, err = cli(env, capsys, "--all", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    planned = {r["finding"].split("|")[0] for r in doc["repairs"] if "plan" in r}
    assert {"redis-no-maxmemory", "isvc-ineffective-minscale"} <= planned
    assert not doc["applied"] and env.writes(mark) == []
    assert_no_secret(out)


def test_fix_answered_late_is_reported_applied(env, capsys, created, tmp_path):
    """The patch reaches the API server, its answer comes after the client's timeout: the repair re-reads the
    patched field, finds the planned value and reports (and audits) "applied"."""
    from support.fault_servers import FaultServer, kubeconfig_for

    created(k.CRONJOBS, cronjob("late-eval", [{
        "name": "eval", "image": "python:3.11",
        "env": S3_CLIENT_ENV}]))
    proxy = FaultServer("late-write", upstream=env.srv.url, hold=12.0)
    try:
        cfg = yaml.safe_load(env.config.read_text())
        cfg.update(kubeconfig=kubeconfig_for(proxy.url, tmp_path / "kubeconfig", token=env.srv.token("admin"),
                                             namespace=NS), context="fault", kube_timeout=4.0,
                   audit_log=str(tmp_path / "audit.jsonl"))
        (tmp_path / "late.yaml").write_text(yaml.safe_dump(cfg))
        mark = env.mark()
        code = main(["repair", "mlflow-client-no-s3-endpoint", "--object", "CronJob/mlops/late-eval", "--yes",
                     "--config", str(tmp_path / "late.yaml")])
        out = capsys.readouterr()
    finally:
        proxy.stop()
    assert code == 0, (out.out, out.err)
    assert "applied" in out.out and "timed out" in out.out and "re-read" in out.out, out.out
    assert len(env.writes(mark, "PATCH")) == 1  # sent once, not again
    live = env.kube().get(k.CRONJOBS, "late-eval", NS)
    container = live["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["MLFLOW_S3_ENDPOINT_URL"] == ENDPOINT
    entry = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "applied" and entry["ok"] is True

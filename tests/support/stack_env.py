"""The Stack area's integration environment (fixtures and helpers, imported by the stack, repair, UI tests).

A Kubernetes API emulator (with its controllers) seeded with the platform manifests of the sandbox
(manifests/platform.yaml plus the fraud-detection InferenceService as the seed document has it), and
real local services behind the endpoints: PostgreSQL (127.0.0.1:5432), a private redis-server, moto S3,
an MLflow tracking server, and a TCP endpoint that accepts connections and never answers.
Every child process runs in its own process group and is killed (the group) at the end.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from mlopstui.sandbox.procs import free_port  # noqa: F401 - re-exported for the stack tests
from support.fault_servers import HungServer

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "src" / "mlopstui" / "sandbox" / "manifests" / "platform.yaml"

# the seeded secrets: none of these may ever appear in output
ACCESS_KEY = "AKIASTACKTEST7Q2W"
SECRET_KEY = "stackSecretKey-9f8e7d6c5b4a"
PG_PASSWORD = "pgStackPw-51cret"
SECRETS = (SECRET_KEY, PG_PASSWORD, "supersecret")


def wait_for(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"waited {timeout}s for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


class Proc:
    """A child in its own process group; stop() kills the whole group."""

    def __init__(self, argv, log: Path, env=None, cwd=None):
        self.argv, self.log, self.env, self.cwd = argv, log, env, cwd
        self.p: subprocess.Popen | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as f:
            self.p = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                      start_new_session=True)
        return self

    def stop(self, grace: float = 8.0) -> None:
        if self.p is None or self.p.poll() is not None:
            return
        pgid = self.p.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.p.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


@dataclass
class StackEnv:
    dir: Path
    kube_server: object
    kubeconfig: Path
    config_path: Path
    env: dict[str, str]
    ports: dict[str, int]
    procs: dict[str, Proc] = field(default_factory=dict)
    hung: HungServer | None = None

    def settings(self, *, lakefs: bool = True, **overrides):
        """The env's settings. lakefs=False leaves LakeFS unconfigured: its endpoint here hangs, so a sweep
        with it waits out the probe timeout (1.5 s of every sweep) for a finding only its own tests look at."""
        from mlopstui import config

        s = config.load(self.config_path)
        if not lakefs:
            s.endpoints.lakefs = None
        for k, v in overrides.items():
            setattr(s, k, v)
        return s

    def context(self, *, lakefs: bool = True, **overrides):
        from mlopstui.context import AppContext

        return AppContext.create(self.settings(lakefs=lakefs, **overrides))

    def kube(self):
        from mlopstui.backends.kube import KubeClient

        return KubeClient.from_settings(str(self.kubeconfig), "mlopstui-sandbox", "mlops")

    def wait_mlflow(self, timeout: float = 240) -> None:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.ports['mlflow']}/health"), timeout, "MLflow server")

    def start_mlflow(self) -> None:
        port = self.ports["mlflow"]
        allowed = ",".join([f"127.0.0.1:{port}", "127.0.0.1", "localhost", f"localhost:{port}"])
        self.procs["mlflow"] = Proc(
            [str(Path(sys.executable).with_name("mlflow")), "server", "--workers", "1", "--host", "127.0.0.1",
             "--port", str(port), "--backend-store-uri", f"sqlite:///{self.dir / 'mlflow.db'}",
             "--default-artifact-root", "s3://mlflow-artifacts/", "--no-serve-artifacts",
             "--allowed-hosts", allowed],
            self.dir / "mlflow.log", env={**os.environ, **self.env}, cwd=str(self.dir)).start()

    def stop_mlflow(self) -> None:
        self.procs["mlflow"].stop()


KIND_RES = None


def res_for(obj):
    from mlopstui.backends import kube as k

    table = {"Namespace": k.NAMESPACES, "Secret": k.SECRETS, "Service": k.SERVICES, "Deployment": k.DEPLOYMENTS,
             "StatefulSet": k.STATEFULSETS, "CronJob": k.CRONJOBS, "Job": k.JOBS, "ConfigMap": k.CONFIGMAPS,
             "InferenceService": k.INFERENCESERVICES, "Pod": k.PODS,
             "CustomResourceDefinition": k.Res("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                               "CustomResourceDefinition", namespaced=False)}
    return table[obj["kind"]]


def fraud_isvc():
    """The seed document's InferenceService, with its gotcha-3 annotation."""
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud-detection", "namespace": "mlops",
                         "annotations": {"serving.knative.dev/minScale": "1"}},
            "spec": {"predictor": {"canaryTrafficPercent": 20, "model": {
                "modelFormat": {"name": "xgboost"}, "storageUri": "s3://models/fraud-detection/v2"}}}}


def seed_objects(ingress_url: str = "http://127.0.0.1:1") -> list[dict]:
    import base64

    text = string.Template(MANIFESTS.read_text()).safe_substitute(
        ACCESS_KEY=ACCESS_KEY, SECRET_KEY=SECRET_KEY, INGRESS_URL=ingress_url,
        ACCESS_KEY_B64=base64.b64encode(ACCESS_KEY.encode()).decode(),
        SECRET_KEY_B64=base64.b64encode(SECRET_KEY.encode()).decode())
    objs = [o for o in yaml.safe_load_all(text) if o]
    if not any(o["kind"] == "InferenceService" and o["metadata"]["name"] == "fraud-detection" for o in objs):
        objs.append(fraud_isvc())
    return objs


def apply_objects(kube, objs) -> None:
    from mlopstui.errors import Kind, MlopsError

    for o in objs:
        res = res_for(o)
        try:
            kube.create(res, o, namespace=o["metadata"].get("namespace"))
        except MlopsError as err:
            if err.kind is Kind.CONFLICT:
                continue
            if o["kind"] == "CustomResourceDefinition":
                continue
            raise


def wait_ready(kube, timeout: float = 30.0) -> None:
    from mlopstui.backends.kube import DEPLOYMENTS, STATEFULSETS

    def ready():
        ws = kube.list(DEPLOYMENTS, all_namespaces=True) + kube.list(STATEFULSETS, all_namespaces=True)
        return ws and all((w.get("status") or {}).get("readyReplicas", 0) >= (w["spec"].get("replicas") or 1)
                          for w in ws)

    wait_for(ready, timeout, "seeded workloads to become ready")


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    d = tmp_path_factory.mktemp("stackenv")
    ports = {"mlflow": free_port(), "redis": free_port(), "s3": free_port()}
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}"}
    server = KubeApiServer(str(d / "kube"), port=0).start()
    se = StackEnv(d, server, Path(server.kubeconfig_path), d / "mlopstui.yaml", env, ports)
    try:
        se.procs["redis"] = Proc(["redis-server", "--port", str(ports["redis"]), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"], d / "redis.log").start()
        se.procs["s3"] = Proc([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
                               "-p", str(ports["s3"])], d / "s3.log", env={**os.environ, **env}).start()
        se.start_mlflow()
        se.hung = HungServer()
        cfg = {"kubeconfig": str(se.kubeconfig), "context": "mlopstui-sandbox", "namespace": "mlops",
               "refresh_interval": 2.0, "probe_timeout": 1.5, "kube_timeout": 5.0,
               "endpoints": {"mlflow": f"http://127.0.0.1:{ports['mlflow']}",
                             "s3": f"http://127.0.0.1:{ports['s3']}",
                             "redis": f"redis://127.0.0.1:{ports['redis']}/0",
                             "postgresql": f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:5432/postgres",
                             "lakefs": f"http://127.0.0.1:{se.hung.port}",
                             # as the sandbox's config: the registry is a file (nothing serves feast-postgres here)
                             "feast_registry": str(d / "registry.db")},
               "audit_log": str(d / "audit.jsonl"), "app_log": str(d / "app.log")}
        se.config_path.write_text(yaml.safe_dump(cfg))
        kube = se.kube()
        apply_objects(kube, seed_objects())
        wait_ready(kube)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{ports['s3']}/"), 30, "moto S3")
        import boto3

        boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, region_name="us-east-1").create_bucket(Bucket="mlflow-artifacts")
        yield se
    finally:
        # in parallel: each may use its whole grace period (this was 30 s of the suite, one after another)
        import threading

        stoppers = [threading.Thread(target=p.stop, kwargs={"grace": 3.0}) for p in se.procs.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        if se.hung:
            se.hung.close()
        server.stop()


@pytest.fixture
def aws_env(stack_env, monkeypatch):
    """The probes read S3 credentials from the environment, as the CLI does."""
    for k, v in stack_env.env.items():
        monkeypatch.setenv(k, v)
    return stack_env

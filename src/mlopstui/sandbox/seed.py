"""First-time seeding of a sandbox: Kubernetes objects, S3 models, MLflow runs.

Everything goes through the same wire APIs a user's tools would use:
- Kubernetes: the kubernetes Python client against the emulator (as kubectl
  would), never the emulator's files. Manifests: ``manifests/platform.yaml``;
  the ``fraud-detection`` InferenceService is created at v1, rolled out, then
  patched to v2 with ``canaryTrafficPercent: 20`` (an 80/20 split).
- S3: boto3 (SigV4) uploads of the trained models to ``s3://models/fraud-detection/v{1,2}/``.
- MLflow: ``MlflowClient`` against the running tracking server, artifacts going
  straight to S3 through ``MLFLOW_S3_ENDPOINT_URL`` (run as
  ``python -m mlopstui.sandbox.seed mlflow MODELS_DIR`` with the sandbox env).
"""

from __future__ import annotations

import base64
import json
import string
import sys
import time
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).with_name("manifests")
NAMESPACE = "mlops"
ISVC_GROUP, ISVC_VERSION, ISVC_PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"

# kind -> (plural, namespaced)
KINDS = {
    "Namespace": ("namespaces", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "Secret": ("secrets", True),
    "ConfigMap": ("configmaps", True),
    "Service": ("services", True),
    "ServiceAccount": ("serviceaccounts", True),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "InferenceService": ("inferenceservices", True),
    "Workflow": ("workflows", True),
    "WorkflowTemplate": ("workflowtemplates", True),
    "CronWorkflow": ("cronworkflows", True),
}
ARGO_MANIFESTS = ("argo-crds.yaml", "argo.yaml")


def fraud_isvc(storage_uri: str, canary: int | None = None) -> dict:
    predictor: dict = {
        "minReplicas": 1,
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": storage_uri},
    }
    if canary is not None:
        predictor["canaryTrafficPercent"] = canary
    return {
        "apiVersion": f"{ISVC_GROUP}/{ISVC_VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": "fraud-detection",
            "namespace": NAMESPACE,
            # FAULT (seed's advice): not a Knative key; KServe regenerates min-scale from minReplicas
            "annotations": {"serving.knative.dev/minScale": "1"},
            "labels": {"app": "fraud-detection"},
        },
        "spec": {"predictor": predictor},
    }


def render_manifests(values: dict[str, str]) -> list[dict]:
    text = string.Template((MANIFESTS / "platform.yaml").read_text()).substitute(values)
    return [d for d in yaml.safe_load_all(text) if d]


def _path_for(obj: dict) -> str:
    kind = obj["kind"]
    plural, namespaced = KINDS[kind]
    api_version = obj["apiVersion"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced:
        return f"{base}/namespaces/{obj['metadata'].get('namespace', 'default')}/{plural}"
    return f"{base}/{plural}"


class Kube:
    """Tiny generic create/get/patch over kubernetes.client.ApiClient."""

    def __init__(self, kubeconfig: Path, context: str) -> None:
        from kubernetes import client, config

        self.api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
        self.client = client

    def call(self, method: str, path: str, body=None, content_type: str = "application/json"):
        from kubernetes.client.exceptions import ApiException

        m, url, headers, data, post = self.api.param_serialize(
            method=method, resource_path=path, body=body, auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
        )
        resp = self.api.call_api(m, url, header_params=headers, body=data, post_params=post,
                                 _request_timeout=15)
        resp.read()
        if not 200 <= resp.status < 300:
            raise ApiException(http_resp=resp)
        return json.loads(resp.data or b"{}")

    def create(self, obj: dict, log=print) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.call("POST", _path_for(obj), obj)
        except ApiException as e:
            if e.status == 409:
                return
            if obj["kind"] == "CustomResourceDefinition" and e.status in (404, 405, 422):
                log(f"  note: emulator refused the CRD ({e.status}); it serves {obj['metadata']['name']} built in")
                return
            raise

    def get(self, path: str) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.call("GET", path)
        except ApiException as e:
            if e.status == 404:
                return None
            raise


def _isvc_path(name: str) -> str:
    return f"/apis/{ISVC_GROUP}/{ISVC_VERSION}/namespaces/{NAMESPACE}/{ISVC_PLURAL}/{name}"


def _predictor_status(isvc: dict | None) -> dict:
    return (((isvc or {}).get("status") or {}).get("components") or {}).get("predictor") or {}


def _wait(pred, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def argo_manifests(workflows: bool) -> list[dict]:
    """Argo's CRDs and objects (argo-crds.yaml, argo.yaml): without Workflows, or only the Workflows."""
    docs = [d for f in ARGO_MANIFESTS for d in yaml.safe_load_all((MANIFESTS / f).read_text()) if d]
    return [d for d in docs if (d["kind"] == "Workflow") == workflows]


def start_pipelines(kubeconfig: Path, context: str, log=print) -> int:
    """Argo's CRDs and objects, then the Workflows (the emulator's controller runs them). Idempotent."""
    kube = Kube(kubeconfig, context)
    for obj in argo_manifests(workflows=False):
        kube.create(obj, log)
    docs = argo_manifests(workflows=True)
    for obj in docs:
        kube.create(obj, log)
    return len(docs)


def seed_kube(kubeconfig: Path, context: str, values: dict[str, str], log=print) -> None:
    kube = Kube(kubeconfig, context)
    for obj in render_manifests(values):
        kube.create(obj, log)
    path = _isvc_path("fraud-detection")
    if kube.get(path) is None:
        kube.create(fraud_isvc("s3://models/fraud-detection/v1"), log)
    # revision 1 rolled out, then the canary: v2 at 20 %
    _wait(lambda: _predictor_status(kube.get(path)).get("latestReadyRevision"),
          "fraud-detection revision 1 to be ready")
    isvc = kube.get(path)
    if (isvc["spec"]["predictor"].get("model") or {}).get("storageUri", "").endswith("/v1"):
        patch = {"spec": {"predictor": {"canaryTrafficPercent": 20,
                                        "model": {"storageUri": "s3://models/fraud-detection/v2"}}}}
        kube.call("PATCH", path, patch, content_type="application/merge-patch+json")

    def split():
        t = _predictor_status(kube.get(path)).get("traffic") or []
        return len([x for x in t if (x.get("percent") or 0) > 0]) >= 2 and t

    traffic = _wait(split, "fraud-detection canary traffic split")
    log("  fraud-detection traffic: " + ", ".join(f"{t['revisionName']}={t.get('percent')}%" for t in traffic))


def upload_models(s3_endpoint: str, access_key: str, secret_key: str, models_dir: Path) -> int:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=access_key,
                      aws_secret_access_key=secret_key, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    n = 0
    for f in sorted(models_dir.rglob("*")):
        if f.is_file():
            s3.upload_file(str(f), "models", f.relative_to(models_dir).as_posix())
            n += 1
    return n


def secret_values(access_key: str, secret_key: str, ingress_url: str) -> dict[str, str]:
    return {
        "ACCESS_KEY": access_key,
        "SECRET_KEY": secret_key,
        "ACCESS_KEY_B64": base64.b64encode(access_key.encode()).decode(),
        "SECRET_KEY_B64": base64.b64encode(secret_key.encode()).decode(),
        "INGRESS_URL": ingress_url,
    }


# ---------------------------------------------------------------- MLflow seed

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.joblib
    env: {{}}
  sklearn:
    pickled_model: model.joblib
    serialization_format: joblib
    sklearn_version: {sk}
model_uuid: {uuid}
"""


def seed_mlflow(models_dir: Path) -> None:
    """Runs in a child process with MLFLOW_TRACKING_URI / MLFLOW_S3_ENDPOINT_URL / AWS_* set."""
    import csv
    import math
    import random
    import tempfile
    import uuid

    import sklearn
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    c = MlflowClient()
    rnd = random.Random(42)

    def exp_id(name: str, tags: dict | None = None) -> str:
        e = c.get_experiment_by_name(name)
        return e.experiment_id if e else c.create_experiment(name, tags=tags or {})

    fraud = exp_id("fraud-detection", {"team": "fraud", "mlflow.note.content": "Card fraud classifier"})
    churn = exp_id("churn", {"team": "growth"})
    lab = exp_id("lab", {"source": "seed hands-on lab"})
    now_ms = int(time.time() * 1000)
    runs_for_version: dict[str, str] = {}

    def log_run(exp: str, name: str, params: dict, final: dict, steps: int, tags: dict,
                start_ms: int, model_version: str | None = None, failed: bool = False) -> str:
        run = c.create_run(exp, start_time=start_ms, tags={"mlflow.runName": name, **tags})
        rid = run.info.run_id
        metrics = []
        for step in range(steps):
            frac = (step + 1) / steps
            ts = start_ms + step * 2000
            for key, target in final.items():
                if key == "loss":
                    v = target + (1.5 - target) * math.exp(-4 * frac) + rnd.uniform(0, 0.01)
                else:
                    v = target - (target - 0.5) * math.exp(-4 * frac) - rnd.uniform(0, 0.005)
                metrics.append(Metric(key, round(v, 5), ts, step))
        c.log_batch(rid, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()],
                    tags=[RunTag("model_type", tags.get("model_type", "gbt"))])
        with tempfile.TemporaryDirectory() as td:
            t = Path(td)
            (t / "metrics.json").write_text(json.dumps(final, indent=2))
            with open(t / "confusion.csv", "w", newline="") as f:
                w = csv.writer(f)
                tp = rnd.randint(60, 90)
                w.writerows([["", "pred_legit", "pred_fraud"], ["legit", rnd.randint(880, 920), rnd.randint(5, 20)],
                             ["fraud", rnd.randint(5, 30), tp]])
            (t / "notes.txt").write_text(f"{name}: seeded by the mlopstui sandbox\n")
            for fn in ("metrics.json", "confusion.csv", "notes.txt"):
                c.log_artifact(rid, str(t / fn))
            mdir = t / "model"
            mdir.mkdir()
            src = models_dir / "fraud-detection" / (model_version or "v1")
            if model_version and (src / "model.joblib").exists():
                (mdir / "model.joblib").write_bytes((src / "model.joblib").read_bytes())
                (mdir / "model.json").write_text((src / "model.json").read_text())
            else:
                (mdir / "model.joblib").write_bytes(b"placeholder: not a registered model\n")
            (mdir / "MLmodel").write_text(MLMODEL.format(sk=sklearn.__version__, uuid=uuid.uuid4().hex))
            c.log_artifacts(rid, str(mdir), artifact_path="model")
        c.set_terminated(rid, status="FAILED" if failed else "FINISHED", end_time=start_ms + steps * 2000 + 500)
        return rid

    # fraud-detection: 20 runs
    for i in range(20):
        lr = rnd.choice([0.3, 0.1, 0.05, 0.03, 0.01])
        depth = rnd.choice([3, 4, 6, 8])
        n_est = rnd.choice([50, 100, 200, 400])
        acc = round(0.90 + rnd.uniform(0, 0.07), 4)
        auc = round(min(0.995, acc + rnd.uniform(-0.02, 0.03)), 4)
        loss = round(0.05 + (1 - acc) * 1.5, 4)
        version = "v1" if i == 7 else "v2" if i == 15 else None
        rid = log_run(fraud, f"fraud-gbt-{i:02d}", {"learning_rate": lr, "max_depth": depth, "n_estimators": n_est},
                      {"accuracy": acc, "loss": loss, "auc": auc}, 30,
                      {"model_type": "logreg" if version == "v1" else "gbt", "dataset": "transactions-2026-11",
                       "mlflow.user": rnd.choice(["alice", "bob", "chen"])},
                      now_ms - (20 - i) * 3_600_000, model_version=version, failed=(i == 11))
        if version:
            runs_for_version[version] = rid
    # churn: a few runs
    for i in range(4):
        log_run(churn, f"churn-rf-{i}", {"learning_rate": 0.1, "max_depth": 4 + i, "n_estimators": 100},
                {"accuracy": 0.8 + i * 0.02, "loss": 0.4 - i * 0.03, "auc": 0.82 + i * 0.02}, 30,
                {"model_type": "random_forest"}, now_ms - (6 - i) * 3_600_000)
    # the seed's hands-on lab run
    run = c.create_run(lab, tags={"mlflow.runName": "lab-test-run"})
    c.log_param(run.info.run_id, "learning_rate", 0.01)
    c.log_metric(run.info.run_id, "accuracy", 0.95)
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / "model.txt"
        p.write_text("dummy model weights")
        c.log_artifact(run.info.run_id, str(p))
    c.set_terminated(run.info.run_id)

    # registered model: v1 (champion, the stable LogisticRegression) and v2 (challenger, the canary)
    name = "fraud-detection"
    try:
        c.create_registered_model(name, tags={"team": "fraud"}, description="Card fraud classifier served by KServe")
    except Exception as exc:  # already exists on a re-run
        if "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    for version, alias in (("v1", "champion"), ("v2", "challenger")):
        rid = runs_for_version[version]
        art = c.get_run(rid).info.artifact_uri
        mv = c.create_model_version(name, f"{art}/model", run_id=rid,
                                    tags={"storage_uri": f"s3://models/fraud-detection/{version}",
                                          "algorithm": "LogisticRegression" if version == "v1" else "GradientBoostingClassifier"},
                                    description=f"fraud-detection {version}")
        c.set_registered_model_alias(name, alias, mv.version)
    print("mlflow seed done", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "mlflow":
        seed_mlflow(Path(sys.argv[2]))
    else:
        print("usage: python -m mlopstui.sandbox.seed mlflow MODELS_DIR", file=sys.stderr)
        sys.exit(2)

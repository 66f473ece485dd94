"""The sandbox's real services, reached over the wire exactly as a user's tools would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter

import httpx
import pytest

pytestmark = pytest.mark.integration

SAMPLE = [[250.0, 2.0, 0.7, 6.0, 40.0, 120.0], [20.0, 14.0, 0.05, 1.0, 35.0, 2.0]]

LAB_SCRIPT = textwrap.dedent("""\
    import mlflow
    import os

    mlflow.set_experiment("lab-test")
    with mlflow.start_run() as run:
        mlflow.log_param('learning_rate', 0.01)
        mlflow.log_metric('accuracy', 0.95)

        # Create a dummy artifact
        with open('model.txt', 'w') as f:
            f.write('dummy model weights')

        mlflow.log_artifact('model.txt')
        print('Run logged successfully!')
        print('RUN_ID=' + run.info.run_id)
        print('ARTIFACT_URI=' + run.info.artifact_uri)
""")


def _s3(sandbox):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=sandbox.env["MLFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id=sandbox.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=sandbox.env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1", config=Config(signature_version="s3v4"),
    )


def test_lab_script_logs_param_metric_and_artifact_into_s3(sandbox, tmp_path):
    out = subprocess.run([sys.executable, "-c", LAB_SCRIPT], cwd=tmp_path, env={**os.environ, **sandbox.env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Run logged successfully!" in out.stdout
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    run_id, art = values["RUN_ID"], values["ARTIFACT_URI"]
    assert art.startswith("s3://mlflow-artifacts/")

    from mlflow.tracking import MlflowClient

    run = MlflowClient(sandbox.env["MLFLOW_TRACKING_URI"]).get_run(run_id)
    assert run.data.params["learning_rate"] == "0.01"
    assert run.data.metrics["accuracy"] == 0.95
    key = art.removeprefix("s3://mlflow-artifacts/") + "/model.txt"
    body = _s3(sandbox).get_object(Bucket="mlflow-artifacts", Key=key)["Body"].read()
    assert body == b"dummy model weights"


def test_mlflow_is_one_process_enforcing_allowed_hosts(sandbox):
    """The sandbox serves MLflow without the CLI's second process, with the CLI's host checking."""
    import json

    from mlopstui.sandbox import procs

    info = json.loads((sandbox.dir / "state.json").read_text())["parts"]["mlflow"]
    assert procs.group_pids(info["pgid"]) == [info["pid"]]
    url = sandbox.env["MLFLOW_TRACKING_URI"]
    import mlflow

    assert httpx.get(url + "/version", timeout=10).text == mlflow.__version__
    ok = httpx.get(url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                   headers={"Host": "mlflow-server.mlops.svc.cluster.local:5000"}, timeout=10)
    assert ok.status_code == 200
    bad = httpx.get(url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                    headers={"Host": "rebind.example"}, timeout=10)
    assert bad.status_code == 403 and "Invalid Host header" in bad.text


def test_models_bucket_holds_both_versions(sandbox):
    keys = {o["Key"] for o in _s3(sandbox).list_objects_v2(Bucket="models").get("Contents", [])}
    assert {"fraud-detection/v1/model.joblib", "fraud-detection/v2/model.joblib"} <= keys


@pytest.mark.parametrize("part,version", [("model-v1", "v1"), ("model-v2", "v2")])
def test_model_server_answers_v1_and_v2_protocols(sandbox, part, version):
    base = sandbox.parts[part]
    r = httpx.post(f"{base}/v1/models/fraud-detection:predict", json={"instances": SAMPLE}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {0, 1}
    assert body["model_version"] == version
    assert r.headers["x-model-revision"] == version

    v2 = {"inputs": [{"name": "input-0", "shape": [2, 6], "datatype": "FP64",
                      "data": [x for row in SAMPLE for x in row]}]}
    r = httpx.post(f"{base}/v2/models/fraud-detection/infer", json=v2, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == version
    probs = body["outputs"][0]["data"]
    assert len(probs) == 2 and all(0.0 <= p <= 1.0 for p in probs)


def test_the_two_versions_are_different_models(sandbox):
    outs = []
    for part in ("model-v1", "model-v2"):
        r = httpx.post(f"{sandbox.parts[part]}/v1/models/fraud-detection:predict", json={"instances": SAMPLE}, timeout=10)
        outs.append(r.json()["probabilities"])
    assert outs[0] != outs[1]


def _isvc(sandbox, name):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig), context=sandbox.context)
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", sandbox.namespace, "inferenceservices", name)


def test_ingress_splits_traffic_by_the_isvc_status(sandbox):
    isvc = _isvc(sandbox, "fraud-detection")
    traffic = {t["revisionName"]: t["percent"] for t in isvc["status"]["components"]["predictor"]["traffic"]
               if t.get("percent")}
    assert sorted(traffic.values()) == [20, 80]
    ingress = sandbox.parts["ingress"]
    seen: Counter[str] = Counter()
    versions: dict[str, set[str]] = {}
    with httpx.Client(timeout=10) as c:
        for i in range(60):
            if i % 2:
                r = c.post(f"{ingress}/v1/models/fraud-detection:predict", json={"instances": SAMPLE},
                           headers={"Host": "fraud-detection.mlops.example.com"})
                ver = r.json().get("model_version") if r.status_code == 200 else None
            else:
                v2 = {"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP64", "data": SAMPLE[0]}]}
                r = c.post(f"{ingress}/v2/models/fraud-detection/infer", json=v2,
                           headers={"Host": "fraud-detection-predictor.mlops.example.com"})
                ver = r.json().get("model_version") if r.status_code == 200 else None
            assert r.status_code == 200, r.text
            rev = r.headers["x-mlopstui-revision"]
            assert rev in traffic
            seen[rev] += 1
            versions.setdefault(rev, set()).add(ver)
    assert set(seen) == set(traffic), seen  # both revisions served (P(miss) ~ 0.8**60)
    assert seen[max(traffic, key=traffic.get)] > seen[min(traffic, key=traffic.get)]
    # each revision is always served by the same model version, and the two differ
    assert all(len(v) == 1 for v in versions.values()), versions
    assert {next(iter(v)) for v in versions.values()} == {"v1", "v2"}


def test_ingress_unknown_host_and_missing_model_server(sandbox):
    ingress = sandbox.parts["ingress"]
    r = httpx.post(f"{ingress}/v1/models/x:predict", json={}, headers={"Host": "nope.mlops.example.com"}, timeout=10)
    assert r.status_code == 404
    assert "nope" in r.json()["error"]
    r = httpx.post(f"{ingress}/v1/models/churn-model:predict", json={"instances": SAMPLE},
                   headers={"Host": "churn-model.mlops.example.com"}, timeout=10)
    assert r.status_code == 503
    assert "s3://models/churn-model/v1" in r.json()["error"]


def test_feast_online_features_after_initial_materialization(sandbox):
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(sandbox.feast_repo))
    assert store.project == "on_prem_mlops"
    resp = store.get_online_features(
        features=["customer_stats:avg_amount_30d", "customer_stats:credit_limit",
                  "transaction_stats:txn_count_24h", "transaction_stats:merchant_risk"],
        entity_rows=[{"customer_id": 1001}, {"customer_id": 1050}],
    ).to_dict()
    for key in ("avg_amount_30d", "credit_limit", "txn_count_24h", "merchant_risk"):
        assert all(v is not None for v in resp[key]), (key, resp[key])
    # an unknown entity has no online row
    miss = store.get_online_features(features=["customer_stats:avg_amount_30d"],
                                     entity_rows=[{"customer_id": 999999}]).to_dict()
    assert miss["avg_amount_30d"] == [None]


def test_mlflow_seed(sandbox_env):
    from mlflow.tracking import MlflowClient

    sandbox = sandbox_env
    c = MlflowClient(sandbox.env["MLFLOW_TRACKING_URI"])
    exp = c.get_experiment_by_name("fraud-detection")
    runs = c.search_runs([exp.experiment_id], max_results=100)
    assert len(runs) >= 20
    r = runs[0]
    assert {"learning_rate", "max_depth", "n_estimators"} <= set(r.data.params)
    hist = c.get_metric_history(r.info.run_id, "loss")
    assert len(hist) == 30
    arts = {a.path for a in c.list_artifacts(r.info.run_id)}
    assert {"model", "metrics.json", "confusion.csv", "notes.txt"} <= arts
    assert c.get_model_version_by_alias("fraud-detection", "champion").version == "1"
    assert c.get_model_version_by_alias("fraud-detection", "challenger").version == "2"
    assert c.get_experiment_by_name("churn") is not None


def test_kube_seed_has_the_platform_and_its_faults(sandbox):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig), context=sandbox.context)
    apps = client.AppsV1Api(api)
    deps = {d.metadata.name: d for d in apps.list_namespaced_deployment("mlops").items}
    assert deps["mlflow-server"].spec.template.spec.containers[0].image == "bitnami/mlflow:2.11.0"
    assert "minio" in deps
    sts = {s.metadata.name: s for s in apps.list_namespaced_stateful_set("mlops").items}
    assert {"mlflow-db-postgresql", "feast-redis-master", "feast-postgres"} <= set(sts)
    redis = sts["feast-redis-master"].spec.template.spec.containers[0]
    assert not (redis.resources and redis.resources.limits)
    job = client.BatchV1Api(api).read_namespaced_job("train-fraud-model", "mlops")
    names = {e.name for e in job.spec.template.spec.containers[0].env}
    assert "MLFLOW_TRACKING_URI" in names and "MLFLOW_S3_ENDPOINT_URL" not in names
    isvc = _isvc(sandbox, "fraud-detection")
    assert isvc["metadata"]["annotations"]["serving.knative.dev/minScale"] == "1"
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 20
    churn = _isvc(sandbox, "churn-model")
    assert churn["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    for ns, name in (("kserve", "kserve-controller-manager"), ("knative-serving", "activator"),
                     ("istio-system", "istio-ingressgateway")):
        assert apps.read_namespaced_deployment(name, ns).metadata.name == name
    secret = client.CoreV1Api(api).read_namespaced_secret("minio-credentials", "mlops")
    import base64

    assert base64.b64decode(secret.data["access-key"]).decode() == sandbox.env["AWS_ACCESS_KEY_ID"]

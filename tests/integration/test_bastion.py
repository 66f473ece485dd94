"""From the bastion, with only a kubeconfig: the sandbox's kubeconfig-only mode (no endpoint URL in the
settings, no endpoint env var, cluster DNS unresolvable) and every headless verb reaching its endpoint
through the emulator's services/proxy or pods/portforward, checked in the emulator's tunnel request log.
"""

from __future__ import annotations

import json
import time

import pytest

from mlopstui import config
from mlopstui.backends import kube as k
from mlopstui.cli import main
from mlopstui.context import AppContext

ENDPOINT_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "FEAST_REPO_PATH", "REDIS_URL", "MLOPSTUI_CONFIG", "KUBERNETES_SERVICE_HOST")


@pytest.fixture
def bastion(sandbox, monkeypatch):
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    for key, value in sandbox.kubeconfig_only_env.items():
        monkeypatch.setenv(key, value)
    cfg = config.read_yaml(sandbox.kubeconfig_only_config)
    assert set(cfg["endpoints"]) == {"feast_repo"}  # a checkout of the feature repository, no URL
    return sandbox


def _tunnel_log(sandbox) -> list[dict]:
    path = sandbox.dir / "kube" / "tunnel-requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _cli(capsys, sandbox, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    rc = main(["--config", str(sandbox.kubeconfig_only_config), *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def _ctx(sandbox, **flags) -> AppContext:
    return AppContext.create(config.load(sandbox.kubeconfig_only_config, **flags))


def test_status_probes_every_component_through_the_api_server(bastion, capsys):
    mark = len(_tunnel_log(bastion))
    _, doc = _cli(capsys, bastion, "status")
    probes = {c["id"]: c["probe"] for c in doc["components"]}
    want = {"mlflow": "via API proxy", "istio": "via API proxy", "s3": "via port-forward",
            "redis": "via port-forward", "postgresql": "via port-forward"}
    for cid, via in want.items():
        p = probes[cid]
        assert p["state"] in ("ok", "degraded") and p["summary"].endswith(via) and via in p["source"], (cid, p)
    new = _tunnel_log(bastion)[mark:]
    assert any(e["path"] == "/api/v1/namespaces/mlops/services/mlflow-server:5000/proxy/health"
               and e["status"] == 200 and e["user"] == "admin" for e in new)
    forwarded = {e["path"].split("/")[6] for e in new if e["path"].endswith("/portforward") and e["status"] == 101}
    assert {"feast-redis-master-0", "mlflow-db-postgresql-0"} <= forwarded
    assert any(p.startswith("minio-") for p in forwarded)


def test_experiments_infer_and_features_through_the_api_server(bastion, capsys):
    from mlopstui.backends import feast
    from mlopstui.backends.mlflow import MlflowBackend

    mark = len(_tunnel_log(bastion))
    rc, runs = _cli(capsys, bastion, "runs", "fraud-detection")
    assert rc == 0 and len(runs["runs"]) >= 10
    ctx = _ctx(bastion)
    try:
        ml = MlflowBackend.from_context(ctx)
        assert "via API proxy" in ml.display
        run_id = runs["runs"][0]["run_id"]
        names = [a.path for a in ml.list_artifacts(run_id)]
        assert "metrics.json" in names
        data, cut = ml.read_artifact(run_id, "metrics.json")  # the server reads S3 itself (no artifact proxy)
        assert not cut and "accuracy" in json.loads(data)
        rc, inf = _cli(capsys, bastion, "infer", "fraud-detection")
        assert rc == 0 and inf["ok"] and len(inf["predictions"]) == 2
        assert "via API proxy" in inf["via"] and inf["host"] == "fraud-detection.mlops.example.com"
        status = feast.online_store_status(ctx)
        assert status.ok and "via port-forward" in status.address
        assert status.address.startswith("feast-redis-master.mlops.svc.cluster.local:6379 db 7")
        sample = feast.sample_online(ctx, "customer_stats")
        assert not sample["all_null"] and sample["values"]
    finally:
        ctx.kube.close()
    new = _tunnel_log(bastion)[mark:]
    paths = [e["path"] for e in new]
    assert any(p.startswith("/api/v1/namespaces/mlops/services/mlflow-server:5000/proxy/api/2.0/mlflow/runs/search")
               for p in paths)
    assert any(p.startswith("/api/v1/namespaces/mlops/services/mlflow-server:5000/proxy/get-artifact") for p in paths)
    assert any(p.startswith("/api/v1/namespaces/istio-system/services/istio-ingressgateway:80/proxy/v1/models/")
               for p in paths)
    assert "/api/v1/namespaces/mlops/pods/feast-redis-master-0/portforward" in paths


def test_viewer_without_proxy_and_portforward_is_told_which_endpoints_are_dark(bastion, capsys):
    _, doc = _cli(capsys, bastion, "--context", "mlopstui-sandbox-viewer", "status")
    probes = {c["id"]: c["probe"] for c in doc["components"]}
    assert probes["mlflow"]["summary"] == "dark: forbidden"
    assert 'User "viewer" cannot get resource "services/proxy"' in probes["mlflow"]["detail"]
    assert 'User "viewer" cannot create resource "pods/portforward"' in probes["redis"]["detail"]
    rc, err = _cli(capsys, bastion, "--context", "mlopstui-sandbox-viewer", "runs", "fraud-detection")
    assert rc == 2 and "services/proxy" in err["error"]["message"]


def test_route_forced_direct_or_api(bastion, sandbox):
    ctx = _ctx(bastion, route="direct")
    try:
        ep = ctx.endpoint("mlflow")
        assert ep.via == "direct" and ep.url == "http://mlflow-server.mlops.svc.cluster.local:5000"
    finally:
        ctx.kube.close()
    # the full sandbox config names MLflow's URL; --route api goes through the API server anyway
    ctx = AppContext.create(config.load(sandbox.config_path, route="api"))
    try:
        ep = ctx.endpoint("mlflow")
        assert ep.via == "api-proxy" and ep.url.startswith("http://127.0.0.1:")
        assert ctx.endpoint("feast_repo").source == "config"  # a local path has no route
    finally:
        ctx.kube.close()


def test_one_forward_per_endpoint_that_follows_a_replaced_pod(bastion):
    import boto3
    from botocore.config import Config

    ctx = _ctx(bastion)
    kube = ctx.kube
    try:
        ep = ctx.endpoint("s3")
        assert ep.via == "port-forward" and ctx.endpoint("s3").url == ep.url  # one listener per endpoint
        s3 = boto3.client("s3", endpoint_url=ep.url, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                        retries={"max_attempts": 1}))
        assert s3.list_buckets()["Buckets"]  # SigV4 over the forward
        old = [p for p in kube.list(k.PODS, "mlops", label_selector="app.kubernetes.io/name=minio")]
        kube.delete(k.PODS, old[0]["metadata"]["name"], "mlops")
        deadline = time.monotonic() + 60
        new = []
        while time.monotonic() < deadline:
            new = [p for p in kube.list(k.PODS, "mlops", label_selector="app.kubernetes.io/name=minio")
                   if p["metadata"]["name"] != old[0]["metadata"]["name"] and any(
                       c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (p.get("status") or {}).get("conditions") or [])]
            if new:
                break
            time.sleep(0.3)
        assert new, "the Deployment did not replace the pod"
        assert s3.list_buckets()["Buckets"]  # same local address, the new pod behind it
        log = _tunnel_log(bastion)
        assert log[-1]["path"] == f"/api/v1/namespaces/mlops/pods/{new[0]['metadata']['name']}/portforward"
    finally:
        kube.close()
    import socket

    with pytest.raises(OSError):  # closed with its client
        socket.create_connection(("127.0.0.1", int(ep.url.rsplit(":", 1)[1])), timeout=1).close()


def test_a_configured_cluster_dns_url_is_routed(bastion, monkeypatch):
    """MLFLOW_TRACKING_URI copied from a pod names the Service by cluster DNS: from the bastion it is reached
    through that Service's route, credentials and path kept; the Stack probe says so."""
    from mlopstui.backends.stack import sweep

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow-server.mlops.svc.cluster.local:5000")
    ctx = _ctx(bastion, endpoints={"feast_repo": str(bastion.kubeconfig_only_config.parent / "feature_repo"),
                                   "postgresql": "postgresql://postgres@mlflow-db-postgresql.mlops.svc:5432/postgres"})
    try:
        ep = ctx.endpoint("mlflow")
        assert ep.via == "api-proxy" and ep.source.startswith("env MLFLOW_TRACKING_URI (service mlops/")
        pg = ctx.endpoint("postgresql")
        assert pg.via == "port-forward" and pg.url.startswith("postgresql://postgres@127.0.0.1:")
        assert pg.url.endswith("/postgres")
        probes = {c.id: c.probe for c in sweep(ctx).components}
        assert probes["mlflow"].ok and probes["mlflow"].summary.endswith("via API proxy")
        assert probes["postgresql"].ok and probes["postgresql"].summary.endswith("via port-forward")
    finally:
        ctx.kube.close()

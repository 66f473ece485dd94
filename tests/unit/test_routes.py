"""The direct routes of an endpoint, cluster DNS names and target ports (pure parts of backends/routes.py;
the Service port is models/endpoints.pick_port's, tested in test_stack_models.py).

Port facts: Istio's gateway chart (istio/istio manifests/charts/gateway/values.yaml) lists status-port
15021 first, then http2 80 and https 443 (DESIGN.md: "the Service's first port is usually 15021");
Bitnami's MinIO chart names its ports minio-api 9000 and minio-console 9001.
"""

from __future__ import annotations

import pytest

from mlopstui.backends.routes import cluster_service_of, direct_candidates, target_port
from mlopstui.errors import MlopsError
from mlopstui.models.endpoints import pick_port

ISTIO = {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
         "spec": {"type": "LoadBalancer", "ports": [
             {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 31021},
             {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080},
             {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443}]},
         "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
MINIO = {"metadata": {"name": "minio", "namespace": "mlops"},
         "spec": {"ports": [{"name": "minio-console", "port": 9001}, {"name": "minio-api", "port": 9000}]}}


def test_direct_candidates_in_order():
    nodes = [{"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                       {"type": "Hostname", "address": "node-1"}]}}]
    svc = dict(ISTIO, spec=dict(ISTIO["spec"], externalIPs=["198.51.100.7"]))
    got = direct_candidates(svc, pick_port(svc, "ingress"), nodes)
    assert got == [("192.0.2.10", 80, "LoadBalancer"), ("198.51.100.7", 80, "external IP"),
                   ("10.0.0.5", 30080, "NodePort")]
    assert direct_candidates(MINIO, pick_port(MINIO, "s3")) == []  # ClusterIP only: no direct route


def test_direct_candidates_in_cluster_use_dns(monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert direct_candidates(MINIO, pick_port(MINIO, "s3")) == [("minio.mlops.svc.cluster.local", 9000,
                                                                 "cluster DNS")]
    assert cluster_service_of("minio.mlops.svc.cluster.local") is None  # it resolves in the cluster


@pytest.mark.parametrize("host,want", [
    ("feast-redis-master.mlops.svc.cluster.local", ("mlops", "feast-redis-master")),
    ("feast-redis-master.mlops.svc", ("mlops", "feast-redis-master")),
    ("redis.example.com", None), ("127.0.0.1", None), ("a.b.svc.other.zone", None),
])
def test_cluster_service_of(host, want, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cluster_service_of(host) == want


def test_target_port_named_numeric_and_missing():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"ports": [{"name": "redis", "containerPort": 6380}]}]}}
    assert target_port(pod, {"port": 6379, "targetPort": "redis"}) == 6380
    assert target_port(pod, {"port": 6379, "targetPort": 7000}) == 7000
    assert target_port(pod, {"port": 6379}) == 6379
    with pytest.raises(MlopsError, match="no container port named 'http'"):
        target_port(pod, {"port": 80, "targetPort": "http"})

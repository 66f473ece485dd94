"""Rollouts whose gates read a real Prometheus (Debian's `prometheus`, run by the sandbox when installed).

The sandbox's Prometheus scrapes the ingress's Istio metrics (istio_requests_total and
istio_request_duration_milliseconds by destination_workload) every second; the rollout asks it with
Flagger's selectors (models/promql.py). A healthy canary promotes, with Prometheus found as a cluster Service
(monitoring/prometheus-server, reached through the API server's services/proxy) when no endpoint is
configured; with the canary-errors fault the error-rate gate fails on Prometheus's numbers and the rollout
rolls back, the annotation and the audit log naming the gate, the measured values and the source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from mlopstui.cli import main
from mlopstui.sandbox import manager
from support.rollout import (
    FAULT,
    NAME,
    isvc,
    isvc_patches,
    kubectl,
    restore_canary,
    run_rollout,
    state,
    writes,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(manager.prometheus_binary() is None,
                       reason="no prometheus binary (apt-get install prometheus): the sandbox runs no Prometheus"),
]

PROM_SVC = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "prometheus-server", "namespace": "monitoring",
                 "labels": {"app.kubernetes.io/name": "prometheus"}},
    "spec": {"selector": {"app.kubernetes.io/name": "prometheus"},
             "ports": [{"name": "http", "port": 80, "targetPort": 9090}]},
}
# the Service's endpoints: services/proxy answers only for a Service with a ready pod
PROM_DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "prometheus-server", "namespace": "monitoring"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
             "template": {"metadata": {"labels": {"app.kubernetes.io/name": "prometheus"}},
                          "spec": {"containers": [{"name": "prometheus-server", "image": "quay.io/prometheus/prometheus:v2.42.0",
                                                   "ports": [{"containerPort": 9090}]}]}}},
}


@pytest.fixture
def traffic(sandbox):
    env = {**os.environ, **sandbox.env}
    proc = subprocess.Popen([sys.executable, "-m", "mlopstui", "sandbox", "traffic", "--dir", str(sandbox.dir),
                             "--rps", "40", "--duration", "120"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def discovered_config(sandbox, tmp_path):
    """The sandbox's settings without endpoints.prometheus, and the Service the Prometheus chart creates."""
    cfg = yaml.safe_load(sandbox.config_path.read_text())
    assert cfg["endpoints"].get("prometheus"), "the sandbox configures its Prometheus"
    del cfg["endpoints"]["prometheus"]
    path = tmp_path / "mlopstui.yaml"
    path.write_text(yaml.safe_dump(cfg))
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
                        + "---\n" + yaml.safe_dump(PROM_SVC) + "---\n" + yaml.safe_dump(PROM_DEPLOY))
    kubectl(sandbox, "-n", "monitoring", "apply", "-f", str(manifest))
    kubectl(sandbox, "-n", "monitoring", "rollout", "status", "deployment/prometheus-server", "--timeout=30s")
    yield path
    kubectl(sandbox, "-n", "monitoring", "delete", "-f", str(manifest), "--ignore-not-found")


def test_prometheus_promotes_healthy_then_rolls_back_on_errors(sandbox, capsys, traffic, discovered_config):
    with restore_canary(sandbox, capsys) as before:
        mark = len(writes(sandbox))
        code, events, err = run_rollout(sandbox, capsys, "--steps", "10,50,100", "--pause", "3s",
                                        "--min-requests", "5", "--max-error-rate", "5%", "--signal", "prometheus",
                                        "--yes", config=discovered_config)
        assert code == 0, (events, err)
        sig = next(e for e in events if e["event"] == "signal")
        assert sig["signal"] == "prometheus" and "service monitoring/prometheus-server" in sig["source"]
        assert "via API proxy" in sig["source"], sig  # no direct route to cluster DNS from here
        gates = [e for e in events if e["event"] == "gates"]
        assert [g["verdict"] for g in gates] == ["pass", "pass"]
        for g in gates:
            assert g["measured"]["signal"] == "prometheus"
            assert g["measured"]["canary"]["requests"] >= 5 and g["measured"]["canary"]["errors"] == 0
            assert g["measured"]["stable"]["requests"] > 0
        assert state(sandbox)["phase"] == "promoted"
        patches = isvc_patches(writes(sandbox)[mark:])
        assert len(patches) == 3 and all(p["resourceVersion"] for p in patches)  # 10, 50, promote

        # back to the seed's canary, then the canary answers 500 (the fault, played by its model server)
        assert main(["canary", NAME, str(before), "--yes", "--wait", "30", "--config", str(sandbox.config_path)]) == 0
        kubectl(sandbox, "annotate", "isvc", NAME, f"{FAULT}=canary-errors", "--overwrite")
        kubectl(sandbox, "annotate", "isvc", NAME, "mlopstui.dev/rollout-")
        capsys.readouterr()
        mark = len(writes(sandbox))
        code, events, err = run_rollout(sandbox, capsys, "--steps", "10,50,100", "--pause", "3s",
                                        "--min-requests", "5", "--max-error-rate", "5%", "--yes")
        assert code == 1, (events, err)
        sig = next(e for e in events if e["event"] == "signal")
        assert sig["signal"] == "prometheus" and "(config)" in sig["source"]  # endpoints.prometheus, auto
        st = state(sandbox)
        assert st["phase"] == "rolled-back" and st["step"] == 0
        assert "gate error-rate failed at step 10%" in st["reason"]
        bad = next(g for g in st["gates"] if g["ok"] is False)
        assert bad["gate"] == "error-rate" and bad["measured"] > 0.05
        assert st["measured"]["signal"] == "prometheus" and st["measured"]["canary"]["source"] == "prometheus"
        assert st["measured"]["canary"]["errors"] > 0 and st["measured"]["stable"]["errors"] == 0
        assert isvc(sandbox)["spec"]["predictor"]["canaryTrafficPercent"] == 0
        patches = isvc_patches(writes(sandbox)[mark:])
        assert len(patches) == 2 and all(p["resourceVersion"] for p in patches)  # step 10, rollback
        audit = [json.loads(ln) for ln in (sandbox.dir / "audit.jsonl").read_text().splitlines()]
        last = audit[-1]
        assert last["action"] == "rollout-rollback" and last["ok"]
        recorded = json.loads(last["patch"]["metadata"]["annotations"]["mlopstui.dev/rollout"])
        assert "gate error-rate failed" in recorded["reason"] and recorded["measured"]["signal"] == "prometheus"


def test_prometheus_asked_for_but_absent_moves_no_traffic(sandbox, capsys, tmp_path):
    """--signal prometheus with none configured or discoverable: exit 3 before any write, saying why."""
    cfg = yaml.safe_load(sandbox.config_path.read_text())
    cfg["endpoints"].pop("prometheus", None)
    path = tmp_path / "mlopstui.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with restore_canary(sandbox, capsys):
        mark = len(writes(sandbox))
        code, events, err = run_rollout(sandbox, capsys, "--steps", "10,100", "--pause", "1s", "--signal",
                                        "prometheus", "--yes", config=path)
        assert code == 3, (events, err)
        assert any(e["event"] == "no-signal" and "prometheus" in e["message"] for e in events)
        assert events[-1]["event"] == "refused" and "not found" in events[-1]["message"]
        assert isvc_patches(writes(sandbox)[mark:]) == []

"""A component's label selector (settings.components[id].selector) goes to the API server as the
labelSelector string: set-based and inequality selectors select what kubectl -l selects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.cli import main

KUBECTL = Path(sys.executable).parent / "kubectl"


def dep(name: str, labels: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "redis:7.4"}]}}}}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from mlopstui.backends.kube import DEPLOYMENTS, NAMESPACES, KubeClient
    from mlopstui.sandbox.kubeapi import KubeApiServer

    s = KubeApiServer(str(tmp_path_factory.mktemp("sel-api")), port=0, run_controllers=False).start()
    k = KubeClient.from_settings(s.kubeconfig_path, "mlopstui-sandbox", "cache")
    k.create(NAMESPACES, {"metadata": {"name": "cache"}})
    for name, labels in (("kv-a", {"app": "redis", "tier": "cache"}), ("kv-b", {"app": "valkey", "tier": "cache"}),
                         ("kv-c", {"app": "memcached", "tier": "cache"}), ("kv-d", {"app": "redis", "tier": "x"})):
        k.create(DEPLOYMENTS, dep(name, labels), "cache")
    k.close()
    yield s
    s.stop()


def kubectl_names(api, selector: str) -> list[str]:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", api.kubeconfig_path, "get", "deployments", "-A",
                          "-l", selector, "-o", "name"], capture_output=True, text=True, timeout=60, check=True)
    return sorted(n.split("/", 1)[1] for n in out.stdout.split())


@pytest.mark.parametrize("selector", ["app in (redis,valkey)", "app!=memcached,tier=cache",
                                      "tier=cache,app notin (memcached)", "app=redis"])
def test_selector_is_evaluated_by_the_api_server(api, tmp_path, capsys, monkeypatch, selector):
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"kubeconfig": api.kubeconfig_path, "context": "mlopstui-sandbox",
                               "namespace": "cache", "probe_timeout": 0.5,
                               "components": {"redis": {"selector": selector}}}))
    mark = len(api.request_log)
    main(["status", "-o", "json", "--config", str(cfg)])
    doc = json.loads(capsys.readouterr().out)
    (redis,) = [c for c in doc["components"] if c["id"] == "redis"]
    got = sorted(w["name"] for w in redis["workloads"])
    assert got == kubectl_names(api, selector) and got  # what `kubectl get -l` selects
    sent = [e["query"] for e in api.request_log[mark:] if "labelSelector" in (e.get("query") or "")]
    from urllib.parse import parse_qs

    assert any(parse_qs(q).get("labelSelector") == [selector] for q in sent), sent

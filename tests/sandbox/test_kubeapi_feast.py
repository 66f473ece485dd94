"""The materialization Job really runs the venv's `feast` CLI (slow: feast imports take ~20 s)."""

from __future__ import annotations

import time

import pytest
from kubernetes import client, config

from mlopstui.sandbox.kubeapi import KubeApiServer


def wait_for(fn, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s")


def _job(name, command):
    return {"metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "feast:sandbox", "command": command,
                 "env": [{"name": "FEAST_USAGE", "value": "False"}]}]}}}}


def _job_done(batch, ns, name):
    j = batch.read_namespaced_job_status(name, ns)
    return j if j.status and (j.status.succeeded or j.status.failed) else None

pytestmark = pytest.mark.integration


def test_feast_job_really_runs_feast(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    s = KubeApiServer(str(tmp_path / "state"), port=0, feast_repo=str(repo)).start()
    try:
        a = config.new_client_from_config(config_file=s.kubeconfig_path)
        batch, core = client.BatchV1Api(a), client.CoreV1Api(a)
        batch.create_namespaced_job("default", _job("mat", ["feast", "materialize-incremental",
                                                            "2026-11-28T00:00:00"]))
        job = wait_for(lambda: _job_done(batch, "default", "mat"), timeout=90)
        assert job.status.failed == 1  # an empty repo has no feature_store.yaml
        pod = core.list_namespaced_pod("default", label_selector="job-name=mat").items[0]
        log = core.read_namespaced_pod_log(pod.metadata.name, "default")
        assert "feature_store.yaml" in log  # the message of the real feast CLI
    finally:
        s.stop()

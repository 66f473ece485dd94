"""Sandbox plumbing without the stack: process groups, readiness errors, ingress routing rules."""

from __future__ import annotations

import random
import sys
import time
from collections import Counter

import pytest

from mlopstui.sandbox import procs
from mlopstui.sandbox.ingress import parse_host, pick_revision


def test_failed_part_is_named_with_its_log_tail(tmp_path):
    spec = procs.PartSpec("broken", [sys.executable, "-c", "print('cannot bind: address in use'); raise SystemExit(3)"],
                          port=0, ready=lambda: False, address="http://127.0.0.1:1")
    state = {"parts": {"broken": procs.start_part(tmp_path, spec)}}
    with pytest.raises(procs.SandboxError) as err:
        procs.wait_ready(tmp_path, [spec], state, deadline_s=30)
    assert err.value.part == "broken"
    assert "broken" in str(err.value) and "cannot bind: address in use" in str(err.value)


def test_part_not_ready_in_time_is_named(tmp_path):
    spec = procs.PartSpec("slow", [sys.executable, "-c", "import time; print('still loading'); time.sleep(60)"],
                          port=0, ready=lambda: False, address="http://127.0.0.1:2")
    state = {"parts": {"slow": procs.start_part(tmp_path, spec)}}
    try:
        with pytest.raises(procs.SandboxError, match="'slow' not ready after 1s"):
            procs.wait_ready(tmp_path, [spec], state, deadline_s=1)
    finally:
        assert procs.stop_group(state["parts"]["slow"]["pgid"], grace=2)


def test_stop_group_kills_children_and_grandchildren(tmp_path):
    # a parent that ignores SIGTERM and spawns a child which spawns a grandchild (like MLflow's workers)
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', "
        "'import subprocess,sys,time; subprocess.Popen([sys.executable, \"-c\", \"import time; time.sleep(300)\"]); time.sleep(300)'])\n"
        "time.sleep(300)\n"
    )
    spec = procs.PartSpec("tree", [sys.executable, "-c", code], port=0, ready=lambda: True)
    info = procs.start_part(tmp_path, spec)
    deadline = time.monotonic() + 20
    while len(procs.group_pids(info["pgid"])) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(procs.group_pids(info["pgid"])) == 3
    assert len(procs.owned_pids(tmp_path)) == 3
    assert procs.stop_group(info["pgid"], grace=1)
    assert procs.group_pids(info["pgid"]) == []
    assert procs.owned_pids(tmp_path) == []


def test_parse_host():
    assert parse_host("fraud-detection.mlops.example.com") == ("fraud-detection", "mlops")
    assert parse_host("fraud-detection-predictor.mlops.example.com:8080") == ("fraud-detection", "mlops")
    assert parse_host("localhost:8080") is None


def test_pick_revision_follows_weights_and_latest_ready():
    isvc = {"status": {"components": {"predictor": {"traffic": [
        {"revisionName": "r1", "percent": 80}, {"revisionName": "r2", "percent": 20, "tag": "latest"},
        {"revisionName": "r0", "percent": 0}]}}}}
    rnd = random.Random(1)
    counts = Counter(pick_revision(isvc, rnd) for _ in range(5000))
    assert set(counts) == {"r1", "r2"}
    assert 0.17 < counts["r2"] / 5000 < 0.23
    only = {"status": {"components": {"predictor": {"latestReadyRevision": "r9"}}}}
    assert pick_revision(only) == "r9"
    assert pick_revision({}) is None


def test_mlflow_launcher_env_names_are_mlflows_own():
    """The one-process MLflow launcher hands the server app the variables `mlflow server` would;
    if an MLflow upgrade renames one, this fails here (the launcher itself would fall back to the CLI)."""
    from mlopstui.sandbox import mlflow_server

    assert mlflow_server.verify() == []
    a = mlflow_server.parse(["--host", "127.0.0.1", "--port", "5000", "--backend-store-uri", "sqlite:///x.db",
                             "--default-artifact-root", "s3://b/", "--allowed-hosts", "a,b:5000"])
    env = mlflow_server.server_env(a)
    assert env["_MLFLOW_SERVER_FILE_STORE"] == env["_MLFLOW_SERVER_REGISTRY_STORE"] == "sqlite:///x.db"
    assert env["MLFLOW_SERVER_ALLOWED_HOSTS"] == "a,b:5000"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # the fallback is the real CLI with the same flags
    argv = mlflow_server.cli_argv(a)
    assert argv[argv.index("server") + 1:] == [
        "--workers", "1", "--host", "127.0.0.1", "--port", "5000", "--backend-store-uri", "sqlite:///x.db",
        "--default-artifact-root", "s3://b/", "--no-serve-artifacts", "--allowed-hosts", "a,b:5000"]

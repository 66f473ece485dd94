"""`mlopstui sandbox up|down|status|env`: idempotence, persistence, no leaked process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlopstui.sandbox import manager, procs

pytestmark = pytest.mark.integration


def cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlopstui.cli", "sandbox", *args], capture_output=True,
                          text=True, timeout=timeout)


def _ours(d: Path) -> list[psutil.Process]:
    """Processes carrying the sandbox marker or naming the directory on their command line."""
    found = {p: None for p in procs.owned_pids(d)}
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.info["pid"] != os.getpid() and str(d) in " ".join(p.info["cmdline"] or []):
                found[p.info["pid"]] = None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    out = []
    for pid in found:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_up_is_idempotent(sandbox):
    before = {n: p["pid"] for n, p in manager.status(sandbox.dir)["parts"].items()}
    assert all(before.values())
    info = manager.up(sandbox.dir)
    assert info.started == [] and not info.seeded_now
    assert info.parts == sandbox.parts
    r = cli("up", "--dir", str(sandbox.dir), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["started"] == [] and data["seeded_now"] is False
    after = {n: p["pid"] for n, p in manager.status(sandbox.dir)["parts"].items()}
    assert after == before


def test_status_and_env_commands(sandbox):
    r = cli("status", "--dir", str(sandbox.dir), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(r.stdout)
    base = {"kubeapi", "s3", "mlflow", "model-v1", "model-v2", "ingress", "lakefs"}
    # prometheus only where Debian's binary is installed (scripts/services.sh installs it)
    assert set(st["parts"]) == (base | {"prometheus"} if manager.prometheus_binary() else base)
    assert all(p["running"] and p["ready"] for p in st["parts"].values())
    secret = sandbox.env["AWS_SECRET_ACCESS_KEY"]
    assert secret not in r.stdout
    assert secret not in (sandbox.config_path.read_text())
    r = cli("env", "--dir", str(sandbox.dir))
    assert r.returncode == 0
    exported = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    for key in ("KUBECONFIG", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "FEAST_REPO_PATH", "MLOPSTUI_CONFIG"):
        assert key in exported
    assert exported["MLOPSTUI_CONFIG"] == str(sandbox.config_path)
    assert oct((sandbox.dir / "secrets.json").stat().st_mode & 0o777) == "0o600"
    from mlopstui import config

    settings = config.load(str(sandbox.config_path))
    assert settings.namespace == "mlops" and settings.context == "mlopstui-sandbox"
    assert settings.endpoints.mlflow == sandbox.parts["mlflow"]
    assert settings.endpoints.ingress == sandbox.parts["ingress"]


def test_down_then_up_keeps_state_and_down_leaves_no_process(sandbox, tmp_path):
    """On a copy of the seeded sandbox (the session one stays up for other tests)."""
    import boto3

    copy = tmp_path / "sbx"
    shutil.copytree(sandbox.dir, copy, ignore=shutil.ignore_patterns("logs", "state.json", ".lock", "*.tmp*"))
    r = cli("up", "--dir", str(copy), "--json")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        data = json.loads(r.stdout)
        assert sorted(data["started"]) == sorted(manager.active_parts())
        assert data["seeded_now"] is False  # seeding happens only the first time
        assert _ours(copy), "the copy's parts should be running"
        env = manager.env_of(copy)
        s3 = boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        # S3 content was restored from the on-disk mirror
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="models").get("Contents", [])}
        assert "fraud-detection/v2/model.joblib" in keys
        s3.put_object(Bucket="mlflow-artifacts", Key="persist-check/hello.txt", Body=b"still here")
    finally:
        r = cli("down", "--dir", str(copy), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(v in ("stopped", "not running") for k, v in json.loads(r.stdout)["parts"].items() if k != "stray")
    assert _ours(copy) == []
    st = manager.status(copy)
    assert not any(p["running"] for p in st["parts"].values())
    # the object written just before `down` reached the mirror (flushed on SIGTERM)
    assert (copy / "s3data" / "mlflow-artifacts" / "persist-check" / "hello.txt").read_bytes() == b"still here"
    # and a second down is harmless
    assert cli("down", "--dir", str(copy)).returncode == 0
    time.sleep(0.2)
    assert _ours(copy) == []

"""The MLflow backend against the sandbox's real tracking server (S3 artifacts, SQLite store).

The 10,000-run experiment is bulk-seeded into the sandbox's own backend store through MLflow's
SQLAlchemy store (tests/seed_many_runs.py); search/sort results are compared with MlflowClient.
"""

from __future__ import annotations

import os
import time

import pytest

from mlopstui.backends.mlflow import MlflowBackend  # noqa: E402
from mlopstui.errors import Kind, MlopsError  # noqa: E402
from support.seed_many_runs import ensure_many_runs  # noqa: E402
from support.tcp_forward import Forwarder  # noqa: E402

pytestmark = pytest.mark.integration

BULK = "bulk-10k"
QUERY = "metrics.accuracy > 0.9 and params.learning_rate = '0.01'"


@pytest.fixture(scope="module")
def backend(sandbox):
    b = MlflowBackend(sandbox.env["MLFLOW_TRACKING_URI"], "env MLFLOW_TRACKING_URI", timeout=60)
    yield b
    b.close()


@pytest.fixture(scope="module")
def bulk(sandbox):
    db = sandbox.dir / "mlflow" / "mlflow.db"
    assert db.exists(), db
    exp_id, secs = ensure_many_runs(f"sqlite:///{db}", BULK, 10_000, "s3://mlflow-artifacts/")
    print(f"seeded 10,000 runs in {secs:.1f}s")
    assert secs < 60
    return exp_id


@pytest.fixture(scope="module")
def client(sandbox):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=sandbox.env["MLFLOW_TRACKING_URI"])


def test_experiments_listed_with_counts(backend, bulk):
    exps = {e.name: e for e in backend.search_experiments()}
    assert {"fraud-detection", "churn", BULK} <= set(exps)
    n, capped, last = backend.experiment_stats(exps["fraud-detection"].experiment_id)
    assert n >= 20 and not capped and last
    n, capped, _ = backend.experiment_stats(bulk, cap=1000, page_size=500)
    assert (n, capped) == (1000, True)  # counting stops at the cap and says so


def test_filter_and_sort_equal_mlflow_client(backend, client, bulk):
    order = ["metrics.accuracy DESC"]
    mine = list(backend.iter_runs([bulk], filter=QUERY, order_by=order, page_size=300))
    theirs = []
    token = None
    while True:
        page = client.search_runs([bulk], QUERY, order_by=order, max_results=1000, page_token=token)
        theirs.extend(page)
        token = page.token
        if not token:
            break
    assert len(mine) == len(theirs) > 100
    assert [r.run_id for r in mine] == [r.info.run_id for r in theirs]
    assert all(r.metrics["accuracy"] > 0.9 and r.params["learning_rate"] == "0.01" for r in mine)
    accs = [r.metrics["accuracy"] for r in mine]
    assert accs == sorted(accs, reverse=True)


def test_paging_reaches_the_last_run(backend, client, bulk):
    seen, token, pages = [], None, 0
    while True:
        rows, token = backend.search_runs([bulk], max_results=2000, page_token=token,
                                          order_by=["attributes.start_time ASC"])
        seen.extend(r.run_id for r in rows)
        pages += 1
        if not token:
            break
    assert len(seen) == len(set(seen)) == 10_000 and pages == 5
    last = client.search_runs([bulk], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert seen[-1] == last.info.run_id


def test_bad_filter_is_invalid_with_the_syntax(backend, bulk):
    with pytest.raises(MlopsError) as ei:
        backend.search_runs([bulk], filter="metrics.accuracy >>> 1")
    assert ei.value.kind == Kind.INVALID and "metrics.accuracy > 0.9" in (ei.value.hint or "")


def test_lab_run_artifact_preview_and_download(backend, tmp_path):
    lab = backend.experiment_by_name_or_id("lab")
    runs, _ = backend.search_runs([lab.experiment_id], filter="params.learning_rate = '0.01'")
    run = next(r for r in runs if r.metrics.get("accuracy") == 0.95)
    arts = backend.list_artifacts(run.run_id)
    assert any(a.path == "model.txt" and not a.is_dir and a.size for a in arts)
    data, cut = backend.read_artifact(run.run_id, "model.txt")
    assert data == b"dummy model weights" and not cut
    out = backend.download_artifacts(run.run_id, "model.txt", tmp_path)
    assert out.read_bytes() == b"dummy model weights"


def test_artifact_tree_per_directory(backend):
    fraud = backend.experiment_by_name_or_id("fraud-detection")
    runs, _ = backend.search_runs([fraud.experiment_id], max_results=5)
    run = runs[0]
    top = backend.list_artifacts(run.run_id)
    dirs = [a for a in top if a.is_dir]
    assert dirs, top
    inner = backend.list_artifacts(run.run_id, dirs[0].path)
    assert inner and all(a.path.startswith(dirs[0].path + "/") for a in inner)
    hist = backend.metric_history(run.run_id, "accuracy")
    assert len(hist.points) > 1


def test_metric_histories_of_several_runs_equal_mlflow_client(backend, client):
    """The concurrent fetch returns, per run and metric, exactly MLflow's own history (order and values)."""
    fraud = backend.experiment_by_name_or_id("fraud-detection")
    runs, _ = backend.search_runs([fraud.experiment_id], max_results=3)
    wanted = {r.run_id: sorted(client.get_run(r.run_id).data.metrics) for r in runs}
    assert sum(len(k) for k in wanted.values()) > 2, wanted
    got = backend.metric_histories_of(wanted)
    assert set(got) == set(wanted)
    for rid, keys in wanted.items():
        assert sorted(got[rid]) == keys
        for k in keys:
            theirs = sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, k))
            assert [(p.step, p.timestamp, p.value) for p in got[rid][k].points] == theirs
    assert backend.metric_histories(runs[0].run_id, wanted[runs[0].run_id]).keys() == set(wanted[runs[0].run_id])


def test_registry_versions_aliases_and_run(backend):
    models = {m.name: m for m in backend.search_registered_models()}
    assert "fraud-detection" in models
    versions = {v.version: v for v in backend.search_model_versions("fraud-detection")}
    assert {"1", "2"} <= set(versions)
    assert "champion" in versions["1"].aliases and "challenger" in versions["2"].aliases
    v2 = versions["2"]
    if v2.run_id:
        assert backend.get_run(v2.run_id).run_id == v2.run_id
    assert backend.resolve_storage_uri(v2)


def test_invalid_host_header_is_explained(sandbox):
    host, port = sandbox.env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")
    fwd = Forwarder(host, int(port), rewrite_host=False).start()
    try:
        b = MlflowBackend(fwd.url, "test")
        with pytest.raises(MlopsError) as ei:
            b.search_experiments()
        err = ei.value
        assert err.kind == Kind.FORBIDDEN
        assert "Invalid Host header" in err.message and "--allowed-hosts" in err.hint
        assert f"127.0.0.1:{fwd.port}" in err.hint
    finally:
        fwd.stop()


def test_outage_is_unreachable_and_recovers(sandbox):
    host, port = sandbox.env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")
    fwd = Forwarder(host, int(port)).start()
    b = MlflowBackend(fwd.url, "test", timeout=5)
    try:
        assert b.search_experiments()
        fwd.stop()
        with pytest.raises(MlopsError) as ei:
            b.search_experiments()
        assert ei.value.kind == Kind.UNREACHABLE and "is the tracking server running" in ei.value.hint
        fwd.start()
        assert b.search_experiments()
    finally:
        fwd.stop()
        b.close()


def test_cli_runs_and_run_json(sandbox, bulk):
    import json
    import subprocess
    import sys

    env = {**os.environ, **sandbox.env}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "mlopstui.cli", "runs", BULK, "--filter", QUERY,
                          "--order-by=-accuracy", "--max", "7", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["count"] == 7 and data["order_by"] == ["metrics.`accuracy` DESC"]
    run_id = data["runs"][0]["run_id"]
    out = subprocess.run([sys.executable, "-m", "mlopstui.cli", "run", run_id, "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["run"]["params"]["learning_rate"] == "0.01"
    out = subprocess.run([sys.executable, "-m", "mlopstui.cli", "runs", BULK, "--filter", "bogus >< 1"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "hint:" in out.stderr
    assert time.time() - t0 < 120

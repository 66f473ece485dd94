"""Feast backend, materialization actions and CLI verbs against the sandbox (real Feast repo, real emulator).

The seeded CronJob `feast-materialize` is shared: tests only add Jobs with unique names (never modify it).
A view that was never materialized lives in a private copy of the repository under tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlopstui import config
from mlopstui.actions.features import MaterializeLocal, TriggerMaterialization
from mlopstui.backends import feast as fb
from mlopstui.backends.kube import CRONJOBS, JOBS
from mlopstui.context import AppContext
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import features as m

pytestmark = pytest.mark.integration
CRONJOB = "feast-materialize"


_CTXS: list[AppContext] = []


@pytest.fixture(autouse=True)
def _close_contexts():
    """Every context a test made is closed after it (its cluster client's connections, its forwards)."""
    yield
    while _CTXS:
        _CTXS.pop().close(final=True)


def make_ctx(sandbox, tmp_path, **flags) -> AppContext:
    ctx = AppContext.create(config.load(str(sandbox.config_path), audit_log=str(tmp_path / "audit.jsonl"),
                                        **flags))
    _CTXS.append(ctx)
    return ctx


def job_names(ctx) -> set[str]:
    return {j["metadata"]["name"] for j in ctx.kube.list(JOBS, ctx.namespace)}


def cli(sandbox, *args, env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "mlopstui.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_registry_views_freshness_online_store(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    reg = fb.load_registry(ctx)
    assert reg.project == "on_prem_mlops"
    assert reg.repo_source == "config"
    names = [v.name for v in reg.views]
    assert names == ["customer_stats", "transaction_stats"]
    txn = reg.view("transaction_stats")
    assert txn.ttl.total_seconds() == 2 * 86400
    assert [f.name for f in txn.features] == ["txn_count_24h", "last_amount", "merchant_risk"]
    assert txn.entities == ["customer"] and txn.join_keys == ["customer_id"]
    assert txn.intervals and txn.last_end is not None  # the sandbox's initial materialization
    assert "transactions.parquet" in txn.source
    assert [e["join_key"] for e in reg.entities] == ["customer_id"]

    cjs = fb.materialization_cronjobs(ctx.kube, ctx.namespace)
    assert [c.name for c in cjs] == [CRONJOB]
    interval = m.min_schedule_interval(cjs)
    assert interval.total_seconds() == 3600
    f = txn.freshness(datetime.now(UTC), interval)
    assert f.status is m.Freshness.FRESH, f

    online = fb.online_store_status(ctx)
    assert online.ok is True, online
    sample = fb.sample_online(ctx, "transaction_stats")
    assert set(sample["values"]) == {"txn_count_24h", "last_amount", "merchant_risk"}
    assert not sample["all_null"]


def test_trigger_materialization_runs_a_job_that_moves_the_last_end(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    before_end = fb.load_registry(ctx).view("transaction_stats").last_end
    before = job_names(ctx)

    action = TriggerMaterialization(ctx, ctx.namespace, CRONJOB)
    plan = action.plan()
    assert plan.patch["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job_names(ctx) == before  # plan() reads only
    result = action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
    name = result.data["job"]
    assert re.fullmatch(r"feast-materialize-manual-\d{14}", name)

    assert job_names(ctx) - before == {name}  # exactly one Job created
    created = ctx.kube.get(JOBS, name, ctx.namespace)
    ref = created["metadata"]["ownerReferences"][0]
    cj = ctx.kube.get(CRONJOBS, CRONJOB, ctx.namespace)
    assert (ref["kind"], ref["name"], ref["uid"]) == ("CronJob", CRONJOB, cj["metadata"]["uid"])

    job = fb.wait_job(ctx.kube, ctx.namespace, name, timeout=240)
    log = fb.job_log(ctx.kube, ctx.namespace, name)
    assert job.status == "Succeeded", log
    assert job.owner == CRONJOB and job.manual
    assert log.strip(), "the Job's pod has the feast output as its log"
    listed = fb.materialization_jobs(ctx.kube, ctx.namespace, fb.materialization_cronjobs(ctx.kube, ctx.namespace))
    assert name in [j.name for j in listed]

    after_end = fb.load_registry(ctx).view("transaction_stats").last_end
    assert after_end > before_end

    entries = ctx.audit.entries()
    assert [(e["action"], e["ok"]) for e in entries] == [("materialize", True)]
    assert entries[0]["target"].endswith(name)


def test_readonly_refuses_and_creates_nothing(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path, readonly=True)
    before = job_names(ctx)
    action = TriggerMaterialization(ctx, ctx.namespace, CRONJOB)
    plan = action.plan()
    with pytest.raises(MlopsError) as exc:
        action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)
    assert exc.value.kind is Kind.REFUSED
    assert job_names(ctx) == before
    assert ctx.audit.entries() == []

    r = cli(sandbox, "materialize", "--config", str(sandbox.config_path), "--readonly", "--yes")
    assert r.returncode == 2, r.stderr
    assert "read-only" in r.stderr
    assert job_names(ctx) == before


def test_cli_features_json_and_materialize_dry_run(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    before = job_names(ctx)
    r = cli(sandbox, "features", "--json", "--config", str(sandbox.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert {v["name"]: v["freshness"] for v in doc["views"]} == {"customer_stats": "fresh",
                                                                 "transaction_stats": "fresh"}
    assert doc["schedule_interval_seconds"] == 3600

    r = cli(sandbox, "materialize", "--dry-run", "--json", "--config", str(sandbox.config_path))
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan["patch"]["metadata"]["ownerReferences"][0]["name"] == CRONJOB
    assert job_names(ctx) == before


def test_no_repo_configured_says_how_to_configure(tmp_path):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("namespace: mlops\n")
    env = {k: v for k, v in os.environ.items() if k != "FEAST_REPO_PATH"}
    r = subprocess.run([sys.executable, "-m", "mlopstui.cli", "features", "--no-kube", "--config", str(cfg)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "no Feast feature repository configured" in r.stderr
    assert "FEAST_REPO_PATH" in r.stderr and "endpoints.feast_repo" in r.stderr


def test_never_materialized_copy_then_local_materialize(sandbox, tmp_path):
    """A private copy of the repo (own registry, SQLite online store): NEVER -> exit 1; local run -> fresh."""
    repo = tmp_path / "repo"
    shutil.copytree(Path(sandbox.env["FEAST_REPO_PATH"]), repo,
                    ignore=shutil.ignore_patterns("registry.db*", "online_store.db*", "__pycache__"))
    (repo / "feature_store.yaml").write_text(textwrap.dedent(f"""\
        project: copy_{os.getpid()}
        provider: local
        registry:
          registry_type: file
          path: {repo / "data" / "registry.db"}
          cache_ttl_seconds: 0
        offline_store:
          type: file
        online_store:
          type: sqlite
          path: {repo / "data" / "online_store.db"}
        entity_key_serialization_version: 3
        """))
    feast = Path(sys.executable).with_name("feast")
    subprocess.run([str(feast), "apply"], cwd=repo, check=True, capture_output=True, timeout=240)
    cfg = tmp_path / "copy.yaml"
    cfg.write_text(f"endpoints:\n  feast_repo: {repo}\naudit_log: {tmp_path / 'audit.jsonl'}\n")

    r = cli(sandbox, "features", "--json", "--no-kube", "--config", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    assert {v["freshness"] for v in json.loads(r.stdout)["views"]} == {"never"}

    ctx = AppContext.create(config.load(str(cfg)))
    _CTXS.append(ctx)
    action = MaterializeLocal(repo, timeout=240)
    plan = action.plan()
    assert "materialize-incremental" in plan.patch["argv"]
    result = action.apply(plan, readonly=False, audit=ctx.audit)
    assert result.ok, result.message

    reg = fb.load_registry(ctx)
    assert all(v.freshness(datetime.now(UTC)).status is m.Freshness.FRESH for v in reg.views)
    assert fb.online_store_status(ctx).ok is True
    assert not fb.sample_online(ctx, "customer_stats")["all_null"]
    assert [e["action"] for e in ctx.audit.entries()] == ["materialize-local"]

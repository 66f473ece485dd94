"""Reading a Feast registry without its repository: the seed's SQL registry in PostgreSQL (real
PostgreSQL on 127.0.0.1:5432, filled by the real `feast apply` and `feast materialize-incremental`), and a
registry file. What an operator on a bastion without the feature repository checked out gets."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui import config
from mlopstui.backends import feast as fb
from mlopstui.errors import Kind, MlopsError

pytestmark = pytest.mark.integration

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FEAST = str(Path(sys.executable).with_name("feast"))


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as c:
        c.execute(sql)


@pytest.fixture(scope="module")
def pg_db():
    name = "mlopstui_feast_" + secrets.token_hex(4)
    _admin(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def sql_registry(pg_db, tmp_path_factory):
    """The sandbox's fraud repository with the seed's registry type (sql, PostgreSQL), applied and
    materialized by the feast CLI; the online store is SQLite so nothing is shared with the sandbox."""
    from mlopstui.sandbox import feast_repo

    d = tmp_path_factory.mktemp("feast-sql")
    old = os.environ.get("MLOPSTUI_SANDBOX_REDIS")
    os.environ["MLOPSTUI_SANDBOX_REDIS"] = "none"
    try:
        repo = feast_repo.generate(d)
    finally:
        if old is None:
            os.environ.pop("MLOPSTUI_SANDBOX_REDIS", None)
        else:
            os.environ["MLOPSTUI_SANDBOX_REDIS"] = old
    yaml_text = (repo / "feature_store.yaml").read_text()
    start = yaml_text.index("registry:")
    end = yaml_text.index("offline_store:")
    sql = fb.sqlalchemy_url(pg_db)
    yaml_text = yaml_text[:start] + f"registry:\n  registry_type: sql\n  path: {sql}\n  cache_ttl_seconds: 0\n" \
        + yaml_text[end:]
    (repo / "feature_store.yaml").write_text(yaml_text)
    env = {**os.environ, "FEAST_USAGE": "False"}
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    for argv in ([FEAST, "apply"], [FEAST, "materialize-incremental", now]):
        out = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return pg_db, repo


def test_sql_registry_read_without_the_repo_equals_the_repo(sql_registry, tmp_path):
    uri, repo = sql_registry
    direct = fb.load_registry_direct(uri, "config", None)
    assert direct.project == "on_prem_mlops" and direct.repo_source == "registry only, config"
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    theirs = {fv.name: fv for fv in store.list_feature_views()}
    assert [v.name for v in direct.views] == sorted(theirs)
    for v in direct.views:
        fv = theirs[v.name]
        assert v.last_end is not None  # materialized: freshness is known from the registry alone
        assert v.intervals == [(fb.m.as_utc(a), fb.m.as_utc(b)) for a, b in fv.materialization_intervals]
        assert [f.name for f in v.features] == [f.name for f in fv.features]
    assert {e["name"] for e in direct.entities} == {e.name for e in store.list_entities()}
    assert "postgres@" in direct.registry and "***" not in direct.registry  # no password to mask here


def test_settings_without_repo_use_the_registry_and_the_cli_shows_it(sql_registry, tmp_path):
    uri, _ = sql_registry
    cfg = tmp_path / "mlopstui.yaml"
    cfg.write_text(json.dumps({"kubeconfig": str(tmp_path / "none"), "endpoints": {"feast_registry": uri},
                               "feast_project": "on_prem_mlops"}))
    env = {k: v for k, v in os.environ.items() if k not in ("FEAST_REPO_PATH", "MLOPSTUI_CONFIG")}
    out = subprocess.run([sys.executable, "-m", "mlopstui.cli", "--config", str(cfg), "features", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert data["project"] == "on_prem_mlops" and data["repo_source"].startswith("registry only")
    names = {v["name"] for v in data["views"]}
    assert {"customer_stats"} <= names, names


def test_registry_only_says_what_needs_the_repository(sql_registry, tmp_path):
    uri, _ = sql_registry
    from mlopstui.context import AppContext

    env = {k: os.environ.pop(k) for k in ("FEAST_REPO_PATH",) if k in os.environ}
    try:
        ctx = AppContext.create(config.load(None, kubeconfig=str(tmp_path / "none")))
        ctx.settings.endpoints.feast_registry = uri
        assert fb.load_registry(ctx).project == "on_prem_mlops"
        with pytest.raises(MlopsError) as e:
            fb.online_store_status(ctx)
        assert e.value.kind is Kind.UNSUPPORTED and "only the Feast registry is configured" in e.value.message
    finally:
        os.environ.update(env)


def test_unknown_project_and_a_database_without_registry(pg_db, sql_registry):
    uri, _ = sql_registry
    with pytest.raises(MlopsError) as e:
        fb.load_registry_direct(uri, "config", "nope")
    assert e.value.kind is Kind.NOT_FOUND and "on_prem_mlops" in (e.value.hint or "")
    # an empty database: a clear error, and nothing written (no tables created by reading)
    name = "mlopstui_empty_" + secrets.token_hex(4)
    _admin(f"CREATE DATABASE {name}")
    try:
        empty = f"postgresql://postgres@127.0.0.1:5432/{name}"
        with pytest.raises(MlopsError) as e:
            fb.load_registry_direct(empty, "config", None)
        assert e.value.kind is Kind.NOT_FOUND and "no Feast registry tables" in e.value.message
        import psycopg

        with psycopg.connect(empty, connect_timeout=5) as c:
            n = c.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'").fetchone()
        assert n == (0,)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_registry_file_read_without_the_repo(sandbox):
    reg = fb.load_registry_direct(str(sandbox.feast_repo / "data" / "registry.db"), "config", None)
    from mlopstui.context import AppContext

    with_repo = fb.load_registry(AppContext.create(config.load(str(sandbox.config_path))))
    assert [(v.name, v.last_end) for v in reg.views] == [(v.name, v.last_end) for v in with_repo.views]
    assert reg.project == with_repo.project


def test_unreachable_registry_database_is_unreachable_not_a_traceback(tmp_path):
    from mlopstui.sandbox.procs import free_port

    with pytest.raises(MlopsError) as e:
        fb.load_registry_direct(f"postgresql://postgres@127.0.0.1:{free_port()}/x", "config", None, timeout=2)
    assert e.value.kind in (Kind.UNREACHABLE, Kind.TIMEOUT), e.value

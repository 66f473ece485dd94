"""The Feast registry without its repository (`endpoints.feast_registry`): the SQL registry in PostgreSQL
and the registry file, under faults. `features` (the verb that reads it) and the TUI's Features area go
through `backends.feast.load_registry_direct`.

For each fault: no traceback, the documented exit code (README "Reliability": refused or hung 3; an
answer that is not PostgreSQL's protocol, or a file that is no registry, 2), a message naming the
endpoint (host:port, or the file), and the verb ends within its deadline.
"""

from __future__ import annotations

import contextlib
import io
import time

import pytest
import yaml

from mlopstui.cli import main
from support.cli_env import isolate
from support.fault_servers import FaultServer, kubeconfig_for

DEADLINE = 2.0
SLACK = 3.0
EXIT = {"refuse": 3, "hang": 3, "garbage": 2}
WORDS = {"refuse": ("refused", "unreachable", "cannot reach"), "hang": ("timeout", "timed out", "no answer"),
         "garbage": ("not the protocol",)}


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """feast, SQLAlchemy and psycopg cost seconds to import on a loaded machine: once, before timing verbs."""
    import feast  # noqa: F401
    import psycopg  # noqa: F401
    import sqlalchemy  # noqa: F401


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("FEAST_REPO_PATH", raising=False)
    return isolate(tmp_path, monkeypatch)


def run(env, registry: str) -> tuple[int, str, float]:
    kube = FaultServer("refuse")  # no cluster: the registry endpoint is the configured one
    try:
        cfg = env / "config.yaml"
        cfg.write_text(yaml.safe_dump({"namespace": "mlops", "kube_timeout": 0.5, "probe_timeout": 0.5,
                                       "endpoints": {"feast_registry": registry}}))
        out, err = io.StringIO(), io.StringIO()
        t0 = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["features", "--config", str(cfg), "--kubeconfig",
                         kubeconfig_for(kube.url, env / "kubeconfig"), "--deadline", str(DEADLINE)])
        return code, out.getvalue() + err.getvalue(), time.monotonic() - t0
    finally:
        kube.stop()


def check(code, text, elapsed, *, expect, words, where):
    assert "Traceback" not in text and "internal error" not in text, text
    assert code == expect, (code, text)
    assert where in text, text
    assert any(w in text.lower() for w in words), text
    assert elapsed < DEADLINE + SLACK, elapsed


@pytest.mark.parametrize("fault", list(EXIT))
def test_sql_registry_faults(env, fault):
    srv = FaultServer(fault)
    try:
        code, text, elapsed = run(env, f"postgresql://feast@{srv.hostport}/feast")
    finally:
        srv.stop()
    check(code, text, elapsed, expect=EXIT[fault], words=WORDS[fault], where=srv.hostport)


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html>proxy login</html>", b"\x0a\xff\xff\xff\xff"])
def test_registry_file_that_is_no_registry(env, content):
    path = env / "registry.db"
    path.write_bytes(content)
    code, text, elapsed = run(env, str(path))
    check(code, text, elapsed, expect=2, words=("not a feast registry", "invalid"), where=str(path))


def test_missing_registry_file(env):
    code, text, elapsed = run(env, str(env / "nowhere.db"))
    check(code, text, elapsed, expect=1, words=("no feast registry file",), where=str(env / "nowhere.db"))

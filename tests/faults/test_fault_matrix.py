"""The fault matrix: every verb against each backend it uses, under each fault.

For every (verb, backend, fault): no traceback, the documented exit code, a message that names the
endpoint (host:port) and the fault, the verb ends within its deadline, and no escape sequence reaches the
text output. Writes whose answer times out are re-read (applied / not applied), and audited as such.
Verbs run in-process through `mlopstui.cli.main([...])` (the same code path as the console script, exit
code returned); fault servers are real sockets on loopback (tests/faults/servers.py).

Documented exit codes (README, "Reliability"): refused / hung -> 3; HTTP 500 -> 1; a 200 that is HTML or
not JSON, or a pagination loop -> 2 (invalid); `status`/`doctor` -> 3 whenever the cluster cannot be read;
a failed live probe (S3, Redis, PostgreSQL) -> a finding, `doctor` exit 1; `infer` not answered -> 1.

The figures (faults tried, tracebacks, writes, the longest verb under a hung backend) are printed at the end
of the module and written to $MLOPSTUI_FAULT_REPORT when set: `pytest tests/faults -s` reproduces them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from mlopstui.cli import main  # noqa: E402
from support.fault_servers import FaultServer, kubeconfig_for  # noqa: E402
from support.serving import NS, serving_cluster  # noqa: E402

DEADLINE = 2.0  # each verb's --deadline here
SLACK = 3.0  # overhead allowed on top of it (thread joins, a loaded 2-core machine); before: 20-41 s per verb
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ESCAPES = ("\x1b", "\x07", "\x9b", "\x9d")

FAULT_WORDS = {
    "refuse": ("unreachable", "refused", "cannot reach"),
    "hang": ("no answer", "timed out", "did not answer", "deadline", "timeout"),
    "500": ("500",),
    "html": ("html",),
    "badjson": ("not json",),
    "pageloop": ("page token", "next_page_token", "never end"),
}

# verb argv for the Kubernetes API backend (writes with --wait 0: the write itself is what is tested)
KUBE_VERBS = {
    "status": ["status"],
    "doctor": ["doctor"],
    "isvc": ["isvc"],
    "isvc-one": ["isvc", "fraud-detection"],
    "canary": ["canary", "fraud-detection", "30", "--yes", "--wait", "0"],
    "promote": ["promote", "fraud-detection", "--yes", "--wait", "0"],
    "rollback": ["rollback", "fraud-detection", "--yes", "--wait", "0"],
    "min-replicas": ["min-replicas", "fraud-detection", "2", "--yes", "--wait", "0"],
    "set-model": ["set-model", "fraud-detection", "s3://models/fraud-detection/v9", "--yes", "--wait", "0"],
    "infer": ["infer", "fraud-detection", "--input", "[[1, 2]]"],
    "materialize": ["materialize", "--cronjob", "feast-materialize", "--yes"],
    "repair": ["repair"],
    "install-list": ["install", "--list"],
    "workflows": ["workflows"],
    "workflow": ["workflow", "wf-1"],
    "suspend": ["suspend", "wf-1", "--yes"],
}
KUBE_FAULTS = ("refuse", "hang", "500", "html", "badjson")
CLUSTER_VERBS = ("status", "doctor", "install-list")

MLFLOW_VERBS = {
    "experiments": ["experiments"],
    "runs": ["runs", "fraud-detection"],
    "run": ["run", "r1"],
    "models": ["models"],
    "model-versions": ["models", "m"],
}
MLFLOW_FAULTS = ("refuse", "hang", "500", "html", "badjson", "pageloop")

# live probes of the stores: the doctor names the endpoint and makes a finding (exit 1)
PROBE_BACKENDS = {
    "s3": (("refuse", "hang", "500", "html"), lambda s: s.url),
    "redis": (("refuse", "hang", "html"), lambda s: f"redis://{s.hostport}/0"),
    "postgresql": (("refuse", "hang", "html"), lambda s: f"postgresql://mlflow@{s.hostport}/mlflow"),
}
INGRESS_FAULTS = ("refuse", "hang", "500", "html")

RESULTS: list[dict] = []


def _exit_for(verb: str, fault: str) -> set[int]:
    if verb in CLUSTER_VERBS:
        return {3}
    return {"refuse": {3}, "hang": {3}, "500": {1}, "html": {2}, "badjson": {2}, "pageloop": {2}}[fault]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The emulator (healthy, with the seed's InferenceServices) and one fault server per (protocol, fault)."""
    tmp = tmp_path_factory.mktemp("faults")
    servers: dict[tuple[str, str], FaultServer] = {}

    def server(protocol: str, fault: str, **kw) -> FaultServer:
        key = (protocol, fault)
        if key not in servers:
            servers[key] = FaultServer(fault, protocol=protocol, **kw)
        return servers[key]

    _warm_imports()
    with serving_cluster(tmp) as cluster:
        yield {"tmp": tmp, "cluster": cluster, "server": server}
        for s in servers.values():
            s.stop()
    _report()


def _warm_imports() -> None:
    """First imports (boto3 and its service model, redis, psycopg, httpx) cost seconds on a loaded machine:
    pay them once here, so that each timed verb measures the verb."""
    import boto3
    import httpx  # noqa: F401
    import psycopg  # noqa: F401
    import redis  # noqa: F401

    boto3.session.Session().client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                                   aws_access_key_id="x", aws_secret_access_key="y")


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("MLOPSTUI_CONFIG", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "FEAST_REPO_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "faultkey")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "faultsecret")
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return tmp_path


def run(env: Path, argv: list[str], *, kubeconfig: str, endpoints: dict | None = None, context: str | None = None,
        deadline: float = DEADLINE, record: dict | None = None,
        probe_timeout: float = 0.5, kube_timeout: float | None = None) -> tuple[int, str, str, float]:
    """kube_timeout: 0.5 s against a faulty API server, else 5 s (the emulator is a healthy bystander)."""
    if kube_timeout is None:
        kube_timeout = 5.0 if kubeconfig.endswith(".kubeconfig") or "kubeapi" in kubeconfig else 0.5
    cfg = env / "config.yaml"
    cfg.write_text(yaml.safe_dump({"namespace": NS, "kube_timeout": kube_timeout, "probe_timeout": probe_timeout,
                                   "endpoints": endpoints or {}}))
    full = [*argv, "--config", str(cfg), "--kubeconfig", kubeconfig, "--deadline", str(deadline)]
    if context:
        full += ["--context", context]
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(full)
    elapsed = time.monotonic() - t0
    if record is not None:
        RESULTS.append({**record, "code": code, "elapsed": round(elapsed, 2),
                        "traceback": "Traceback" in err.getvalue() or "internal error" in err.getvalue()})
    return code, out.getvalue(), err.getvalue(), elapsed


def _check(code, out, err, elapsed, *, expect: set[int], words: tuple[str, ...], where: str, deadline=DEADLINE):
    text = out + err
    assert "Traceback" not in text and "internal error" not in text, text
    assert code in expect, (code, expect, text[-2000:])
    assert elapsed < deadline + SLACK, f"took {elapsed:.1f}s (deadline {deadline}s)"
    low = text.lower()
    assert any(w in low for w in words), (words, text[-2000:])
    assert where in text, (where, text[-2000:])
    assert not any(e in text for e in ESCAPES), repr(text[-500:])


# -- the Kubernetes API ----------------------------------------------------------------------------
@pytest.mark.parametrize("fault", KUBE_FAULTS)
@pytest.mark.parametrize("verb", list(KUBE_VERBS))
def test_kube_api_faults(world, env, verb, fault):
    srv = world["server"]("kube", fault)
    kcfg = kubeconfig_for(srv.url, env / "kubeconfig")
    code, out, err, elapsed = run(env, KUBE_VERBS[verb], kubeconfig=kcfg,
                                  record={"backend": "kubernetes", "verb": verb, "fault": fault})
    _check(code, out, err, elapsed, expect=_exit_for(verb, fault), words=FAULT_WORDS[fault], where=srv.hostport)
    if verb in CLUSTER_VERBS:
        assert "CLUSTER UNREADABLE" in out.splitlines()[0], out  # said at the top


@pytest.mark.parametrize("verb", list(KUBE_VERBS))
def test_kube_api_escape_payloads(world, env, verb):
    """Server strings with OSC/CSI (names, conditions, events, storageUri, version) never reach the terminal."""
    srv = world["server"]("kube", "ansi")
    kcfg = kubeconfig_for(srv.url, env / "kubeconfig")
    code, out, err, elapsed = run(env, KUBE_VERBS[verb], kubeconfig=kcfg,
                                  record={"backend": "kubernetes", "verb": verb, "fault": "ansi"})
    text = out + err
    assert "Traceback" not in text and "internal error" not in text, text
    assert code in (0, 1, 2, 3)
    assert elapsed < DEADLINE + SLACK
    assert not any(e in text for e in ESCAPES), repr(text[-800:])


def test_json_output_stays_json_with_escape_payloads(world, env):
    srv = world["server"]("kube", "ansi")
    kcfg = kubeconfig_for(srv.url, env / "kubeconfig")
    code, out, err, _ = run(env, ["isvc", "fraud-detection", "--json"], kubeconfig=kcfg)
    assert code == 0, err
    doc = json.loads(out)  # valid JSON; the control characters are escaped by the encoder, not printed raw
    assert "\x1b" not in out and "\\u001b" in out
    assert "\x1b]0;pwned" in doc["url"]  # the data itself is kept, escaped


def test_pod_log_keeps_colours_only_as_parsed_styles():
    from rich.text import Text

    from mlopstui.text import keep_sgr

    line = "\x1b]0;pwned\x07ok \x1b[31mred\x1b[0m \x1b[2J"
    t = Text.from_ansi(keep_sgr(line))
    assert t.plain == "ok red " and any(getattr(s.style, "color", None) is not None for s in t.spans)


def test_no_hidden_retries_under_a_hung_api_server(world, env):
    """One GET, one connection: urllib3's default retries would reconnect 3 more times (20 s from 5 s)."""
    srv = FaultServer("hang")
    try:
        kcfg = kubeconfig_for(srv.url, env / "kubeconfig")
        code, out, err, elapsed = run(env, ["isvc", "fraud-detection"], kubeconfig=kcfg, deadline=10.0)
        assert code == 3 and "0.5 s" in err, err  # the call's own timeout, not the verb's 10 s
        assert len(srv._hang.conns) == 1, srv._hang.conns
        assert elapsed < 0.5 + SLACK
    finally:
        srv.stop()


# -- writes whose answer times out -----------------------------------------------------------------
def _proxy_kubeconfig(world, env, fault: str) -> tuple[FaultServer, str]:
    cluster = world["cluster"]
    srv = world["server"]("kube", fault, upstream=cluster.srv.url, hold=4.0)
    return srv, kubeconfig_for(srv.url, env / "kubeconfig", token=cluster.srv.token("admin"))


def _isvc_canary(world) -> int | None:
    return world["cluster"].status_of("fraud-detection")["spec"]["predictor"].get("canaryTrafficPercent")


def test_write_applied_but_answered_late_is_reported_applied(world, env):
    cluster = world["cluster"]
    srv, kcfg = _proxy_kubeconfig(world, env, "late-write")
    target = 45 if _isvc_canary(world) != 45 else 55
    mark = cluster.mark()
    code, out, err, elapsed = run(env, ["canary", "fraud-detection", str(target), "--yes", "--wait", "0"],
                                  kubeconfig=kcfg, record={"backend": "kubernetes", "verb": "canary",
                                                           "fault": "late-write"})
    assert code == 0, (out, err)
    assert "applied" in out and "timed out" in out and "re-reading" in out, out
    assert _isvc_canary(world) == target
    assert [e for e in cluster.srv.request_log[mark:] if e["method"] == "PATCH"]
    entry = json.loads((env / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "applied" and entry["ok"] is True
    assert elapsed < DEADLINE + SLACK + 10.0  # the re-read has its own few seconds


def test_write_lost_is_reported_not_applied(world, env):
    cluster = world["cluster"]
    srv, kcfg = _proxy_kubeconfig(world, env, "lost-write")
    before = _isvc_canary(world)
    target = 65 if before != 65 else 75
    mark = cluster.mark()
    code, out, err, _ = run(env, ["canary", "fraud-detection", str(target), "--yes", "--wait", "0"],
                            kubeconfig=kcfg, record={"backend": "kubernetes", "verb": "canary",
                                                     "fault": "lost-write"})
    assert code == 3, (out, err)
    assert "not applied" in err and srv.hostport in err, err
    assert _isvc_canary(world) == before
    assert not [e for e in cluster.srv.request_log[mark:] if e["method"] in WRITES]
    entry = json.loads((env / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "not applied" and entry["ok"] is False


def test_slow_api_server_still_works_within_the_deadline(world, env):
    srv, kcfg = _proxy_kubeconfig(world, env, "slow")
    code, out, err, elapsed = run(env, ["isvc"], kubeconfig=kcfg, deadline=5.0,
                                  record={"backend": "kubernetes", "verb": "isvc", "fault": "slow"})
    assert code == 0 and "fraud-detection" in out, err
    assert elapsed < 5.0 + SLACK


# -- MLflow ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", MLFLOW_FAULTS)
@pytest.mark.parametrize("verb", list(MLFLOW_VERBS))
def test_mlflow_faults(world, env, verb, fault):
    srv = world["server"]("mlflow", fault)
    code, out, err, elapsed = run(env, MLFLOW_VERBS[verb], kubeconfig=str(world["cluster"].kubeconfig),
                                  endpoints={"mlflow": srv.url},
                                  record={"backend": "mlflow", "verb": verb, "fault": fault})
    _check(code, out, err, elapsed, expect=_exit_for(verb, fault), words=FAULT_WORDS[fault], where=srv.hostport)


@pytest.mark.parametrize("verb", list(MLFLOW_VERBS))
def test_mlflow_escape_payloads(world, env, verb):
    srv = world["server"]("mlflow", "ansi")
    code, out, err, elapsed = run(env, MLFLOW_VERBS[verb], kubeconfig=str(world["cluster"].kubeconfig),
                                  endpoints={"mlflow": srv.url},
                                  record={"backend": "mlflow", "verb": verb, "fault": "ansi"})
    text = out + err
    assert code == 0, text
    assert "Traceback" not in text and not any(e in text for e in ESCAPES), repr(text[-800:])
    assert "pwned" not in text  # the OSC payload is removed whole, not left as text


def test_mlflow_version_body_is_validated():
    from mlopstui.text import version_or_none

    assert version_or_none("2.11.0") == "2.11.0" and version_or_none('"3.5.1"\n') == "3.5.1"
    assert version_or_none("2.11.0\x1b]0;pwned\x07") is None
    assert version_or_none("<html>login</html>") is None and version_or_none("x" * 80) is None


# -- the stores' live probes (S3, Redis, PostgreSQL) --------------------------------------------------
PROBE_CASES = [(b, f) for b, (faults, _) in PROBE_BACKENDS.items() for f in faults]


@pytest.mark.parametrize("backend,fault", PROBE_CASES, ids=[f"{b}-{f}" for b, f in PROBE_CASES])
def test_store_probe_faults_make_findings(world, env, backend, fault):
    srv = world["server"](backend, fault)
    url = PROBE_BACKENDS[backend][1](srv)
    code, out, err, elapsed = run(env, ["doctor"], kubeconfig=str(world["cluster"].kubeconfig),
                                  endpoints={backend: url}, probe_timeout=2.5,
                                  record={"backend": backend, "verb": "doctor", "fault": fault})
    words = FAULT_WORDS[fault] + (("not an s3 answer", "xml"), ("error", "protocol", "invalid"),
                                  ("error", "protocol", "invalid", "server"))[
        ("s3", "redis", "postgresql").index(backend)] if fault == "html" else FAULT_WORDS[fault]
    _check(code, out, err, elapsed, expect={1}, words=words, where=srv.hostport)
    assert "probe-failed" in out or "probe failed" in out or "does not answer" in out, out


def test_status_with_s3_html_is_not_healthy(world, env):
    srv = world["server"]("s3", "html")
    code, out, err, _ = run(env, ["status"], kubeconfig=str(world["cluster"].kubeconfig),
                            endpoints={"s3": srv.url}, probe_timeout=2.5)
    assert "0 buckets" not in out and "not an S3 answer" in out, out


# -- the ingress / model server ------------------------------------------------------------------------
@pytest.mark.parametrize("fault", INGRESS_FAULTS)
def test_infer_against_a_broken_ingress_fails(world, env, fault):
    srv = world["server"]("ingress", fault)
    code, out, err, elapsed = run(env, ["infer", "fraud-detection", "--input", "[[1, 2]]"],
                                  kubeconfig=str(world["cluster"].kubeconfig), endpoints={"ingress": srv.url},
                                  record={"backend": "ingress", "verb": "infer", "fault": fault})
    _check(code, out, err, elapsed, expect={1}, words=FAULT_WORDS[fault], where=srv.hostport)
    assert '"ok": true' not in out


def test_infer_burst_against_a_hung_ingress_ends_within_the_deadline(world, env):
    srv = world["server"]("ingress", "hang")
    code, out, err, elapsed = run(env, ["infer", "fraud-detection", "--input", "[[1, 2]]", "--burst", "5",
                                        "--timeout", "1"],
                                  kubeconfig=str(world["cluster"].kubeconfig), endpoints={"ingress": srv.url},
                                  record={"backend": "ingress", "verb": "infer --burst 5", "fault": "hang"})
    assert code == 1, (out, err)
    assert elapsed < DEADLINE + SLACK


# -- read-only: no verb writes ---------------------------------------------------------------------------
@pytest.mark.parametrize("verb", [v for v in KUBE_VERBS if "--yes" in KUBE_VERBS[v]])
def test_readonly_writes_nothing(world, env, verb):
    cluster = world["cluster"]
    mark = cluster.mark()
    code, out, err, _ = run(env, [*KUBE_VERBS[verb], "--readonly"], kubeconfig=str(cluster.kubeconfig),
                            context="mlopstui-sandbox", record={"backend": "kubernetes", "verb": verb,
                                                                "fault": "readonly"})
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    log = cluster.srv.request_log[mark:]
    RESULTS[-1]["writes"] = len([e for e in log if e["method"] in WRITES])
    assert log == [], log  # refused before any request, not only before the write


# -- the figures -----------------------------------------------------------------------------------------
def _report() -> None:
    if not RESULTS:
        return
    hung = [r for r in RESULTS if r["fault"] == "hang"]
    longest = max(hung, key=lambda r: r["elapsed"]) if hung else None
    summary = {
        "cases": len(RESULTS),
        "faults": sorted({r["fault"] for r in RESULTS}),
        "backends": sorted({r["backend"] for r in RESULTS}),
        "verbs": len({r["verb"] for r in RESULTS}),
        "tracebacks": sum(1 for r in RESULTS if r["traceback"]),
        "writes_in_readonly": sum(r.get("writes", 0) for r in RESULTS if r["fault"] == "readonly"),
        "deadline_s": DEADLINE,
        "longest_under_hung_backend": longest and {k: longest[k] for k in ("verb", "backend", "elapsed")},
    }
    text = "fault matrix: " + json.dumps(summary, sort_keys=True)
    print("\n" + text)
    if os.environ.get("MLOPSTUI_FAULT_REPORT"):
        Path(os.environ["MLOPSTUI_FAULT_REPORT"]).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")

"""The Stack backend and the status/doctor verbs against the emulator and real local services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from mlopstui.backends.stack import collect_cluster, probe_tasks, run_probes, sweep
from mlopstui.models.stack import Health, ProbeState
from mlopstui.models.stack.report import build_report
from support.leaks import closing
from support.stack_env import ACCESS_KEY, SECRETS, aws_env, stack_env  # noqa: F401, E402 - fixtures


def test_sweep_shows_every_seeded_component(aws_env):
    with closing(aws_env.context()) as ctx:
        report = sweep(ctx)
    by = {c.id: c for c in report.components}
    for cid in ("s3", "postgresql", "feast_registry", "redis", "mlflow", "feast", "kserve", "knative", "istio"):
        assert by[cid].installed, cid
    assert {w.name for w in by["knative"].workloads} == {"activator", "autoscaler", "controller", "webhook"}
    assert {w.name for w in by["istio"].workloads} == {"istiod", "istio-ingressgateway"}
    assert by["feast"].workloads[0].kind == "CronJob"
    for cid in ("s3", "postgresql", "redis", "kserve"):
        c = by[cid]
        assert c.desired >= 1 and c.ready == c.desired, (cid, c.ready, c.desired)
    assert not by["pgbouncer"].installed and by["pgbouncer"].health is Health.ABSENT
    # live probes against the real services
    assert by["postgresql"].probe.state in (ProbeState.OK, ProbeState.DEGRADED)
    assert by["postgresql"].probe.data["max_connections"] > 0
    assert by["redis"].probe.state is ProbeState.OK and by["redis"].probe.version
    assert by["s3"].probe.state is ProbeState.OK and "mlflow-artifacts" in by["s3"].probe.data["buckets"]
    # versions: the server's when it answers, else the image tag
    assert by["kserve"].version == "v0.16.0"
    # the hung endpoint (configured for LakeFS) times out on its own
    assert by["lakefs"].probe.state is ProbeState.TIMEOUT and by["lakefs"].health is Health.ERROR


def test_a_hung_endpoint_costs_only_its_own_timeout(aws_env):
    ctx = aws_env.context()
    state = collect_cluster(ctx)
    tasks, _skipped = probe_tasks(ctx.settings, state)
    t0 = time.monotonic()
    seen: list[tuple[str, float]] = []
    results = run_probes(tasks, ctx.settings.probe_timeout,
                         on_result=lambda r: seen.append((r.component, time.monotonic() - t0)))
    assert results["lakefs"].state is ProbeState.TIMEOUT
    order = [c for c, _ in seen]
    assert order[-1] == "lakefs"  # every other row was done before the hung one gave up
    fast = [t for c, t in seen if c != "lakefs"]
    assert max(fast) < ctx.settings.probe_timeout
    assert time.monotonic() - t0 < ctx.settings.probe_timeout + 1.5


def test_redis_memory_findings_follow_the_live_server(aws_env):
    import redis

    r = redis.Redis(port=aws_env.ports["redis"])
    ctx = aws_env.context()
    rep = sweep(ctx)
    ids = {f.id for f in rep.findings if f.component == "redis"}
    assert "redis-no-maxmemory" in ids and "redis-no-memory-limit" in ids
    try:
        for i in range(200):
            r.set(f"feature:{i}", "x" * 2000)
        used = int(r.info("memory")["used_memory"])
        r.config_set("maxmemory", str(int(used * 1.03)))
        r.config_set("maxmemory-policy", "allkeys-lru")
        rep = sweep(ctx)
        red = {f.id: f for f in rep.findings if f.component == "redis"}
        assert "redis-no-maxmemory" not in red
        assert "redis-near-maxmemory" in red and "headroom" in red["redis-near-maxmemory"].summary
        assert "redis-evicting-features" in red and "allkeys-lru" in red["redis-evicting-features"].summary
        assert "StatefulSet mlops/feast-redis-master" in red["redis-near-maxmemory"].objects
    finally:
        ctx.close()
        r.config_set("maxmemory", "0")
        r.config_set("maxmemory-policy", "noeviction")
        r.flushall()


def _cli(se, *args):
    env = {**os.environ, **se.env}
    return subprocess.run([sys.executable, "-m", "mlopstui.cli", *args, "--config", str(se.config_path)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_status_and_doctor_verbs(stack_env):
    st = _cli(stack_env, "status", "--json")
    doc = json.loads(st.stdout)
    ids = {c["id"]: c for c in doc["components"]}
    assert ids["mlflow"]["installed"] and ids["redis"]["probe"]["state"] == "ok"
    assert st.returncode == 1  # the hung LakeFS endpoint is an unhealthy configured component
    dr = _cli(stack_env, "doctor", "--json")
    assert dr.returncode == 1
    found = json.loads(dr.stdout)["findings"]
    by_id = {}
    for f in found:
        by_id.setdefault(f["id"], []).append(f)
    assert "Job mlops/train-fraud-model" in by_id["mlflow-client-no-s3-endpoint"][0]["objects"]
    assert "InferenceService mlops/fraud-detection" in by_id["isvc-ineffective-minscale"][0]["objects"]
    assert any("Deployment mlops/minio" in f["objects"] for f in by_id["image-minio-unpatched"])
    assert {o for f in by_id["image-bitnami-legacy"] for o in f["objects"]} >= {
        "Deployment mlops/mlflow-server", "StatefulSet mlops/mlflow-db-postgresql"}
    text = _cli(stack_env, "doctor")
    assert "fix:" in text.stdout and "train-fraud-model" in text.stdout
    only = _cli(stack_env, "doctor", "--component", "kserve", "--json")
    assert {f["component"] for f in json.loads(only.stdout)["findings"]} == {"kserve"}
    table = _cli(stack_env, "status")
    assert "COMPONENT" in table.stdout and "MLflow" in table.stdout
    for out in (st.stdout, dr.stdout, text.stdout, table.stdout, st.stderr, dr.stderr):
        for secret in SECRETS + (ACCESS_KEY,):
            assert secret not in out


def test_unreachable_cluster_exits_3(stack_env, tmp_path):
    cfg = tmp_path / "c.yaml"
    bad = tmp_path / "kubeconfig"
    bad.write_text(stack_env.kubeconfig.read_text().replace(
        f":{stack_env.kube_server.port}", ":1"))
    cfg.write_text(f"kubeconfig: {bad}\nkube_timeout: 1\nprobe_timeout: 0.5\n")
    r = subprocess.run([sys.executable, "-m", "mlopstui.cli", "doctor", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr


def test_report_is_pure_given_state_and_probes(aws_env):
    ctx = aws_env.context()
    state = collect_cluster(ctx)
    a = build_report(ctx.settings, state, {})
    b = build_report(ctx.settings, state, {})
    assert [f.key for f in a.findings] == [f.key for f in b.findings]


def test_the_s3_probe_builds_its_client_once_and_follows_the_credentials(aws_env, monkeypatch, tmp_path):
    """A sweep's S3 probe reuses the client an earlier sweep built (building one holds the GIL for
    50-100 ms: bench_stack --diagnose), and a change of the credentials' environment still shows."""
    from mlopstui.backends import probes

    url = aws_env.env["MLFLOW_S3_ENDPOINT_URL"]
    first = probes.probe_s3("s3", url, timeout=5.0)
    assert first.state is ProbeState.OK and "mlflow-artifacts" in first.data["buckets"]
    client = probes._s3_client(url, 5.0)
    assert probes.probe_s3("s3", url, timeout=5.0).state is ProbeState.OK
    assert probes._s3_client(url, 5.0) is client  # the second sweep built no client
    other = probes._s3_client(url, 4.0)  # another key (a new route, a new timeout): a new client...
    assert other is not client and other._loader is client._loader  # ...on the data files parsed once
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nothing"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nothing"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    gone = probes.probe_s3("s3", url, timeout=5.0)
    assert gone.state is ProbeState.DEGRADED and gone.summary == "no credentials"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_env.env["AWS_SECRET_ACCESS_KEY"])
    assert probes.probe_s3("s3", url, timeout=5.0).state is ProbeState.OK


def test_the_probe_warm_up_takes_the_imported_objects_out_of_the_collectors_walk():
    """After the probe SDKs are imported the objects of every module so far are frozen (gc.freeze): a full
    collection, which runs on whichever thread allocates (the UI thread too), walks only what came after
    (bench_stack --diagnose measured 130-680 ms gen-2 pauses over ~200,000 import-time objects)."""
    code = ("import gc, mlopstui.app\n"
            "from mlopstui.backends import probes\n"
            "probes.warm_up()\n"
            "import botocore.session\n"
            "print(gc.get_freeze_count(), len(gc.get_objects()),"
            " any(o is botocore.session.Session.__init__ for o in gc.get_objects()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    frozen, tracked, sdk_tracked = out.stdout.split()
    assert int(frozen) > 50_000 and int(tracked) < int(frozen) // 4, out.stdout
    assert sdk_tracked == "False"  # an SDK's function is no longer walked by a collection

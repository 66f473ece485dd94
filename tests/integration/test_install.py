"""`mlopstui install` and the Install action against the Kubernetes API emulator over HTTP.

Two clusters:
- an in-process emulator (its request log shows every request: dry runs, read-only and bad input
  send no write, the viewer gets a 403, a failing apply stops and says what was applied);
- the seeded sandbox (the `sandbox` fixture): PostgreSQL, PgBouncer, Redis and MLflow installed into a
  namespace of our own (`install-test`, removed again at the end), read back with kubectl, then
  reported installed by the Stack sweep; a second install is refused.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.cli import main

KUBECTL = Path(sys.executable).parent / "kubectl"
NS = "install-emu"
SANDBOX_NS = "install-test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(audit))
    return audit


# -- the in-process emulator -------------------------------------------------------------------------
class Emu:
    def __init__(self, srv):
        self.srv = srv
        self.kubeconfig = srv.kubeconfig_path

    def kube(self, context: str = "mlopstui-sandbox"):
        from mlopstui.backends.kube import KubeClient

        return KubeClient.from_settings(self.kubeconfig, context, NS)

    def mark(self) -> int:
        return len(self.srv.request_log)

    def since(self, mark: int) -> list[dict]:
        return list(self.srv.request_log[mark:])

    def writes(self, mark: int, real_only: bool = False) -> list[dict]:
        out = [e for e in self.since(mark) if e["method"] in WRITES]
        if real_only:
            out = [e for e in out if "dryRun=All" not in (e.get("query") or "")]
        return out


@pytest.fixture
def emu(tmp_path):
    from mlopstui.backends.kube import NAMESPACES
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kubeapi"), run_controllers=True).start()
    try:
        e = Emu(srv)
        e.kube().create(NAMESPACES, {"metadata": {"name": NS}})
        yield e
    finally:
        srv.stop()


def secret_password(secret: dict) -> str:
    """The API server (and the emulator) turns stringData into base64 data."""
    assert "stringData" not in secret
    return base64.b64decode(secret["data"]["password"]).decode()


def run(kubeconfig, capsys, *argv, context="mlopstui-sandbox", ns=NS, extra=()):
    code = main([*argv, "--kubeconfig", str(kubeconfig), "--context", context, "-n", ns, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_sends_only_dry_runs_and_creates_nothing(emu, xdg, capsys):
    from mlopstui.backends.kube import SECRETS, STATEFULSETS

    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "postgresql", "--dry-run")
    assert code == 0, err
    assert "dry run: nothing changed" in out and "dryRun=All" in out
    assert '"password": "***"' in out
    writes = emu.writes(mark)
    assert writes and all("dryRun=All" in e["query"] and e["method"] == "PATCH" for e in writes)
    assert {e["path"].rsplit("/", 2)[-2] for e in writes} == {"secrets", "services", "statefulsets"}
    assert emu.writes(mark, real_only=True) == []
    assert emu.kube().list(STATEFULSETS, NS) == [] and emu.kube().list(SECRETS, NS) == []
    # without --yes: the plan is printed, exit 2, still nothing written
    code, out, _ = run(emu.kubeconfig, capsys, "install", "redis")
    assert code == 2 and "--yes" in out
    assert emu.writes(mark, real_only=True) == []
    assert not xdg.exists()


def test_readonly_sends_no_write_at_all(emu, xdg, capsys):
    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "redis", "--yes", "--readonly")
    assert code == 2 and "read-only" in err
    assert emu.writes(mark) == []  # not even a dry run
    code, out, _ = run(emu.kubeconfig, capsys, "install", "redis", "--dry-run", "--readonly", "--json")
    assert code == 0 and json.loads(out)["applied"] is False
    assert emu.writes(mark) == []


@pytest.mark.parametrize("sets", [["memory=abc"], ["replicas=-1"], ["memory"], ["policy=allkeys"],
                                  ["image=bitnami/redis:7.2"]])
def test_bad_set_values_are_refused_before_any_request(emu, xdg, capsys, sets):
    component = "mlflow" if sets == ["replicas=-1"] else "redis"
    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", component, *[a for s in sets for a in ("--set", s)],
                         "--yes")
    assert code == 2, (out, err)
    assert err.startswith("error: ")
    assert emu.since(mark) == []  # no request at all


def test_components_without_builtin_install_are_refused_with_the_upstream_route(emu, xdg, capsys):
    mark = emu.mark()
    code, _, err = run(emu.kubeconfig, capsys, "install", "kserve", "--yes")
    assert code == 2 and "quick install" in err
    code, out, _ = run(emu.kubeconfig, capsys, "install", "s3", "--yes", "--json")
    doc = json.loads(out)
    assert code == 2 and "bring your own S3" in doc["error"]["message"] and "archived" in doc["error"]["message"]
    assert emu.since(mark) == []


def test_viewer_gets_a_403_message_and_nothing_is_written(emu, xdg, capsys):
    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "redis", "--yes",
                         context="mlopstui-sandbox-viewer")
    assert code == 1
    assert "forbidden" in err.lower() or "cannot" in err.lower()
    assert "RBAC" in err  # the hint names the cause
    assert [e for e in emu.writes(mark) if e["status"] < 400] == []


def test_install_creates_objects_once_and_no_secret_leaks(emu, xdg, capsys):
    from mlopstui.backends.kube import SECRETS, SERVICES, STATEFULSETS

    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "postgresql", "--yes", "--json",
                         "--set", "storage=2Gi", "--set", "max_connections=300")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["applied"] is True and doc["result"]["ok"] is True
    real = emu.writes(mark, real_only=True)
    assert [e["path"].rsplit("/", 2)[-2] for e in real] == ["secrets", "services", "statefulsets"]
    assert all(e["method"] == "PATCH" and "fieldManager=mlopstui" in e["query"] and e["status"] < 300
               for e in real)
    kube = emu.kube()
    sts = kube.get(STATEFULSETS, "postgresql", NS)
    assert sts["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlopstui"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "max_connections=300" in sts["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(m.get("manager") == "mlopstui" for m in sts["metadata"].get("managedFields") or [])
    assert kube.get(SERVICES, "postgresql", NS)["spec"]["selector"]
    password = secret_password(kube.get(SECRETS, "postgresql-credentials", NS))
    assert len(password) >= 24
    audit = xdg.read_text()
    for text in (out, err, audit):
        assert password not in text
    entry = json.loads(audit.splitlines()[-1])
    assert entry["action"] == "install" and entry["ok"] is True
    assert entry["patch"][0]["stringData"] == {"password": "***"}

    # a second install is refused, nothing written, and the password is not regenerated
    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "postgresql", "--yes")
    assert code == 2 and "already installed" in err and "StatefulSet" in err
    assert emu.writes(mark) == []

    # PgBouncer in front of it: found and wired without being told
    code, out, err = run(emu.kubeconfig, capsys, "install", "pgbouncer", "--yes")
    assert code == 0, err
    assert "transaction pooling" in out and password not in out
    from mlopstui.backends.kube import DEPLOYMENTS

    dep = kube.get(DEPLOYMENTS, "pgbouncer", NS)
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_HOST"]["value"] == f"postgresql.{NS}.svc.cluster.local"
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgresql-credentials"
    assert password not in xdg.read_text()


def test_pgbouncer_in_front_of_the_seed_postgresql_uses_the_chart_secret(emu, xdg, capsys):
    """On the seed's platform (PostgreSQL from the Bitnami chart: Secret mlflow-db-postgresql, key
    postgres-password), PgBouncer installs with no --set at all, pointing at that Secret by reference."""
    from mlopstui.backends.kube import DEPLOYMENTS
    from support.stack_env import apply_objects, seed_objects

    kube = emu.kube()
    apply_objects(kube, seed_objects())
    mark = emu.mark()
    code, out, err = run(emu.kubeconfig, capsys, "install", "pgbouncer", "--yes", ns="mlops")
    assert code == 0, out + err
    dep = kube.get(DEPLOYMENTS, "pgbouncer", "mlops")
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-db-postgresql",
                                                               "key": "postgres-password"}
    assert env["DB_HOST"]["value"].startswith("mlflow-db-postgresql.") and env["DB_USER"]["value"] == "postgres"
    assert [e["path"].rsplit("/", 2)[-2] for e in emu.writes(mark, real_only=True)] == ["services", "deployments"]
    assert "cG9zdGdyZXM" not in out  # base64 of the seed's password: never read, never shown


def test_list_shows_installed_state(emu, xdg, capsys):
    code, out, err = run(emu.kubeconfig, capsys, "install", "redis", "--yes")
    assert code == 0, err
    code, out, _ = run(emu.kubeconfig, capsys, "install", "--list", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)["components"]}
    assert rows["redis"]["installed"] is True and rows["redis"]["workloads"] == [
        "StatefulSet/feast-redis-master"]
    assert rows["pgbouncer"]["installed"] is False and rows["pgbouncer"]["installable"] is True
    assert rows["kserve"]["installable"] is False


def test_apply_stops_at_the_first_failure_and_says_what_was_applied(emu, xdg):
    from mlopstui import config
    from mlopstui.actions.install import Install
    from mlopstui.backends.kube import NAMESPACES
    from mlopstui.context import AppContext
    from mlopstui.errors import MlopsError

    ctx = AppContext.create(config.load(None, kubeconfig=emu.kubeconfig, context="mlopstui-sandbox", namespace=NS))
    try:
        action = Install(ctx, "postgresql", namespace=NS)
        plan = action.plan()
        emu.kube().delete(NAMESPACES, NS)  # the namespace goes away between confirm and apply
        mark = emu.mark()
        with pytest.raises(MlopsError) as e:
            action.apply(plan, readonly=False, audit=ctx.audit)
        assert "install stopped at Secret/postgresql-credentials" in e.value.message
        assert "applied before it: nothing" in e.value.message and "StatefulSet/postgresql" in e.value.message
        assert len(emu.writes(mark)) == 1  # stopped after the first failed write
        entry = ctx.audit.entries()[-1]
        assert entry["ok"] is False and "install stopped" in entry["message"]
    finally:
        ctx.close(final=True)


# -- the seeded sandbox -------------------------------------------------------------------------------
def kubectl(sandbox, *argv) -> str:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig), "--context", sandbox.context,
                          "-n", SANDBOX_NS, *argv], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": ""})
    assert out.returncode == 0, out.stderr
    return out.stdout


def _cleanup(kube) -> None:
    from mlopstui.backends import kube as k
    from mlopstui.errors import MlopsError

    for res in (k.DEPLOYMENTS, k.STATEFULSETS, k.SERVICES, k.SECRETS):
        try:
            for o in kube.list(res, SANDBOX_NS):
                kube.delete(res, o["metadata"]["name"], SANDBOX_NS)
        except MlopsError:
            pass
    try:
        kube.delete(k.NAMESPACES, SANDBOX_NS)
    except MlopsError:
        pass


@pytest.fixture
def sandbox_ns(sandbox):
    from mlopstui.backends.kube import NAMESPACES, SECRETS, KubeClient

    kube = KubeClient.from_settings(str(sandbox.kubeconfig), sandbox.context, SANDBOX_NS)
    _cleanup(kube)  # a previous run that was interrupted
    kube.create(NAMESPACES, {"metadata": {"name": SANDBOX_NS}})
    kube.create(SECRETS, {"metadata": {"name": "s3-credentials"},
                          "stringData": {"access-key": "AKIAINSTALLTEST", "secret-key": "install-S3-secret-91x"}},
                SANDBOX_NS)
    try:
        yield kube
    finally:
        _cleanup(kube)


def test_sandbox_install_stack_then_sweep_reports_it_installed(sandbox, sandbox_ns, xdg, capsys):
    from mlopstui import config
    from mlopstui.backends.stack import sweep
    from mlopstui.context import AppContext

    base = dict(context=sandbox.context, ns=SANDBOX_NS, extra=("--config", str(sandbox.config_path)))
    outputs = []
    for component, sets in (("postgresql", ["--set", "storage=1Gi"]), ("pgbouncer", []),
                            ("redis", ["--set", "memory=512Mi"]), ("mlflow", ["--set", "workers=2"])):
        code, out, err = run(sandbox.kubeconfig, capsys, "install", component, *sets, "--yes", **base)
        assert code == 0, (component, out, err)
        outputs.append(out + err)

    # read back with kubectl
    sts = json.loads(kubectl(sandbox, "get", "statefulsets", "-o", "json"))["items"]
    deps = json.loads(kubectl(sandbox, "get", "deployments", "-o", "json"))["items"]
    names = {o["metadata"]["name"] for o in sts + deps}
    assert names == {"postgresql", "feast-redis-master", "pgbouncer", "mlflow-server"}
    assert all(o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlopstui" for o in sts + deps)
    redis = next(o for o in sts if o["metadata"]["name"] == "feast-redis-master")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == str(512 * 2**20 * 80 // 100)
    mlflow = next(o for o in deps if o["metadata"]["name"] == "mlflow-server")
    margs = mlflow["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"@pgbouncer.{SANDBOX_NS}.svc.cluster.local:5432/mlflow" in margs[margs.index("--backend-store-uri") + 1]
    assert f"mlflow-server.{SANDBOX_NS}.svc.cluster.local:5000" in margs[margs.index("--allowed-hosts") + 1]
    menv = {e["name"]: e for e in mlflow["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert menv["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio.mlops.svc.cluster.local:9000"
    services = kubectl(sandbox, "get", "services", "-o", "name")
    assert "service/mlflow-server" in services and "service/pgbouncer" in services

    # the Stack sweep reports each one installed, with the workload in our namespace
    settings = config.load(str(sandbox.config_path), kubeconfig=str(sandbox.kubeconfig), context=sandbox.context,
                           namespace=SANDBOX_NS)
    sweep_ctx = AppContext.create(settings)
    try:
        report = sweep(sweep_ctx)
    finally:
        sweep_ctx.close(final=True)
    for cid, name in (("postgresql", "postgresql"), ("pgbouncer", "pgbouncer"), ("redis", "feast-redis-master"),
                      ("mlflow", "mlflow-server")):
        c = report.component(cid)
        assert c is not None and c.installed, cid
        assert (SANDBOX_NS, name) in {(w.namespace, w.name) for w in c.workloads}, cid
    # per-workload rules (redis-no-maxmemory is per component: it lists the seed's Redis too)
    ours = [f for f in report.findings if any(f" {SANDBOX_NS}/" in o for o in f.objects)
            and f.id in ("redis-no-memory-limit", "mlflow-allowed-hosts", "mlflow-backend-host-unknown",
                         "mlflow-artifact-root-local", "mlflow-backend-store-local", "image-bitnami-legacy")]
    assert ours == [], [(f.id, f.summary) for f in ours]

    # a second install is refused
    code, out, err = run(sandbox.kubeconfig, capsys, "install", "pgbouncer", "--yes", **base)
    assert code == 2 and "already installed" in err

    # no secret value in anything printed or audited
    password = secret_password(json.loads(kubectl(sandbox, "get", "secret", "postgresql-credentials", "-o", "json")))
    audit = xdg.read_text()
    assert len(audit.splitlines()) == 4
    for text in [*outputs, out, err, audit]:
        assert password not in text and "install-S3-secret-91x" not in text

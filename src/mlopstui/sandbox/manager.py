"""Bring the local sandbox up and down: `mlopstui sandbox up|down|status|env`.

Layout of a sandbox directory DIR (default ``locations.sandbox_dir()``):

    state.json        pids, process groups, ports, addresses of the parts
    secrets.json      generated S3 access key/secret (mode 0600)
    mlopstui.yaml     settings for `mlopstui --config DIR/mlopstui.yaml`
    env               `export` lines (contains the secret: mode 0600)
    logs/<part>.log   stdout+stderr of each part
    kube/             Kubernetes API emulator state + kubeconfig
    s3data/           mirror of the S3 buckets (moto is in-memory; see s3.py)
    mlflow/mlflow.db  MLflow backend store (SQLite)
    feast/feature_repo  Feast repository, parquet data, registry
    lakefs/           the LakeFS emulator's metadata (lakefs.json) and request log (requests.jsonl)
    dvc/fraud-data    a DVC project in a Git repository (the Data area)
    models/           the trained fraud models (v1, v2)
    .seeded           marker: first-time seeding done

Parts (each a child process in its own process group): ``kubeapi``, ``s3``,
``mlflow``, ``model-v1``, ``model-v2``, ``ingress``, ``lakefs``, and ``prometheus`` when Debian's
``prometheus`` binary is installed (``apt-get install prometheus``; it scrapes the ingress's Istio metrics and
the model servers' /metrics every second; ``MLOPSTUI_SANDBOX_PROMETHEUS=0`` leaves it out). ``up`` is
idempotent: parts whose recorded process is alive are only checked for readiness.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlopstui import locations
from mlopstui.sandbox import procs
from mlopstui.sandbox.procs import PartSpec, SandboxError

CONTEXT = "mlopstui-sandbox"
VIEWER_CONTEXT = "mlopstui-sandbox-viewer"
NAMESPACE = "mlops"
BASE_PARTS = ("kubeapi", "s3", "mlflow", "model-v1", "model-v2", "ingress", "lakefs")
PARTS = (*BASE_PARTS, "prometheus")  # every part a state may name; which run: active_parts()
PROMETHEUS_ENV = "MLOPSTUI_SANDBOX_PROMETHEUS"
SCRAPE_INTERVAL = "1s"


def prometheus_binary() -> str | None:
    import shutil

    if os.environ.get(PROMETHEUS_ENV, "1").strip().lower() in ("0", "no", "false", "off"):
        return None
    return shutil.which("prometheus")


def active_parts() -> tuple[str, ...]:
    """The parts `up` runs here: the base ones, and prometheus when the binary is installed."""
    return PARTS if prometheus_binary() else BASE_PARTS


def prometheus_skipped() -> str | None:
    """Why the sandbox runs no Prometheus (shown by `sandbox up`), or None."""
    if prometheus_binary():
        return None
    if os.environ.get(PROMETHEUS_ENV, "1").strip().lower() in ("0", "no", "false", "off"):
        return f"prometheus: left out ({PROMETHEUS_ENV}=0)"
    return ("prometheus: not installed, skipped (apt-get install prometheus gives the rollout gates a real "
            "Prometheus; without it they use the model servers' /metrics)")
SEEDED_MARKER = ".seeded"
HOST = "127.0.0.1"


@dataclass
class SandboxInfo:
    """What a running sandbox offers. ``env`` holds the secret: do not log it."""

    dir: Path
    kubeconfig: Path
    config_path: Path
    env: dict[str, str]
    parts: dict[str, str]
    context: str = CONTEXT
    viewer_context: str = VIEWER_CONTEXT
    namespace: str = NAMESPACE
    feast_repo: Path | None = None
    started: list[str] = field(default_factory=list)
    seeded_now: bool = False
    # the bastion mode (kubeconfig only): its settings file and environment
    kubeconfig_only_config: Path | None = None
    kubeconfig_only_env: dict[str, str] = field(default_factory=dict)

    def export_lines(self) -> str:
        import shlex

        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(self.env.items()))


def resolve_dir(d: str | os.PathLike[str] | None) -> Path:
    return Path(d).expanduser().resolve() if d else locations.sandbox_dir().resolve()


@contextlib.contextmanager
def _locked(d: Path):
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _secrets(d: Path) -> dict[str, str]:
    p = d / "secrets.json"
    if p.exists():
        data = json.loads(p.read_text())
        if "lakefs_access_key" not in data:  # a sandbox made before the Data area
            data.update(_lakefs_secrets())
            _write_private(p, json.dumps(data))
        return data
    data = {
        "access_key": "SBX" + secrets.token_hex(8).upper(),
        "secret_key": secrets.token_urlsafe(30),
        **_lakefs_secrets(),
    }
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return data


def _lakefs_secrets() -> dict[str, str]:
    return {"lakefs_access_key": "AKIAJ" + secrets.token_hex(7).upper(), "lakefs_secret_key": secrets.token_urlsafe(30)}


def _write_private(p: Path, text: str) -> None:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(p, 0o600)


def _ports(d: Path, state: dict) -> dict[str, int]:
    """Ports chosen at first up and reused after; a taken port is replaced."""
    old = state.get("ports", {})
    ports: dict[str, int] = {}
    for name in PARTS:
        info = state.get("parts", {}).get(name, {})
        p = old.get(name)
        if p and procs.part_alive(info):
            ports[name] = p  # still ours
        elif p and procs.port_free(p):
            ports[name] = p
        else:
            ports[name] = procs.free_port(avoid=set(ports.values()))
    return ports


def _paths(d: Path) -> dict[str, Path]:
    return {
        "kube": d / "kube",
        "kubeconfig": d / "kube" / "kubeconfig",
        "s3data": d / "s3data",
        "mlflow": d / "mlflow",
        "feast": d / "feast",
        "feast_repo": d / "feast" / "feature_repo",
        "models": d / "models",
        "lakefs": d / "lakefs",
        "prometheus": d / "prometheus",
        "dvc_repo": d / "dvc" / "fraud-data",
        "config": d / "mlopstui.yaml",
        "env": d / "env",
        # the bastion mode: only the kubeconfig (and a checkout of the feature repository) is handed over
        "konly": d / "kubeconfig-only",
        "konly_config": d / "kubeconfig-only" / "mlopstui.yaml",
        "konly_repo": d / "kubeconfig-only" / "feature_repo",
    }


def kubeconfig_only_env(d: Path, sec: dict[str, str]) -> dict[str, str]:
    """The environment of an operator on a bastion: a kubeconfig and S3 credentials, no endpoint URL."""
    p = _paths(d)
    return {
        "KUBECONFIG": str(p["kubeconfig"]),
        "AWS_ACCESS_KEY_ID": sec["access_key"],
        "AWS_SECRET_ACCESS_KEY": sec["secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLOPSTUI_CONFIG": str(p["konly_config"]),
    }


def _write_kubeconfig_only(d: Path) -> None:
    """DIR/kubeconfig-only/: a settings file naming only the kubeconfig (every endpoint is then found from
    the cluster's Services and, with cluster DNS unresolvable, reached through the API server), and a
    checkout of the feature repository as written for in-cluster use (its online store is the Redis
    Service's cluster DNS name)."""
    import yaml

    from mlopstui.sandbox.feast_repo import REDIS_DB

    p = _paths(d)
    p["konly"].mkdir(exist_ok=True)
    repo = p["konly_repo"]
    repo.mkdir(exist_ok=True)
    src = p["feast_repo"]
    fs = yaml.safe_load((src / "feature_store.yaml").read_text())
    if (fs.get("online_store") or {}).get("type") == "redis":
        fs["online_store"]["connection_string"] = f"feast-redis-master.{NAMESPACE}.svc.cluster.local:6379,db={REDIS_DB}"
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(fs, sort_keys=False))
    link = repo / "data"
    if not link.exists():
        link.symlink_to(src / "data", target_is_directory=True)
    # probes through the API server add a round trip or two (and set up a forward the first time)
    cfg = _settings(d, {"feast_repo": str(repo)}, probe_timeout=5.0)
    header = ("# written by `mlopstui sandbox up`: the bastion mode, only the kubeconfig; use:\n"
              f"#   eval \"$(mlopstui sandbox env --kubeconfig-only --dir {d})\"; mlopstui\n")
    p["konly_config"].write_text(header + yaml.safe_dump(cfg, sort_keys=False))


def _client_env(d: Path, ports: dict[str, int], sec: dict[str, str]) -> dict[str, str]:
    p = _paths(d)
    return {
        "KUBECONFIG": str(p["kubeconfig"]),
        "MLFLOW_TRACKING_URI": f"http://{HOST}:{ports['mlflow']}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://{HOST}:{ports['s3']}",
        "AWS_ACCESS_KEY_ID": sec["access_key"],
        "AWS_SECRET_ACCESS_KEY": sec["secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "FEAST_REPO_PATH": str(p["feast_repo"]),
        "MLOPSTUI_CONFIG": str(p["config"]),
    }


def _service_routes(ports: dict[str, int]) -> dict[str, str]:
    """Service host:port as pods write them -> the sandbox's local address."""
    out: dict[str, str] = {}
    for svc, port, local in (("mlflow-server", 5000, ports["mlflow"]), ("minio", 9000, ports["s3"])):
        for host in (f"{svc}.{NAMESPACE}.svc.cluster.local", f"{svc}.{NAMESPACE}.svc", f"{svc}.{NAMESPACE}"):
            out[f"{host}:{port}"] = f"{HOST}:{local}"
    return out


def _specs(d: Path, ports: dict[str, int], sec: dict[str, str]) -> dict[str, PartSpec]:
    p = _paths(d)
    s3_url = f"http://{HOST}:{ports['s3']}"
    aws = {
        "AWS_ACCESS_KEY_ID": sec["access_key"],
        "AWS_SECRET_ACCESS_KEY": sec["secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    mlflow_port = ports["mlflow"]
    allowed = ",".join([
        f"{HOST}:{mlflow_port}", f"localhost:{mlflow_port}", HOST, "localhost",
        "mlflow-server", "mlflow-server:5000", "mlflow-server.mlops", "mlflow-server.mlops:5000",
        "mlflow-server.mlops.svc", "mlflow-server.mlops.svc:5000",
        "mlflow-server.mlops.svc.cluster.local", "mlflow-server.mlops.svc.cluster.local:5000",
    ])
    routes = {uri: f"http://{addr}" for uri, addr in _model_routes(ports).items()}
    specs = {
        "kubeapi": PartSpec(
            "kubeapi",
            procs.python_argv("mlopstui.sandbox.kubeapi", "--dir", str(p["kube"]), "--host", HOST,
                              "--port", str(ports["kubeapi"]), "--feast-repo", str(p["feast_repo"])),
            ports["kubeapi"],
            ready=lambda: p["kubeconfig"].exists() and procs.http_ok(f"https://{HOST}:{ports['kubeapi']}/readyz"),
            address=f"https://{HOST}:{ports['kubeapi']}",
            # materialization Jobs run `feast` with the Feast repo as cwd: it must be on PATH
            env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **aws,
                 # the sandbox's cluster DNS: workflow steps (local processes) reach Services here
                 "SANDBOX_SERVICE_ROUTES": json.dumps(_service_routes(ports))},
        ),
        "s3": PartSpec(
            "s3",
            procs.python_argv("mlopstui.sandbox.s3", "--dir", str(p["s3data"]), "--host", HOST,
                              "--port", str(ports["s3"])),
            ports["s3"],
            ready=lambda: (p["s3data"] / "ready.mlopstui-meta").exists() and procs.http_ok(s3_url + "/"),
            address=s3_url,
            env=aws,
            nice=5,
        ),
        "mlflow": PartSpec(
            "mlflow",
            # `mlflow server --workers 1 --no-serve-artifacts` with the same flags, served in one
            # process instead of two (see mlflow_server.py: half the start-up CPU)
            procs.python_argv("mlopstui.sandbox.mlflow_server", "--host", HOST, "--port", str(mlflow_port),
                              "--backend-store-uri", f"sqlite:///{p['mlflow'] / 'mlflow.db'}",
                              "--default-artifact-root", "s3://mlflow-artifacts/", "--allowed-hosts", allowed),
            mlflow_port,
            ready=lambda: procs.http_ok(f"http://{HOST}:{mlflow_port}/health"),
            address=f"http://{HOST}:{mlflow_port}",
            # server-side jobs (scorers, trace rollups) are not used by the sandbox; turning
            # them off spares a job-runner process importing mlflow during startup (~3 s on 2 cores)
            env={"MLFLOW_S3_ENDPOINT_URL": s3_url, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **aws},
            cwd=p["mlflow"],
            timeout=120,
        ),
        "ingress": PartSpec(
            "ingress",
            procs.python_argv("mlopstui.sandbox.ingress", "--host", HOST, "--port", str(ports["ingress"]),
                              "--kubeconfig", str(p["kubeconfig"]), "--context", CONTEXT),
            ports["ingress"],
            ready=lambda: procs.http_ok(f"http://{HOST}:{ports['ingress']}/_sandbox/healthz"),
            address=f"http://{HOST}:{ports['ingress']}",
            env={"SANDBOX_MODEL_ROUTES": json.dumps(routes)},
        ),
    }
    lakefs_url = f"http://{HOST}:{ports['lakefs']}"
    specs["lakefs"] = PartSpec(
        "lakefs",
        procs.python_argv("mlopstui.sandbox.lakefs", "--dir", str(p["lakefs"]), "--host", HOST,
                          "--port", str(ports["lakefs"]), "--s3-endpoint", s3_url),
        ports["lakefs"],
        ready=lambda: procs.http_ok(lakefs_url + "/_health"),
        address=lakefs_url,
        env={"LAKEFS_INSTALLATION_ACCESS_KEY_ID": sec.get("lakefs_access_key", ""),
             "LAKEFS_INSTALLATION_SECRET_ACCESS_KEY": sec.get("lakefs_secret_key", ""), **aws},
    )
    prom = prometheus_binary()
    if prom:
        prom_url = f"http://{HOST}:{ports['prometheus']}"
        specs["prometheus"] = PartSpec(
            "prometheus",
            [prom, f"--config.file={p['prometheus'] / 'prometheus.yml'}",
             f"--storage.tsdb.path={p['prometheus'] / 'data'}", f"--web.listen-address={HOST}:{ports['prometheus']}",
             "--storage.tsdb.retention.time=6h", "--log.level=warn"],
            ports["prometheus"],
            ready=lambda: procs.http_ok(prom_url + "/-/ready"),
            address=prom_url,
            nice=10,
        )
    for v in ("v1", "v2"):
        name = f"model-{v}"
        port = ports[name]
        specs[name] = PartSpec(
            name,
            procs.python_argv("mlopstui.sandbox.model_server"),
            port,
            ready=lambda port=port: procs.http_ok(f"http://{HOST}:{port}/v1/models/fraud-detection"),
            address=f"http://{HOST}:{port}",
            env={"SANDBOX_MODEL_DIR": str(p["models"] / "fraud-detection" / v), "SANDBOX_MODEL_VERSION": v,
                 "SANDBOX_MODEL_NAME": "fraud-detection", "SANDBOX_HTTP_PORT": str(port)},
            nice=10,
        )
    return specs


def _write_prometheus_config(d: Path, ports: dict[str, int]) -> None:
    """Scrape the ingress's Istio metrics (the rollout gates' source) and both model servers' /metrics."""
    import yaml

    p = _paths(d)
    (p["prometheus"] / "data").mkdir(parents=True, exist_ok=True)
    cfg = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "istio-ingressgateway", "metrics_path": "/stats/prometheus",
             "static_configs": [{"targets": [f"{HOST}:{ports['ingress']}"],
                                 "labels": {"namespace": "istio-system"}}]},
            *({"job_name": f"kserve-{v}", "static_configs": [{"targets": [f"{HOST}:{ports[f'model-{v}']}"],
                                                                 "labels": {"namespace": NAMESPACE}}]}
              for v in ("v1", "v2")),
        ],
    }
    (p["prometheus"] / "prometheus.yml").write_text("# written by `mlopstui sandbox up`\n" + yaml.safe_dump(cfg))


def _settings(d: Path, endpoints: dict[str, str], probe_timeout: float) -> dict:
    """The mlopstui settings a sandbox hands over."""
    return {
        "kubeconfig": str(_paths(d)["kubeconfig"]),
        "context": CONTEXT,
        "namespace": NAMESPACE,
        "refresh_interval": 5.0,
        "probe_timeout": probe_timeout,
        "endpoints": endpoints,
        "audit_log": str(d / "audit.jsonl"),
        # one transaction per row, columns as mlopstui.sandbox.model_server.FEATURES
        "inference_sample": {"instances": [[120.0, 23, 0.8, 9, 40.0, 350.0], [12.5, 14, 0.1, 1, 15.0, 2.0]]},
    }


def _write_config(d: Path, ports: dict[str, int], env: dict[str, str]) -> None:
    import yaml

    from mlopstui.sandbox.feast_repo import REDIS_DB, online_store_redis

    p = _paths(d)
    endpoints: dict[str, str] = {
        "mlflow": env["MLFLOW_TRACKING_URI"],
        "s3": env["MLFLOW_S3_ENDPOINT_URL"],
        "feast_repo": str(p["feast_repo"]),
        "feast_registry": str(p["feast_repo"] / "data" / "registry.db"),
        "ingress": f"http://{HOST}:{ports['ingress']}",
        # credentials: from the Secret the LakeFS Deployment of the seed uses
        "lakefs": f"http://{HOST}:{ports['lakefs']}",
        "dvc_repo": str(p["dvc_repo"]),
    }
    if prometheus_binary():
        endpoints["prometheus"] = f"http://{HOST}:{ports['prometheus']}"
    redis = online_store_redis(p["feast"])
    if redis:
        endpoints["redis"] = f"redis://{redis}/{REDIS_DB}"
    if procs.tcp_open(HOST, 5432, timeout=0.3):
        endpoints["postgresql"] = f"postgresql://{HOST}:5432/postgres"
    cfg = _settings(d, endpoints, probe_timeout=3.0)
    header = "# written by `mlopstui sandbox up`; use: mlopstui --config " + str(p["config"]) + "\n"
    p["config"].write_text(header + yaml.safe_dump(cfg, sort_keys=False))
    lines = "".join(f"export {k}={_q(v)}\n" for k, v in sorted(env.items()))
    _write_private(p["env"], lines)


def _model_routes(ports: dict[str, int]) -> dict[str, str]:
    """storageUri -> host:port of the model server serving it (the ingress; the emulator's pods/proxy)."""
    return {"s3://models/fraud-detection/v1": f"{HOST}:{ports['model-v1']}",
            "s3://models/fraud-detection/v2": f"{HOST}:{ports['model-v2']}"}


def _write_backends(d: Path, ports: dict[str, int]) -> None:
    """Which real local service plays each Service's port, for the emulator's services/proxy and
    pods/portforward (kubeapi/tunnel.py): the cluster network of the sandbox."""
    from mlopstui.sandbox.feast_repo import online_store_redis
    from mlopstui.sandbox.kubeapi.tunnel import BACKENDS_FILE

    p = _paths(d)
    backends: dict[str, dict[str, str]] = {
        f"{NAMESPACE}/mlflow-server": {"5000": f"{HOST}:{ports['mlflow']}"},
        f"{NAMESPACE}/minio": {"9000": f"{HOST}:{ports['s3']}"},
        "istio-system/istio-ingressgateway": {"80": f"{HOST}:{ports['ingress']}"},
        "models": _model_routes(ports),  # Knative revision pods, by storageUri (pods/proxy)
    }
    if prometheus_binary():  # as the Prometheus chart names its Service (a test creates the Service)
        backends["monitoring/prometheus-server"] = {"80": f"{HOST}:{ports['prometheus']}"}
    redis = online_store_redis(p["feast"])
    if redis:
        backends[f"{NAMESPACE}/feast-redis-master"] = {"6379": redis}
    if procs.tcp_open(HOST, 5432, timeout=0.3):
        backends[f"{NAMESPACE}/mlflow-db-postgresql"] = {"5432": f"{HOST}:5432"}
        backends[f"{NAMESPACE}/feast-postgres"] = {"5432": f"{HOST}:5432"}
    tmp = p["kube"] / (BACKENDS_FILE + ".tmp")
    tmp.write_text(json.dumps(backends, indent=1))
    os.replace(tmp, p["kube"] / BACKENDS_FILE)


def _q(v: str) -> str:
    import shlex

    return shlex.quote(v)


def _info(d: Path, state: dict, sec: dict[str, str], started: list[str] | None = None,
          seeded_now: bool = False) -> SandboxInfo:
    p = _paths(d)
    ports = state["ports"]
    return SandboxInfo(
        dir=d,
        kubeconfig=p["kubeconfig"],
        config_path=p["config"],
        env=_client_env(d, ports, sec),
        parts={n: state["parts"][n]["address"] for n in active_parts() if n in state.get("parts", {})},
        feast_repo=p["feast_repo"],
        started=started or [],
        seeded_now=seeded_now,
        kubeconfig_only_config=p["konly_config"],
        kubeconfig_only_env=kubeconfig_only_env(d, sec),
    )


# module -> what provides it: the `sandbox` extra of pyproject.toml (an operator's core install
# has none of them; the MLflow client `mlflow-skinny` has no tracking server)
EXTRA_MODULES = {
    "moto": "moto[server,s3] (the S3 stand-in)",
    "sklearn": "scikit-learn (the fraud models)",
    "flask": "mlflow (the tracking server)",
    "alembic": "mlflow (the tracking server's database migrations)",
    "dvc": "dvc (the sandbox's DVC project; the `data` extra)",
}
INSTALL_HINT = ("install the sandbox extra: uv tool install 'mlopstui[sandbox]' "
                "(or pip install 'mlopstui[sandbox]'; from a clone: bash scripts/setup.sh)")


class MissingExtraError(SandboxError):
    """The `sandbox` extra is not installed: nothing was started."""


def check_extra() -> None:
    """Raise MissingExtraError naming what is missing, before anything is started."""
    import importlib.util

    missing = [what for mod, what in EXTRA_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise MissingExtraError("the sandbox needs packages that are not installed: " + ", ".join(missing)
                                + "\n" + INSTALL_HINT, part="extra")


def up(d: str | os.PathLike[str] | None = None, *, timeout: float = 180.0,
       log: Callable[[str], None] | None = None, scale: float = 0.0) -> SandboxInfo:
    """Start every part that is not running, wait until all are ready, seed once. scale > 0: the emulator
    also stores a platform-sized cluster (sandbox/scale.py; 1 = 200 namespaces, 5,000 pods, ...), once.

    A failure (a part that does not get ready, an import error, a failed seed, ctrl-c) stops
    every part this call started before it raises: no process is left behind.
    """
    log = log or (lambda s: None)
    check_extra()
    d = resolve_dir(d)
    with _locked(d):
        return _up_locked(d, timeout, log, scale)


def _up_locked(d: Path, timeout: float, log: Callable[[str], None], scale: float = 0.0) -> SandboxInfo:
    t0 = time.monotonic()
    p = _paths(d)
    for k in ("kube", "s3data", "mlflow", "feast", "models", "lakefs", "prometheus"):
        p[k].mkdir(parents=True, exist_ok=True)
    (d / "logs").mkdir(exist_ok=True)
    sec = _secrets(d)
    state = procs.read_state(d)
    state.setdefault("parts", {})
    old_ports = dict(state.get("ports", {}))
    ports = _ports(d, state)
    state["ports"] = ports
    state["dir"] = str(d)
    specs = _specs(d, ports, sec)
    if scale > 0:  # the emulator seeds the scale objects at its start (once: they persist in its state)
        from dataclasses import replace

        specs["kubeapi"] = replace(specs["kubeapi"], argv=[*specs["kubeapi"].argv, "--scale", f"{scale:g}"])
    active = active_parts()
    alive = {n for n in active if procs.part_alive(state["parts"].get(n, {}))
             and state["parts"][n].get("port") == ports[n]}
    if scale > 0 and float(state.get("scale") or 0) != scale:
        alive.discard("kubeapi")  # a running emulator without them: restarted with --scale
        state["scale"] = scale
    # the ingress is configured with the model servers' addresses at start, Prometheus with all three
    if any(ports[m] != old_ports.get(m) for m in ("model-v1", "model-v2")):
        alive.discard("ingress")
    if any(ports[m] != old_ports.get(m) for m in ("model-v1", "model-v2", "ingress")):
        alive.discard("prometheus")
    to_start = [n for n in active if n not in alive]
    if "prometheus" in to_start:
        _write_prometheus_config(d, ports)
    skipped = prometheus_skipped()
    if skipped:
        log(skipped)
    # a part that is alive but on a stale port record, or half-dead: stop its group first
    for n in to_start:
        old = state["parts"].get(n)
        if old and procs.part_alive(old):
            procs.stop_group(old["pgid"])
    started: list[str] = []

    def launch(names):
        for n in names:
            state["parts"][n] = procs.start_part(d, specs[n])
            started.append(n)
        procs.write_state(d, state)

    try:
        # 1) parts that need nothing generated first
        launch([n for n in ("kubeapi", "s3", "mlflow", "ingress", "lakefs", "prometheus")
                if n in to_start and n != "kubeapi"])
        # the emulator runs materialization Jobs in the Feast repo: generate it first (cheap)
        if "kubeapi" in to_start or not (p["feast_repo"] / "feature_store.yaml").exists():
            from mlopstui.sandbox import feast_repo

            feast_repo.generate(p["feast"])
        launch([n for n in ("kubeapi",) if n in to_start])
        # 2) model servers need the trained models
        model_parts = [n for n in ("model-v1", "model-v2") if n in to_start]
        if model_parts:
            if not all((p["models"] / "fraud-detection" / v / "model.joblib").exists() for v in ("v1", "v2")):
                log("training the fraud models (v1 LogisticRegression, v2 GradientBoosting)")
                from mlopstui.sandbox.model_server import train_models

                train_models(p["models"])
            launch(model_parts)
        if started:
            log("started: " + ", ".join(started))
        procs.wait_ready(d, [specs[n] for n in active], state,
                         deadline_s=max(10.0, timeout - (time.monotonic() - t0)))
    except BaseException:  # SandboxError, an import error, ctrl-c while waiting
        # do not leave half a sandbox behind: stop what this call started
        _stop_parts(state, started)
        procs.write_state(d, state)
        raise
    state["ready_at"] = time.time()
    procs.write_state(d, state)
    env = _client_env(d, ports, sec)
    _write_backends(d, ports)
    _write_config(d, ports, env)
    if (p["dvc_repo"] / ".dvc").is_dir():  # the DVC project follows the S3 port (cheap: one small file)
        from mlopstui.sandbox.data_seed import write_local_config

        write_local_config(p["dvc_repo"], env["MLFLOW_S3_ENDPOINT_URL"], sec["access_key"], sec["secret_key"])
    _write_kubeconfig_only(d)
    seeded_now = False
    if not (d / SEEDED_MARKER).exists() or not (d / ".seeded-data").exists() \
            or not (d / ".seeded-pipelines").exists():
        log("seeding (first up): kubernetes objects, S3 models, MLflow runs, Feast apply + materialize, "
            "LakeFS and DVC")
        try:
            _seed(d, state, sec, env, log)
        except BaseException:
            _stop_parts(state, started)
            procs.write_state(d, state)
            raise
        (d / SEEDED_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        seeded_now = True
    state["up_seconds"] = round(time.monotonic() - t0, 2)
    procs.write_state(d, state)
    return _info(d, state, sec, started, seeded_now)


def _stop_parts(state: dict, names: list[str]) -> None:
    threads = [threading.Thread(target=procs.stop_group, args=(state["parts"][n]["pgid"],))
               for n in names if state["parts"].get(n, {}).get("pgid")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _seed(d: Path, state: dict, sec: dict[str, str], env: dict[str, str], log: Callable[[str], None]) -> None:
    from mlopstui.sandbox import seed

    p = _paths(d)
    child_env = dict(os.environ)
    child_env.update(env)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env[procs.OWNER_ENV] = str(d)
    logs = d / "logs"
    # feast and MLflow seeding run as child processes, in parallel with the kube seed
    # each stage has its own marker: a failed first up re-runs only what did not finish
    def done(stage: str) -> bool:
        return (d / f".seeded-{stage}").exists()

    def mark(stage: str) -> None:
        (d / f".seeded-{stage}").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))

    children: dict[str, tuple[subprocess.Popen, Path]] = {}
    for name, argv in (
        ("seed-feast", procs.python_argv("mlopstui.sandbox.feast_repo", str(p["feast_repo"]))),
        ("seed-mlflow", procs.python_argv("mlopstui.sandbox.seed", "mlflow", str(p["models"]))),
        ("seed-data", procs.python_argv("mlopstui.sandbox.data_seed", str(d))),
    ):
        if done(name.removeprefix("seed-")):
            continue
        lp = logs / f"{name}.log"
        env_ = child_env
        if name == "seed-data":
            # LakeFS's address and installation credentials (its Kubernetes objects carry them too)
            env_ = {**child_env, "LAKEFS_URL": state["parts"]["lakefs"]["address"], "SANDBOX_CONTEXT": CONTEXT,
                    "LAKEFS_KEY": sec["lakefs_access_key"], "LAKEFS_SECRET": sec["lakefs_secret_key"]}
        with open(lp, "ab") as f:
            children[name] = (subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env_,
                                               cwd=str(d), start_new_session=True), lp)
    errors: list[str] = []
    try:
        if not done("s3"):
            n = seed.upload_models(env["MLFLOW_S3_ENDPOINT_URL"], sec["access_key"], sec["secret_key"], p["models"])
            log(f"  uploaded {n} model files to s3://models/")
            mark("s3")
        if not done("kube"):
            seed.seed_kube(p["kubeconfig"], CONTEXT,
                           seed.secret_values(sec["access_key"], sec["secret_key"],
                                              state["parts"]["ingress"]["address"]), log)
            mark("kube")
    except Exception as exc:
        errors.append(f"kubernetes/S3 seed failed: {type(exc).__name__}: {exc}")
    for name, (proc, lp) in children.items():
        try:
            rc = proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            procs.stop_group(proc.pid, grace=2)
            rc = -1
        if rc != 0:
            errors.append(f"{name} failed (exit {rc}, log {lp}):\n{procs.log_tail(lp, 15)}")
        else:
            mark(name.removeprefix("seed-"))
            log(f"  {name}: done")
    if errors:
        raise SandboxError("seeding failed: " + "\n".join(errors), part="seed")
    if not done("pipelines"):
        # Argo (CRDs, controller, templates) and the lifecycle pipeline and the failing feature check:
        # created now, run by the emulator's workflow controller in the background (up does not wait)
        n = seed.start_pipelines(p["kubeconfig"], CONTEXT, log)
        log(f"  started {n} workflows (lifecycle pipeline, feature check)")
        mark("pipelines")


def ensure_up(dir: str | os.PathLike[str] | None = None) -> SandboxInfo:  # noqa: A002
    """Idempotent: return the running sandbox in ``dir``, starting what is missing."""
    return up(dir)


def down(d: str | os.PathLike[str] | None = None, *, grace: float = 10.0) -> dict[str, str]:
    """SIGTERM every part's process group (in parallel), wait, then SIGKILL. State stays."""
    d = resolve_dir(d)
    with _locked(d):
        state = procs.read_state(d)
        parts = state.get("parts", {})
        result: dict[str, str] = {}
        threads = []

        def stop(name: str, info: dict) -> None:
            pgid = info.get("pgid")
            if not pgid or not (procs.part_alive(info) or procs.group_pids(pgid)):
                result[name] = "not running"
                return
            result[name] = "stopped" if procs.stop_group(pgid, grace=grace) else "still running"

        for name, info in parts.items():
            # a recycled pgid belongs to someone else: only signal a group we started
            if info.get("pgid") and not procs.part_alive(info) and info.get("starttime") is not None:
                result[name] = "not running"
                continue
            t = threading.Thread(target=stop, args=(name, info))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        # anything of ours that escaped its process group (setsid) or a seed child
        stray = procs.owned_pids(d)
        if stray:
            procs.kill_pids(stray)
            result["stray"] = f"killed {len(stray)}"
        for info in parts.values():
            info.pop("pid", None)
        state["stopped_at"] = time.time()
        procs.write_state(d, state)
        return result


def status(d: str | os.PathLike[str] | None = None) -> dict:
    """Part name -> {running, ready, pid, port, address, log}; plus dir and seeded."""
    d = resolve_dir(d)
    state = procs.read_state(d)
    out: dict = {"dir": str(d), "exists": d.exists(), "seeded": (d / SEEDED_MARKER).exists(), "parts": {}}
    if not state.get("ports"):
        return out
    sec_path = d / "secrets.json"
    sec = json.loads(sec_path.read_text()) if sec_path.exists() else {"access_key": "", "secret_key": ""}
    specs = _specs(d, {**{n: 0 for n in PARTS}, **state["ports"]}, sec)
    for n in active_parts():
        info = state.get("parts", {}).get(n, {})
        running = procs.part_alive(info)
        out["parts"][n] = {
            "running": running,
            "ready": bool(running and specs[n].ready()),
            "pid": info.get("pid") if running else None,
            "port": state["ports"].get(n),
            "address": specs[n].address,
            "log": str(d / "logs" / f"{n}.log"),
        }
    out["config_path"] = str(_paths(d)["config"])
    return out


def env_of(d: str | os.PathLike[str] | None = None, *, kubeconfig_only: bool = False) -> dict[str, str]:
    """The client environment of the sandbox in ``d`` (as last brought up); with kubeconfig_only, the
    bastion's: no endpoint URL."""
    d = resolve_dir(d)
    state = procs.read_state(d)
    if not state.get("ports") or not (d / "secrets.json").exists():
        raise SandboxError(f"no sandbox in {d}: run `mlopstui sandbox up` first")
    sec = json.loads((d / "secrets.json").read_text())
    if kubeconfig_only:
        return kubeconfig_only_env(d, sec)
    return _client_env(d, state["ports"], sec)

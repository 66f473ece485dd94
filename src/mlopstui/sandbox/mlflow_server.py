"""The sandbox's MLflow tracking server, in one process.

``mlflow server`` imports MLflow, initialises the stores, then spawns
``python -m uvicorn mlflow.server.fastapi_app:app``, which imports MLflow a second
time: about 11 CPU-seconds before ``/health`` answers on these 2-core machines. This
launcher does the same work once (about 6 s): it sets the environment the CLI hands
to its uvicorn child, runs the CLI's store initialisation (schema migrations), then
serves ``mlflow.server.fastapi_app:app`` with uvicorn in this process.

The variable names are MLflow's internal contract between its CLI and its server
app (``mlflow/server/__init__.py: _run_server``). They are checked against MLflow's
own constants after import (and by ``tests/unit/test_sandbox_mlflow_server.py``);
on any mismatch, or if an internal name is gone, the launcher falls back to running
the real ``mlflow server`` CLI with the same flags, so an MLflow upgrade makes the
sandbox slower, never broken.

Only the flags the sandbox uses are accepted:

    python -m mlopstui.sandbox.mlflow_server --host H --port P --backend-store-uri URI
        --default-artifact-root URI --allowed-hosts LIST
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

# names as mlflow 3.x spells them; verified against mlflow's constants in _verify()
ENV_NAMES = {
    "backend": "_MLFLOW_SERVER_FILE_STORE",
    "registry": "_MLFLOW_SERVER_REGISTRY_STORE",
    "artifact_root": "_MLFLOW_SERVER_ARTIFACT_ROOT",
    "sgi": "_MLFLOW_SGI_NAME",
    "boot_id": "_MLFLOW_SERVER_BOOT_ID",
    "in_job_executor": "_MLFLOW_IN_JOB_EXECUTOR",
    "allowed_hosts": "MLFLOW_SERVER_ALLOWED_HOSTS",
    "job_execution": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
    "workspaces": "MLFLOW_ENABLE_WORKSPACES",
}


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="mlopstui.sandbox.mlflow_server")
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backend-store-uri", required=True)
    ap.add_argument("--default-artifact-root", required=True)
    ap.add_argument("--allowed-hosts", required=True)
    return ap.parse_args(argv)


def cli_argv(a: argparse.Namespace) -> list[str]:
    """The equivalent ``mlflow server`` command line (the fallback)."""
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    head = [str(mlflow_bin)] if mlflow_bin.exists() else [sys.executable, "-m", "mlflow"]
    return [*head, "server", "--workers", "1", "--host", a.host, "--port", str(a.port),
            "--backend-store-uri", a.backend_store_uri, "--default-artifact-root", a.default_artifact_root,
            "--no-serve-artifacts", "--allowed-hosts", a.allowed_hosts]


def server_env(a: argparse.Namespace) -> dict[str, str]:
    """What ``mlflow server`` puts in its uvicorn child's environment for these flags."""
    n = ENV_NAMES
    return {
        n["backend"]: a.backend_store_uri,
        n["registry"]: a.backend_store_uri,
        n["artifact_root"]: a.default_artifact_root,
        n["sgi"]: "uvicorn",
        n["boot_id"]: uuid.uuid4().hex,
        n["in_job_executor"]: "false",
        n["allowed_hosts"]: a.allowed_hosts,
        # no scorer jobs or trace rollups in the sandbox: no job runner process
        n["job_execution"]: "false",
        n["workspaces"]: "false",
    }


def verify() -> list[str]:
    """Names in ENV_NAMES that MLflow no longer spells that way (empty when all match)."""
    try:
        from mlflow import environment_variables as ev
        from mlflow.server import constants as c
    except ImportError as exc:
        return [f"import: {exc}"]
    theirs = {
        "backend": getattr(c, "BACKEND_STORE_URI_ENV_VAR", None),
        "registry": getattr(c, "REGISTRY_STORE_URI_ENV_VAR", None),
        "artifact_root": getattr(c, "ARTIFACT_ROOT_ENV_VAR", None),
        "sgi": getattr(getattr(ev, "_MLFLOW_SGI_NAME", None), "name", None),
        "boot_id": getattr(getattr(ev, "_MLFLOW_SERVER_BOOT_ID", None), "name", None),
        "in_job_executor": getattr(getattr(ev, "_MLFLOW_IN_JOB_EXECUTOR", None), "name", None),
        "allowed_hosts": getattr(getattr(ev, "MLFLOW_SERVER_ALLOWED_HOSTS", None), "name", None),
        "job_execution": getattr(getattr(ev, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", None), "name", None),
        "workspaces": getattr(getattr(ev, "MLFLOW_ENABLE_WORKSPACES", None), "name", None),
    }
    return [f"{k}: ours {ENV_NAMES[k]!r}, mlflow's {v!r}" for k, v in theirs.items() if v != ENV_NAMES[k]]


def fall_back(a: argparse.Namespace, why: str) -> None:
    print(f"mlopstui: serving MLflow in one process is not possible ({why}); running `mlflow server`",
          file=sys.stderr, flush=True)
    argv = cli_argv(a)
    os.execv(argv[0], argv)


def main(argv: list[str] | None = None) -> None:
    a = parse(sys.argv[1:] if argv is None else argv)
    # before any mlflow import: mlflow.server decides at import time that it runs as a
    # server (and installs the host-checking middleware) from these variables
    os.environ.update(server_env(a))
    mismatch = verify()
    if mismatch:
        fall_back(a, "; ".join(mismatch))
    try:
        from mlflow.server.handlers import initialize_backend_stores

        initialize_backend_stores(a.backend_store_uri, a.backend_store_uri, a.default_artifact_root)
        import uvicorn

        log_config = Path(sys.modules["mlflow.server"].__file__).parent / "uvicorn_log_config.yaml"
        kwargs = {"log_config": str(log_config)} if log_config.exists() else {}
    except ImportError as exc:
        fall_back(a, f"import: {exc}")
        return
    print(f"mlopstui: MLflow tracking server on http://{a.host}:{a.port} (uvicorn, 1 process)",
          file=sys.stderr, flush=True)
    uvicorn.run("mlflow.server.fastapi_app:app", host=a.host, port=a.port, workers=1, **kwargs)


if __name__ == "__main__":
    main()

"""Shared fixtures.

``sandbox`` (session scope) -- the whole local sandbox stack, brought up once per
test session and torn down at the end with no process left behind.

    def test_something(sandbox):            # sandbox: mlopstui.sandbox.manager.SandboxInfo
        sandbox.dir                          # Path of the sandbox directory (a pytest tmp dir)
        sandbox.kubeconfig                   # Path; contexts sandbox.context (admin, "mlopstui-sandbox")
                                             #       and sandbox.viewer_context (read-only user)
        sandbox.namespace                    # "mlops"
        sandbox.config_path                  # Path of the mlopstui.yaml written for it
        sandbox.env                          # KUBECONFIG, MLFLOW_TRACKING_URI, MLFLOW_S3_ENDPOINT_URL,
                                             # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
                                             # FEAST_REPO_PATH, MLOPSTUI_CONFIG
        sandbox.parts                        # {"kubeapi"|"s3"|"mlflow"|"model-v1"|"model-v2"|"ingress": URL}
        sandbox.feast_repo                   # Path of the Feast feature repository

What is seeded (see mlopstui/sandbox/seed.py and manifests/platform.yaml): namespace
``mlops`` with minio, mlflow-db-postgresql, mlflow-server, feast-redis-master,
feast-postgres, the feast-materialize CronJob, the faulty train-fraud-model Job;
kserve / knative-serving / istio-system control planes; InferenceServices
``fraud-detection`` (v1 -> v2 canary at 20 %, annotation serving.knative.dev/minScale)
and ``churn-model`` (RawDeployment); MLflow experiments ``fraud-detection`` (20 runs),
``churn``, ``lab``; registered model ``fraud-detection`` v1 (@champion) / v2 (@challenger);
Feast project ``on_prem_mlops`` materialized to Redis db 7 (or SQLite without Redis).

``sandbox_env`` (function scope) -- the same SandboxInfo, with ``sandbox.env`` set in
``os.environ`` for the duration of the test (monkeypatch.setenv, undone after): for
in-process SDK clients that read the environment (MLflow artifact access goes
straight to S3 and needs MLFLOW_S3_ENDPOINT_URL + AWS_*; boto3; Feast).

Rules for users of the fixture: treat the seeded state as shared. A test that
changes something (canary percent, a Deployment, a run) must restore it or create
its own objects with unique names. Do not call ``sandbox down`` on it. Pass
``sandbox.env`` to subprocesses (``env={**os.environ, **sandbox.env}``) rather than
mutating ``os.environ``.

Environment knobs:
- ``MLOPSTUI_TEST_SANDBOX_DIR=/path``: use (and keep) that directory instead of a
  fresh tmp dir; if a sandbox was already running there it is reused and left
  running after the session (fast local iteration); otherwise it is stopped.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def _all_ready(d: Path) -> bool:
    from mlopstui.sandbox import manager

    st = manager.status(d)
    return bool(st["parts"]) and all(p["ready"] for p in st["parts"].values()) and st["seeded"]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """Yield a running, seeded :class:`mlopstui.sandbox.manager.SandboxInfo` (see module doc)."""
    from mlopstui.sandbox import manager, procs

    fixed = os.environ.get("MLOPSTUI_TEST_SANDBOX_DIR")
    d = Path(fixed).resolve() if fixed else tmp_path_factory.mktemp("sandbox")
    keep_running = bool(fixed) and d.exists() and _all_ready(d)

    stopped = False

    def teardown() -> None:
        nonlocal stopped
        if stopped or keep_running:
            return
        stopped = True
        manager.down(d)
        left = procs.owned_pids(d)
        if left:  # down() already SIGKILLs strays; this is the last resort
            procs.kill_pids(left)

    atexit.register(teardown)  # also on an aborted session
    try:
        info = manager.up(d, timeout=240)
    except BaseException:
        teardown()
        raise
    try:
        yield info
    finally:
        teardown()


@pytest.fixture
def sandbox_env(sandbox, monkeypatch):
    """The running sandbox with its client environment exported into os.environ for this test."""
    for k, v in sandbox.env.items():
        monkeypatch.setenv(k, v)
    return sandbox


def pytest_collection_modifyitems(config, items):
    """pytest-timeout counts fixture setup: whichever test first asks for the sandbox pays for a
    cold start (1-3 minutes on a busy 2-core machine). Give tests that use it 600 s unless
    they set their own timeout marker."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if ("sandbox" in names or "sandbox_env" in names) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(600))



@pytest.fixture(autouse=True)
def _close_left_open_clients(request):
    """A test that leaves KubeClients open (pools, loopback forwards, relays) would leave their threads
    and the emulator's handler threads to every later test of this process: they are closed here, and
    counted (the session summary names the tests)."""
    from support import leaks

    before = leaks.open_kube_ids()
    yield
    if leaks.close_left_open(before):
        leaks.closed_for_tests.append(request.node.nodeid)


def pytest_terminal_summary(terminalreporter):
    """What this pytest process leaves in the interpreter (threads, fds): leaks show as they grow."""
    from support import leaks

    threads, fds = leaks.counts()
    terminalreporter.write_line(f"mlopstui: at the end of the session {threads} threads, {fds} open fds; "
                                f"most: {leaks.thread_names()}")
    left = leaks.closed_for_tests
    if left:
        terminalreporter.write_line(f"mlopstui: {len(left)} tests left cluster clients open (closed after "
                                    f"them): {', '.join(left)}")

"""The TUI under faults, through Pilot: keys answer while the API server hangs; a garbage answer is shown
inline (the app keeps running); server strings with escape sequences never reach a cell or the status line.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402
from support.fault_servers import FaultServer, kubeconfig_for  # noqa: E402

ESCAPES = ("\x1b", "\x07", "\x9b", "\x9d")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("MLOPSTUI_CONFIG", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fault(request):
    srv = FaultServer(request.param)
    yield srv
    srv.stop()


def make_app(srv, tmp_path, kube_timeout=5.0):
    kcfg = kubeconfig_for(srv.url, tmp_path / "kubeconfig")
    return MlopsApp(config.load(None, kubeconfig=kcfg, namespace="mlops", kube_timeout=kube_timeout,
                                probe_timeout=1.0, audit_log=str(tmp_path / "audit.jsonl")))


async def wait_for(pilot, cond, timeout=10.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause()
        if cond():
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def status_text(app) -> str:
    for screen in reversed(app.screen_stack):
        found = screen.query("#status")
        if found:
            return str(found.first().render())
    return ""


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["hang"], indirect=True)
async def test_keys_answer_while_the_api_server_hangs(fault, tmp_path):
    # The hung calls outlast the keys (checked below: 1-3 s idle, 8.4 s at a load of 14 on 2 cores). Not
    # longer than needed: the app's exit (this test's teardown) waits for the threads of its hung calls,
    # whose informer waits (kube_timeout + 1 s) the stopped API server does not end; with 30 s here that
    # teardown took 58 s, with 10 s 15 s.
    kube_timeout = 15.0
    start = time.monotonic()
    app = make_app(fault, tmp_path, kube_timeout=kube_timeout)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: fault._hang.conns, what="the app reached the hung API server")
        for key, screen in (("question_mark", "HelpScreen"), ("escape", "StackScreen"), ("4", "ServingScreen"),
                            ("2", "ExperimentsScreen"), ("1", "StackScreen")):
            t0 = time.monotonic()
            await pilot.press(key)
            done = await wait_for(pilot, lambda s=screen: type(app.screen).__name__ == s, timeout=8.0,
                                  what=f"{key} -> {screen}")
            assert done - t0 < 8.0
        assert app.is_running
        # every key answered while no hung call had yet reached its timeout: the calls were still hanging
        assert time.monotonic() - start < kube_timeout, f"the keys took {time.monotonic() - start:.1f}s"
        fault.stop()  # the hung calls end (connection closed) so the app exits without waiting them out


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["html"], indirect=True)
async def test_a_garbage_answer_is_shown_inline(fault, tmp_path):
    app = make_app(fault, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ServingScreen", what="Serving")
        words = "HTML"
        await wait_for(pilot, lambda: words in status_text(app), timeout=15.0,
                       what=f"{words!r} in the status line; got {status_text(app)!r}")
        text = status_text(app)
        assert fault.hostport in text and "Traceback" not in text
        assert app.is_running


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["ansi"], indirect=True)
async def test_escape_payloads_never_reach_a_cell(fault, tmp_path):
    from mlopstui.widgets.filter_table import FilterTable

    app = make_app(fault, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ServingScreen", what="Serving")
        table = app.screen.query(FilterTable).first()
        await wait_for(pilot, lambda: table.row_count > 0, timeout=15.0, what="an InferenceService row")
        cells = [str(getattr(c, "plain", c)) for r in range(table.row_count) for c in table.get_row_at(r)]
        rendered = " ".join(cells) + status_text(app)
        for sid in ("#isvc-detail", "#isvc-info"):
            for w in app.screen.query(sid):
                rendered += str(w.render())
        assert "fraud-detection" in rendered
        assert not any(e in rendered for e in ESCAPES), repr(rendered)


@pytest.mark.asyncio
async def test_experiment_names_with_osc_never_reach_the_terminal(tmp_path):
    """An OSC in an experiment name retitled the terminal and wiped the header: the cells are clean."""
    from mlopstui.widgets.filter_table import FilterTable

    mlflow, kube = FaultServer("ansi", protocol="mlflow"), FaultServer("refuse")
    try:
        kcfg = kubeconfig_for(kube.url, tmp_path / "kubeconfig")
        app = MlopsApp(config.load(None, kubeconfig=kcfg, namespace="mlops", kube_timeout=2.0, probe_timeout=1.0,
                                   endpoints={"mlflow": mlflow.url}, audit_log=str(tmp_path / "audit.jsonl")))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ExperimentsScreen", what="Experiments")
            table = app.screen.query_one("#experiments", FilterTable)
            await wait_for(pilot, lambda: table.row_count > 0, timeout=15.0, what="an experiment row")
            cells = " ".join(str(getattr(c, "plain", c)) for r in range(table.row_count)
                             for c in table.get_row_at(r))
            assert "fraud-exp" in cells, cells
            header = " ".join(str(w.render()) for w in app.screen.query("#mlflow-source"))
            assert not any(e in cells + header + status_text(app) for e in ESCAPES), repr(cells)
            assert "pwned" not in cells
    finally:
        mlflow.stop()
        kube.stop()


@pytest.mark.asyncio
async def test_an_api_server_that_refuses_is_said_at_once(tmp_path):
    """Nothing listens at the API server's address: the Stack's first report says so (unreachable) as soon
    as its first list fails, and so does the header (the API check runs once the rows are painted), not
    after the caches' wait for a first list that cannot come (kube_timeout * 2, 10 s: before, the rows and
    the header waited for it)."""
    import socket

    from mlopstui.errors import Kind

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kcfg = kubeconfig_for(f"http://127.0.0.1:{port}", tmp_path / "kubeconfig")
    app = MlopsApp(config.load(None, kubeconfig=kcfg, namespace="mlops", kube_timeout=5.0, probe_timeout=1.0,
                               audit_log=str(tmp_path / "audit.jsonl")))
    t0 = time.monotonic()
    async with app.run_test(size=(80, 24)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.state is not None, timeout=10.0, what="the first report")
        assert stack.state.error is not None and stack.state.error.kind is Kind.UNREACHABLE
        await wait_for(pilot, lambda: app.api_state[0] is False, timeout=10.0, what="the header's check")
        assert time.monotonic() - t0 < 3.0, f"took {time.monotonic() - t0:.1f} s"
        assert "unreachable" in status_text(app).lower() or "refused" in status_text(app).lower()


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["hang"], indirect=True)
async def test_a_hung_api_server_is_said_within_its_timeout(fault, tmp_path):
    """The API server takes the connection and never answers: the first report says timeout after one list's
    timeout (the first list ends the row of them), not after every kind's."""
    from mlopstui.errors import Kind

    app = make_app(fault, tmp_path, kube_timeout=1.5)
    t0 = time.monotonic()
    async with app.run_test(size=(80, 24)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.state is not None, timeout=10.0, what="the first report")
        took = time.monotonic() - t0
        assert stack.state.error is not None and stack.state.error.kind is Kind.TIMEOUT
        assert took < 1.5 + 2.0, f"took {took:.1f} s"
        fault.stop()


@pytest.mark.asyncio
async def test_an_api_server_that_comes_up_after_the_start_is_read_on_ctrl_r(tmp_path):
    """Down at the start (said at once), then up: ctrl+r reads the cluster now (a cache whose thread is
    still backing off is read directly, not waited for), and the caches' own retries make them live."""
    from mlopstui.sandbox.kubeapi import KubeApiServer

    state = tmp_path / "kubeapi"
    first = KubeApiServer(str(state), port=0, run_controllers=False).start()
    port, kcfg = first.port, first.kubeconfig_path
    first.stop()
    app = MlopsApp(config.load(None, kubeconfig=kcfg, namespace="default", kube_timeout=3.0, probe_timeout=1.0,
                               audit_log=str(tmp_path / "audit.jsonl"), refresh_interval=3600.0))
    async with app.run_test(size=(80, 24)) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.state is not None and stack.state.error is not None, timeout=10.0,
                       what="the first report: unreachable")
        # down long enough that the caches' retries are seconds apart (0.5, 1, 2, 4 s ...): the read below must
        # not wait for their next one
        await asyncio.sleep(4.0)
        srv = KubeApiServer(str(state), port=port, run_controllers=False).start()
        try:
            t0 = time.monotonic()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: stack.state is not None and stack.state.error is None, timeout=10.0,
                           what="the cluster read after ctrl+r")
            assert time.monotonic() - t0 < 1.0, f"took {time.monotonic() - t0:.1f} s"  # 0.1 s here; waiting: 2.2 s
            await wait_for(pilot, lambda: "watch live" in str(stack.query_one("#stack-age").render()),
                           timeout=60.0, what="the caches live again by their own retries")
        finally:
            srv.stop()

"""The Experiments area driven by Pilot at 80x24 against the sandbox's real MLflow server."""

from __future__ import annotations

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402
from support.seed_many_runs import ensure_many_runs  # noqa: E402
from support.tcp_forward import Forwarder  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BULK = "bulk-10k"
QUERY = "metrics.accuracy > 0.9 and params.learning_rate = '0.01'"
SIZE = (80, 24)


@pytest.fixture(scope="module")
def bulk(sandbox):
    exp_id, _ = ensure_many_runs(f"sqlite:///{sandbox.dir / 'mlflow' / 'mlflow.db'}", BULK, 10_000,
                                 "s3://mlflow-artifacts/")
    return exp_id


@pytest.fixture
def env(sandbox, monkeypatch):
    for k, v in sandbox.env.items():
        if k != "MLOPSTUI_CONFIG":
            monkeypatch.setenv(k, v)
    return sandbox


def make_app(sandbox, **flags):
    return MlopsApp(config.load(None, kubeconfig=str(sandbox.kubeconfig), **flags))


async def wait_for(pilot, cond, timeout=90.0, step=0.1):
    waited = 0.0
    while waited < timeout:
        await pilot.pause(step)
        waited += step
        try:
            if cond():
                return True
        except Exception:  # noqa: BLE001 - widget not mounted yet
            pass
    raise AssertionError("condition not met in time")


def status_text(app) -> str:
    return str(app.screen.query_one("#status").render())


async def open_experiment(app, pilot, name):
    await pilot.press("2")
    await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0)
    assert "env MLFLOW_TRACKING_URI" in str(app.screen.query_one("#mlflow-source").render())
    await pilot.press("colon", *f"exp {name}", "enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen"
                   and app.screen.query_one("#runs").row_count > 0)
    return app.screen


@pytest.mark.timeout(900)
async def test_search_sort_and_scroll_to_the_last_run(env, bulk):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(env.env["MLFLOW_TRACKING_URI"])
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, BULK)
        assert screen.query_one("#runs").row_count >= screen.first_page_size and screen.next_token
        # MLflow search syntax at `/`, run on the server
        await pilot.press("slash")
        await pilot.pause()
        screen.query_one("#runfilter").value = QUERY
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.filter == QUERY and not screen.loading
                       and screen.query_one("#runs").row_count > 0)
        # sort by accuracy, descending, via `s`
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = "-metrics.accuracy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.sort_col == "metrics.accuracy" and not screen.loading
                       and screen.query_one("#runs").row_count > 0)
        # G loads page after page down to the last run
        await pilot.press("G")
        await wait_for(pilot, lambda: not screen.next_token and not screen.loading and not screen.to_last,
                       timeout=240)
        table = screen.query_one("#runs")
        theirs = client.search_runs([bulk], QUERY, order_by=["metrics.accuracy DESC", "attributes.start_time DESC"],
                                    max_results=5000)
        assert table.visible_keys() == [r.info.run_id for r in theirs]
        assert table.cursor_row == table.row_count - 1
        assert "runs" in status_text(app)


@pytest.mark.timeout(600)
async def test_g_jumps_to_the_last_run_without_loading_the_list(env, bulk):
    """G on 10,000 runs sorted by start time: one reversed request (fetched ahead), a window of the last runs
    in the table (not 10,000 rows); g returns to the top; scrolling up the window loads earlier runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(env.env["MLFLOW_TRACKING_URI"])
    last = client.search_runs([bulk], order_by=["attributes.start_time ASC"], max_results=40)
    first = client.search_runs([bulk], order_by=["attributes.start_time DESC"], max_results=1)[0]
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, BULK)
        await pilot.press("G")
        await wait_for(pilot, lambda: screen.at_last, timeout=120)
        table = screen.query_one("#runs")
        assert table.selected_key == last[0].info.run_id
        assert screen.view == "tail" and table.row_count < 1000, table.row_count
        # the window is the list's end in order (the last runs, oldest at the bottom)
        keys = table.visible_keys()
        k = min(len(keys), len(last))
        assert keys[::-1][:k] == [r.info.run_id for r in last][:k]
        assert "the last" in status_text(app)
        await pilot.press("g")
        await wait_for(pilot, lambda: screen.view == "head" and table.cursor_row == 0)
        assert table.selected_key == first.info.run_id


async def test_the_two_windows_meet_in_one_list(env, sandbox):
    """An experiment a little longer than a page: the head page and the fetched-ahead tail overlap and become
    the whole list, in MLflow's order."""
    from mlflow.tracking import MlflowClient

    eid, _ = ensure_many_runs(f"sqlite:///{sandbox.dir / 'mlflow' / 'mlflow.db'}", "bulk-50", 50,
                              "s3://mlflow-artifacts/")
    client = MlflowClient(env.env["MLFLOW_TRACKING_URI"])
    theirs = [r.info.run_id for r in client.search_runs([eid], order_by=["attributes.start_time DESC"],
                                                        max_results=100)]
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, "bulk-50")
        await wait_for(pilot, lambda: screen.next_token is None and screen.tail is None and not screen.tail_loading)
        table = screen.query_one("#runs")
        assert table.visible_keys() == theirs
        await pilot.press("G")
        await wait_for(pilot, lambda: screen.at_last)
        assert table.selected_key == theirs[-1]


async def test_lab_run_detail_plot_and_artifact_preview(env, tmp_path):
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, "lab")
        run_id = screen.query_one("#runs").selected_key
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen"
                       and app.screen.detail is not None and app.screen.query_one("#run-data").row_count)
        detail = app.screen
        data = detail.query_one("#run-data")
        cells = {str(data.get_row(k)[1]): str(data.get_row(k)[2]) for k in data.visible_keys()}
        assert cells["learning_rate"] == "0.01" and cells["accuracy"] == "0.95"
        await pilot.press("y")
        assert app.clipboard == run_id
        await pilot.press("right_square_bracket")  # Metrics
        await wait_for(pilot, lambda: "accuracy" in detail.query_one("#run-plot").summary)
        await pilot.press("right_square_bracket")  # Artifacts
        tree = detail.query_one("#art-tree")
        await wait_for(pilot, lambda: any(str(n.label).startswith("model.txt") for n in tree.root.children))
        node = next(n for n in tree.root.children if str(n.label).startswith("model.txt"))
        tree.move_cursor(node)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "dummy model weights" in detail.preview_text)
        await pilot.press("d")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "dl" / "model.txt").exists())
        assert (tmp_path / "dl" / "model.txt").read_text() == "dummy model weights"


async def test_a_download_above_the_threshold_asks_first(env, tmp_path, monkeypatch):
    """d lists the files first; above DOWNLOAD_CONFIRM_BYTES (lowered here to below model.txt's 19 bytes) a
    confirm shows the size: n downloads nothing, y downloads it."""
    from mlopstui.backends import mlflow_artifacts

    monkeypatch.setattr(mlflow_artifacts, "DOWNLOAD_CONFIRM_BYTES", 5)
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, "lab")
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen" and app.screen.detail is not None)
        detail = app.screen
        await pilot.press("right_square_bracket", "right_square_bracket")  # Artifacts
        tree = detail.query_one("#art-tree")
        await wait_for(pilot, lambda: any(str(n.label).startswith("model.txt") for n in tree.root.children))
        tree.move_cursor(next(n for n in tree.root.children if str(n.label).startswith("model.txt")))
        for answer in ("n", "y"):
            await pilot.press("d")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PromptValue")
            app.screen.query_one("#prompt-input").value = str(tmp_path / "dl")
            await pilot.press("enter")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmPlan")
            assert "1 files, 19 B" in app.screen.plan.summary, app.screen.plan.summary
            await pilot.press(answer)
            if answer == "n":
                await wait_for(pilot, lambda: "download not started" in status_text(app))
                assert not (tmp_path / "dl" / "model.txt").exists()
        await wait_for(pilot, lambda: (tmp_path / "dl" / "model.txt").exists())
        assert screen is not None


async def test_compare_marked_runs(env):
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, "fraud-detection")
        await pilot.press("space", "space", "space")
        assert len(screen.marked) == 3
        await pilot.press("C")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen.loaded_at)
        cmp = app.screen
        params = cmp.query_one("#params-diff")
        assert params.row_count >= 3
        assert "differ" in status_text(app)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: len(cmp.query_one("#compare-plot").series) == 3)


async def test_registry_versions_and_jump_to_run(env):
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0)
        await pilot.press("m")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RegistryScreen"
                       and app.screen.query_one("#models").row_count > 0)
        reg = app.screen
        reg.query_one("#models").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: reg.query_one("#versions").row_count >= 2)
        texts = [str(reg.query_one("#versions").get_row(k)[2]) for k in reg.query_one("#versions").visible_keys()]
        assert "@challenger" in texts and "@champion" in texts
        v = reg.selected_version()
        if v and v.run_id:
            await pilot.press("enter")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen"
                           and app.screen.detail is not None)
            assert app.screen.detail.run_id == v.run_id


async def test_outage_shows_error_rest_works_and_recovers(sandbox, monkeypatch):
    host, port = sandbox.env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")
    fwd = Forwarder(host, int(port)).start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fwd.url)
    app = make_app(sandbox, refresh_interval=2.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            exp = app.screen
            await wait_for(pilot, lambda: exp.query_one("#experiments").row_count > 0)
            fwd.stop()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: exp.error is not None)
            assert "[unreachable]" in status_text(app) and "is the tracking server running" in status_text(app)
            await pilot.press("7")  # the rest of the app works
            await pilot.pause(0.3)
            assert app.current_mode == "audit"
            await pilot.press("2")
            fwd.start()  # the server comes back: the area recovers by itself (retry timer)
            await wait_for(pilot, lambda: exp.error is None, timeout=60)
            assert "reconnected" in status_text(app)
    finally:
        fwd.stop()


async def test_invalid_host_header_explained_in_the_area(sandbox, monkeypatch):
    host, port = sandbox.env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")
    fwd = Forwarder(host, int(port), rewrite_host=False).start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fwd.url)
    app = make_app(sandbox)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: app.screen.error is not None)
            text = status_text(app)
            assert "[forbidden]" in text and "Invalid Host header" in text and "--allowed-hosts" in text
    finally:
        fwd.stop()


@pytest.mark.timeout(900)
async def test_registry_c_makes_a_version_the_canary_with_one_patch(env, tmp_path):
    """Registry `c`: a bad percent is refused with nothing sent; a good one plans, confirms and sends exactly
    one PATCH that serves the version's model as the canary (the cluster is an in-process emulator, so its
    request log is readable; MLflow is the sandbox's real server)."""
    from mlopstui.backends import kube as k
    from mlopstui.backends.mlflow import MlflowBackend
    from mlopstui.sandbox.kubeapi import KubeApiServer
    from mlopstui.screens.confirm import ConfirmPlan, PromptValue
    from support.stack_env import apply_objects, seed_objects, wait_ready

    srv = KubeApiServer(str(tmp_path / "kube"), port=0).start()
    try:
        kube = k.KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", "mlops")
        apply_objects(kube, seed_objects())
        wait_ready(kube)
        app = MlopsApp(config.load(None, kubeconfig=srv.kubeconfig_path, context="mlopstui-sandbox",
                                   namespace="mlops", audit_log=str(tmp_path / "audit.jsonl")))
        path = "/apis/serving.kserve.io/v1beta1/namespaces/mlops/inferenceservices/fraud-detection"
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0)
            await pilot.press("m")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RegistryScreen"
                           and app.screen.query_one("#models").row_count > 0)
            reg = app.screen
            models = reg.query_one("#models")
            models.move_cursor(row=models.get_row_index("fraud-detection"))
            models.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: reg.query_one("#versions").row_count >= 2)
            reg.query_one("#versions").focus()
            await pilot.pause()
            v = reg.selected_version()
            b = MlflowBackend(env.env["MLFLOW_TRACKING_URI"])
            uri = b.resolve_storage_uri(v)
            b.close()
            mark = len(srv.request_log)

            async def ask(value: str) -> None:
                await pilot.press("c")
                await wait_for(pilot, lambda: isinstance(app.screen, PromptValue))
                await pilot.press("ctrl+u", *value, "enter")

            await ask("mlops/fraud-detection 150")
            await wait_for(pilot, lambda: "0..100" in status_text(app))
            await ask("mlops/fraud-detection 30")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan))
            assert uri in str(app.screen.query_one("#plan-text").render())
            assert not [e for e in srv.request_log[mark:] if e["method"] != "GET"]
            await pilot.press("y")
            await wait_for(pilot, lambda: "applied" in status_text(app))
            writes = [(e["method"], e["path"]) for e in srv.request_log[mark:] if e["method"] != "GET"]
            assert writes == [("PATCH", path)]
            spec = kube.get(k.INFERENCESERVICES, "fraud-detection", "mlops")["spec"]["predictor"]
            assert spec["canaryTrafficPercent"] == 30 and spec["model"]["storageUri"] == uri
        kube.close()
    finally:
        srv.stop()


async def test_first_page_is_a_screenful_of_the_newest_runs_and_the_rest_comes_ahead(env, sandbox):
    """1,000 runs: the first page painted is a screenful of the newest runs (MLflow's order, asked without
    order_by: MLflow's own; from the runs of the last day, which hold a screenful here), then, with no key
    pressed, the end of the list (for G) and the next page (from the top, without the window) arrive."""
    from mlflow.tracking import MlflowClient

    from mlopstui.screens.runs import SECOND_PAGE

    eid, _ = ensure_many_runs(f"sqlite:///{sandbox.dir / 'mlflow' / 'mlflow.db'}", "bulk-1k", 1000,
                              "s3://mlflow-artifacts/")
    client = MlflowClient(env.env["MLFLOW_TRACKING_URI"])
    theirs = [r.info.run_id for r in client.search_runs([eid], order_by=["attributes.start_time DESC"],
                                                        max_results=1000)]
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, "bulk-1k")
        await wait_for(pilot, lambda: screen.first_page_at is not None)
        n = screen.first_page_size
        assert n == SIZE[1] and screen.first_page_rows == n, (n, screen.first_page_rows)
        table = screen.query_one("#runs")
        # fetched ahead while the user reads: the last runs (one reversed request) and the head's next page
        await wait_for(pilot, lambda: screen.tail and table.row_count >= SECOND_PAGE and not screen.loading)
        assert table.visible_keys() == theirs[:table.row_count]
        assert screen.tail[-1] == theirs[-1] and screen.tail == theirs[-len(screen.tail):]
        assert table.cursor_row == 0 and screen.view == "head"


async def test_the_run_count_waits_while_the_runs_are_open(env, sandbox, monkeypatch):
    """The background count (MLflow has no count API: it pages through runs) sends nothing while the user is
    in an experiment's runs, not even the first request of each experiment; back in the list it goes on."""
    from mlopstui.screens import experiments

    ensure_many_runs(f"sqlite:///{sandbox.dir / 'mlflow' / 'mlflow.db'}", "bulk-50", 50, "s3://mlflow-artifacts/")
    monkeypatch.setattr(experiments, "COUNT_DELAY_S", 3.0)  # starts surely after the runs are open
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        await open_experiment(app, pilot, "bulk-50")
        exps = next(s for s in app.screen_stack if isinstance(s, experiments.ExperimentsScreen))
        await pilot.pause(experiments.COUNT_DELAY_S + 3.0)
        assert [e.run_count for e in exps.experiments if e.run_count is not None] == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is exps and any(e.run_count for e in exps.experiments))


async def test_closing_the_command_line_does_not_read_the_list_again(env):
    """`:` opens a dialog over the list; closing it changes nothing there, so the list is not re-read (that
    request raced the first page of `:exp NAME`); coming back from another area re-reads it."""
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0)
        screen = app.screen
        loaded = screen.loaded_at
        await pilot.press("colon")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause(1.0)
        assert screen.loaded_at == loaded
        await pilot.press("1")
        await wait_for(pilot, lambda: app.screen is not screen)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen is screen and screen.loaded_at != loaded)


async def test_first_page_of_runs_older_than_a_day(env):
    """No run in the last day (the first page's window): the first page is asked again without it, and is
    the newest runs all the same; the rest of the list follows."""
    import time

    from mlflow.tracking import MlflowClient

    client = MlflowClient(env.env["MLFLOW_TRACKING_URI"])
    name = "old-runs"
    exp = client.get_experiment_by_name(name)
    eid = exp.experiment_id if exp else client.create_experiment(name)
    have = client.search_runs([eid], max_results=100)
    month_ago = int(time.time() * 1000) - 30 * 86_400_000
    for i in range(len(have), 30):
        client.create_run(eid, start_time=month_ago + i * 60_000, run_name=f"old-{i:02d}")
    theirs = [r.info.run_id for r in client.search_runs([eid], order_by=["attributes.start_time DESC"],
                                                        max_results=100)]
    assert len(theirs) == 30
    app = make_app(env)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_experiment(app, pilot, name)
        await wait_for(pilot, lambda: screen.first_page_at is not None)
        assert screen.first_page_rows == screen.first_page_size
        table = screen.query_one("#runs")
        await wait_for(pilot, lambda: screen.next_token is None and not screen.loading and not screen.tail_loading)
        assert table.visible_keys() == theirs

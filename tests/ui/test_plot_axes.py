"""Issue 14: the run's metric plot keeps its x axis (ticks and a labelled unit) at 80x24 and 200x50, by step
and by time; the compare plot tells series apart by marker; the compare status counts what differs per tab.

Against the sandbox's MLflow; expected values are read with the official MLflow client."""

from __future__ import annotations

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from support.ui import screen_lines, wait_for


@pytest.fixture
def env(sandbox_env):
    return sandbox_env


def status(app) -> str:
    return str(app.screen.query_one("#status").render())


async def open_runs(app, pilot, name: str):
    await pilot.press("2")
    await wait_for(pilot, lambda: app.screen.query("#experiments") and app.screen.query_one("#experiments").row_count,
                   timeout=90)
    await pilot.press("colon", *f"exp {name}", "enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and app.screen.query_one("#runs").row_count,
                   timeout=90)
    return app.screen


def x_axis_rows(app) -> list[str]:
    """The frame's rows from the plot's bottom border down: the tick labels and the axis label must be there."""
    lines = screen_lines(app)
    bottom = [i for i, line in enumerate(lines) if "└" in line and "┘" in line]
    assert bottom, "\n".join(lines)
    return lines[bottom[-1]:bottom[-1] + 3]


def _mlflow():
    from mlflow.tracking import MlflowClient

    return MlflowClient()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_run_plot_has_an_x_axis_with_unit(env, size):
    client = _mlflow()
    exp = client.get_experiment_by_name("churn")
    run = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    key = sorted(run.data.metrics)[0]
    hist = client.get_metric_history(run.info.run_id, key)
    span = (max(m.timestamp for m in hist) - min(m.timestamp for m in hist)) / 1000
    unit = "time (s)" if span <= 120 else "time (min)" if span <= 7200 else "time (h)"
    last_step = max(m.step for m in hist)

    app = MlopsApp(config.load(None, kubeconfig=str(env.kubeconfig)))
    async with app.run_test(size=size) as pilot:
        await open_runs(app, pilot, "churn")
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen", timeout=60)
        await pilot.press("right_square_bracket")
        plot = app.screen.query_one("#run-plot")
        await wait_for(pilot, lambda: plot.series and plot.size.height > 0, timeout=60)
        await pilot.pause(0.3)
        rows = x_axis_rows(app)
        assert "┬" in rows[0], rows  # tick marks on the axis
        assert str(last_step) in rows[1] and "0" in rows[1].split(), rows  # whole-number step ticks
        assert rows[2].strip() == "step", rows
        await pilot.press("x")
        await wait_for(pilot, lambda: plot.x_label.startswith("time"))
        await pilot.pause(0.3)
        rows = x_axis_rows(app)
        assert rows[2].strip() == unit, rows


@pytest.mark.timeout(300)
async def test_compare_counts_differences_per_tab_and_marks_series(env):

    client = _mlflow()
    exp = client.get_experiment_by_name("churn")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=2)
    keys = set(runs[0].data.params) | set(runs[1].data.params)
    n_params = sum(1 for k in keys if runs[0].data.params.get(k) != runs[1].data.params.get(k))
    mkeys = set(runs[0].data.metrics) | set(runs[1].data.metrics)
    n_metrics = sum(1 for k in mkeys if runs[0].data.metrics.get(k) != runs[1].data.metrics.get(k))
    assert n_params >= 1 and n_metrics >= 2  # the seed: runs differ in max_depth and in every metric

    app = MlopsApp(config.load(None, kubeconfig=str(env.kubeconfig)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(app, pilot, "churn")
        screen.query_one("#runs").move_cursor(row=0)
        await pilot.press("space", "space", "C")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and app.screen.loaded_at, timeout=60)
        want = f"{n_params} param{'s differ' if n_params != 1 else ' differs'} (highlighted)"
        await wait_for(pilot, lambda: want in status(app))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: f"{n_metrics} metrics differ" in status(app))
        assert "param" not in status(app)
        await pilot.press("right_square_bracket")
        plot = app.screen.query_one("#compare-plot")
        await wait_for(pilot, lambda: len(plot.series) == 2 and "plot:" in status(app))
        assert "differ" not in status(app)
        assert len(set(plot.markers)) == 2 and "braille" not in plot.markers
        await pilot.pause(0.3)
        rows = x_axis_rows(app)
        assert rows[2].strip() == "step"
        legend = "\n".join(screen_lines(app))
        for marker, label in zip(plot.markers, (s.label for s in plot.series), strict=True):
            assert f"{marker}{marker} {label}" in legend

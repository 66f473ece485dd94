"""The Stack screen driven with Pilot against the emulator and real local services."""

from __future__ import annotations

import time

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402
from support.stack_env import ACCESS_KEY, SECRETS, aws_env, stack_env  # noqa: F401, E402 - fixtures
from support.ui import stack_probes_answered  # noqa: E402


async def wait_until(pilot, pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        if pred():
            return True
    raise AssertionError("condition not reached in time")


def screen_text(app) -> str:
    return app.export_screenshot()


def row(app, cid):
    return next(c for c in app.screen.report.components if c.id == cid)


@pytest.mark.asyncio
async def test_stack_screen_rows_keys_and_no_secrets(aws_env):
    app = MlopsApp(config.load(aws_env.config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: stack_probes_answered(app))
        stack = app.screen
        assert type(stack).__name__ == "StackScreen"
        assert row(app, "redis").installed and row(app, "redis").probe.state.value == "ok"
        assert row(app, "lakefs").probe.state.value == "timeout"
        shot = screen_text(app)
        assert "Redis" in shot and "MLflow" in shot and "Findings" in shot
        await pilot.press("d")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "DoctorScreen")
        # the seeded faulty training Job is among the findings; selected, its detail shows the object and fix
        doctor = app.screen.query_one("#doctor")
        await wait_until(pilot, lambda: any("train-fraud-model" in k for k in doctor.visible_keys()))
        key = next(k for k in doctor.visible_keys() if "train-fraud-model" in k)
        doctor.move_cursor(row=doctor.get_row_index(key))
        await wait_until(pilot, lambda: "train-fraud-model" in screen_text(app) or "fix:" in screen_text(app))
        shot += screen_text(app)
        await pilot.press("escape")
        # drill into MLflow: env is shown masked
        keys = stack.query_one("#components").visible_keys()
        await pilot.press(*(["down"] * keys.index("mlflow")))
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ComponentScreen")
        await wait_until(pilot, lambda: app.screen.events_at is not None)
        shot += screen_text(app)
        detail = str(app.screen.query_one("#comp-detail").render())
        assert "AWS_SECRET_ACCESS_KEY=***" in detail and "MLFLOW_S3_ENDPOINT_URL" in detail
        await pilot.press("y")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "YamlScreen")
        shot += screen_text(app) + "\n".join(app.screen.view().plain_lines())
        await pilot.press("escape")
        await pilot.press("l")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PodLogScreen")
        await pilot.pause(0.5)
        shot += screen_text(app)
        for secret in SECRETS + (ACCESS_KEY,):
            assert secret not in shot
        log = (aws_env.dir / "app.log")
        if log.exists():
            assert not any(s in log.read_text() for s in SECRETS)


@pytest.mark.asyncio
async def test_mlflow_stop_and_start_without_restarting_the_tui(aws_env):
    aws_env.wait_mlflow()
    app = MlopsApp(config.load(aws_env.config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None
                         and row(app, "mlflow").probe.state.value in ("ok", "degraded"))
        stack = app.screen
        aws_env.stop_mlflow()
        t0 = time.monotonic()
        s = app.ctx.settings
        await wait_until(pilot, lambda: row(app, "mlflow").probe.state.value in ("failed", "timeout"),
                         timeout=s.refresh_interval + s.probe_timeout + 5)
        assert time.monotonic() - t0 <= s.refresh_interval + s.probe_timeout + 3
        assert row(app, "mlflow").health.value == "error"
        assert any(f.id == "probe-failed" and f.component == "mlflow" for f in stack.report.findings)
        aws_env.start_mlflow()
        aws_env.wait_mlflow()
        await wait_until(pilot, lambda: row(app, "mlflow").probe.state.value in ("ok", "degraded"),
                         timeout=s.refresh_interval + s.probe_timeout + 5)
        assert app.screen is stack

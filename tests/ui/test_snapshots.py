"""Snapshot tests of key screens (SVG under tests/ui/__snapshots__; update with --snapshot-update)."""

import json
from pathlib import Path

from mlopstui import config
from mlopstui.app import MlopsApp

FIXED = Path("/tmp/mlopstui-snapshot-fixture")


def app_with_audit() -> MlopsApp:
    FIXED.mkdir(parents=True, exist_ok=True)
    log = FIXED / "audit.jsonl"
    entries = [
        {"ts": "2026-11-28T09:00:00Z", "user": "ops", "action": "canary", "ok": True,
         "target": "inferenceservices.serving.kserve.io/mlops/fraud-detection", "message": "canary 20 -> 30"},
        {"ts": "2026-11-28T09:05:00Z", "user": "ops", "action": "promote", "ok": False,
         "target": "inferenceservices.serving.kserve.io/mlops/fraud-detection",
         "message": "conflict: the object has been modified"},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return MlopsApp(config.load(None, kubeconfig="/nonexistent/kubeconfig", audit_log=str(log)))


def test_audit_area_80x24(snap_compare):
    assert snap_compare(app_with_audit(), press=["7"], terminal_size=(80, 24))


def test_help_screen_80x24(snap_compare):
    assert snap_compare(app_with_audit(), press=["7", "question_mark"], terminal_size=(80, 24))


def app_with_broken_kubeconfig() -> MlopsApp:
    FIXED.mkdir(parents=True, exist_ok=True)
    kc = FIXED / "kubeconfig"
    kc.write_text("apiVersion: v1\nclusters: [\n")  # malformed YAML
    return MlopsApp(config.load(None, kubeconfig=str(kc), audit_log=str(FIXED / "audit.jsonl"),
                                refresh_interval=3600.0))


async def _cluster_settled(pilot) -> None:
    """Wait until the Stack screen's cluster read has failed and been shown."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_stack_with_a_malformed_kubeconfig_80x24(snap_compare):
    """The first screen an operator sees when the kubeconfig is broken: the catalog with installation
    unknown ('?'), the error inline with what to do, and every key still live."""
    assert snap_compare(app_with_broken_kubeconfig(), terminal_size=(80, 24), run_before=_cluster_settled)


# -- the key screens at 80x24 with a fixed clock and fixed data (tests/support/fixed_screens.py) ------------
import pytest  # noqa: E402

from support import fixed_screens as fx  # noqa: E402


@pytest.fixture
def fixed_clock(monkeypatch):
    """Ages against a fixed now (units.set_clock); times shown in UTC whatever the machine's zone."""
    import time

    from mlopstui import units

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    units.set_clock(lambda: fx.FIXED_NOW)
    yield fx.FIXED_NOW
    units.set_clock(None)
    monkeypatch.undo()
    time.tzset()


def offline_app() -> MlopsApp:
    """No cluster (a kubeconfig that does not exist: the header says so, the same on every run); the screens'
    data come from the fixtures; no periodic refresh."""
    FIXED.mkdir(parents=True, exist_ok=True)
    return MlopsApp(config.load(None, kubeconfig="/nonexistent/kubeconfig", audit_log=str(FIXED / "audit.jsonl"),
                                refresh_interval=3600.0, namespace="mlops"))


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def _stack_from_fixtures(pilot) -> None:
    """The Stack screen's sweep fails (no cluster); then the fixed report arrives as a sweep's message."""
    from mlopstui.screens.stack_sweep import StackUpdated

    await _settle(pilot)
    stack = pilot.app.screen
    report, fixes, probes = fx.stack_report(pilot.app.ctx.settings)
    stack.post_message(StackUpdated(report, fixes, probes, set(), stack._sweep_id, True))
    await _settle(pilot)


def test_stack_fixed_80x24(snap_compare, fixed_clock):
    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=_stack_from_fixtures)


def test_doctor_fixed_80x24(snap_compare, fixed_clock):
    async def run_before(pilot) -> None:
        await _stack_from_fixtures(pilot)
        await pilot.press("d")
        await _settle(pilot)

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)


def test_serving_detail_fixed_80x24(snap_compare, fixed_clock):
    async def run_before(pilot) -> None:
        from mlopstui.screens.isvc_detail import IsvcDetailScreen

        await pilot.press("4")
        await _settle(pilot)
        isvc, revisions = fx.fraud_isvc()
        screen = IsvcDetailScreen(isvc.namespace, isvc.name)
        await pilot.app.push_screen(screen)
        await _settle(pilot)
        screen._loaded((isvc, revisions))  # what the read returns, from KServe's published object
        screen.set_status("")  # the read itself failed: there is no cluster
        await _settle(pilot)

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)


def test_runs_table_fixed_80x24(snap_compare, fixed_clock):
    async def run_before(pilot) -> None:
        from mlopstui.screens.runs import RunsScreen

        await pilot.press("2")
        await _settle(pilot)
        await pilot.app.push_screen(RunsScreen(fx.FixedMlflow(), fx.EXPERIMENT))
        await _settle(pilot)

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)


def test_run_detail_plot_fixed_80x24(snap_compare, fixed_clock):
    async def run_before(pilot) -> None:
        from mlopstui.screens.run_detail import RunDetailScreen

        await pilot.press("2")
        await _settle(pilot)
        backend = fx.FixedMlflow()
        run = backend.runs[0]
        await pilot.app.push_screen(RunDetailScreen(backend, run.run_id, run=run, experiment_name="fraud-detection"))
        await _settle(pilot)
        await pilot.press("right_square_bracket")  # the Metrics tab: the plot
        await _settle(pilot)

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)

"""Issue 14, the terminal as an operator sizes it: columns chosen by width and priority, the same navigation
keys on every table, a visible `/` filter. Against the sandbox, at 80x24 and 200x50."""

from __future__ import annotations

import time

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.widgets.filter_table import FilterTable


def screen_lines(app) -> list[str]:
    """What the terminal shows, line by line (the composited screen as text)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def wait_for(pilot, cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - not mounted yet
            pass
    raise AssertionError(f"{what} not met in time; screen:\n" + "\n".join(screen_lines(pilot.app)))


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_stack_finding_and_runs_status_are_on_screen(sandbox, size):
    app = MlopsApp(config.load(sandbox.config_path))
    async with app.run_test(size=size) as pilot:
        stack = app.screen
        await wait_for(pilot, lambda: stack.report is not None and not stack.pending
                       and any("Redis has no" in line for line in screen_lines(app)), what="stack finding")
        lines = screen_lines(app)
        header = next(line for line in lines if "COMPONENT" in line)
        assert "FINDING" in header and "READY" in header
        redis = next(line for line in lines if "Redis" in line and "Redis has no" in line)
        assert "✗" in redis  # the glyph carries the severity without colour
        assert all(len(line) <= size[0] for line in lines)
        table = stack.query_one("#components", FilterTable)
        if size[0] >= 200:
            assert {"VERSION", "AGE", "RESTARTS"} <= set(table.shown_columns())
        else:
            assert "AGE" not in table.shown_columns()  # dropped by priority, not pushed off screen

        await pilot.press("colon", *"runs fraud-detection", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and len(app.screen.order) >= 20,
                       what="runs")
        runs = app.screen
        failed = next(rid for rid in runs.order if runs.runs[rid].status == "FAILED")
        table = runs.query_one("#runs", FilterTable)
        table.move_cursor(row=table.get_row_index(failed))
        await wait_for(pilot, lambda: any("✗ FAILED" in line for line in screen_lines(app)), what="FAILED run")
        header = next(line for line in screen_lines(app) if "NAME" in line and "STATUS" in line)
        assert "NAME" in header


@pytest.mark.asyncio
async def test_columns_come_back_when_the_terminal_widens(sandbox):
    app = MlopsApp(config.load(sandbox.config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        stack = app.screen
        table = stack.query_one("#components", FilterTable)
        await wait_for(pilot, lambda: stack.report is not None and table.row_count > 5)
        narrow = table.shown_columns()
        assert "VERSION" not in narrow
        await pilot.resize_terminal(200, 50)
        await wait_for(pilot, lambda: "VERSION" in table.shown_columns(), what="wide layout")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: table.shown_columns() == narrow, what="narrow layout again")


# -- 3. an earlier context's error does not outlive `:ctx` back; Experiments re-reads on return --------------
def two_contexts(sandbox, tmp_path) -> str:
    """The sandbox's kubeconfig plus a context `broken` whose API server refuses connections."""
    import yaml

    from support.fault_servers import refused_port

    kc = yaml.safe_load(sandbox.kubeconfig.read_text())
    kc["clusters"].append({"name": "broken", "cluster": {"server": f"https://127.0.0.1:{refused_port()}"}})
    kc["contexts"].append({"name": "broken", "context": {"cluster": "broken", "user": "admin", "namespace": "mlops"}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    return str(path)


def status_of(app) -> tuple[str, bool]:
    line = app.screen.query_one("#status")
    return str(line.render()), line.has_class("-error")


def busy(app, screen=None) -> bool:
    """A worker pending or running (only the given screen's, with a screen)."""
    return any(w.state.name in ("PENDING", "RUNNING") and (screen is None or w.node is screen) for w in app.workers)


async def error_or_idle(pilot, app, quiet: float = 1.5, timeout: float = 15.0) -> bool:
    """True once the status line shows an error; False when none came and no worker of the area's screen has
    been pending or running for `quiet` seconds (its reads are over: an area that reads nothing from the
    cluster waited out the whole timeout before; the Stack's own reads underneath may go on) or after the
    timeout."""
    end = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < end:
        await pilot.pause(0.05)
        if status_of(app)[1]:
            return True
        now = time.monotonic()
        idle_since = None if busy(app, app.screen) else (idle_since or now)
        if idle_since is not None and now - idle_since >= quiet:
            return status_of(app)[1]
    return False


@pytest.mark.asyncio
async def test_an_error_from_an_earlier_context_is_cleared_after_ctx_back(sandbox, tmp_path):
    from mlopstui.screens.areas import AREAS

    settings = config.load(sandbox.config_path, kubeconfig=two_contexts(sandbox, tmp_path),
                           audit_log=str(tmp_path / "audit.jsonl"), refresh_interval=3600.0)
    app = MlopsApp(settings)
    errored = []
    async with app.run_test(size=(120, 36)) as pilot:
        for area in AREAS:
            await pilot.press(area.key)
            await wait_for(pilot, lambda a=area: getattr(app.screen, "AREA", "") == a.mode)
            await pilot.press("colon", *"ctx broken", "enter")
            if await error_or_idle(pilot, app):
                errored.append(area.mode)
            # else this area reads nothing from the cluster (its endpoints come from the config)
            await pilot.press("colon", *"ctx mlopstui-sandbox", "enter")
            await pilot.pause(0.5)
            await wait_for(pilot, lambda: not busy(app), timeout=60, what="the new context's reads")
            await pilot.pause(0.5)
            text, is_error = status_of(app)
            assert not is_error and "unreachable" not in text and "broken" not in text, (area.mode, text)
    assert {"stack", "serving"} <= set(errored)


@pytest.mark.asyncio
async def test_experiments_read_again_on_return(sandbox, tmp_path):
    app = MlopsApp(config.load(sandbox.config_path, audit_log=str(tmp_path / "audit.jsonl")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: getattr(app.screen, "AREA", "") == "experiments"
                       and app.screen.loaded_at is not None)
        exps = app.screen
        first = exps.loaded_at
        exps.loaded_at = first - 600  # as if it had been read ten minutes ago
        await pilot.press("1")
        await wait_for(pilot, lambda: getattr(app.screen, "AREA", "") == "stack")
        await pilot.press("2")
        await wait_for(pilot, lambda: exps.loaded_at is not None and exps.loaded_at >= first, what="a re-read")
        await wait_for(pilot, lambda: "loaded just now" in str(exps.query_one("#mlflow-source").render()))
        # and back from the runs of an experiment, too
        mark = exps.loaded_at
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is exps and exps.loaded_at > mark, what="a re-read after runs")


# -- 4. the same keys on every table; `a` in Serving keeps the row; the filter shows ----------------------
@pytest.mark.asyncio
async def test_g_G_home_end_and_the_visible_filter_on_a_table(tmp_path):
    import json

    log = tmp_path / "audit.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2026-11-28T09:{i:02d}:00Z", "user": "ops", "action": "canary",
                                       "ok": True, "target": f"isvc/mlops/m{i}", "message": f"step {i}"}) + "\n"
                           for i in range(40)))
    app = MlopsApp(config.load(None, kubeconfig=str(tmp_path / "none"), audit_log=str(log), refresh_interval=3600.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: app.screen.query_one(FilterTable).row_count == 40)
        table = app.screen.query_one(FilterTable)
        table.focus()
        for key, row in (("G", 39), ("g", 0), ("end", 39), ("home", 0)):
            await pilot.press(key)
            await wait_for(pilot, lambda r=row: table.cursor_row == r, what=f"{key} -> row {row}")
        await pilot.press("slash", *"step 3", "enter")
        await wait_for(pilot, lambda: table.row_count == 11)  # step 3, step 30..39
        assert table.border_title == "filter: step 3 (11/40)"
        assert any("filter: step 3 (11/40)" in line for line in screen_lines(app))
        await pilot.press("G")
        await wait_for(pilot, lambda: table.cursor_row == 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 40)
        assert not table.border_title and not any("filter:" in line for line in screen_lines(app))


@pytest.mark.asyncio
async def test_serving_all_namespaces_keeps_the_selected_row(tmp_path):
    from support.serving import NS, serving_cluster

    with serving_cluster(tmp_path) as cluster:
        settings = config.load(None, kubeconfig=str(cluster.kubeconfig), context="mlopstui-sandbox", namespace=NS,
                               audit_log=str(tmp_path / "audit.jsonl"))
        app = MlopsApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: getattr(app.screen, "AREA", "") == "serving"
                           and app.screen.query_one(FilterTable).row_count >= 2)
            screen = app.screen
            table = screen.query_one(FilterTable)
            keys = table.visible_keys()
            chosen = keys[-1]  # not the first row: a reset cursor would show
            table.move_cursor(row=table.get_row_index(chosen))
            await pilot.pause()
            for _ in range(2):
                await pilot.press("a")
                await wait_for(pilot, lambda: ("NAMESPACE" in table.shown_columns()) == screen.all_namespaces
                               and table.row_count >= 2, what="the other scope")
                assert table.selected_key == chosen
                assert table.cursor_row == table.get_row_index(chosen)

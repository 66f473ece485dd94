"""The rough edges an operator meets in the first hour (issue 14), driven with Pilot at 80x24.

Without a cluster (a kubeconfig that does not exist) unless a test needs one: the audit log, the keys, the
help, the footers and the Stack screen's update path. The runs search runs against the sandbox's MLflow.
"""

from __future__ import annotations

import json
import time

import pytest

from mlopstui import config  # noqa: E402
from mlopstui.app import MlopsApp  # noqa: E402

SIZE = (80, 24)


async def wait_for(pilot, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        try:
            if cond():
                return True
        except Exception:  # noqa: BLE001 - not mounted yet
            pass
    raise AssertionError("condition not met in time")


def offline_app(tmp_path, entries=(), **flags) -> MlopsApp:
    log = tmp_path / "audit.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return MlopsApp(config.load(None, kubeconfig=str(tmp_path / "no-kubeconfig"), audit_log=str(log),
                                refresh_interval=3600.0, **flags))


def status(app) -> str:
    return str(app.screen.query_one("#status").render())


async def goto_area(pilot, app, mode: str) -> None:
    from mlopstui.screens.areas import AREAS

    key = next(a.key for a in AREAS if a.mode == mode)
    await pilot.press(key)
    await wait_for(pilot, lambda: getattr(app.screen, "AREA", "") == mode)


# -- 3. audit: enter shows the whole entry, scrubbed ---------------------------------------------------
@pytest.mark.asyncio
async def test_audit_enter_shows_the_whole_entry_scrubbed(tmp_path):
    entry = {"ts": "2026-11-28T09:00:00Z", "user": "ops", "action": "canary", "ok": False,
             "outcome": "conflict", "target": "inferenceservices.serving.kserve.io/mlops/fraud-detection",
             "patch_type": "merge", "patch": {"spec": {"predictor": {"canaryTrafficPercent": 30}}},
             "message": "the object has been modified; postgresql://mlflow:hunter2pw@pg:5432/mlflow",
             "server": {"resourceVersion": "4711"}}
    app = offline_app(tmp_path, [entry])
    async with app.run_test(size=SIZE) as pilot:
        await goto_area(pilot, app, "audit")
        await wait_for(pilot, lambda: app.screen.query_one("#audit-table").row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextView")
        body = str(app.screen.query_one("#textview-body").render())
        assert '"canaryTrafficPercent": 30' in body and "fraud-detection" in body and '"conflict"' in body
        assert "4711" in body and "hunter2pw" not in body and "mlflow:***@pg" in body
        await pilot.press("escape")
        assert type(app.screen).__name__ == "AuditScreen"


# -- 4. a bad runs search empties the table and keeps the error under the query ------------------------
@pytest.fixture
def sandbox_app(sandbox, monkeypatch):
    for k, v in sandbox.env.items():
        if k != "MLOPSTUI_CONFIG":
            monkeypatch.setenv(k, v)
    return lambda **flags: MlopsApp(config.load(None, kubeconfig=str(sandbox.kubeconfig), **flags))


async def open_runs(app, pilot, name="fraud-detection"):
    await goto_area(pilot, app, "experiments")
    await wait_for(pilot, lambda: app.screen.query_one("#experiments").row_count > 0, 90)
    await pilot.press("colon", *f"exp {name}", "enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen"
                   and app.screen.query_one("#runs").row_count > 0, 90)
    return app.screen


@pytest.mark.asyncio
async def test_bad_runs_search_clears_the_table_and_keeps_the_query(sandbox_app):
    app = sandbox_app()
    async with app.run_test(size=SIZE) as pilot:
        runs = await open_runs(app, pilot)
        await pilot.press("slash")
        runs.query_one("#runfilter").value = "metrics.accuracy > 0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: runs.filter == "metrics.accuracy > 0" and not runs.loading
                       and runs.query_one("#runs").row_count > 0 and not list(runs.query("#runfilter")))
        await pilot.press("slash")
        runs.query_one("#runfilter").value = "accuracy >> 0.9"
        await pilot.press("enter")
        await wait_for(pilot, lambda: runs.search_error is not None)
        assert runs.query_one("#runs").row_count == 0  # no rows of the earlier filter under the new label
        box = runs.query_one("#runfilter")
        assert box.value == "accuracy >> 0.9" and app.focused is box
        assert "accuracy >> 0.9" in status(app) and "[invalid]" in status(app)
        assert "search failed" in str(runs.query_one("#runs-info").render())
        # corrected in place: the box closes and rows come back
        box.value = "metrics.accuracy > 0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: runs.search_error is None and runs.query_one("#runs").row_count > 0
                       and not list(runs.query("#runfilter")))


# -- minors --------------------------------------------------------------------------------------------
def test_help_key_labels_and_command_completion():
    from mlopstui.screens.help import key_label
    from mlopstui.widgets.completion import complete

    assert key_label("right_square_bracket") == "]" and key_label("left_square_bracket") == "["
    assert key_label("question_mark") == "?" and key_label("ctrl+r") == "ctrl+r" and key_label("G") == "G"
    cands = ["ns default", "ns mlops", "ns ml-staging", "ns kube-system", "doctor"]
    assert complete("ns mlo", cands) == "ns mlops"
    assert complete("ns ml", cands) == "ns ml"  # two start so: the common prefix, nothing more
    assert complete("ns ml", cands, unique_only=True) == "ns ml"
    assert complete("ns kube", cands, unique_only=True) == "ns kube-system"
    assert complete("doc", cands) == "doctor" and complete("ns mlops", cands) == "ns mlops"


@pytest.mark.asyncio
async def test_area_key_after_a_command_returns_to_the_area_table(tmp_path):
    app = offline_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")
        await pilot.press("colon", *"doctor", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DoctorScreen")
        await pilot.press("1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")


@pytest.mark.asyncio
async def test_footers_keep_the_screens_own_keys_at_80_columns(tmp_path):
    from textual.widgets._footer import FooterKey

    app = offline_app(tmp_path)
    def shown() -> set[str]:
        return {"?" if k.key == "question_mark" else k.key for k in app.screen.query(FooterKey)
                if k.region.width and k.region.right <= SIZE[0]}

    async with app.run_test(size=SIZE) as pilot:
        for mode, keys in (("stack", {"d", "f", "i", "?"}), ("serving", {"p", "b", "t", "?"})):
            await goto_area(pilot, app, mode)
            # the first area's key bar follows the first frame
            await wait_for(pilot, lambda keys=keys: keys <= shown(), 10)


@pytest.mark.asyncio
async def test_palette_finds_actions(tmp_path):
    app = offline_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")
        from mlopstui.app import AreaCommands

        titles = [t for t, _, _ in AreaCommands(app.screen)._entries()]
        for word in ("Canary", "Promote", "Doctor", "Materialize"):
            assert any(word in t for t in titles), titles
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"materialize")
        await wait_for(pilot, lambda: "Materialize features" in str(
            app.screen.query_one("CommandList").get_option_at_index(0).prompt))
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "AREA", "") == "features")


@pytest.mark.asyncio
async def test_f_on_the_stack_table_says_why(tmp_path):
    app = offline_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "report", None) is not None)
        await pilot.press("f")
        await wait_for(pilot, lambda: status(app).startswith("f: "))
        assert "no finding to fix" in status(app) or "no automatic fix" in status(app)


@pytest.mark.asyncio
async def test_job_log_colours_are_parsed_not_shown_as_escapes(tmp_path):
    from mlopstui.screens.features import TextView

    log = "\x1b[1m\x1b[32mMaterializing\x1b[0m 2 feature views to \x1b[33m2026-12-01\x1b[0m\n\x1b]0;title\x07done\n"
    app = offline_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")
        app.push_screen(TextView("log: job mlops/x", log, ansi=True))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextView")
        body = app.screen.query_one("#textview-body").render()
        plain = getattr(body, "plain", str(body))
        assert "Materializing 2 feature views to 2026-12-01" in plain and "done" in plain
        assert "\x1b" not in plain and "[32m" not in plain and "[0m" not in plain and "title" not in plain


@pytest.mark.asyncio
async def test_unknown_sort_column_is_refused(sandbox_app):
    app = sandbox_app()
    async with app.run_test(size=SIZE) as pilot:
        runs = await open_runs(app, pilot)
        cols, sort = list(runs.columns or []), (runs.sort_col, runs.sort_asc)
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = "foo"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no column" in status(app))
        assert "metrics.foo" in status(app) and list(runs.columns or []) == cols
        assert (runs.sort_col, runs.sort_asc) == sort


def test_probe_cell_text_has_no_changing_latency():
    from mlopstui.screens.stack import is_slow, probe_cell_text

    assert probe_cell_text("HTTP 200 24ms") == "HTTP 200" == probe_cell_text("HTTP 200 31ms")
    assert probe_cell_text("conn 5/100 91ms", slow=True) == "conn 5/100 slow"
    seq, slow = [], False
    for ms in (2100, 1900, 1500, 2050, 900, 1900):  # marked at 2 s, kept until under 1 s
        slow = is_slow(ms, slow)
        seq.append(slow)
    assert seq == [True, True, True, True, False, False]

"""Area 6 (Data) driven by Pilot against the sandbox: the LakeFS emulator (its request log counts the
writes) and the seeded DVC project."""

from __future__ import annotations

import asyncio
import json
import uuid

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.screens.confirm import ConfirmPlan, PromptValue
from mlopstui.screens.data import DataScreen
from mlopstui.widgets.filter_table import FilterTable

REPO = "fraud-datasets"


def make_app(sandbox, tmp_path, **flags) -> MlopsApp:
    settings = config.load(str(sandbox.config_path), audit_log=str(tmp_path / "audit.jsonl"), **flags)
    return MlopsApp(settings)


def writes(sandbox) -> list[tuple[str, str]]:
    log = sandbox.dir / "lakefs" / "requests.jsonl"
    out = []
    for line in log.read_text().splitlines():
        e = json.loads(line)
        if e["method"] in ("POST", "PUT", "DELETE", "PATCH"):
            out.append((e["method"], e["path"]))
    return out


async def wait_for(pilot, cond, timeout: float = 120.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"{what} not met in time")
        await pilot.pause(0.1)


def cells(table: FilterTable) -> list[list[str]]:
    return [[getattr(c, "plain", str(c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


def status(screen) -> str:
    return str(screen.query_one("#status").render())


async def _open(app, pilot) -> DataScreen:
    await pilot.press("6")
    screen = app.screen
    assert isinstance(screen, DataScreen)
    main = screen.query_one("#main-table", FilterTable)
    await wait_for(pilot, lambda: "branch:dedup-experiment" in main.visible_keys(), what="branches listed")
    return screen


async def _select(pilot, table: FilterTable, key: str) -> None:
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


async def test_repos_diff_and_dvc_status_at_80x24(sandbox, tmp_path):
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        repos = screen.query_one("#repos-table", FilterTable)
        assert [REPO, "s3://lakefs-data/datasets", "main"] in cells(repos)
        main = screen.query_one("#main-table", FilterTable)
        await _select(pilot, main, "branch:dedup-experiment")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue), what="diff prompt")
        await pilot.press("enter")  # the suggestion: main...dedup-experiment
        await wait_for(pilot, lambda: screen.view == "diff" and main.row_count == 2, what="diff rows")
        assert sorted((r[0], r[1]) for r in cells(main)) == [("added", "notes/dedup.txt"),
                                                             ("changed", "raw/transactions.csv")]
        await pilot.press("v")
        await wait_for(pilot, lambda: screen.project is not None and main.row_count == 2, timeout=180,
                       what="DVC status")
        rows = {r[0]: r[1] for r in cells(main)}
        assert rows == {"data/transactions.csv": "✓ in remote", "data/labels.csv": "✗ not pushed"}


async def test_create_branch_and_revert_each_one_write(sandbox, tmp_path):
    name = f"ui-{uuid.uuid4().hex[:6]}"
    app = make_app(sandbox, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        main = screen.query_one("#main-table", FilterTable)
        await _select(pilot, main, "branch:dedup-experiment")
        before = len(writes(sandbox))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue), what="name prompt")
        await pilot.press(*name, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), what="plan")
        assert "zero-copy" in app.screen.plan.render()
        await pilot.press("y")
        await wait_for(pilot, lambda: "created branch" in status(screen), what="branch created")
        assert writes(sandbox)[before:] == [("POST", f"/api/v1/repositories/{REPO}/branches")]

        await wait_for(pilot, lambda: f"branch:{name}" in main.visible_keys(), what="new branch listed")
        await _select(pilot, main, f"branch:{name}")
        await pilot.press("l")
        await wait_for(pilot, lambda: screen.view == "log" and main.row_count >= 3, what="log")
        assert cells(main)[0][3] == "Drop duplicate transactions"
        main.move_cursor(row=0)
        before = len(writes(sandbox))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), what="revert plan")
        await pilot.press("y")
        await wait_for(pilot, lambda: "reverted" in status(screen), what="reverted")
        assert writes(sandbox)[before:] == [("POST", f"/api/v1/repositories/{REPO}/branches/{name}/revert")]
        await wait_for(pilot, lambda: main.row_count >= 4 and cells(main)[0][3].startswith("Revert "),
                       what="revert commit in the log")
    from mlopstui.backends import lakefs
    from mlopstui.context import AppContext

    with lakefs.client(AppContext.create(config.load(str(sandbox.config_path)))) as c:
        c.delete_branch(REPO, name)


async def test_readonly_refuses_with_no_write_and_default_branch_is_kept(sandbox, tmp_path):
    app = make_app(sandbox, tmp_path, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        main = screen.query_one("#main-table", FilterTable)
        before = len(writes(sandbox))
        await _select(pilot, main, "branch:main")
        await pilot.press("X")
        await wait_for(pilot, lambda: "default branch" in status(screen), what="default branch refusal")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptValue), what="name prompt")
        await pilot.press(*"ro-branch", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlan), what="plan")
        await pilot.press("y")
        await wait_for(pilot, lambda: "read-only" in status(screen), what="read-only refusal")
        assert writes(sandbox)[before:] == []

"""The app shell driven by Pilot: areas, `:` commands, help, `/` filter, header on a bad kubeconfig."""

import json

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.header import ClusterHeader


def make_app(tmp_path, kubeconfig=None, **flags):
    kc = kubeconfig or str(tmp_path / "no-kubeconfig")
    return MlopsApp(config.load(None, kubeconfig=kc, **flags))


def header_text(app) -> str:
    return app.screen.query_one(ClusterHeader).render().plain


async def test_area_switching_by_key_and_command(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.current_mode == "stack"
        for key, mode in (("2", "experiments"), ("4", "serving"), ("3", "features"), ("5", "pipelines"),
                          ("7", "audit"), ("1", "stack")):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
        for cmd, mode in (("runs", "experiments"), ("isvc", "serving"), ("features", "features"),
                          ("stack", "stack")):
            await pilot.press("colon", *cmd, "enter")
            await pilot.pause()
            assert app.current_mode == mode, cmd
        await pilot.press("colon", *"bogus", "enter")
        await pilot.pause()
        assert app.current_mode == "stack"


async def test_help_lists_every_binding(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        screen = app.screen
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        for b in list(type(screen).BINDINGS) + list(MlopsApp.BINDINGS):
            assert b.description in text, b
        for cmd in (":ctx", ":ns", ":runs", ":isvc"):
            assert cmd in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_filter_narrows_a_table(tmp_path):
    audit = tmp_path / "audit.jsonl"
    audit.write_text("\n".join(json.dumps({"ts": f"2026-11-28T10:0{i}:00Z", "user": "op", "action": a,
                                           "target": f"isvc/{t}", "ok": True, "message": "ok"})
                               for i, (a, t) in enumerate([("canary", "fraud"), ("promote", "fraud"),
                                                           ("canary", "churn")])) + "\n")
    app = make_app(tmp_path, audit_log=str(audit))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("7")
        await pilot.pause(0.3)
        table = app.screen.query_one(FilterTable)
        assert table.row_count == 3
        table.focus()
        await pilot.press("slash", *"churn")
        await pilot.pause()
        assert table.row_count == 1
        await pilot.press("enter")  # keep the filter
        await pilot.pause()
        assert table.row_count == 1 and table.filter_text == "churn"
        await pilot.press("escape")  # clears it
        await pilot.pause()
        assert table.row_count == 3


async def test_bad_kubeconfig_is_named_and_app_still_works(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [\n")
    app = make_app(tmp_path, kubeconfig=str(bad))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = header_text(app)
        assert "malformed" in text or "no cluster" in text
        await pilot.press("7")  # the audit area needs no cluster
        await pilot.pause(0.3)
        assert app.current_mode == "audit"
        assert "entries" in str(app.screen.query_one("#status").render())


async def test_readonly_badge(tmp_path):
    app = make_app(tmp_path, readonly=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        assert "READ-ONLY" in header_text(app)


async def test_context_switch_requeries(tmp_path):
    """`:ctx` re-targets: the header shows the new context and the API is queried again as that user."""
    from mlopstui.sandbox.kubeapi import VIEWER_CONTEXT, KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        app = make_app(tmp_path, kubeconfig=srv.kubeconfig_path)
        async with app.run_test(size=(120, 30)) as pilot:
            for _ in range(50):
                await pilot.pause(0.1)
                if "ok" in header_text(app):
                    break
            assert "api:ok" in header_text(app)
            assert not [r for r in srv.request_log if r["user"] == "viewer"]
            await pilot.press("colon", *f"ctx {VIEWER_CONTEXT}", "enter")
            for _ in range(50):
                await pilot.pause(0.1)
                if [r for r in srv.request_log if r["user"] == "viewer"] and "ok" in header_text(app):
                    break
            assert f"ctx:{VIEWER_CONTEXT}" in header_text(app)
            assert [r for r in srv.request_log if r["user"] == "viewer" and r["path"] == "/api/v1/namespaces"]
            await pilot.press("colon", *"ns kube-system", "enter")
            await pilot.pause(0.2)
            assert "ns:kube-system" in header_text(app)
            await pilot.press("colon", *"ctx nope", "enter")
            await pilot.pause(0.2)
            assert f"ctx:{VIEWER_CONTEXT}" in header_text(app)  # unknown context changes nothing
    finally:
        srv.stop()


async def test_command_completion_offers_contexts(tmp_path):
    from textual.widgets import Input

    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        app = make_app(tmp_path, kubeconfig=srv.kubeconfig_path)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("colon", *"ctx mlopstui-sandbox-v")
            await pilot.pause(0.2)
            await pilot.press("tab")
            await pilot.pause(0.1)
            assert app.screen.query_one(Input).value == "ctx mlopstui-sandbox-viewer"
    finally:
        srv.stop()


async def test_stack_without_a_cluster_says_unknown_not_absent(tmp_path):
    """No kubeconfig: the Stack rows do not claim components are absent, and the status says why."""
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one("#components", FilterTable)
        for _ in range(50):
            await pilot.pause(0.1)
            if table.row_count:
                break
        installed = {str(table.get_row(k)[1]) for k in table.visible_keys()}
        assert installed == {"?"}
        assert "no kubeconfig" in str(app.screen.query_one("#status").render())


async def test_j_and_k_move_like_the_arrows(tmp_path):
    """k9s/vi movement: j and k move the cursor of a list, as down and up do; the findings pane follows."""
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one("#components", FilterTable)
        for _ in range(50):
            await pilot.pause(0.1)
            if table.row_count > 3:
                break
        keys = table.visible_keys()
        assert table.selected_key == keys[0]
        await pilot.press("j", "j")
        assert table.selected_key == keys[2]
        await pilot.press("k")
        assert table.selected_key == keys[1]
        await pilot.press("down")
        assert table.selected_key == keys[2]
        title = str(app.screen.query_one("#findings-title").render())
        assert app.screen.report.component(keys[2]).spec.title in title


async def test_no_animation_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        assert app.animation_level == "none"
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "full")
    assert make_app(tmp_path).animation_level == "full"


async def test_api_checks_run_on_one_long_lived_thread(tmp_path):
    """The header's API check, against the emulator: ok, and every periodic check on the same daemon thread
    (a thread started from the UI thread holds the loop until the OS first runs it)."""
    import threading

    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        app = make_app(tmp_path, kubeconfig=srv.kubeconfig_path, refresh_interval=3600.0)
        async with app.run_test(size=(100, 30)) as pilot:
            seen = set()
            for _ in range(3):
                app.check_api()
                for _ in range(200):
                    seen |= {t.ident for t in threading.enumerate() if t.name == "api-check"}
                    if app.api_state[0] is True and app._api_checking is None:
                        break
                    await pilot.pause(0.05)
                app.api_state = (None, "checking")
            assert app._api_checking is None and len(seen) == 1
            await pilot.pause()
            app.check_api()
            for _ in range(200):
                if app.api_state[0] is True:
                    break
                await pilot.pause(0.05)
            app.sync_header(app.screen)
            await pilot.pause()
            assert "ok" in header_text(app)
    finally:
        srv.stop()

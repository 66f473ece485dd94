"""`keymap:` and `theme:` in the config file: a remapped key works, the old one does not, the footer and `?`
show the keys in effect (issue 17)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.screens.help import HelpScreen
from support.ui import wait_for


def footer_keys(app) -> dict[str, str]:
    return {fk.description: fk.key_display for fk in app.screen.query(FooterKey)}


async def test_a_keymap_in_the_config_remaps_bindings_and_the_footer_shows_it(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("keymap:\n  app.help: f1\n  stack.doctor: x\ntheme: nord\n")
    app = MlopsApp(config.load(str(cfg), kubeconfig=str(tmp_path / "no-kubeconfig")))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: footer_keys(app), 10)  # the first area's key bar follows the first frame
        assert app.current_mode == "stack" and app.theme == "nord"
        keys = footer_keys(app)
        assert keys.get("Help") == "f1" and keys.get("Doctor") == "x", keys
        await pilot.press("question_mark")  # the default key is gone
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "f1" in text and "Doctor" in text
        rows = [ln for ln in text.splitlines() if "Doctor" in ln or ln.strip().startswith("f1")]
        assert any(ln.split()[0] == "x" for ln in rows if "Doctor" in ln), rows
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_of_every_area_screen_has_an_id():
    import importlib

    from mlopstui.screens.areas import AREAS

    for area in AREAS:
        cls = getattr(importlib.import_module(area.module), area.cls)
        for scope in cls.__mro__:
            for b in scope.__dict__.get("BINDINGS", []) if hasattr(scope, "AREA") else []:
                assert getattr(b, "id", None), (cls.__name__, b)


async def test_the_first_area_gets_its_key_bar_after_the_first_frame_and_only_once(tmp_path):
    """The first screen's Footer is mounted after the app's first frame (screens/base.py: after_first_frame,
    for start-up time); every screen ends with exactly one key bar, at the bottom, with its keys."""
    from textual.widgets import Footer

    app = MlopsApp(config.load(None, kubeconfig=str(tmp_path / "no-kubeconfig")))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: footer_keys(app), 10)
        assert app.first_frame_shown
        for key in ("2", "1", "2"):  # the first area, another, and back
            await wait_for(pilot, lambda: footer_keys(app), 10)
            footers = list(app.screen.query(Footer))
            assert len(footers) == 1 and app.screen.children[-1] is footers[0], app.screen.children
            assert footers[0].region.y == 23 and footer_keys(app), footers[0].region
            await pilot.press(key)
            await pilot.pause()

"""Pilot helpers shared by the UI tests."""

from __future__ import annotations

import asyncio


def status_text(app) -> str:
    found = app.screen.query("#status")
    return str(found.first().render()) if found else ""


async def wait_for(pilot, cond, timeout=20.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in time; status: {status_text(pilot.app)!r}")


def screen_lines(app) -> list[str]:
    """The text of the current frame, one string per terminal row (what a person sees, clipping included):
    the same compositor output export_screenshot() renders, exported as text instead of SVG."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


def stack_probes_answered(app) -> bool:
    """The Stack screen shows a sweep's probe answers: a report, nothing pending and no component's probe still
    'pending' (a rebuild from the watch caches can bring a report before the sweep's probes have answered)."""
    screen = app.screen
    report = getattr(screen, "report", None)
    return (report is not None and getattr(screen, "state", None) is not None and not screen.pending
            and all(c.probe.state.value != "pending" for c in report.components))

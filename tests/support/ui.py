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

"""A status as a glyph, a word and (only as a repeat of them) a colour: readable with NO_COLOR.

✓ ok, ! warning, ✗ error, … in progress, · nothing / not applicable, ? unknown."""

from __future__ import annotations

from rich.text import Text

GLYPH = {"ok": "✓", "warn": "!", "error": "✗", "busy": "…", "none": "·", "unknown": "?"}
STYLE = {"ok": "green", "warn": "bold yellow", "error": "bold red", "busy": "cyan", "none": "dim", "unknown": "yellow"}

RUN_LEVEL = {"FINISHED": "ok", "FAILED": "error", "KILLED": "warn", "RUNNING": "busy", "SCHEDULED": "busy"}
JOB_LEVEL = {"Succeeded": "ok", "Complete": "ok", "Failed": "error", "Running": "busy", "Pending": "busy"}


def badge(word: str, level: str) -> Text:
    """`✗ FAILED` in bold red: the glyph and the word carry the meaning, the colour repeats it."""
    return Text(f"{GLYPH.get(level, '?')} {word}", style=STYLE.get(level, ""))

"""Strings from servers (and from users) before they reach a terminal.

Every external string (experiment names, tags, run names, server bodies, pod logs, events, error
messages) can carry terminal control sequences: an OSC retitles the terminal, a CSI moves the cursor
or clears the screen, a bare CR overwrites the line. `clean()` removes whole escape sequences (CSI,
OSC, DCS/APC/PM/SOS strings, two-byte ESC sequences), then every other C0/C1 control character and
the Unicode bidirectional overrides, keeping newlines and tabs. `clean_line()` also folds newlines,
for one cell or one status line. JSON output needs neither: json.dumps escapes control characters.

`control_chars(value)` tells whether a value a user sends (a storageUri, a name) holds any: such
values are refused before a request is made.
"""

from __future__ import annotations

import re
from typing import Any

# ESC [ ... final byte (CSI); ESC ] ... BEL or ST (OSC); ESC P/X/^/_ ... ST (DCS, SOS, PM, APC);
# the 8-bit forms (0x9b CSI, 0x9d OSC, 0x90/0x98/0x9e/0x9f strings); other ESC + one byte.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 except TAB and LF, DEL, C1; bidi embeddings/overrides/isolates (U+202A-202E, U+2066-2069)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """The text of value with terminal control sequences and characters removed (newline, tab kept)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if not _ANY_CONTROL.search(text):
        return text
    text = text.replace("\r\n", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def clean_line(value: Any) -> str:
    """clean(), and newlines and tabs as spaces: for a table cell, a title, a status line."""
    text = clean(value)
    return text.replace("\n", " ").replace("\t", " ") if ("\n" in text or "\t" in text) else text


def control_chars(value: str) -> list[str]:
    """The control characters in value (for refusing user input), as escapes: ['\\x1b', ...]."""
    return sorted({repr(c)[1:-1] for c in _ANY_CONTROL.findall(value)})


def clean_deep(obj: Any) -> Any:
    """clean_line() applied to every string inside dicts/lists/tuples (keys too)."""
    if isinstance(obj, str):
        return clean_line(obj)
    if isinstance(obj, dict):
        return {clean_deep(k): clean_deep(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clean_deep(v) for v in obj)
    return obj


def snippet(body: Any, limit: int = 80) -> str:
    """A short, terminal-safe excerpt of a server's body, for an error message."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    text = " ".join(clean_line(body or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_VERSION = re.compile(r"v?\d+(\.\d+){0,3}([.+-]?[0-9A-Za-z]+){0,4}")


def version_or_none(body: Any) -> str | None:
    """A server's version body ("2.11.0", '"3.5.1"', "v1.30.2+k3s1") or None when it is anything else
    (an HTML page, a banner, escape sequences): never shown verbatim as a VERSION."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    text = (body or "").strip().strip('"').strip()
    return text if len(text) <= 40 and _VERSION.fullmatch(text) else None


_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def keep_sgr(value: Any) -> str:
    """clean(), but colour/style sequences (SGR, ESC[...m) are kept for a renderer that parses them into
    styles (rich's Text.from_ansi for pod logs); every other sequence and control character goes."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    out, pos = [], 0
    for m in _SGR.finditer(text):
        out.append(clean(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(clean(text[pos:]))
    return "".join(out)


def safe(renderable: Any) -> Any:
    """For a widget's update(): a str as a rich Text (shown as it is: a server's `[bold]` or
    `[@click=app.quit]` is no markup) and a Text, both terminal-safe; anything else as it is (a Syntax, a
    Table, whose cells were cleaned when built)."""
    if isinstance(renderable, str):
        from rich.text import Text

        return Text(clean(renderable))
    plain = getattr(renderable, "plain", None)
    if isinstance(plain, str) and _ANY_CONTROL.search(plain.replace("\n", "").replace("\t", "")):
        from rich.text import Text

        return Text(clean(plain), style=getattr(renderable, "style", ""))
    return renderable

"""The one error type every backend raises: a kind plus a message a person can act on."""

from __future__ import annotations

import enum
import json
from typing import Any


class Kind(enum.StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not-found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    UNSUPPORTED = "unsupported"
    REFUSED = "refused"  # read-only mode, or the operator said no
    CONFIG = "config"
    ERROR = "error"


class MlopsError(Exception):
    """A failure with a kind, a short message, and an optional hint (the fix)."""

    def __init__(self, kind: Kind, message: str, *, hint: str | None = None, source: str | None = None):
        super().__init__(message)
        self.kind = Kind(kind)
        self.message = message
        self.hint = hint
        self.source = source
        # set on a write whose answer never came: "applied" | "not applied" | "outcome unknown"
        self.outcome: str | None = None

    def __str__(self) -> str:
        text = f"{self.kind.value}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, str | None]:
        d = {"kind": self.kind.value, "message": self.message, "hint": self.hint, "source": self.source}
        if self.outcome:
            d["outcome"] = self.outcome
        return d


def decode_json(body: str | bytes | None, endpoint: str, *, content_type: str | None = None,
                expect: type | tuple[type, ...] | None = dict, source: str | None = None,
                allow_empty: bool = False) -> Any:
    """Parse a server's answer as JSON, or raise MlopsError(INVALID) naming the endpoint.

    A 200 whose body is HTML (a login page, a proxy's error page), truncated or not JSON at all, or
    JSON of the wrong shape (``expect``) is not what the protocol promises: say so, never guess.
    """
    from mlopstui.text import snippet

    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    ctype = (content_type or "").split(";")[0].strip() or "no content type"
    if not text.strip():
        if allow_empty:
            return {}
        raise MlopsError(Kind.INVALID, f"{endpoint} answered with an empty body ({ctype}), not JSON",
                         hint="something between us and the server (a proxy, a wrong port) answered instead",
                         source=source)
    try:
        doc = json.loads(text)
    except ValueError:
        what = "an HTML page" if text.lstrip()[:1] == "<" else "a body that is not JSON"
        raise MlopsError(Kind.INVALID, f"{endpoint} answered with {what} ({ctype}): {snippet(text)!r}",
                         hint="check that the endpoint is the right server (not a proxy or login page)",
                         source=source) from None
    if expect is not None and not isinstance(doc, expect):
        raise MlopsError(Kind.INVALID, f"{endpoint} answered with JSON of the wrong shape "
                         f"({type(doc).__name__}): {snippet(text)!r}", source=source)
    return doc


def from_exception(exc: BaseException, *, source: str | None = None) -> MlopsError:
    """Map a transport-level exception (httpx, socket, urllib3, redis, psycopg) to an MlopsError."""
    if isinstance(exc, MlopsError):
        return exc
    name = type(exc).__name__
    text = str(exc) or name
    from mlopstui.secrets import mask_text
    from mlopstui.text import clean_line

    text = clean_line(mask_text(text))
    lowered = (name + " " + text).lower()
    if any(w in lowered for w in ("invalid response to ssl negotiation", "expected authentication request",
                                  "protocol error")):  # libpq, redis-py: another server on this port
        return MlopsError(Kind.INVALID, f"the answer is not the protocol's (another server on this port?): {text}",
                          source=source)
    if "timeout" in lowered or "timed out" in lowered:
        return MlopsError(Kind.TIMEOUT, f"timed out: {text}", source=source)
    if any(w in lowered for w in ("connection refused", "connecterror", "name or service not known",
                                  "nodename nor servname", "could not translate host name",
                                  "no route to host", "connectionerror", "maxretryerror",
                                  "temporary failure in name resolution", "network is unreachable")):
        return MlopsError(Kind.UNREACHABLE, text, source=source)
    return MlopsError(Kind.ERROR, f"{name}: {text}", source=source)

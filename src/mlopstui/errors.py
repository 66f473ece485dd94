"""The one error type every backend raises: a kind plus a message a person can act on."""

from __future__ import annotations

import enum


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

    def __str__(self) -> str:
        text = f"{self.kind.value}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "message": self.message, "hint": self.hint, "source": self.source}


def from_exception(exc: BaseException, *, source: str | None = None) -> MlopsError:
    """Map a transport-level exception (httpx, socket, urllib3, redis, psycopg) to an MlopsError."""
    if isinstance(exc, MlopsError):
        return exc
    name = type(exc).__name__
    text = str(exc) or name
    from mlopstui.secrets import mask_text

    text = mask_text(text)
    lowered = (name + " " + text).lower()
    if "timeout" in lowered or "timed out" in lowered:
        return MlopsError(Kind.TIMEOUT, f"timed out: {text}", source=source)
    if any(w in lowered for w in ("connection refused", "connecterror", "name or service not known",
                                  "nodename nor servname", "could not translate host name",
                                  "no route to host", "connectionerror", "maxretryerror",
                                  "temporary failure in name resolution", "network is unreachable")):
        return MlopsError(Kind.UNREACHABLE, text, source=source)
    return MlopsError(Kind.ERROR, f"{name}: {text}", source=source)

"""Masking of secret values: passwords in URIs, keys, tokens. Nothing secret is shown, logged or audited."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# a URI in text: scheme:// up to whitespace or a quote (where it ends; the userinfo is found by parsing)
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>`]+")
_SECRET_WORD = (r"(?:[\w.\-]*(?:password|passwd|secret|token|access[_-]?key|api[_-]?key|credential)s?[\w\-]*"
                r"|[\w.\-]*[_-]pass\b)")
_VALUE = r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
# key=value and key: value pairs carrying secrets
_KV_SECRET = re.compile(r"(?i)(?P<key>\b" + _SECRET_WORD + r")(?P<sep>\s*[=:]\s*)" + _VALUE)
# command-line flags with the value after a space (--password hunter2). Only flags: in prose a secret-ish
# word followed by a space ("the Secret mlops/aws-creds", "password authentication") is not a value.
_FLAG_SECRET = re.compile(r"(?i)(?P<key>(?<![\w-])--?" + _SECRET_WORD + r")(?P<sep>\s+)(?!-)" + _VALUE)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/\-]+=*")

SECRET_NAME_HINTS = ("password", "passwd", "secret", "token", "access_key", "access-key", "accesskey",
                     "api_key", "apikey", "credential", "private_key", "aws_secret", "aws_access_key_id")


def is_secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(h.replace("-", "_") in lowered for h in SECRET_NAME_HINTS) or lowered.endswith("_pass") \
        or lowered == "pass"


def _mask_userinfo(uri: str) -> str:
    """One URI with the password of its userinfo masked, by the URL rules rather than a pattern:
    the userinfo ends at the last '@' (urllib's rpartition: a password may hold '@'), and, as in
    SQLAlchemy's URL grammar, the password runs from the first ':' to that '@' (it may hold '/', '+',
    '='). A '@' after the start of a query or fragment is not a userinfo end."""
    scheme, sep, rest = uri.partition("://")
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    userinfo, at, host = rest[:cut].rpartition("@")
    if not at:
        return uri
    user, colon, password = userinfo.partition(":")
    if not colon or not password or password == MASK:
        return uri
    return f"{scheme}{sep}{user}:{MASK}@{host}{rest[cut:]}"


def mask_uri(uri: str) -> str:
    """postgresql://user:pw@host/db -> postgresql://user:***@host/db, for every URI in the text."""
    return _URI.sub(lambda m: _mask_userinfo(m.group(0)), uri)


def mask_text(text: str) -> str:
    """Mask every secret-looking value in free text (logs, commands, error messages)."""
    text = mask_uri(text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)

    def _kv(m: re.Match[str]) -> str:
        if m["val"] == MASK:
            return m.group(0)
        return f"{m['key']}{m['sep']}{MASK}"

    return _FLAG_SECRET.sub(_kv, _KV_SECRET.sub(_kv, text))


def mask_env(name: str, value: str | None) -> str | None:
    """The value of one environment variable as it may be shown."""
    if value is None:
        return None
    if is_secret_name(name):
        return MASK
    return mask_text(value)


def scrub(obj: Any, _key: str = "") -> Any:
    """Deep-copy a JSON-like object with every secret value masked (Secret data, env, URIs)."""
    if isinstance(obj, dict):
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else None
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if kind == "Secret" and k in ("data", "stringData") and isinstance(v, dict):
                out[k] = {dk: MASK for dk in v}
            elif k == "env" and isinstance(v, list):
                out[k] = [_scrub_env_item(i) for i in v]
            elif isinstance(v, str) and is_secret_name(k):
                out[k] = MASK
            else:
                out[k] = scrub(v, k)
        return out
    if isinstance(obj, list):
        return [scrub(i, _key) for i in obj]
    if isinstance(obj, str):
        return mask_text(obj)
    return obj


def _scrub_env_item(item: Any) -> Any:
    if isinstance(item, dict) and "name" in item and isinstance(item.get("value"), str):
        return {**item, "value": mask_env(str(item["name"]), item["value"])}
    return scrub(item)

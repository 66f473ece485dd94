"""Label and field selectors (the string syntax of `labelSelector=` / `fieldSelector=`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import bad_request

Matcher = Callable[[dict], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_top(s: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(sel: str | None) -> Matcher:
    if not sel:
        return lambda labels: True
    reqs: list[Matcher] = []
    for term in _split_top(sel):
        reqs.append(_parse_label_term(term))

    def match(labels: dict) -> bool:
        labels = labels or {}
        return all(r(labels) for r in reqs)

    return match


def _parse_label_term(term: str) -> Matcher:
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = term.partition(op)
            key, value = key.strip(), value.strip()
            if not key:
                raise bad_request(f"unable to parse requirement: invalid label key {term!r}")
            if op == "!=":
                return lambda lb, k=key, v=value: lb.get(k) != v
            return lambda lb, k=key, v=value: k in lb and lb[k] == v
    m = _SET_RE.match(term)
    if not m:
        raise bad_request(f"unable to parse requirement: {term!r}")
    neg, key, setop, values = m.groups()
    if setop:
        if neg:
            raise bad_request(f"unable to parse requirement: {term!r}")
        vals = {v.strip() for v in values.split(",") if v.strip()}
        if setop == "in":
            return lambda lb, k=key, vs=vals: k in lb and lb[k] in vs
        return lambda lb, k=key, vs=vals: lb.get(k) not in vs
    if neg:
        return lambda lb, k=key: k not in lb
    return lambda lb, k=key: k in lb


def _field_value(obj: dict, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def parse_field_selector(sel: str | None) -> Matcher:
    if not sel:
        return lambda obj: True
    reqs = []
    for term in _split_top(sel):
        for op in ("!=", "==", "="):
            if op in term:
                key, _, value = term.partition(op)
                reqs.append((key.strip(), op == "!=", value.strip()))
                break
        else:
            raise bad_request(f"invalid selector: {term!r}; can't understand {term!r}")

    def match(obj: dict) -> bool:
        for key, negate, value in reqs:
            got = _field_value(obj, key)
            got = "" if got is None else str(got)
            if (got == value) == negate:
                return False
        return True

    return match

"""Kubernetes Events in time order, in either shape (core v1 `Event`, events.k8s.io/v1 `Event`).

Order: oldest first, newest last, as `kubectl events` prints them (kubectl pkg/cmd/events/events.go:
`SortableEvents.Less` is `eventTime(a).Before(eventTime(b))`, where eventTime is the series'
lastObservedTime when the event is a series, else lastTimestamp, else eventTime). Events with none of
those (an events.k8s.io event without eventTime, a hand-written one) fall back to firstTimestamp, then to
metadata.creationTimestamp, so they still take a place instead of sorting as the zero time.

events.k8s.io/v1 names the same fields differently: `regarding` (involvedObject), `note` (message),
`deprecatedLastTimestamp` / `deprecatedFirstTimestamp` / `deprecatedCount`; both are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlopstui.units import human_age, parse_time

ORDER_WORDS = "oldest first, as kubectl events"


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    kind: str
    name: str
    message: str
    count: int
    last: float | None  # when it last happened (the sort key)
    first: float | None  # when it first happened

    def last_seen(self, now: float) -> str:
        """kubectl events' LAST SEEN: `5m`, `30s (x3 over 10m)` for a repeated event."""
        age = human_age(now - self.last) if self.last is not None else "<unknown>"
        if self.count > 1 and self.first is not None:
            return f"{age} (x{self.count} over {human_age(now - self.first)})"
        return age


def event_time(e: dict[str, Any]) -> float | None:
    """The time kubectl sorts an event by (see the module doc), with the firstTimestamp/creationTimestamp
    fallbacks; None when the event carries no time at all."""
    series = e.get("series") or {}
    for v in (series.get("lastObservedTime"), e.get("lastTimestamp"), e.get("deprecatedLastTimestamp"),
              e.get("eventTime"), e.get("firstTimestamp"), e.get("deprecatedFirstTimestamp"),
              (e.get("metadata") or {}).get("creationTimestamp")):
        t = parse_time(v)
        if t is not None:
            return t
    return None


def from_k8s(e: dict[str, Any]) -> Event:
    obj = e.get("involvedObject") or e.get("regarding") or {}
    series = e.get("series") or {}
    count = series.get("count") or e.get("count") or e.get("deprecatedCount") or 1
    first = None
    for v in (e.get("eventTime"), e.get("firstTimestamp"), e.get("deprecatedFirstTimestamp")):
        first = parse_time(v)
        if first is not None:
            break
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 1
    return Event(type=str(e.get("type") or ""), reason=str(e.get("reason") or ""), kind=str(obj.get("kind") or ""),
                 name=str(obj.get("name") or ""), message=str(e.get("message") or e.get("note") or ""),
                 count=count, last=event_time(e), first=first)


def involved_name(e: dict[str, Any]) -> str | None:
    return (e.get("involvedObject") or e.get("regarding") or {}).get("name")


def in_time_order(events: list[dict[str, Any]]) -> list[Event]:
    """Oldest first; events without any time first (kubectl: the zero time), the listing order kept on ties."""
    parsed = [from_k8s(e) for e in events]
    return sorted(parsed, key=lambda ev: -float("inf") if ev.last is None else ev.last)

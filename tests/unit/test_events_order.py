"""Events in time order (models/events.py): oldest first as `kubectl events` prints them.

The expected order follows kubectl's rule (kubernetes staging/src/k8s.io/kubectl/pkg/cmd/events/events.go,
SortableEvents: series.lastObservedTime, else lastTimestamp, else eventTime; ascending), in both the core v1
shape and the events.k8s.io/v1 shape (regarding, note, deprecated* fields)."""

from __future__ import annotations

from mlopstui.models import events as ev

CORE_REPEATED = {  # core v1, as the kubelet writes a repeated event (count, first/last timestamps)
    "apiVersion": "v1", "kind": "Event", "metadata": {"name": "a", "creationTimestamp": "2026-12-01T10:00:00Z"},
    "involvedObject": {"kind": "Pod", "name": "web-1"}, "reason": "BackOff", "type": "Warning",
    "message": "Back-off restarting failed container", "count": 3,
    "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:30:00Z"}
NEW_SERIES = {  # events.k8s.io/v1 with a series: its lastObservedTime is when it last happened
    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "b"},
    "regarding": {"kind": "Pod", "name": "web-2"}, "reason": "Unhealthy", "type": "Warning",
    "note": "Readiness probe failed", "eventTime": "2026-12-01T10:05:00.123456Z",
    "series": {"count": 4, "lastObservedTime": "2026-12-01T10:20:00.000000Z"}}
NEW_SINGLE = {  # events.k8s.io/v1, once: eventTime only (no lastTimestamp)
    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "c"},
    "regarding": {"kind": "Deployment", "name": "web"}, "reason": "ScalingReplicaSet", "type": "Normal",
    "note": "Scaled up", "eventTime": "2026-12-01T10:10:00.000000Z"}
DEPRECATED_ONLY = {  # events.k8s.io/v1 read back from a core-v1 writer: the deprecated timestamps only
    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "d"},
    "regarding": {"kind": "Pod", "name": "web-3"}, "reason": "Pulled", "type": "Normal", "note": "pulled",
    "deprecatedFirstTimestamp": "2026-12-01T09:00:00Z", "deprecatedLastTimestamp": "2026-12-01T10:40:00Z",
    "deprecatedCount": 2}
FIRST_ONLY = {"metadata": {"name": "e", "creationTimestamp": "2026-12-01T11:00:00Z"},
              "involvedObject": {"kind": "Pod", "name": "web-4"}, "reason": "Old", "message": "x",
              "firstTimestamp": "2026-12-01T09:30:00Z"}


def test_oldest_first_across_both_shapes():
    order = [e.reason for e in ev.in_time_order([CORE_REPEATED, NEW_SERIES, NEW_SINGLE, DEPRECATED_ONLY, FIRST_ONLY])]
    # FIRST_ONLY 09:30 (firstTimestamp fallback), NEW_SINGLE 10:10, NEW_SERIES 10:20 (series, not eventTime
    # 10:05), CORE_REPEATED 10:30, DEPRECATED_ONLY 10:40
    assert order == ["Old", "ScalingReplicaSet", "Unhealthy", "BackOff", "Pulled"]


def test_fields_of_both_shapes_and_last_seen():
    from mlopstui.units import parse_time

    new = ev.from_k8s(NEW_SERIES)
    assert (new.kind, new.name, new.message, new.count) == ("Pod", "web-2", "Readiness probe failed", 4)
    core = ev.from_k8s(CORE_REPEATED)
    now = parse_time("2026-12-01T10:35:00Z")
    assert core.last_seen(now) == "5m (x3 over 35m)"  # kubectl events: LAST SEEN "5m (x3 over 35m)"
    assert ev.from_k8s(NEW_SINGLE).last_seen(now) == "25m"
    assert ev.from_k8s(DEPRECATED_ONLY).count == 2
    assert ev.involved_name(NEW_SERIES) == "web-2" and ev.involved_name(CORE_REPEATED) == "web-1"

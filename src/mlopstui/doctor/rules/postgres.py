"""PostgreSQL: connections against max_connections, PgBouncer."""

from __future__ import annotations

from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref


@rule("postgres-near-max-connections", "postgresql", "PostgreSQL near max_connections")
def near_max_connections(snap: Snapshot) -> Iterator[Finding]:
    pooled = snap.installed("pgbouncer")
    for comp in ("postgresql", "feast_registry"):
        p = snap.probe(comp)
        if p is None or not p.data.get("max_connections"):
            continue
        used, limit = int(p.data.get("connections") or 0), int(p.data["max_connections"])
        ratio = used / limit
        if ratio < 0.8:
            continue
        objs = tuple(ref(w) for w in snap.workloads_of(comp))
        yield Finding(
            "postgres-near-max-connections", Severity.ERROR if ratio >= 0.95 else Severity.WARNING, comp,
            f"PostgreSQL {used}/{limit} connections ({ratio:.0%})" + ("" if pooled else ", no PgBouncer"), objs,
            f"{used} connections of max_connections {limit} at {p.target}"
            + ("" if pooled else "; no PgBouncer found"),
            "Every MLflow worker (and each tuning job's client) holds SQLAlchemy connections; when they "
            "reach max_connections new ones fail with 'FATAL: sorry, too many clients already' and runs "
            "stop logging.",
            ("Deploy PgBouncer (transaction pooling) in front of PostgreSQL and point MLflow's "
             "--backend-store-uri at the PgBouncer Service" if not pooled else
             "Route the remaining direct clients through PgBouncer, or lower the pool sizes")
            + "; raise max_connections only with the memory to back it.")

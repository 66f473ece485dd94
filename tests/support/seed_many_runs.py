"""Seed an MLflow experiment with many runs, fast, through MLflow's own SQLAlchemy store and models.

Creating 10,000 runs through the REST API takes minutes; bulk-inserting MLflow's own ORM objects
(SqlRun, SqlParam, SqlLatestMetric, SqlMetric, SqlTag) in one transaction takes seconds. The
schema is the store's (SqlAlchemyStore creates/migrates it), so the tracking server reads the runs
exactly as if they had been logged.

    .venv/bin/python tests/seed_many_runs.py sqlite:////path/mlflow.db NAME [N] [ARTIFACT_ROOT]

Idempotent: an experiment NAME that already holds N runs is left alone. Independent of mlopstui.sandbox.
"""

from __future__ import annotations

import sys
import time
import uuid


def ensure_many_runs(db_uri: str, name: str, n: int = 10_000, artifact_root: str = "s3://mlflow-artifacts/",
                     seed: int = 7) -> tuple[str, float]:
    """Return (experiment_id, seconds spent seeding; 0.0 when it was already there)."""
    import random

    from mlflow.store.tracking.dbmodels.models import (
        SqlExperiment,
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import insert

    t0 = time.perf_counter()
    store = SqlAlchemyStore(db_uri, artifact_root)
    exp = store.get_experiment_by_name(name)
    if exp is not None:
        with store.ManagedSessionMaker() as session:
            have = session.query(SqlRun).filter(SqlRun.experiment_id == int(exp.experiment_id)).count()
        if have >= n:
            store.engine.dispose()
            return exp.experiment_id, 0.0
        raise RuntimeError(f"experiment {name} exists with {have} runs, not {n}")
    exp_id = store.create_experiment(name, tags=[])
    rnd = random.Random(seed)
    base_ms = int(time.time() * 1000) - n * 60_000
    rows: dict = {SqlRun: [], SqlParam: [], SqlLatestMetric: [], SqlMetric: [], SqlTag: []}
    with store.ManagedSessionMaker() as session:
        exp_row = session.query(SqlExperiment).filter(SqlExperiment.experiment_id == int(exp_id)).one()
        root = exp_row.artifact_location.rstrip("/")
        for i in range(n):
            rid = uuid.uuid4().hex
            start = base_ms + i * 60_000
            status = "FAILED" if i % 97 == 0 else "FINISHED"
            rows[SqlRun].append(dict(
                run_uuid=rid, name=f"bulk-{i:05d}", source_type="LOCAL", source_name="bulk.py",
                entry_point_name="", user_id=("alice", "bob", "carol")[i % 3], status=status,
                start_time=start, end_time=start + 1000 + (i % 50) * 100, source_version="",
                lifecycle_stage="active", artifact_uri=f"{root}/{rid}/artifacts", experiment_id=int(exp_id),
            ))
            lr = ("0.001", "0.01", "0.1")[i % 3]
            for k, v in (("learning_rate", lr), ("max_depth", str(3 + i % 6)), ("n_estimators", str(100 + i % 5 * 50))):
                rows[SqlParam].append(dict(key=k, value=v, run_uuid=rid))
            acc = round(0.5 + 0.5 * rnd.random(), 6)
            loss = round(1.0 - acc + 0.05 * rnd.random(), 6)
            for k, v in (("accuracy", acc), ("loss", loss), ("i", float(i))):
                m = dict(key=k, value=v, timestamp=start, step=0, is_nan=False, run_uuid=rid)
                rows[SqlLatestMetric].append(m)
                rows[SqlMetric].append(m)
            for k, v in (("mlflow.user", ("alice", "bob", "carol")[i % 3]), ("mlflow.runName", f"bulk-{i:05d}"),
                         ("mlflow.source.name", "bulk.py"), ("team", ("risk", "growth")[i % 2])):
                rows[SqlTag].append(dict(key=k, value=v, run_uuid=rid))
        # executemany of plain INSERTs on the store's own tables: seconds, not minutes
        for model, items in rows.items():
            session.execute(insert(model.__table__), items)
    if db_uri.startswith("sqlite"):
        # without statistics SQLite's planner sorts by metric through a nested scan (30 s instead of 1 s)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    store.engine.dispose()
    return exp_id, time.perf_counter() - t0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    args = sys.argv[1:]
    eid, secs = ensure_many_runs(args[0], args[1], int(args[2]) if len(args) > 2 else 10_000,
                                 *(args[3:4] or []))
    print(f"experiment {args[1]} ({eid}): seeded in {secs:.1f}s" if secs else f"experiment {args[1]} ({eid}): already there")

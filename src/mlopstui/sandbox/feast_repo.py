"""The sandbox's Feast feature repository (fraud detection), generated into DIR/feast.

Layout: ``DIR/feast/feature_repo/{feature_store.yaml, fraud_features.py, data/*.parquet}``.

- project ``on_prem_mlops``, provider ``local``, offline store ``file`` (parquet
  generated here, event timestamps spread over the last 3 days so a
  materialization always finds rows);
- registry: a local *file* registry (``data/registry.db``). We do not use the
  seed's SQL registry in PostgreSQL: a fresh Debian machine may not run
  PostgreSQL, and a file registry keeps each sandbox DIR self-contained;
- online store: Redis ``127.0.0.1:6379,db=7`` when a Redis answers PING at setup
  time (``MLOPSTUI_SANDBOX_REDIS=host:port`` elsewhere, ``=none`` to force SQLite),
  else SQLite (``data/online_store.db``). The choice is made at the first up and
  recorded in ``DIR/feast/online_store.txt``. Note: db 7 is shared by every
  sandbox using the same Redis (same project name, same keys).

``python -m mlopstui.sandbox.feast_repo REPO`` runs ``feast apply`` and the initial
``materialize-incremental`` up to now in one process (the feast import is slow).
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap
from datetime import UTC
from pathlib import Path

PROJECT = "on_prem_mlops"
REDIS_ADDR = ("127.0.0.1", 6379)
REDIS_DB = 7
N_CUSTOMERS = 50


def redis_target() -> tuple[str, int] | None:
    """Where the online store's Redis is: ``MLOPSTUI_SANDBOX_REDIS`` (``host:port``, or
    ``none`` to force SQLite) overrides the default 127.0.0.1:6379."""
    v = os.environ.get("MLOPSTUI_SANDBOX_REDIS", f"{REDIS_ADDR[0]}:{REDIS_ADDR[1]}").strip()
    if v.lower() in ("", "none", "off", "sqlite"):
        return None
    host, _, port = v.rpartition(":")
    return (host or REDIS_ADDR[0], int(port))


def redis_available(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


FEATURES_PY = '''\
"""Fraud-detection features for the mlopstui sandbox (generated)."""
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64, description="card holder")

customers_source = FileSource(
    name="customers_source",
    path="data/customers.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

transactions_source = FileSource(
    name="transactions_source",
    path="data/transactions.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="avg_amount_30d", dtype=Float32),
        Field(name="account_age_days", dtype=Int64),
        Field(name="credit_limit", dtype=Float32),
    ],
    online=True,
    source=customers_source,
    tags={"team": "fraud"},
)

transaction_stats = FeatureView(
    name="transaction_stats",
    entities=[customer],
    ttl=timedelta(days=2),
    schema=[
        Field(name="txn_count_24h", dtype=Int64),
        Field(name="last_amount", dtype=Float32),
        Field(name="merchant_risk", dtype=Float32),
    ],
    online=True,
    source=transactions_source,
    tags={"team": "fraud"},
)
'''


def feature_store_yaml(repo: Path, redis: tuple[str, int] | None) -> str:
    if redis:
        online = f"""\
            online_store:
              type: redis
              connection_string: "{redis[0]}:{redis[1]},db={REDIS_DB}"
            """
    else:
        online = f"""\
            online_store:
              type: sqlite
              path: {repo / "data" / "online_store.db"}
            """
    return textwrap.dedent(
        f"""\
        project: {PROJECT}
        provider: local
        registry:
          registry_type: file
          path: {repo / "data" / "registry.db"}
          cache_ttl_seconds: 5
        offline_store:
          type: file
        """
    ) + textwrap.dedent(online) + "entity_key_serialization_version: 3\n"


def write_data(repo: Path, seed: int = 11) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC").floor("min")
    data = repo / "data"
    data.mkdir(parents=True, exist_ok=True)
    ids = np.arange(1001, 1001 + N_CUSTOMERS)
    rows = []
    for hours_ago in (72, 48, 24, 1):
        ts = now - pd.Timedelta(hours=hours_ago)
        for cid in ids:
            rows.append({
                "customer_id": int(cid),
                "avg_amount_30d": float(rng.lognormal(3.4, 0.6)),
                "account_age_days": int(rng.integers(10, 3000)),
                "credit_limit": float(rng.choice([500, 1000, 2500, 5000, 10000])),
                "event_timestamp": ts,
                "created": ts,
            })
    pd.DataFrame(rows).to_parquet(data / "customers.parquet", index=False)
    rows = []
    for hours_ago in range(70, 0, -6):
        ts = now - pd.Timedelta(hours=hours_ago)
        for cid in ids:
            rows.append({
                "customer_id": int(cid),
                "txn_count_24h": int(rng.poisson(3)),
                "last_amount": float(rng.lognormal(3.5, 1.0)),
                "merchant_risk": float(rng.beta(2, 8)),
                "event_timestamp": ts,
                "created": ts,
            })
    pd.DataFrame(rows).to_parquet(data / "transactions.parquet", index=False)


def generate(feast_dir: Path) -> Path:
    """Write the repository (idempotent: keeps existing data). Returns the repo path."""
    repo = feast_dir / "feature_repo"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    # the choice is made once per sandbox (first up) and kept: the materialized data lives there
    marker = feast_dir / "online_store.txt"
    if marker.exists():
        kind = marker.read_text().split()
        redis = (kind[1].rpartition(":")[0], int(kind[1].rpartition(":")[2])) \
            if kind and kind[0] == "redis" and len(kind) > 1 else (REDIS_ADDR if kind and kind[0] == "redis" else None)
    else:
        target = redis_target()
        redis = target if target and redis_available(*target) else None
        marker.write_text(f"redis {redis[0]}:{redis[1]}\n" if redis else "sqlite\n")
    (repo / "feature_store.yaml").write_text(feature_store_yaml(repo, redis))
    (repo / "fraud_features.py").write_text(FEATURES_PY)
    if not (repo / "data" / "transactions.parquet").exists():
        write_data(repo)
    return repo


def online_store_kind(feast_dir: Path) -> str:
    """``redis`` or ``sqlite`` (``unknown`` before the first up)."""
    try:
        return (feast_dir / "online_store.txt").read_text().split()[0]
    except (OSError, IndexError):
        return "unknown"


def online_store_redis(feast_dir: Path) -> str | None:
    """``host:port`` of the Redis online store, if that is the online store."""
    try:
        kind = (feast_dir / "online_store.txt").read_text().split()
    except OSError:
        return None
    if not kind or kind[0] != "redis":
        return None
    return kind[1] if len(kind) > 1 else f"{REDIS_ADDR[0]}:{REDIS_ADDR[1]}"


def apply_and_materialize_inprocess(repo: Path) -> None:
    """``feast apply`` then ``feast materialize-incremental <now>``, with the SDK in one process."""
    import os
    from datetime import datetime

    from feast import FeatureStore
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    os.chdir(repo)
    sys.path.insert(0, str(repo))
    config = load_repo_config(repo, repo / "feature_store.yaml")
    apply_total(config, repo, skip_source_validation=True)
    store = FeatureStore(repo_path=str(repo))
    store.materialize_incremental(end_date=datetime.now(UTC))


if __name__ == "__main__":
    apply_and_materialize_inprocess(Path(sys.argv[1]).resolve())
    print("feast apply + materialize-incremental done", flush=True)

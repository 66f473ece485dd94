"""Run detail: loading every metric history of a run, sequential requests vs the backend's concurrent ones.

MLflow's REST API serves one metric of one run per request (`metrics/get-history`), so a run with 20
metrics costs 20 round trips. Over a bastion link that is what an operator waits for. Measures
`MlflowBackend.metric_histories` (concurrent, HISTORY_CONCURRENCY at a time) against a plain loop of
`metric_history`, directly and through a forwarder that adds DELAY seconds per request (a slow link).

    eval "$(.venv/bin/mlopstui sandbox env --dir DIR)"
    .venv/bin/python bench/bench_run_detail.py [--metrics 20] [--steps 200] [--delay 0.05] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def seed_run(uri: str, n_metrics: int, steps: int) -> tuple[str, list[str]]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("bench-run-detail") or c.get_experiment(c.create_experiment("bench-run-detail"))
    run = c.create_run(exp.experiment_id)
    keys = [f"metric_{i:02d}" for i in range(n_metrics)]
    now = int(time.time() * 1000)
    batch = [Metric(k, float(s) / (i + 1), now + s, s) for i, k in enumerate(keys) for s in range(steps)]
    for j in range(0, len(batch), 1000):
        c.log_batch(run.info.run_id, metrics=batch[j:j + 1000])
    c.set_terminated(run.info.run_id)
    return run.info.run_id, keys


def median_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.05, help="seconds added per request (slow link)")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SystemExit("set MLFLOW_TRACKING_URI (eval \"$(mlopstui sandbox env)\")")
    from tcp_forward import Forwarder

    from mlopstui.backends.mlflow import HISTORY_CONCURRENCY, MlflowBackend

    run_id, keys = seed_run(uri, a.metrics, a.steps)
    u = urlparse(uri)
    fwd = Forwarder(u.hostname, u.port, delay=a.delay).start()
    print(f"{a.metrics} metrics x {a.steps} steps; concurrency {HISTORY_CONCURRENCY}")
    print(f"{'link':<28}{'sequential':>12}{'concurrent':>12}")
    try:
        for label, url in (("loopback", uri), (f"+{a.delay * 1000:.0f} ms per request", fwd.url)):
            b = MlflowBackend(url, timeout=30)
            assert sum(len(s.points) for s in b.metric_histories(run_id, keys).values()) == a.metrics * a.steps
            seq = median_of(lambda b=b: [b.metric_history(run_id, k) for k in keys], a.repeat)
            conc = median_of(lambda b=b: b.metric_histories(run_id, keys), a.repeat)
            print(f"{label:<28}{seq:>11.3f}s{conc:>11.3f}s")
            b.close()
    finally:
        fwd.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The first MLflow page three ways in the same run: direct, through the API server's Service proxy, and
through a pod port-forward (backends/routes.py), against the sandbox.

"First page" is what the Experiments area loads when an experiment opens: runs/search for the first 200
runs of the experiment, newest first. Per route: the one-time route setup (API proxy: a preflight request
and the local relay; port-forward: the pod lookup, a checking stream and the local listener), then
`--runs` times a fresh client (new connections, as when the area opens) asking for the page; median, min
and max. The emulator serves services/proxy and pods/portforward in its own process, as a real API server
is another machine.

Usage (with a running sandbox):
  eval "$(mlopstui sandbox env --dir DIR)"
  .venv/bin/python bench/bench_routes.py [--db sqlite:///DIR/mlflow/mlflow.db] [--experiment bulk-10k] [--runs 9]
  (--db seeds a 10,000-run experiment first, as bench_experiments.py; without it: fraud-detection)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

IN_CLUSTER_HOST = "mlflow-server.mlops.svc.cluster.local:5000"  # what in-cluster clients send (allowed hosts)


def first_page(url: str, source: str, experiment: str, host: str | None = None) -> tuple[float, int]:
    from mlopstui.backends.mlflow import MlflowBackend

    t0 = time.perf_counter()
    ml = MlflowBackend(url, source, timeout=30)
    if host:  # a raw TCP forward carries the Host the client writes: send the in-cluster name
        ml._client.headers["Host"] = host
    try:
        exp = ml.experiment_by_name_or_id(experiment)
        rows, _ = ml.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=200)
    finally:
        ml.close()
    return time.perf_counter() - t0, len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="backend store URI to seed a 10,000-run experiment into (sqlite:///...)")
    ap.add_argument("--experiment", default=None)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    direct = os.environ.get("MLFLOW_TRACKING_URI")
    if not direct or not os.environ.get("MLOPSTUI_CONFIG"):
        ap.error('run with the sandbox environment: eval "$(mlopstui sandbox env --dir DIR)"')
    experiment = args.experiment or ("bulk-10k" if args.db else "fraud-detection")
    if args.db:
        from seed_many_runs import ensure_many_runs

        _, secs = ensure_many_runs(args.db, experiment, 10_000, "s3://mlflow-artifacts/")
        print(f"seed 10000 runs: {secs:.1f}s" if secs else "seed: already there")

    from mlopstui import config
    from mlopstui.backends.kube import SERVICES
    from mlopstui.backends.routes import routes_of
    from mlopstui.context import AppContext

    ctx = AppContext.create(config.load(os.environ["MLOPSTUI_CONFIG"], route="api"))
    kube = ctx.kube
    kube.version()  # the API server's TLS connection pool is warm for every route alike
    t0 = time.perf_counter()
    proxied = ctx.endpoint("mlflow")
    setup_proxy = time.perf_counter() - t0
    svc = kube.get(SERVICES, "mlflow-server", "mlops")
    t0 = time.perf_counter()
    host, port = routes_of(kube).tcp("mlops", "mlflow-server", svc["spec"]["ports"][0])
    setup_forward = time.perf_counter() - t0
    routes = [("direct", direct, "env", None), ("API proxy", proxied.url, proxied.source, None),
              ("port-forward", f"http://{host}:{port}", "port-forward", IN_CLUSTER_HOST)]
    for _, url, source, h in routes:  # warm: imports, the servers' caches
        first_page(url, source, experiment, h)
    results: dict[str, list[float]] = {name: [] for name, *_ in routes}
    rows = 0
    for _ in range(args.runs):  # interleaved, so load changes hit every route alike
        for name, url, source, h in routes:
            secs, rows = first_page(url, source, experiment, h)
            results[name].append(secs)
    kube.close()
    print(f"experiment {experiment}: first page of {rows} runs, {args.runs} fresh clients per route")
    print(f"route setup (once per process): API proxy {setup_proxy * 1000:.0f} ms, "
          f"port-forward {setup_forward * 1000:.0f} ms")
    base = statistics.median(results["direct"])
    for name, xs in results.items():
        med = statistics.median(xs)
        print(f"{name:13s} median {med * 1000:7.1f} ms  min {min(xs) * 1000:7.1f}  max {max(xs) * 1000:7.1f}"
              f"  ({med / base:.2f}x direct)")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

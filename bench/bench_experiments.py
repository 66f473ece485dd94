"""Experiments area against a 10,000- or 100,000-run experiment: time to the first page, and to the last run.

Drives the real app with Pilot (80x24): opens area 2, then the experiment (`:exp NAME`), and stops
the clock when the first page of runs is painted (the screen's first refresh after the rows went into the
table; budget 0.5 s at 100,000 runs); then presses
`G` and times until the cursor is on the last run of the list (budget 2 s), checked against MLflow's
own last run. The baseline, same run: what `G` did before (page down to the end, 2,000 runs a request,
the transfer alone, without the table), over --baseline-max runs. Seeds the experiment with
tests/support/seed_many_runs.py when --db is given (fast: MLflow's own SQLAlchemy store), timing that too.

The first page's baseline is the server alone: the exact request the screen sends first (its page size and
order, through the same backend), timed right before each app run, so both see the same machine load. Each
run starts on an idle server: the previous app's requests still in flight (what it fetched ahead, a count
page) are waited for first, as they would otherwise be timed as this run's. The load average is printed at
the start and the end (2 shared CPUs: figures scale with it).

Usage:
  .venv/bin/python bench/bench_experiments.py --uri http://127.0.0.1:PORT [--db sqlite:////path/mlflow.db]
                                              [--experiment bulk-10k --n 10000] [--runs 5]
  100,000 runs: --experiment bulk-100k --n 100000
  With a sandbox:  eval "$(mlopstui sandbox env --dir DIR)";
                   .venv/bin/python bench/bench_experiments.py --db sqlite:///DIR/mlflow/mlflow.db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def settle(timeout: float = 120.0) -> None:
    """Wait for the threads of the previous app's requests (workers, the run count) to end."""
    import threading

    end = time.monotonic() + timeout
    for t in threading.enumerate():
        if t.name.startswith(("io-", "mlflow-count")) and t is not threading.current_thread():
            t.join(max(0.0, end - time.monotonic()))


FIRST: dict = {}  # the screen's first request (page size, order_by), read from the screen


async def one(name: str, to_last: bool) -> tuple[float, float | None, int]:
    from mlopstui import config
    from mlopstui.app import MlopsApp

    app = MlopsApp(config.load(None, kubeconfig=os.environ.get("KUBECONFIG", "/nonexistent")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        while not app.screen.query("#experiments") or not app.screen.query_one("#experiments").row_count:
            await asyncio.sleep(0.01)
        await pilot.press("colon", *f"exp {name}")
        t0 = time.perf_counter()
        # the clock runs beside the key press: Pilot's press returns only when the app is idle, which is
        # later than the first page (its fetch-ahead workers start meanwhile)
        press = asyncio.create_task(pilot.press("enter"))
        while True:
            s = app.screen
            if type(s).__name__ == "RunsScreen" and s.query("#runs") and s.query_one("#runs").row_count and s.first_page_at:
                break
            await asyncio.sleep(0.002)
        first = s.first_page_at - t0  # painted: the screen's refresh after the rows went in
        await press
        FIRST.update(s.first_request)
        last_s = None
        if to_last:
            t1 = time.perf_counter()
            await pilot.press("G")
            while not s.at_last:
                await asyncio.sleep(0.01)
            last_s = time.perf_counter() - t1
            theirs, _ = s.backend.search_runs([s.experiment.experiment_id], order_by=s.reverse_order_by,
                                              max_results=1)
            got = s.query_one("#runs").selected_key
            assert got == theirs[0].run_id, f"G ended on {got}, MLflow's last run is {theirs[0].run_id}"
        return first, last_s, s.query_one("#runs").row_count


def baseline(name: str, limit: int) -> tuple[float, int]:
    """The old G: page down the list, 2,000 runs a request (transfer only), up to limit runs."""
    from mlopstui.backends.mlflow import MlflowBackend

    b = MlflowBackend(os.environ["MLFLOW_TRACKING_URI"], timeout=120)
    exp = b.experiment_by_name_or_id(name)
    t0 = time.perf_counter()
    n = sum(1 for _ in b.iter_runs([exp.experiment_id], order_by=["attributes.start_time DESC"],
                                   max_total=limit, page_size=2000))
    return time.perf_counter() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    ap.add_argument("--db", help="backend store URI to seed the experiment into (sqlite:///...)")
    ap.add_argument("--experiment", default="bulk-10k")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-max", type=int, default=100_000, help="runs the baseline pages through")
    args = ap.parse_args()
    if not args.uri:
        ap.error("--uri or MLFLOW_TRACKING_URI is required")
    os.environ["MLFLOW_TRACKING_URI"] = args.uri
    if args.db:
        from support.seed_many_runs import ensure_many_runs

        _, secs = ensure_many_runs(args.db, args.experiment, args.n, "s3://mlflow-artifacts/")
        print(f"seed {args.n} runs: {secs:.1f}s" if secs else "seed: already there")
    from mlopstui.backends.mlflow import NATURAL_ORDERS, MlflowBackend
    from mlopstui.screens.runs import first_page

    load0 = os.getloadavg()[0]
    b = MlflowBackend(os.environ["MLFLOW_TRACKING_URI"], timeout=120)
    eid = b.experiment_by_name_or_id(args.experiment).experiment_id
    firsts, bare, plain = [], [], []
    for i in range(args.runs + 1):  # the first app run only learns the screen's request (and does G)
        settle()
        if FIRST:
            t0 = time.perf_counter()
            first_page(b, **FIRST)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()  # and the same page without the window (the request before it)
            b.search_runs([eid], filter=FIRST["flt"], order_by=FIRST["order_by"], max_results=FIRST["size"])
            plain.append(time.perf_counter() - t0)
        first, last_s, rows = asyncio.run(one(args.experiment, to_last=(i == 0)))
        if i:
            firsts.append(first)
        if last_s is not None:
            print(f"G to the last run: {last_s:.2f}s, {rows} rows in the table (budget 2 s)", flush=True)
    settle()
    secs, n = baseline(args.experiment, args.baseline_max)
    print(f"baseline, the old G (paging down, 2,000 a request, transfer only): {secs:.2f}s for {n} runs")
    order = "none (MLflow's own)" if tuple(FIRST["order_by"]) in NATURAL_ORDERS else FIRST["order_by"]
    window = ", runs since the newest - 1 day" if FIRST["since"] is not None else ""
    print(f"the server alone, the screen's first request ({FIRST['size']} runs{window}, order_by {order}), "
          f"median of {len(bare)}: {statistics.median(bare):.3f}s  min {min(bare):.3f}s  max {max(bare):.3f}s")
    print(f"the server alone, that page without the window: median {statistics.median(plain):.3f}s")
    print(f"first page: median {statistics.median(firsts):.3f}s  min {min(firsts):.3f}s  max {max(firsts):.3f}s  "
          f"(budget 0.5 s; {len(firsts)} runs)")
    print(f"load average: {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

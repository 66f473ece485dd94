"""Time `mlopstui sandbox up`: cold (fresh dir, includes model training and seeding) and
warm (`down` then `up` on the same dir), plus an idempotent `up` on a running sandbox.

    .venv/bin/python bench/bench_sandbox.py [--keep DIR] [--warm-runs N]

Runs the real CLI in a subprocess, like a user would. Goal: warm up within 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli(*args: str) -> float:
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mlopstui.cli", "sandbox", *args], capture_output=True, text=True)
    dt = time.monotonic() - t
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit(f"`sandbox {' '.join(args)}` failed with exit {r.returncode}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", metavar="DIR", help="use DIR (kept afterwards) instead of a temp dir")
    ap.add_argument("--warm-runs", type=int, default=2)
    a = ap.parse_args()
    d = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="mlopstui-bench-"))
    if d.exists() and any(d.iterdir()):
        raise SystemExit(f"{d} is not empty: the cold run needs a fresh directory")
    rows: list[tuple[str, float]] = []
    try:
        rows.append(("cold up (fresh dir, seeding)", cli("up", "--dir", str(d))))
        rows.append(("idempotent up (running)", cli("up", "--dir", str(d))))
        for i in range(a.warm_runs):
            rows.append((f"down #{i + 1}", cli("down", "--dir", str(d))))
            rows.append((f"warm up #{i + 1}", cli("up", "--dir", str(d))))
    finally:
        subprocess.run([sys.executable, "-m", "mlopstui.cli", "sandbox", "down", "--dir", str(d)],
                       capture_output=True)
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    load = os.getloadavg()
    width = max(len(r[0]) for r in rows)
    print(f"{'step'.ljust(width)}  seconds")
    for name, secs in rows:
        print(f"{name.ljust(width)}  {secs:7.1f}")
    warm = [s for n, s in rows if n.startswith("warm up")]
    if warm:
        best = min(warm)
        print(f"\nwarm up best {best:.1f}s (goal 15s: {'met' if best <= 15 else 'NOT met'}); "
              f"cpus {os.cpu_count()}, load average {load[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

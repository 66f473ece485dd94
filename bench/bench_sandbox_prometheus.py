"""What the sandbox's Prometheus costs a warm `sandbox up`: warm ups with it and without it
(MLOPSTUI_SANDBOX_PROMETHEUS=0), interleaved in one run on the same seeded directory, plus the CPU seconds
the prometheus process used until ready.

    .venv/bin/python bench/bench_sandbox_prometheus.py --dir DIR [--runs 3]

DIR must hold a seeded sandbox (`mlopstui sandbox up --dir DIR` once); it is left up, with Prometheus.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def sandbox(d: str, verb: str, prometheus: bool) -> float:
    env = {**os.environ, "MLOPSTUI_SANDBOX_PROMETHEUS": "1" if prometheus else "0"}
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mlopstui.cli", "sandbox", verb, "--dir", d], capture_output=True,
                       text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"sandbox {verb} failed: {r.stdout}{r.stderr}")
    return time.monotonic() - t


def prometheus_cpu(d: str) -> float | None:
    st = json.loads((Path(d) / "state.json").read_text())
    pid = (st.get("parts", {}).get("prometheus") or {}).get("pid")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    times: dict[bool, list[float]] = {False: [], True: []}
    cpu: list[float] = []
    for _ in range(a.runs):
        for with_prom in (False, True):
            sandbox(a.dir, "down", True)
            times[with_prom].append(sandbox(a.dir, "up", with_prom))
            if with_prom:
                c = prometheus_cpu(a.dir)
                if c is not None:
                    cpu.append(c)
    for k, label in ((False, "warm up without prometheus"), (True, "warm up with prometheus")):
        v = times[k]
        print(f"{label}: median {statistics.median(v):.1f} s ({', '.join(f'{x:.1f}' for x in v)})")
    if cpu:
        print(f"prometheus CPU until ready: median {statistics.median(cpu):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

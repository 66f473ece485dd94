"""The emulator's controllers at scale (issue 20): the time of ControllerManager.reconcile_all over the
scale cluster (mlopstui.sandbox.scale) beside a sandbox-sized one, same run. The first pass makes what
the objects need (ReplicaSets, pods, revisions); later passes are the steady cost, which the manager's
loop bounds to ~25 % of a core (it rests 3x a pass longer than 50 ms).
Usage: PYTHONPATH=src .venv/bin/python bench/bench_controllers.py [--scale 1] [--passes 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def passes(scale: float, n: int) -> tuple[int, float, list[float]]:
    from mlopstui.sandbox.kubeapi import KubeApiServer
    from mlopstui.sandbox.kubeapi.controllers.manager import ControllerManager
    from mlopstui.sandbox.scale import objects

    srv = KubeApiServer(tempfile.mkdtemp(prefix="bench-ctl-"), port=0, run_controllers=False)
    t0 = time.perf_counter()
    docs = objects(scale)
    srv.load_fixture(docs)
    load = time.perf_counter() - t0
    cm = ControllerManager(srv.store, srv.registry)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        cm.reconcile_all()
        out.append(time.perf_counter() - t0)
    srv.store.close()
    return len(docs), load, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--base-scale", type=float, default=0.01)
    ap.add_argument("--passes", type=int, default=3)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, scale in (("baseline", a.base_scale), ("scale", a.scale)):
        n, load, ps = passes(scale, a.passes)
        print(f"{label} {scale:g}: {n} objects stored in {load:.1f} s; controller passes "
              + " / ".join(f"{p:.2f}" for p in ps) + " s (first makes ReplicaSets, pods, revisions)")


if __name__ == "__main__":
    main()

"""The emulator's controllers at scale (issue 20): the scale cluster (mlopstui.sandbox.scale) beside a
sandbox-sized one (the baseline), same run, through ControllerManager's work queue:
- first: the settle at start: a full resync and everything it makes (ReplicaSets, pods, Jobs' pods, the
  InferenceServices' status after their delay), until nothing is queued and no timer is due within 2 s;
- steady: a pass on the settled cluster with nothing changed (what the manager's thread costs at rest);
- one change: a Deployment scaled 2 -> 3, until settled, and how many objects were reconciled for it;
- resync: the full resync on the settled cluster, which the manager runs every RESYNC_S (its share of a core
  is printed).
Wall time and the process's CPU time (the Job controller's threads included) are printed.
Usage: PYTHONPATH=src .venv/bin/python bench/bench_controllers.py [--scale 1] [--base-scale 0.01]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def run(scale: float) -> dict:
    from mlopstui.sandbox.kubeapi import KubeApiServer
    from mlopstui.sandbox.kubeapi.controllers.manager import RESYNC_S, ControllerManager
    from mlopstui.sandbox.scale import objects

    srv = KubeApiServer(tempfile.mkdtemp(prefix="bench-ctl-"), port=0, run_controllers=False)
    t0 = time.perf_counter()
    docs = objects(scale)
    srv.load_fixture(docs)
    out = {"objects": len(docs), "load": time.perf_counter() - t0}
    cm = ControllerManager(srv.store, srv.registry)
    cm.listen()

    def settle() -> None:
        cm.reconcile_all()
        cm.run_until_idle(timers_within=2.0)

    out["first"] = _timed(settle)
    out["stored"] = sum(len(b) for b in srv.store._objects.values())
    out["steady"] = _timed(cm.run_once)
    deploy = cm.DEPLOY
    name = srv.store.keys(deploy)[0]
    d = srv.store.get(deploy, *name)
    d["spec"]["replicas"] = 3
    seq = cm.seq
    out["change"] = _timed(lambda: (srv.store.update(deploy, name[0], name[1], d), cm.run_until_idle()))
    out["change_reconciles"] = cm.seq - seq
    out["resync"] = _timed(cm.reconcile_all)
    out["resync_every"] = RESYNC_S
    srv.store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--base-scale", type=float, default=0.01)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, scale in (("baseline", a.base_scale), ("scale", a.scale)):
        r = run(scale)
        f, s, c, rs = r["first"], r["steady"], r["change"], r["resync"]
        print(f"{label} {scale:g}: {r['objects']} objects stored in {r['load']:.1f} s ({r['stored']} once settled)\n"
              f"  first (settle at start): {f[0]:.2f} s (cpu {f[1]:.2f} s)\n"
              f"  steady pass (nothing changed): {s[0] * 1000:.2f} ms\n"
              f"  one Deployment scaled: {c[0] * 1000:.1f} ms, {r['change_reconciles']} reconciles\n"
              f"  full resync: {rs[0]:.2f} s (cpu {rs[1]:.2f} s), every {r['resync_every']:g} s: "
              f"{100 * rs[1] / r['resync_every']:.1f} % of a core")


if __name__ == "__main__":
    main()

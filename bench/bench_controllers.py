"""The emulator's controllers at scale (issue 20): the scale cluster (mlopstui.sandbox.scale) beside a
sandbox-sized one (the baseline), same run, through ControllerManager's work queue:
- first: the settle at start: a full resync and everything it makes (ReplicaSets, pods, Jobs' pods, the
  InferenceServices' status after their delay), until nothing is queued and no timer is due within 2 s;
- steady: a pass on the settled cluster with nothing changed (what the manager's thread costs at rest);
  the keys whose reconcile keeps failing are counted (retried with backoff up to once a minute; the scale
  seed's Revisions are owned by their InferenceServices and carry the predictor's hash, as the controller
  makes them, so none fails: before, each InferenceService's create of revision 1 was refused, 409);
- one change: a Deployment scaled 2 -> 3, until settled, and how many objects were reconciled for it (these
  two passes without the failures' retries that happen to fall due meanwhile: the resync includes them);
- resync: the full resync on the settled cluster, which the manager runs every RESYNC_S (its share of a core
  is printed).
Wall time and the process's CPU time (the Job controller's threads included) are printed.
With --idle N: the emulator's own process (`python -m mlopstui.sandbox.kubeapi --scale S`, as `sandbox up
--scale` starts it) at each scale: how long until it serves, until its controllers are idle (GET
/debug/controllers; an emulator without it, an older one: --warmup seconds), then the share of a core it
uses over N seconds with nothing changing (its store's flush thread and the resync included); --process-only
runs just that (to measure an older emulator: PYTHONPATH=/path/to/old/src).
Usage: PYTHONPATH=src .venv/bin/python bench/bench_controllers.py [--scale 1] [--base-scale 0.01] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


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
    cm.run_until_idle()  # the retries already due (the scale seed's InferenceServices fail: see below)
    out["retrying"] = cm.debug()["retrying"]
    # the next two without the retries that happen to fall due meanwhile (the resync below has their cost)
    out["steady"] = _timed(lambda: cm.run_once(timers=False))
    deploy = cm.DEPLOY
    name = srv.store.keys(deploy)[0]
    d = srv.store.get(deploy, *name)
    d["spec"]["replicas"] = 3
    seq = cm.seq
    out["change"] = _timed(lambda: (srv.store.update(deploy, name[0], name[1], d), cm.run_until_idle(timers=False)))
    out["change_reconciles"] = cm.seq - seq
    out["resync"] = _timed(cm.reconcile_all)
    out["resync_every"] = RESYNC_S
    srv.store.close()
    return out


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def process_idle(scale: float, seconds: float, warmup: float) -> dict:
    d = tempfile.mkdtemp(prefix="bench-ctl-proc-")
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "mlopstui.sandbox.kubeapi", "--dir", d, "--port", "0",
                          "--scale", str(scale)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        assert p.stderr is not None
        for line in p.stderr:
            if "serving on " in line:
                url = line.split("serving on ", 1)[1].split()[0]
                break
        if not url:
            raise RuntimeError("the emulator did not start")
        threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()  # drain
        out = {"serving": time.monotonic() - t0}
        with open(os.path.join(d, "tokens.json")) as f:
            token = json.load(f)["admin"]
        ctx = ssl.create_default_context(cafile=os.path.join(d, "apiserver.crt"))

        def state() -> dict | None:
            req = urllib.request.Request(url + "/debug/controllers", headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    return None
                raise

        first = state()
        if first is None:  # an emulator without the work queue: give it --warmup seconds
            time.sleep(max(0.0, warmup - (time.monotonic() - t0)))
            out["settled"] = None
        else:
            while True:
                st = state()
                if st["idle"] and not st["jobs_running"] and (st["next_scheduled_s"] is None
                                                              or st["next_scheduled_s"] > 2):
                    break
                time.sleep(0.2)
            out["settled"] = time.monotonic() - t0
        c0, w0 = _cpu_seconds(p.pid), time.monotonic()
        time.sleep(seconds)
        out["idle_core"] = (_cpu_seconds(p.pid) - c0) / (time.monotonic() - w0)
        out["idle_seconds"] = seconds
        return out
    finally:
        p.terminate()
        p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--base-scale", type=float, default=0.01)
    ap.add_argument("--idle", type=float, default=0.0, metavar="N", help="also the emulator process's idle cost")
    ap.add_argument("--warmup", type=float, default=120.0, help="--idle against an emulator without the queue")
    ap.add_argument("--process-only", action="store_true")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if a.idle or a.process_only:
        for label, scale in (("baseline", a.base_scale), ("scale", a.scale)):
            r = process_idle(scale, a.idle or 60.0, a.warmup)
            settled = "n/a (no /debug/controllers)" if r["settled"] is None else f"{r['settled']:.1f} s"
            print(f"{label} {scale:g} emulator process: serving after {r['serving']:.1f} s, controllers idle after "
                  f"{settled}; idle: {100 * r['idle_core']:.1f} % of a core over {r['idle_seconds']:g} s")
        print(f"load average {os.getloadavg()[0]:.1f}")
        if a.process_only:
            return
    for label, scale in (("baseline", a.base_scale), ("scale", a.scale)):
        r = run(scale)
        f, s, c, rs = r["first"], r["steady"], r["change"], r["resync"]
        print(f"{label} {scale:g}: {r['objects']} objects stored in {r['load']:.1f} s ({r['stored']} once settled)\n"
              f"  first (settle at start): {f[0]:.2f} s (cpu {f[1]:.2f} s)\n"
              f"  steady pass (nothing changed, nothing due): {s[0] * 1000:.2f} ms; {r['retrying']} keys retrying "
              f"(at most once a minute each)\n"
              f"  one Deployment scaled: {c[0] * 1000:.1f} ms, {r['change_reconciles']} reconciles\n"
              f"  full resync: {rs[0]:.2f} s (cpu {rs[1]:.2f} s), every {r['resync_every']:g} s: "
              f"{100 * rs[1] / r['resync_every']:.1f} % of a core")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

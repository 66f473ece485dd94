"""Rollout: time from a failed gate to the rollback PATCH, against the sandbox.

With the canary fault `canary-errors` on fraud-detection, each run starts a rollout (steps 10,100,
pause 0.5 s, min 5 requests): the first gate fails. Measured: from the "gates" event (the verdict is
known) to the emulator's record of the rollback PATCH (DIR/kube/writes.jsonl `time`, written when the
API server answers), and to the rollback's convergence. The InferenceService is restored after.

With `--signal prometheus` the gates read the sandbox's Prometheus (scraping every second) while
`sandbox traffic --rps 40` runs, pause 3 s: the time from the verdict to the PATCH is the same loop; what
differs is how long a step must measure to see the failure.

Usage (with a running sandbox):
  .venv/bin/python bench/bench_rollout.py --dir DIR [--runs 5] [--signal synthetic|prometheus|pod-metrics]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

NAME = "fraud-detection"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--signal", default="synthetic", choices=("synthetic", "prometheus", "pod-metrics"))
    a = ap.parse_args()
    d = Path(a.dir)
    cfg = d / "mlopstui.yaml"
    kubectl = [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(d / "kube" / "kubeconfig"),
               "-n", "mlops"]

    from mlopstui import config
    from mlopstui.actions.rollout import Rollout
    from mlopstui.actions.serving import SetCanary
    from mlopstui.context import AppContext
    from mlopstui.models import rollout as r

    ctx = AppContext.create(config.load(str(cfg)))
    before = SetCanary(ctx, None, NAME, percent=0).read().canary_percent
    to_patch, to_converged, measuring = [], [], []
    traffic = None
    if a.signal != "synthetic":  # the gates need live requests
        import os

        traffic = subprocess.Popen([sys.executable, "-m", "mlopstui", "sandbox", "traffic", "--dir", str(d), "--rps",
                                    "40", "--duration", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    pause = 0.5 if a.signal == "synthetic" else 3.0
    try:
        subprocess.run([*kubectl, "annotate", "isvc", NAME, "sandbox.mlopstui.dev/fault=canary-errors",
                        "--overwrite"], check=True, capture_output=True)
        for _ in range(a.runs):
            act = SetCanary(ctx, None, NAME, percent=before or 20)
            act.apply(act.plan(), readonly=False, audit=None)
            act.follow(timeout=30)
            plan = r.RolloutPlan([10, 100], pause, r.Gates(max_error_rate=0.01, min_requests=5))
            out = Rollout(ctx, None, NAME, plan, signal=a.signal).run()
            assert out.phase == "rolled-back", out.message
            gate = next(e["ts"] for e in out.events if e["event"] == "gates")
            measuring.append((gate - next(e["ts"] for e in out.events if e["event"] == "measuring")) * 1000)
            done = next(e["ts"] for e in out.events if e["event"] == "rolled-back")
            writes = [json.loads(ln) for ln in (d / "kube" / "writes.jsonl").read_text().splitlines()]
            patch_t = [w["time"] for w in writes if w["method"] == "PATCH" and w["path"].endswith(NAME)][-1]
            to_patch.append((patch_t - gate) * 1000)
            to_converged.append((done - gate) * 1000)
    finally:
        if traffic is not None:
            traffic.kill()
            traffic.wait()
        subprocess.run([*kubectl, "annotate", "isvc", NAME, "sandbox.mlopstui.dev/fault-", "mlopstui.dev/rollout-"],
                       capture_output=True)
        if before is not None:
            act = SetCanary(ctx, None, NAME, percent=before)
            act.apply(act.plan(), readonly=False, audit=None)
            act.follow(timeout=30)

    def line(what: str, xs: list[float]) -> str:
        return f"{what}: median {statistics.median(xs):.0f} ms, min {min(xs):.0f}, max {max(xs):.0f} (n={len(xs)})"

    print(f"signal {a.signal}, pause {pause:g} s")
    print(line("measuring (pause, then until min requests) -> verdict", measuring))
    print(line("failed gate -> rollback PATCH answered", to_patch))
    print(line("failed gate -> rollback converged (status 0% canary)", to_converged))
    return 0


if __name__ == "__main__":
    sys.exit(main())

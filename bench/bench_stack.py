"""Stack screen responsiveness during a sweep, and the cost of one sweep.

Starts the Kubernetes API emulator seeded with the platform manifests, points the probes at the local
PostgreSQL and Redis and at a TCP endpoint that accepts and never answers (so every sweep waits out one
probe timeout), opens the app at 80x24 and measures key-to-render latency (press down/up, wait for the
screen to settle) while probes are in flight; also the time of collect_cluster, build_report (pure:
catalog + doctor) and a full headless sweep. Usage: .venv/bin/python bench/bench_stack.py [--keys N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # support.stack_env (a script, not a test: no pytest pythonpath)
sys.path.insert(0, str(ROOT / "src"))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def keys_during_sweep(cfg: Path, n: int, sweeping: bool = True) -> tuple[list[float], int]:
    from mlopstui import config
    from mlopstui.app import MlopsApp

    app = MlopsApp(config.load(cfg))
    lat: list[float] = []
    during = 0
    async with app.run_test(size=(80, 24)) as pilot:
        while getattr(app.screen, "report", None) is None:
            await pilot.pause(0.05)
        stack = app.screen
        LAG.clear()
        STALLS.clear()
        global WATCH
        WATCH = StallWatch().start() if DIAGNOSE else None
        ticker = asyncio.get_running_loop().create_task(_loop_lag(LAG))
        for i in range(n):
            if sweeping and i % 20 == 0:
                stack.refresh_data()  # a sweep in flight while keys arrive
            t0 = time.perf_counter()
            await pilot.press("down" if i % 2 == 0 else "up")
            await pilot.pause(0)
            lat.append((time.perf_counter() - t0) * 1000)
            during += bool(stack.pending)
            await pilot.pause(0.02)
        ticker.cancel()
        if WATCH is not None:
            WATCH.stop()
            WATCH = None
    return lat, during


LAG: list[float] = []
STALLS: list[dict] = []


class StallWatch:
    """What the UI thread runs while its event loop is late (py-spy is not installed here): the loop beats
    every 10 ms (_loop_lag); a thread samples the UI thread's stack every 5 ms while the last beat is more
    than `late` s old. Each stall records its length, the CPU the whole process and the UI thread used
    during it (from /proc: little CPU for a long stall = the machine did not run us), and the innermost
    frames of our code (or Textual's / Rich's) seen in it."""

    def __init__(self, late: float = 0.06) -> None:
        import threading

        self.late, self.beat = late, time.monotonic()
        self.ui_tid = threading.get_native_id()
        self.ui_ident = threading.get_ident()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="stall-watch")

    def start(self) -> StallWatch:
        self._t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._t.join(1)

    def _cpu(self, task: str = "") -> float:
        path = f"/proc/self/task/{task}/stat" if task else "/proc/self/stat"
        try:
            fields = open(path).read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _frames(self) -> list[str]:
        frame = sys._current_frames().get(self.ui_ident)
        out = []
        while frame is not None and len(out) < 40:
            code = frame.f_code
            if any(k in code.co_filename for k in ("mlopstui", "textual", "rich")):
                out.append(f"{code.co_filename.rsplit('/site-packages/', 1)[-1].rsplit('/src/', 1)[-1]}:"
                           f"{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return out[:4]

    def _run(self) -> None:
        import collections
        import threading

        while not self._stop.is_set():
            time.sleep(0.005)
            if time.monotonic() - self.beat < self.late:
                continue
            t0, cpu0, ui0, tasks0 = self.beat, self._cpu(), self._cpu(str(self.ui_tid)), self._tasks()
            seen: collections.Counter = collections.Counter()
            while time.monotonic() - self.beat >= self.late and not self._stop.is_set():
                seen[" < ".join(self._frames()) or "(no frame of ours: idle or in C)"] += 1
                time.sleep(0.005)
            wall = time.monotonic() - t0
            names = {t.native_id: t.name for t in threading.enumerate()}
            others = collections.Counter()
            for tid, cpu in self._tasks().items():
                if tid != self.ui_tid and cpu - tasks0.get(tid, 0.0) > 0:
                    others[names.get(tid, "?").split("-")[0]] += (cpu - tasks0.get(tid, 0.0)) * 1000
            STALLS.append({"ms": wall * 1000, "proc_cpu_ms": (self._cpu() - cpu0) * 1000,
                           "ui_cpu_ms": (self._cpu(str(self.ui_tid)) - ui0) * 1000, "where": seen.most_common(2),
                           "others": dict(others.most_common(3))})

    def _tasks(self) -> dict[int, float]:
        out = {}
        for tid in os.listdir("/proc/self/task"):
            out[int(tid)] = self._cpu(tid)
        return out


WATCH: StallWatch | None = None
DIAGNOSE = False


async def _loop_lag(out: list[float], every: float = 0.01) -> None:
    """How late a 10 ms timer fires on the UI's event loop: the time a key would wait before the app even
    sees it (all I/O is in threads; this shows whether anything still blocks the loop)."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(every)
        out.append(max(0.0, (loop.time() - t - every) * 1000))
        if WATCH is not None:
            WATCH.beat = time.monotonic()


async def harness_overhead(n: int) -> list[float]:
    """The same key loop on an app with nothing to do: what Pilot itself costs per key."""
    from mlopstui import config
    from mlopstui.app import MlopsApp

    app = MlopsApp(config.load(None, kubeconfig="/nonexistent", refresh_interval=3600.0))
    lat: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        for i in range(n):
            t0 = time.perf_counter()
            await pilot.press("down" if i % 2 == 0 else "up")
            await pilot.pause(0)
            lat.append((time.perf_counter() - t0) * 1000)
            await pilot.pause(0.02)
    return lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--in-process", action="store_true",
                    help="run the emulator inside the measured process (older figures; pessimistic)")
    ap.add_argument("--diagnose", action="store_true",
                    help="sample the UI thread's stack while the loop is late (StallWatch) and print the stalls")
    args = ap.parse_args()
    global DIAGNOSE
    DIAGNOSE = args.diagnose
    import yaml

    from mlopstui import config
    from mlopstui.backends.stack import collect_cluster, sweep
    from mlopstui.context import AppContext
    from mlopstui.models.stack.report import build_report
    from mlopstui.sandbox.kubeapi import KubeApiServer
    from support.stack_env import HungServer, apply_objects, seed_objects, wait_ready

    d = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    if args.in_process:
        server = KubeApiServer(str(d / "kube"), port=0).start()
        kubeconfig = server.kubeconfig_path
    else:
        # a cluster is another machine: run the emulator in its own process, so its work (serving the sweep,
        # saving state) does not take the GIL from the UI thread being measured
        import subprocess

        from mlopstui.sandbox.procs import free_port, http_ok

        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "mlopstui.sandbox.kubeapi", "--dir", str(d / "kube"),
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kubeconfig = str(d / "kube" / "kubeconfig")
        deadline = time.monotonic() + 60
        while not (Path(kubeconfig).exists() and http_ok(f"https://127.0.0.1:{port}/readyz")):
            if time.monotonic() > deadline:
                raise SystemExit("the emulator did not start")
            time.sleep(0.1)
    hung = HungServer()
    try:
        cfg = d / "mlopstui.yaml"
        cfg.write_text(yaml.safe_dump({
            "kubeconfig": kubeconfig, "context": "mlopstui-sandbox", "namespace": "mlops",
            "refresh_interval": 2.0, "probe_timeout": 1.5,
            "endpoints": {"redis": "redis://127.0.0.1:6379/15", "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
                          "lakefs": f"http://127.0.0.1:{hung.port}"},
            "app_log": str(d / "app.log"), "audit_log": str(d / "audit.jsonl")}))
        ctx = AppContext.create(config.load(cfg))
        apply_objects(ctx.kube, seed_objects())
        wait_ready(ctx.kube)
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            state = collect_cluster(ctx)
            t.append(time.perf_counter() - t0)
        b = []
        for _ in range(20):
            t0 = time.perf_counter()
            rep = build_report(ctx.settings, state, {})
            b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rep = sweep(ctx)
        full = time.perf_counter() - t0
        print(f"objects {len(state.objects)}, findings {len(rep.findings)}")
        print(f"collect_cluster   median {statistics.median(t) * 1000:7.1f} ms")
        print(f"build_report      median {statistics.median(b) * 1000:7.1f} ms  (catalog + {len(rep.findings)} findings)")
        print(f"full sweep        {full * 1000:7.1f} ms  (includes one hung endpoint: probe_timeout 1.5 s)")
        idle = asyncio.run(harness_overhead(args.keys // 4))
        print(f"harness alone     median {statistics.median(idle):6.1f} ms  p95 {pct(idle, 95):6.1f} ms  "
              "(Pilot press + settle, app with no cluster and no refresh: subtract it)")
        lat, during = asyncio.run(keys_during_sweep(cfg, args.keys))
        base, _ = asyncio.run(keys_during_sweep(cfg, args.keys // 2, sweeping=False))
        print(f"baseline keys     median {statistics.median(base):6.1f} ms  p95 {pct(base, 95):6.1f} ms  "
              "(same app, periodic refresh only)")
        print(f"key-to-render     median {statistics.median(lat):6.1f} ms  p95 {pct(lat, 95):6.1f} ms  "
              f"max {max(lat):6.1f} ms  ({len(lat)} keys, {during} while probes were in flight)")
        lag = list(LAG)
        stalls = list(STALLS)
        print(f"event-loop lag    median {statistics.median(lag):6.1f} ms  p95 {pct(lag, 95):6.1f} ms  "
              f"p99 {pct(lag, 99):6.1f} ms  max {max(lag):6.1f} ms  ({len(lag)} ticks of 10 ms during those keys)")
        for st in sorted(stalls, key=lambda x: -x["ms"])[:8] if args.diagnose else []:
            print(f"stall {st['ms']:6.0f} ms: process CPU {st['proc_cpu_ms']:5.0f} ms, UI thread CPU "
                  f"{st['ui_cpu_ms']:5.0f} ms, others {st['others']}; {st['where']}")
        print(f"load average      {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    finally:
        hung.close()
        if args.in_process:
            server.stop()
        else:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Budgets at platform scale (issue 20), each printed beside its baseline from the same run.

Starts two emulators without controllers (the figures are the API's and the client's): one seeded by
mlopstui.sandbox.scale at --scale (1 = 200 namespaces, 5,000 pods, 1,000 Deployments/StatefulSets, 500
InferenceServices with 2 Revisions, 200 CronJobs/Jobs, 2,000 Events) and a baseline at --base-scale (a
sandbox-sized few dozen objects). For each:
  - Stack sweep: the cluster read by lists (the CLI's `stack`) and from the watch caches (the TUI), then
    the doctor and the report (build_report); `kubectl get` of the same kinds -A as a baseline;
  - the TUI (Pilot, 100x30): every Kubernetes-fed area visited, then the UI event loop's lag (10 ms ticks)
    while Stack sweeps run and a watch burst (--burst pod patches) lands, key-to-render over --keys
    presses, RSS after visiting every area, and the API requests per minute while idle (--window s);
  - a bare Textual app's RSS, loop lag and key-to-render in the same harness, by the same method.
Key-to-render is from the key event posted to the app (as the driver posts a keystroke) to the first
screen update whose frame shows its result (the table's cursor on the next row), the terminal sequence
of that update included (rendered here: the headless driver skips it). Not Pilot.press(): it waits for
the whole process to go idle (two wait_for_idle, >= 60 ms in a bare app, up to 1 s while a worker thread
computes), which measures the harness, not the app.
--stalls: a watchdog thread prints where the UI thread was when the loop lagged > 60 ms (diagnosis).
Usage: PYTHONPATH=src .venv/bin/python bench/bench_scale.py [--scale 1] [--window 30] [--keys 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))
KINDS = "deployments,statefulsets,daemonsets,pods,services,jobs,cronjobs,inferenceservices"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Emulator:
    """The emulator in its own process, as in the sandbox (`python -m mlopstui.sandbox.kubeapi --scale N
    --no-controllers -v`): the TUI's figures are not charged with the API server's work. Requests are counted
    from its request lines (stderr, -v)."""

    def __init__(self, scale: float):
        from mlopstui.sandbox.procs import free_port

        self.dir = tempfile.mkdtemp(prefix="bench-scale-")
        self.kubeconfig_path = os.path.join(self.dir, "kubeconfig")
        self.log_path = os.path.join(self.dir, "requests.log")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlopstui.sandbox.kubeapi", "--dir", self.dir, "--port", str(free_port()),
             "--no-controllers", "--scale", f"{scale:g}", "-v"],
            stderr=open(self.log_path, "w"), stdout=subprocess.DEVNULL)
        while "kubeapi serving on" not in self.log():
            if self.proc.poll() is not None or time.perf_counter() - t0 > 300:
                raise SystemExit(f"the emulator did not start: {self.log()[-600:]}")
            time.sleep(0.1)
        self.took = time.perf_counter() - t0
        self.objects = int(self.log().split("objects stored")[0].rsplit(":", 1)[-1].strip() or 0)

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def requests(self) -> list[str]:
        """Request lines so far: "user METHOD path?query status"."""
        return [line for line in self.log().splitlines() if line.count(" ") >= 3 and not line.startswith("kubeapi")]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start(scale: float):
    srv = Emulator(scale)
    return srv, srv.objects, srv.took


def settings_for(srv, tmp: str):
    from mlopstui import config

    return config.load(None, kubeconfig=srv.kubeconfig_path, context="mlopstui-sandbox", namespace="team-000",
                       audit_log=os.path.join(tmp, "audit.jsonl"))


def sweep_figures(srv, runs: int) -> dict[str, float]:
    from mlopstui.backends.stack import collect_cluster
    from mlopstui.context import AppContext
    from mlopstui.models.stack.report import build_report

    tmp = tempfile.mkdtemp()
    ctx = AppContext.create(settings_for(srv, tmp))
    out: dict[str, list[float]] = {"list": [], "cache": [], "doctor": [], "objects": []}
    try:
        ctx.kube.version()
        for _ in range(runs):
            t0 = time.perf_counter()
            state = collect_cluster(ctx)
            out["list"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            build_report(ctx.settings, state, {})
            out["doctor"].append(time.perf_counter() - t0)
            out["objects"].append(len(state.objects))
        collect_cluster(ctx, watched=True)  # the first lists of the caches
        for _ in range(runs):
            t0 = time.perf_counter()
            collect_cluster(ctx, watched=True)
            out["cache"].append(time.perf_counter() - t0)
    finally:
        ctx.close()
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path}
    kubectl = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["kubectl", "get", KINDS, "-A", "-o", "json"], env=env, capture_output=True, timeout=120,
                       check=True)
        kubectl.append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in out.items()} | {"kubectl": statistics.median(kubectl)}


LAG: list[float] = []


BEAT = [0.0]  # the ticker's last wake-up (perf_counter), for the stall watchdog
GC: list[tuple[float, float]] = []  # (wall, CPU) ms of each full collection in the measured phase: all threads wait


def _gc_timer(phase: str, info: dict) -> None:
    if info.get("generation") != 2:
        return
    if phase == "start":
        _gc_timer.t0 = (time.perf_counter(), time.thread_time())  # type: ignore[attr-defined]
    elif getattr(_gc_timer, "t0", None) is not None:
        wall, cpu = _gc_timer.t0  # type: ignore[attr-defined]
        GC.append(((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000))


async def _loop_lag(out: list[float], every: float = 0.01) -> None:
    while True:
        t0 = time.perf_counter()
        BEAT[0] = t0
        await asyncio.sleep(every)
        out.append(max(0.0, (time.perf_counter() - t0 - every) * 1000))


class Stalls:
    """--stalls: every 5 ms, if the loop's ticker is more than 50 ms late, the UI thread's innermost frames
    (and which other threads ran Python) are counted; printed at the end. A diagnosis, not a figure."""

    def __init__(self) -> None:
        from collections import Counter

        self.main = threading.get_ident()
        self.seen: Counter = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stall-watch")

    def start(self) -> Stalls:
        self._thread.start()
        return self

    def _run(self) -> None:
        import traceback

        while not self._stop.wait(0.005):
            if not BEAT[0] or time.perf_counter() - BEAT[0] < 0.06:
                continue
            frames = sys._current_frames()
            main = frames.get(self.main)
            if main is None:
                continue
            stack = traceback.extract_stack(main)[-6:]
            where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))
            others = sorted({t.name for t in threading.enumerate()
                             if t.ident in frames and t.ident not in (self.main, threading.get_ident())})
            self.seen[where] += 1
            self.samples += 1
            if self.samples == 1:
                print(f"  (first stall: other threads {', '.join(others)[:300]})", file=sys.stderr, flush=True)

    def report(self) -> None:
        self._stop.set()
        print(f"  stalls > 60 ms: {self.samples} samples (5 ms each); the UI thread was at:", file=sys.stderr)
        for where, n in self.seen.most_common(8):
            print(f"    {n:4d}  {where}", file=sys.stderr)


class KeyToPaint:
    """Key-to-render without Pilot.press: the key posted as the driver posts one, then the first screen
    update after which the focused table's cursor is on the wanted row. App._display is wrapped to stamp
    each update and render its terminal sequence (what a real terminal driver does there)."""

    def __init__(self, app) -> None:
        self.app = app
        self.want: int | None = None
        self.painted = asyncio.Event()
        self.at = 0.0
        orig = app._display

        def display(screen, renderable) -> None:
            if renderable is not None and self.want is not None:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(app.console)
                table = app.focused
                if getattr(table, "cursor_row", None) == self.want:
                    self.at, self.want = time.perf_counter(), None
                    self.painted.set()
            orig(screen, renderable)

        app._display = display

    async def press(self, key: str) -> float:
        """ms from posting key ("down"/"up") to the update that paints the cursor's move."""
        from textual import events

        table = self.app.focused
        row = table.cursor_row
        self.want = min(table.row_count - 1, row + 1) if key == "down" else max(0, row - 1)
        self.painted.clear()
        ev = events.Key(key, None)
        ev.set_sender(self.app)
        t0 = time.perf_counter()
        self.app._driver.send_message(ev)
        try:
            await asyncio.wait_for(self.painted.wait(), 10)
        except TimeoutError:
            self.want = None
            return 10_000.0
        return (self.at - t0) * 1000


BURST = """
import sys
from mlopstui.backends.kube import PODS, KubeClient
from mlopstui.errors import Kind, MlopsError
kube = KubeClient.from_settings(sys.argv[1], None, "default")
pods = kube.list(PODS, all_namespaces=True)[: int(sys.argv[2])]
for i, p in enumerate(pods):
    m = p["metadata"]
    for attempt in range(3):  # the other burst (overlapping under load) may have written the pod meanwhile
        try:
            kube.merge_patch(PODS, m["name"], {"metadata": {"labels": {"burst": str(i)}}}, m["namespace"])
            break
        except MlopsError as err:
            if err.kind is not Kind.CONFLICT or attempt == 2:
                raise
"""


def burst(srv, n: int) -> None:
    """n pod updates from another process (an operator, kubelets): n watch events."""
    subprocess.run([sys.executable, "-c", BURST, srv.kubeconfig_path, str(n)], check=True, timeout=600,
                   env={**os.environ, "PYTHONPATH": str(ROOT.parent / "src")})


async def tui_figures(srv, keys: int, window: float, bursts: int, burst_n: int,
                      trace: bool = False) -> dict[str, float]:
    from mlopstui.app import MlopsApp

    tmp = tempfile.mkdtemp()
    app = MlopsApp(settings_for(srv, tmp))
    lat: list[float] = []
    res: dict[str, float] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        t0 = time.perf_counter()
        while getattr(app.screen, "report", None) is None:
            await pilot.pause(0.05)
        res["first_report_s"] = time.perf_counter() - t0
        stack = app.screen
        t1 = time.perf_counter()
        # every area, the Stack last; not Experiments: MLflow is not configured here (it waits out its timeouts)
        for key in ("5", "3", "4", "6", "7", "1"):
            await pilot.press(key)
            t2 = time.perf_counter()
            await pilot.pause(0.1)
            # loaded, or its reads have answered (Features without Feast, Data without LakeFS, Audit: no
            # loaded_at of theirs), at most 15 s
            while getattr(app.screen, "loaded_at", None) is None and time.perf_counter() - t2 < 15 and any(
                    w.is_running and w.node is app.screen for w in app.workers):
                await pilot.pause(0.05)
            print(f"  area {key}: {time.perf_counter() - t2:.1f} s", file=sys.stderr, flush=True)
        res["visit_s"] = time.perf_counter() - t1
        await asyncio.sleep(2.0)
        res["rss_mb"] = rss_mb()
        LAG.clear()
        painter = KeyToPaint(app)
        app.focused.move_cursor(row=0)
        await pilot.pause(0.2)
        stalls = Stalls().start() if trace else None
        import gc

        GC.clear()
        gc.callbacks.append(_gc_timer)
        ticker = asyncio.get_running_loop().create_task(_loop_lag(LAG))
        threads = []
        for i in range(keys):
            if i % max(1, keys // 4) == 0:
                stack.refresh_data()  # a sweep in flight while keys arrive
            if bursts and i % max(1, keys // bursts) == 1:
                th = threading.Thread(target=burst, args=(srv, burst_n), daemon=True)
                th.start()
                threads.append(th)
            lat.append(await painter.press("down" if i % 2 == 0 else "up"))
            await asyncio.sleep(0.05)
        for th in threads:  # waited for without blocking the event loop (whose lag is being measured)
            end = time.perf_counter() + 600
            while th.is_alive() and time.perf_counter() < end:
                await pilot.pause(0.1)
        await asyncio.sleep(3.0)  # the rebuilds after the last burst
        ticker.cancel()
        gc.callbacks.remove(_gc_timer)
        res["gc"] = (f"{len(GC)} full collections, max {max((w for w, _ in GC), default=0):.0f} ms "
                     f"(CPU {max((c for _, c in GC), default=0):.0f} ms; {len(gc.get_objects())} objects tracked, "
                     f"{gc.get_freeze_count()} frozen)")
        if stalls is not None:
            stalls.report()
        res["rebuilds"] = getattr(stack, "rebuilds", float("nan"))
        res.update(lag_p50=pct(LAG, 50), lag_p95=pct(LAG, 95), lag_max=max(LAG), key_p50=pct(lat, 50),
                   key_p95=pct(lat, 95))
        mark = len(srv.requests())
        await asyncio.sleep(window)
        from collections import Counter

        from mlopstui.backends import kube as k

        plurals = {v.plural for v in vars(k).values() if isinstance(v, k.Res)}
        es = [line.split() for line in srv.requests()[mark:]]
        es = [(m, path.partition("?")[0], path.partition("?")[2]) for _u, m, path, *_ in es]
        lists = [e for e in es if e[0] == "GET" and "watch=" not in e[2]
                 and e[1].rstrip("/").rsplit("/", 1)[-1] in plurals]
        res["idle_req_per_min"] = len(es) * 60 / window
        res["idle_lists"] = len(lists)
        res["idle_paths"] = Counter(f"{m} {p}" for m, p, q in es if "watch=" not in q).most_common(4)
        res["rss_after_mb"] = rss_mb()
        res["lists_total"] = app.ctx.informers.lists
    return res


async def bare_figures(keys: int) -> dict[str, float]:
    from textual.app import App
    from textual.widgets import DataTable

    class Bare(App):
        def compose(self):
            t = DataTable()
            t.add_columns("A", "B")
            for i in range(30):
                t.add_row(str(i), "x")
            yield t

    app = Bare()
    lat: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        LAG.clear()
        painter = KeyToPaint(app)
        ticker = asyncio.get_running_loop().create_task(_loop_lag(LAG))
        for i in range(keys):
            lat.append(await painter.press("down" if i % 2 == 0 else "up"))
            await asyncio.sleep(0.05)
        ticker.cancel()
        return {"rss_mb": rss_mb(), "lag_max": max(LAG), "lag_p95": pct(LAG, 95), "key_p95": pct(lat, 95),
                "key_p50": pct(lat, 50)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--base-scale", type=float, default=0.01)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keys", type=int, default=60)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--bursts", type=int, default=2)
    ap.add_argument("--burst", type=int, default=500, help="pod status writes per watch burst")
    ap.add_argument("--skip-tui", action="store_true")
    ap.add_argument("--stalls", action="store_true", help="print where the UI thread was when the loop lagged")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    bare = asyncio.run(bare_figures(a.keys)) if not a.skip_tui else {}
    for label, scale in (("baseline", a.base_scale), ("scale", a.scale)):
        srv, n, took = start(scale)
        try:
            print(f"\n== {label}: scale {scale:g}, {n} objects stored and serving in {took:.1f} s")
            sw = sweep_figures(srv, a.runs)
            print(f"Stack sweep, median of {a.runs}: cluster by lists {sw['list'] * 1000:.0f} ms "
                  f"({sw['objects']:.0f} objects), from the watch caches {sw['cache'] * 1000:.0f} ms, doctor + "
                  f"report {sw['doctor'] * 1000:.0f} ms; kubectl get {KINDS} -A -o json {sw['kubectl'] * 1000:.0f} ms")
            print(f"  sweep + doctor (TUI, caches): {(sw['cache'] + sw['doctor']) * 1000:.0f} ms; "
                  f"(CLI, lists): {(sw['list'] + sw['doctor']) * 1000:.0f} ms (budget 1000 ms at scale)")
            if a.skip_tui:
                continue
            t = asyncio.run(tui_figures(srv, a.keys, a.window, a.bursts, a.burst, a.stalls))
            print(f"TUI: first Stack report {t['first_report_s']:.2f} s; UI loop lag during sweeps and "
                  f"{a.bursts} watch bursts of {a.burst} events p50/p95/max {t['lag_p50']:.1f} / {t['lag_p95']:.0f} / "
                  f"{t['lag_max']:.0f} ms (budget max 100); key-to-render p50/p95 {t['key_p50']:.0f} / "
                  f"{t['key_p95']:.0f} ms (budget p95 50; key posted -> its frame); Stack rebuilds {t['rebuilds']}; "
                  f"GC meanwhile: {t['gc']}")
            print(f"  RSS after visiting every area {t['rss_mb']:.0f} MB, after the bursts {t['rss_after_mb']:.0f} MB "
                  f"(budget 400); idle {a.window:g} s: {t['idle_req_per_min']:.1f} requests/min, "
                  f"{t['idle_lists']:.0f} list calls; lists since start {t['lists_total']:.0f}")
            print(f"  idle requests other than watches: {t['idle_paths']}")
        finally:
            srv.stop()
    if bare:
        print(f"\nbare Textual app, same harness: RSS {bare['rss_mb']:.0f} MB, loop lag p95/max {bare['lag_p95']:.0f} / "
              f"{bare['lag_max']:.0f} ms, key-to-render p50/p95 {bare['key_p50']:.0f} / {bare['key_p95']:.0f} ms")


if __name__ == "__main__":
    main()

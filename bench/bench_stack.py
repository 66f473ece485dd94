"""Stack screen responsiveness during a sweep, and the cost of one sweep.

Starts the Kubernetes API emulator seeded with the platform manifests, points the probes at the local
PostgreSQL and Redis and at a TCP endpoint that accepts and never answers (so every sweep waits out one
probe timeout), opens the app at 80x24 and measures key-to-render latency (press down/up, wait for the
screen to settle) while probes are in flight, and the UI event loop's lag (a 10 ms tick); also the time of
collect_cluster, build_report (pure: catalog + doctor) and a full headless sweep.

The baseline in the same run: a bare Textual app in its own process ticks the same 10 ms beside the
measured one ("bare app beside": what the machine alone gives). --diagnose adds what the loop waited for
in each stall (StallWatch: every thread's /proc state, syscall, CPU and run-queue time, sampled from
another process; the time in garbage collection; with PY_SPY=path/to/py-spy every thread's Python stack
and the GIL holder) and a count of the stalls over 100 ms by cause.
Usage: PYTHONPATH=src .venv/bin/python bench/bench_stack.py [--keys N] [--diagnose]
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
        LAG_T.clear()
        STALLS.clear()
        global WATCH
        WATCH = StallWatch().start() if DIAGNOSE else None
        bare = Bare() if sweeping else None
        gc_on = _gc_watch() if DIAGNOSE else None
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
        if bare is not None:
            BARE[:] = bare.stop()
        if gc_on is not None:
            gc_on()
        if WATCH is not None:
            WATCH.stop()
            WATCH = None
        if DIAGNOSE and sweeping:
            import collections
            import gc

            objs = gc.get_objects()
            kinds = collections.Counter(type(o).__name__ for o in objs).most_common(6)
            t0 = time.perf_counter()
            gc.collect()
            from mlopstui.backends import probes

            HEAP.append(f"heap              {len(objs)} objects tracked by gc ({gc.get_freeze_count()} frozen), "
                        f"a full collection {(time.perf_counter() - t0) * 1000:.0f} ms; most: {kinds}; "
                        f"S3 clients kept: {len(getattr(probes, '_S3_CLIENTS', ()))}")
            del objs
    return lat, during


LAG: list[float] = []
STALLS: list[dict] = []
GCS: list[tuple[float, float, int, float]] = []  # (start, end, generation, CPU s) of every collection
BARE: list[tuple[float, float]] = []  # (time, lag ms) of the bare app's ticks, same period


def _gc_watch():
    """Time every garbage collection (gc.callbacks); returns the function that stops it."""
    import gc

    started: dict[int, float] = {}

    def cb(phase: str, info: dict) -> None:
        if phase == "start":
            started[0], started[1] = time.monotonic(), time.thread_time()
        elif 0 in started:
            GCS.append((started.pop(0), time.monotonic(), info["generation"], time.thread_time() - started.pop(1)))

    GCS.clear()
    gc.callbacks.append(cb)
    return lambda: gc.callbacks.remove(cb)


class Bare:
    """A bare Textual app in its own process running the same 10 ms tick while the measured app runs: the
    lag the machine alone gives (another process has its own GIL: if it is late at the same moments as
    ours, the machine did not run either; if not, the wait was ours)."""

    def __init__(self) -> None:
        import subprocess

        self.out = Path(tempfile.mkdtemp(prefix="bare-")) / "ticks"
        self._proc = subprocess.Popen([sys.executable, __file__, "--bare", str(self.out)])
        deadline = time.monotonic() + 20
        while not self.out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> list[tuple[float, float]]:
        self._proc.terminate()
        self._proc.wait(10)
        rows = [line.split() for line in self.out.read_text().splitlines() if line.strip()] if self.out.exists() else []
        return [(float(a), float(b)) for a, b in rows if len((a, b)) == 2]


def bare_main(out: str) -> int:
    """The bare app's process (see Bare): ticks until terminated, one 'time lag_ms' line per tick."""
    import signal

    from textual.app import App

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    async def run() -> None:
        app = App()
        async with app.run_test(size=(80, 24)):
            fh = open(out, "a", buffering=1)
            lags: list[float] = []
            ticker = asyncio.get_running_loop().create_task(_loop_lag(lags))
            n = 0
            while True:
                await asyncio.sleep(0.5)
                for x, t in zip(lags[n:], LAG_T_BARE[n:], strict=False):
                    fh.write(f"{t:.4f} {x:.2f}\n")
                n = len(lags)
            ticker.cancel()

    asyncio.run(run())
    return 0


LAG_T_BARE: list[float] = []
HEAP: list[str] = []


# x86_64 syscall numbers the sampler names (the rest print as numbers)
SYSCALLS = {0: "read", 1: "write", 3: "close", 7: "poll", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk",
            17: "pread64", 23: "select", 35: "nanosleep", 42: "connect", 43: "accept", 44: "sendto",
            45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 56: "clone", 57: "fork", 58: "vfork", 59: "execve",
            61: "wait4", 72: "fcntl", 74: "fsync", 75: "fdatasync", 202: "futex", 228: "clock_gettime",
            230: "clock_nanosleep", 232: "epoll_wait", 257: "openat", 270: "pselect6", 271: "ppoll",
            281: "epoll_pwait", 288: "accept4", 435: "clone3", 441: "epoll_pwait2"}


class StallWatch:
    """Who waits on what while the UI's event loop is late, seen from ANOTHER process: an in-process
    sampler needs the GIL to run, so it cannot see a stall in which some thread holds the GIL (the first
    version only ever got one sample per stall). The loop beats every 10 ms (_loop_lag) into a shared
    file; the sampler process (this script with --sample) checks the beat every 5 ms and, while it is
    more than `late` s old, reads every thread's /proc/PID/task/TID/stat (state, CPU), syscall (the call
    it is blocked in, or "running") and schedstat (time spent runnable but not on a CPU), plus the
    machine's steal time; one stall's record is each thread's states and syscalls seen, its CPU and
    run-queue wait during the stall. With py-spy (PY_SPY=path, e.g. pip install --target /tmp/pyspy
    py-spy) it also dumps every thread's Python stack (and which one holds the GIL) once per stall.
    Threads are named in the kernel (comm) at their start so the sampler sees Python's names."""

    def __init__(self, late: float = 0.06) -> None:
        import mmap
        import subprocess

        self.late = late
        d = Path(tempfile.mkdtemp(prefix="stallwatch-"))
        self.beat_path, self.out_path = d / "beat", d / "stalls.jsonl"
        self.beat_path.write_bytes(b"\0" * 8)
        self._f = open(self.beat_path, "r+b")
        self._mm = mmap.mmap(self._f.fileno(), 8)
        self._proc = subprocess.Popen([sys.executable, __file__, "--sample", str(os.getpid()), str(self.beat_path),
                                       str(self.out_path), str(late)])
        time.sleep(0.3)  # the sampler is up before the first tick (the beat stays 0 until that tick)

    @property
    def beat(self) -> float:
        import struct

        return struct.unpack("d", self._mm[:8])[0]

    @beat.setter
    def beat(self, t: float) -> None:
        import struct

        self._mm[:8] = struct.pack("d", t)

    def start(self) -> StallWatch:
        return self

    def stop(self) -> None:
        import json

        time.sleep(0.2)
        self._proc.terminate()
        self._proc.wait(5)
        self._mm.close()
        self._f.close()
        if self.out_path.exists():
            STALLS.extend(json.loads(line) for line in self.out_path.read_text().splitlines() if line.strip())


def _name_threads() -> None:
    """Give each thread started from now on its Python name in the kernel (prctl PR_SET_NAME, 15 bytes),
    so /proc shows which thread is which (Python 3.11 leaves every thread named 'python')."""
    import ctypes
    import threading

    libc = ctypes.CDLL(None, use_errno=True)

    def name(*_a) -> None:
        sys.settrace(None)  # only the first call of each thread: no tracing cost after
        libc.prctl(15, threading.current_thread().name[:15].encode(), 0, 0, 0)

    threading.settrace(name)
    libc.prctl(15, b"UI-main", 0, 0, 0)


def _gil_and_ui(dump: str) -> str:
    """py-spy's dump cut to the threads that matter: the main (UI) thread and any not idle (the GIL holder
    says "active+gil"), our frames and the library frames just above them."""
    blocks = dump.split("\nThread ")
    keep = [b if i == 0 else "Thread " + b for i, b in enumerate(blocks)
            if i > 0 and ("MainThread" in b.split("\n", 1)[0] or "(idle)" not in b.split("\n", 1)[0])]
    out = []
    for b in keep:
        lines = b.splitlines()
        out.append(lines[0])
        out.extend(lines[1:13])
    return "\n".join(out) if keep else dump[:2000]


def sample_main(pid: int, beat_path: str, out_path: str, late: float) -> int:
    """The sampler process (see StallWatch)."""
    import collections
    import json
    import mmap
    import shutil
    import struct
    import subprocess

    tck = os.sysconf("SC_CLK_TCK")
    pyspy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    f = open(beat_path, "rb")
    mm = mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)
    out = open(out_path, "a")

    def beat() -> float:
        return struct.unpack("d", mm[:8])[0]

    def read(path: str) -> str:
        try:
            with open(path) as fh:
                return fh.read()
        except OSError:
            return ""

    def steal() -> int:
        return int(read("/proc/stat").split("\n", 1)[0].split()[8])

    def tasks() -> dict[str, dict]:
        snap = {}
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return snap
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            stat = read(base + "/stat")
            if not stat:
                continue
            head, tail = stat.rsplit(")", 1)
            fields = tail.split()
            sc = read(base + "/syscall").split()
            call = "running" if sc[:1] == ["running"] else SYSCALLS.get(int(sc[0]), sc[0]) if sc else "?"
            if call == "futex" and len(sc) > 2:
                call += f"({int(sc[2], 16) & 0x7f})"  # the futex op: 0 WAIT, 9 WAIT_BITSET (condvar: the GIL)
            sched = read(base + "/schedstat").split()
            # schedstat: ns on a CPU, ns runnable waiting for one (stat's utime/stime count 10 ms ticks)
            snap[tid] = {"name": head.split("(", 1)[1], "state": fields[0],
                         "cpu": int(sched[0]) / 1e9 if sched else (int(fields[11]) + int(fields[12])) / tck,
                         "call": call, "runq": int(sched[1]) / 1e9 if len(sched) > 1 else 0.0}
        return snap

    while True:
        time.sleep(0.005)
        if os.getppid() == 1:
            return 0
        if beat() == 0.0 or time.monotonic() - beat() < late:
            continue  # 0: the loop has not beaten yet
        t0, first, steal0 = beat(), tasks(), steal()
        seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        names: dict[str, str] = {}
        last = first
        dump = None
        while time.monotonic() - beat() >= late:
            snap = tasks()
            for tid, t in snap.items():
                names[tid] = t["name"]
                seen[tid][f"{t['state']} {t['call']}"] += 1
            last = {**last, **snap}
            if dump is None and pyspy and time.monotonic() - t0 > late + 0.01:
                ts = time.monotonic()
                r = subprocess.run([pyspy, "dump", "--pid", str(pid), "--nonblocking"], capture_output=True,
                                   text=True, timeout=5)
                dump = {"at_ms": (ts - t0) * 1000, "took_ms": (time.monotonic() - ts) * 1000,
                        "still_late": time.monotonic() - beat() >= late, "text": _gil_and_ui(r.stdout or r.stderr)}
            time.sleep(0.003)
        wall = beat() - t0 - 0.01  # the beat that ended it came ~one tick after the loop woke
        threads = []
        for tid, c in seen.items():
            a, b = first.get(tid), last.get(tid)
            cpu = (b["cpu"] - a["cpu"]) * 1000 if a and b else None
            runq = (b["runq"] - a["runq"]) * 1000 if a and b else None
            threads.append({"tid": int(tid), "name": names[tid], "cpu_ms": cpu, "runq_ms": runq,
                            "seen": c.most_common(3), "n": sum(c.values())})
        out.write(json.dumps({"t0": t0, "t1": beat(), "ms": wall * 1000, "steal_ms": (steal() - steal0) * 1000 / tck,
                              "ui_tid": pid, "threads": threads, "dump": dump}) + "\n")
        out.flush()


WATCH: StallWatch | None = None
DIAGNOSE = False
LAG_T: list[float] = []


async def _loop_lag(out: list[float], every: float = 0.01) -> None:
    """How late a 10 ms timer fires on the UI's event loop: the time a key would wait before the app even
    sees it (all I/O is in threads; this shows whether anything still blocks the loop)."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(every)
        out.append(max(0.0, (loop.time() - t - every) * 1000))
        (LAG_T if out is LAG else LAG_T_BARE).append(time.monotonic())
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


def stall_verdict(st: dict, gc_ms: float) -> str:
    """What the UI thread waited for, from its own record: the collector, a CPU (runnable, not running:
    the machine), its own work, the GIL or a lock held by another thread, or a syscall."""
    ms = max(st["ms"], 1.0)
    ui = next((t for t in st["threads"] if t["tid"] == st["ui_tid"]), None)
    if ui is None:
        return "?"
    n = max(ui["n"], 1)
    futex = sum(c for k, c in ui["seen"] if k.startswith("S futex")) / n
    others = [t for t in st["threads"] if t["tid"] != st["ui_tid"] and t["cpu_ms"]]
    busiest = max(others, key=lambda t: t["cpu_ms"], default=None)
    holder = None
    for line in ((st.get("dump") or {}).get("text") or "").splitlines():
        if "active+gil" in line:
            holder = line.split('"')[1] if '"' in line else line
    if gc_ms >= 0.5 * ms:
        return f"garbage collection ({gc_ms:.0f} ms)"
    if (ui["runq_ms"] or 0) >= 0.4 * ms:
        return f"a CPU: the UI thread was runnable without one for {ui['runq_ms']:.0f} ms (the machine)"
    if (ui["cpu_ms"] or 0) >= 0.4 * ms:
        return f"its own work ({ui['cpu_ms']:.0f} ms of CPU on the UI thread)"
    if futex >= 0.5:
        by = holder or (f"{busiest['name']} ({busiest['cpu_ms']:.0f} ms CPU)" if busiest else "no thread on a CPU")
        return f"the GIL or a lock: held by {by}"
    if ui["seen"][0][0].startswith("R"):  # few samples (the sampler waited for a CPU too): no split known
        return f"a CPU or its own work (running or runnable; {ui['cpu_ms'] or 0:.0f} ms CPU and " \
               f"{ui['runq_ms'] or 0:.0f} ms runnable seen in {ui['n']} samples)"
    return f"a syscall: {ui['seen'][0][0]}"


def format_stall(st: dict, gcs: list = (), bare: list = ()) -> str:
    """One stall: its length, the machine's steal time, the time in gc, the bare app's worst tick meanwhile,
    the verdict (stall_verdict); then each thread: its CPU, its time runnable without a CPU, what it was
    seen doing (state + syscall, with counts; threads idle in the same call the whole time, with no CPU,
    on one line), then py-spy's dump when there is one (the UI thread and the threads not idle)."""
    import collections

    t0, t1 = st["t0"], st["t1"]
    gc_ms = sum((min(b, t1) - max(a, t0)) * 1000 for a, b, *_ in gcs if b > t0 and a < t1)
    bare_max = max((x for t, x in bare if t0 <= t <= t1 + 0.05), default=None)
    lines = [f"stall {st['ms']:6.0f} ms (sampled over {st.get('span_ms', st['ms']):.0f} ms; steal {st['steal_ms']:.0f} ms, in gc {gc_ms:.0f} ms, bare app's worst "
             f"tick meanwhile {'-' if bare_max is None else f'{bare_max:.0f} ms'}): waited for "
             f"{stall_verdict(st, gc_ms)}"]
    idle: dict[str, list[str]] = collections.defaultdict(list)
    for t in sorted(st["threads"], key=lambda t: (t["tid"] != st["ui_tid"], -(t["cpu_ms"] or 0))):
        seen = ", ".join(f"{k} x{n}" for k, n in t["seen"])
        if t["tid"] != st["ui_tid"] and not t["cpu_ms"] and len(t["seen"]) == 1:
            idle[t["seen"][0][0]].append(t["name"].split("-")[0].split(" ")[0])
            continue
        cpu = "?" if t["cpu_ms"] is None else f"{t['cpu_ms']:.0f}"
        runq = "?" if t["runq_ms"] is None else f"{t['runq_ms']:.0f}"
        lines.append(f"    {t['name'][:15]:15} cpu {cpu:>4} ms runq {runq:>4} ms  {seen}")
    for state, names in sorted(idle.items()):
        kinds = ", ".join(f"{k} x{c}" for k, c in collections.Counter(names).most_common())
        lines.append(f"    {len(names):2} threads all the time in {state}, no CPU: {kinds}")
    if st.get("dump"):
        d = st["dump"]
        lines.append(f"    py-spy dump at +{d['at_ms']:.0f} ms (took {d['took_ms']:.0f} ms, still late after: "
                     f"{d['still_late']}):")
        lines.extend("      " + x for x in d["text"].splitlines() if x.strip())
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--bare"]:
        return bare_main(sys.argv[2])
    if sys.argv[1:2] == ["--sample"]:
        return sample_main(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--in-process", action="store_true",
                    help="run the emulator inside the measured process (older figures; pessimistic)")
    ap.add_argument("--diagnose", action="store_true",
                    help="sample the UI thread's stack while the loop is late (StallWatch) and print the stalls")
    args = ap.parse_args()
    global DIAGNOSE
    DIAGNOSE = args.diagnose
    if DIAGNOSE:
        _name_threads()
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
        lag, stalls, gcs = list(LAG), list(STALLS), list(GCS)  # the next run clears them
        for st in stalls:  # its length is the late tick's (the sampler reads the beat late when it was busy)
            st["span_ms"] = st["ms"]
            st["ms"] = max((x for t, x in zip(LAG_T, lag, strict=False) if st["t0"] < t <= st["t1"] + 1e-6),
                           default=st["ms"])
        base, _ = asyncio.run(keys_during_sweep(cfg, args.keys // 2, sweeping=False))
        base_lag, base_gcs = list(LAG), list(GCS)
        print(f"baseline keys     median {statistics.median(base):6.1f} ms  p95 {pct(base, 95):6.1f} ms  "
              "(same app, periodic refresh only)")
        print(f"key-to-render     median {statistics.median(lat):6.1f} ms  p95 {pct(lat, 95):6.1f} ms  "
              f"max {max(lat):6.1f} ms  ({len(lat)} keys, {during} while probes were in flight)")
        print(f"event-loop lag    median {statistics.median(lag):6.1f} ms  p95 {pct(lag, 95):6.1f} ms  "
              f"p99 {pct(lag, 99):6.1f} ms  max {max(lag):6.1f} ms  ({len(lag)} ticks of 10 ms during those keys)")
        print(f"  baseline keys'  median {statistics.median(base_lag):6.1f} ms  p95 {pct(base_lag, 95):6.1f} ms  "
              f"p99 {pct(base_lag, 99):6.1f} ms  max {max(base_lag):6.1f} ms  (periodic sweeps only)")
        for line in HEAP:
            print(line)
        bare = list(BARE)
        if bare:
            bl = [x for _, x in bare]
            print(f"bare app beside   median {statistics.median(bl):6.1f} ms  p95 {pct(bl, 95):6.1f} ms  "
                  f"p99 {pct(bl, 99):6.1f} ms  max {max(bl):6.1f} ms  ({len(bl)} ticks: a bare Textual app in its "
                  "own process, same tick, same time: the machine's share)")
        for what, g in (("gc during keys", gcs), ("  baseline keys'", base_gcs)) if args.diagnose else ():
            g2 = [((b - a) * 1000, cpu * 1000) for a, b, gen, cpu in g if gen == 2]
            print(f"{what:17} {len(g)} collections, longest {max(((b - a) * 1000 for a, b, *_ in g), default=0):.1f} "
                  f"ms; gen 2: {len(g2)}, longest {max(g2, default=(0, 0))[0]:.1f} ms (of it on a CPU: "
                  f"{max(g2, default=(0, 0))[1]:.1f} ms; the rest the thread waited for one)")
        if args.diagnose:
            import collections

            def why(st: dict) -> str:
                gc_ms = sum((min(b, st["t1"]) - max(a, st["t0"])) * 1000 for a, b, *_ in gcs
                            if b > st["t0"] and a < st["t1"])
                return stall_verdict(st, gc_ms).split(" (")[0].split(": held")[0].split(": the UI")[0]

            long = [st for st in stalls if st["ms"] >= 100]
            print(f"stalls >= 100 ms  {len(long)}, waited for: "
                  f"{dict(collections.Counter(why(st) for st in long).most_common()) or '-'}")
        for st in sorted(stalls, key=lambda x: -x["ms"])[:8] if args.diagnose else []:
            print(format_stall(st, gcs, bare))
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

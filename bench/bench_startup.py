"""Time from process start to the first rendered frame of the TUI, beside a bare Textual app painting one
line and a bare `import textual.app`, same run; with --kubeconfig also to the first Stack rows (the
component table's "MLflow" row painted) beside the same bare app (budgets, issue 20: first frame <= 1.5x
the bare app, first Stack rows <= 2x).

Runs each in a pseudo-terminal (100x30) and stops the clock when the marker has been painted. Median of N
runs (default 7). The product's modules are compiled to bytecode first, as an installed wheel's are (see
bench_headless.py: with PYTHONDONTWRITEBYTECODE=1 a source checkout compiles them again in every process).
Usage: .venv/bin/python bench/bench_startup.py [--runs N] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


BARE_APP = """
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("ctx: bare Textual app")


Bare().run()
"""


def first_frame(args: list[str], env: dict[str, str], marker: bytes = b"ctx:", limit: float = 20.0,
                argv: list[str] | None = None) -> float:
    pid, fd = pty.fork()
    if pid == 0:
        if argv is not None:
            os.execve(argv[0], argv, env)
        os.execve(str(BIN / "mlopstui"), ["mlopstui", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    start = time.perf_counter()
    seen = b""
    try:
        while time.perf_counter() - start < limit:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                seen += chunk
                if marker in seen:
                    return time.perf_counter() - start
        raise RuntimeError(f"no first frame within {limit}s; output tail: {seen[-400:]!r}")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def bare_import() -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "python"), "-c", "import textual.app"], check=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--kubeconfig", default=None, help="default: none (header says so)")
    opts = ap.parse_args()
    subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", str(ROOT / "src")], check=True,
                   stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TERM="xterm-256color", XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)
        args = ["--kubeconfig", opts.kubeconfig or os.path.join(tmp, "none")]
        script = os.path.join(tmp, "bare_app.py")
        with open(script, "w") as f:
            f.write(BARE_APP)
        bare_argv = [str(BIN / "python"), script]
        first_frame(args, env)  # warm the OS file cache
        first_frame([], env, argv=bare_argv)
        frames, apps, rows = [], [], []
        for _ in range(opts.runs):  # interleaved: the machine's load falls on both alike
            frames.append(first_frame(args, env))
            apps.append(first_frame([], env, argv=bare_argv))
            if opts.kubeconfig:
                rows.append(first_frame(args, env, marker=b"MLflow", limit=40.0))
        bare = [bare_import() for _ in range(opts.runs)]
    app = statistics.median(apps)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"first frame (median of {opts.runs}): {statistics.median(frames):.3f} s  "
          f"(min {min(frames):.3f}, max {max(frames):.3f}); {statistics.median(frames) / app:.2f}x the bare app "
          "(budget 1.5x)")
    print(f"bare Textual app, first frame (median): {app:.3f} s")
    if rows:
        print(f"first Stack rows (median): {statistics.median(rows):.3f} s; {statistics.median(rows) / app:.2f}x "
              "the bare app (budget 2x)")
    print(f"python -c 'import textual.app' (median): {statistics.median(bare):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

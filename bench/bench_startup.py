"""Time from process start to the first rendered frame of the TUI, beside a bare `import textual.app`.

Runs `mlopstui` in a pseudo-terminal (100x30) and stops the clock when the header ("ctx:") has been
painted. Median of N runs (default 7). Usage: .venv/bin/python bench/bench_startup.py [--runs N]
[--kubeconfig PATH]
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


def first_frame(args: list[str], env: dict[str, str], marker: bytes = b"ctx:", limit: float = 20.0) -> float:
    pid, fd = pty.fork()
    if pid == 0:
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
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TERM="xterm-256color", XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)
        args = ["--kubeconfig", opts.kubeconfig or os.path.join(tmp, "none")]
        first_frame(args, env)  # warm the OS file cache
        frames = [first_frame(args, env) for _ in range(opts.runs)]
        bare = [bare_import() for _ in range(opts.runs)]
    print(f"first frame (median of {opts.runs}): {statistics.median(frames):.3f} s  "
          f"(min {min(frames):.3f}, max {max(frames):.3f})")
    print(f"python -c 'import textual.app' (median): {statistics.median(bare):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

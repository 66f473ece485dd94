"""Child-process plumbing for the sandbox: start a part in its own process group,
record pid/pgid/port in DIR/state.json, poll readiness, stop a whole group.

Nothing here imports a heavy SDK: `mlopstui sandbox status` and `down` must be fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "state.json"
# every process of a sandbox carries this variable (inherited by its children, e.g.
# MLflow's workers and job consumers, the emulator's Jobs): how `down` and the
# tests find anything left behind, even a process that left its process group
OWNER_ENV = "MLOPSTUI_SANDBOX_OWNER"


class SandboxError(RuntimeError):
    """A part of the sandbox could not be started, seeded or stopped."""

    def __init__(self, message: str, part: str | None = None) -> None:
        super().__init__(message)
        self.part = part


# ---------------------------------------------------------------- state file


def read_state(d: Path) -> dict:
    p = d / STATE_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def write_state(d: Path, state: dict) -> None:
    p = d / STATE_FILE
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, p)


# ---------------------------------------------------------------- ports


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", avoid: set[int] | None = None) -> int:
    avoid = avoid or set()
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise SandboxError("no free TCP port on 127.0.0.1")


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- processes


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own dead child not yet reaped) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def proc_starttime(pid: int | None) -> int | None:
    """Kernel start time of ``pid`` (to tell our process from a recycled pid)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def part_alive(info: Mapping) -> bool:
    """The recorded part's leader process is alive and is the one we started."""
    pid = info.get("pid")
    if not pid_alive(pid):
        return False
    st = info.get("starttime")
    return st is None or proc_starttime(pid) == st


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid`` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # rest: state ppid pgrp ...
        if rest[0] != "Z" and int(rest[2]) == pgid:
            out.append(int(entry))
    return out


def stop_group(pgid: int, grace: float = 8.0) -> bool:
    """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL. True if gone."""
    if not group_pids(pgid):
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap()
        if not group_pids(pgid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _reap()
        if not group_pids(pgid):
            return True
        time.sleep(0.05)
    return not group_pids(pgid)


# Popen objects of the parts this process started, so that we reap exactly our own
# children (never waitpid(-1): that would steal other code's children in a test session).
_CHILDREN: dict[int, subprocess.Popen] = {}


def _reap() -> None:
    """Reap the exited parts we started ourselves, so they do not linger as zombies."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)


def owned_pids(d: Path) -> list[int]:
    """Processes (of any group) whose environment marks them as parts of sandbox ``d``."""
    needle = f"{OWNER_ENV}={d}".encode()
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle + b"\0" in env or env.endswith(needle):
            if pid_alive(int(entry)):
                out.append(int(entry))
    return out


def kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)


@dataclass
class PartSpec:
    """How to run one part of the sandbox."""

    name: str
    argv: Sequence[str]
    port: int
    ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    address: str = ""
    timeout: float = 90.0
    # >0 lowers the CPU priority: on 2 cores the MLflow server (two sequential heavy
    # imports) is the critical path of a warm `up`; the model servers can yield to it
    nice: int = 0


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start_part(d: Path, spec: PartSpec) -> dict:
    logs = d / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{spec.name}.log"
    env = dict(os.environ)
    env.update(spec.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[OWNER_ENV] = str(d)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(spec.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(spec.cwd) if spec.cwd else None,
            env=env,
            start_new_session=True,
            close_fds=True,
            preexec_fn=(lambda n=spec.nice: os.nice(n)) if spec.nice else None,
        )
    _CHILDREN[proc.pid] = proc
    return {
        "pid": proc.pid,
        "pgid": proc.pid,
        "starttime": proc_starttime(proc.pid),
        "port": spec.port,
        "address": spec.address,
        "log": str(log_path),
        "started": time.time(),
    }


def log_tail(path: str | Path, lines: int = 25) -> str:
    try:
        data = Path(path).read_bytes()[-16000:]
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def http_ok(url: str, timeout: float = 1.0, accept: Callable[[int], bool] | None = None,
            headers: Mapping[str, str] | None = None) -> bool:
    """True if ``url`` answers with an accepted status (default: 2xx)."""
    accept = accept or (lambda s: 200 <= s < 300)
    req = urllib.request.Request(url, headers=dict(headers or {}))
    ctx = None
    if url.startswith("https://"):
        # readiness only, on loopback, against the emulator's self-signed certificate
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:  # noqa: S310 (loopback only)
            return accept(r.status)
    except urllib.error.HTTPError as e:
        return accept(e.code)
    except (OSError, ValueError):
        return False


def wait_ready(d: Path, specs: Sequence[PartSpec], state: dict, deadline_s: float | None = None) -> None:
    """Poll every part until ready; raise SandboxError naming the first part that failed."""
    pending = {s.name: s for s in specs}
    start = time.monotonic()
    while pending:
        for name, spec in list(pending.items()):
            info = state["parts"].get(name, {})
            if spec.ready():
                pending.pop(name)
                if info.get("started"):
                    info["ready_after_s"] = round(time.time() - info["started"], 2)
                continue
            if not pid_alive(info.get("pid")):
                raise SandboxError(
                    f"sandbox part '{name}' exited before it was ready "
                    f"(log {info.get('log')}):\n{log_tail(info.get('log', ''))}",
                    part=name,
                )
            limit = deadline_s if deadline_s is not None else spec.timeout
            if time.monotonic() - start > limit:
                raise SandboxError(
                    f"sandbox part '{name}' not ready after {limit:.0f}s at {spec.address} "
                    f"(log {info.get('log')}):\n{log_tail(info.get('log', ''))}",
                    part=name,
                )
        if pending:
            time.sleep(0.15)

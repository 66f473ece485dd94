"""The operator's install: the built wheel in a fresh `uv tool` environment, without and with the
`sandbox` extra (README "Install"), both with the README's lean command (--excludes mypy). Versions are
pinned to uv.lock (--constraints) and taken from uv's cache (--offline; online for the index pages only
when the cache lacks them), so the step is reproducible and needs no download.

No bytecode is compiled at install: the extra's cold `sandbox up` runs with bytecode writing on, so the
parts compile only the modules they import, once, into the tool directory. Measured on the 2-core
machine under load: install + cold up took 82 s so, 278 s with --compile-bytecode (210 s of it
compiling 237 packages) and 178 s with neither (every part compiling MLflow's server, KServe and moto
in memory). The README's measured command keeps --compile-bytecode: an operator's first run is what it
saves.

Without the extra: --help, version, status against a cluster that does not answer (exit 3, a message),
completion bash, and `sandbox up` saying how to install the extra (exit 2, nothing started).
With it: a cold `sandbox up` into a fresh directory, run by the tool's own program (every part is a
process of the tool's Python, not the development venv's), `sandbox status` (every part ready),
`features` (Feast without mypy), `sandbox down`, and no process left that carries the sandbox's marker
(procs.OWNER_ENV). Its Feast online store is SQLite (MLOPSTUI_SANDBOX_REDIS=none): the session
sandbox's Redis db stays untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "uv" / "bin" / "uv"

pytestmark = pytest.mark.skipif(not UV.exists(), reason="scripts/setup.sh installs uv into .tools/uv")
CACHE = ""
# the README's lean command: Feast's SQLAlchemy[mypy] brings a type checker that nothing imports at run time
EXCLUDES = "mypy\n"


def _cache_dir() -> str:
    """uv's cache of the development install (HOME changes below: keep the real one)."""
    r = subprocess.run([str(UV), "cache", "dir"], capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.strip()


def _env(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("MLOPSTUI_", "MLFLOW_", "AWS_", "KUBECONFIG", "FEAST_", "VIRTUAL_ENV", "PYTHON"))}
    keep.update({"HOME": str(tmp / "home"), "XDG_STATE_HOME": str(tmp / "state"),
                 "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"),
                 "UV_TOOL_DIR": str(tmp / "tools"), "UV_TOOL_BIN_DIR": str(tmp / "bin"),
                 "PYTHONDONTWRITEBYTECODE": "1", "UV_CACHE_DIR": CACHE})
    (tmp / "home").mkdir(exist_ok=True)
    return keep


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, Path]:
    global CACHE
    CACHE = _cache_dir()
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(UV), "build", "-q", "--wheel", "-o", str(out), str(ROOT)], check=True, timeout=120,
                   capture_output=True)
    cons = out / "constraints.txt"
    subprocess.run([str(UV), "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "--no-dev",
                    "-q", "-o", str(cons)], check=True, timeout=60, cwd=ROOT, capture_output=True)
    (whl,) = out.glob("mlopstui-*.whl")
    (out / "excludes.txt").write_text(EXCLUDES)
    return whl, cons


def install(wheel: tuple[Path, Path], tmp: Path, extra: str = "") -> Path:
    whl, cons = wheel
    spec = f"mlopstui[{extra}] @ {whl.as_uri()}" if extra else str(whl)
    argv = [str(UV), "tool", "install", "-q", "--python", "3.11", "--constraints", str(cons),
            "--excludes", str(cons.parent / "excludes.txt"), spec]
    r = subprocess.run([*argv, "--offline"], capture_output=True, text=True, timeout=300, env=_env(tmp))
    if r.returncode != 0 and "not found in the cache" in r.stderr:
        # the wheels are cached but not the index pages uv resolves with (a cache restored without
        # them): resolve online once (the pins are the lock's; the wheels still come from the cache)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_env(tmp))
    assert r.returncode == 0, r.stderr
    return tmp / "bin" / "mlopstui"


def run(exe: Path, tmp: Path, *argv: str, env: dict[str, str | None] | None = None, timeout: float = 120):
    """The installed program; env values of None remove the variable."""
    full = {**_env(tmp), **(env or {})}
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=timeout,
                          env={k: v for k, v in full.items() if v is not None}, cwd=tmp)


def test_core_install_without_the_extra(wheel, tmp_path):
    exe = install(wheel, tmp_path)
    site = next((tmp_path / "tools" / "mlopstui" / "lib").glob("python3*/site-packages"))
    assert not (site / "moto").exists() and not (site / "sklearn").exists() and not (site / "flask").exists()
    assert (site / "mlflow").exists() and (site / "feast").exists() and (site / "kserve").exists()
    assert not (site / "mypy").exists()  # --excludes

    r = run(exe, tmp_path, "--help")
    assert r.returncode == 0 and "completion" in r.stdout
    r = run(exe, tmp_path, "version")
    assert r.returncode == 0 and r.stdout.startswith("mlopstui ")
    kc = tmp_path / "kubeconfig"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
                  "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "current-context: x\n")
    r = run(exe, tmp_path, "status", env={"KUBECONFIG": str(kc)})
    assert r.returncode == 3 and "unreachable" in r.stdout + r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run(exe, tmp_path, "completion", "bash")
    assert r.returncode == 0 and "_python_argcomplete" in r.stdout
    if shutil.which("bash"):  # the generated code completes verbs with the installed program
        line = "mlopstui ver"
        script = (f'source <("{exe}" completion bash); PATH="{exe.parent}:$PATH"; COMP_WORDS=(mlopstui ver); '
                  f'COMP_CWORD=1; COMP_LINE="{line}"; COMP_POINT={len(line)}; _python_argcomplete mlopstui; '
                  'echo "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=_env(tmp_path))
        assert r.stdout.split() == ["version"], r.stderr
    r = run(exe, tmp_path, "sandbox", "up", "--dir", str(tmp_path / "sbx"))
    assert r.returncode == 2 and "uv tool install 'mlopstui[sandbox]'" in r.stderr, r.stderr
    assert not (tmp_path / "sbx" / "state.json").exists()  # nothing was started


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_with_the_sandbox_extra_cold_up_and_down(wheel, tmp_path):
    from mlopstui.sandbox import manager, procs

    exe = install(wheel, tmp_path, "sandbox")
    tool_python = tmp_path / "tools" / "mlopstui"
    sbx = tmp_path / "sbx"
    env = {"MLOPSTUI_SANDBOX_REDIS": "none", "PYTHONDONTWRITEBYTECODE": None}
    try:
        r = run(exe, tmp_path, "sandbox", "up", "--dir", str(sbx), "--timeout", "300", "-o", "json", env=env,
                timeout=420)
        assert r.returncode == 0, r.stderr[-3000:]
        doc = json.loads(r.stdout)
        assert doc["started"] and set(doc["started"]) == set(doc["parts"]), doc  # cold: every part started here
        state = procs.read_state(sbx)
        for name, info in state["parts"].items():  # each Python part runs the tool's Python, not .venv's
            argv0 = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")[0].decode()
            if name == "prometheus":  # Debian's binary, where it is installed (manager.prometheus_binary)
                assert argv0 == manager.prometheus_binary(), (name, argv0)
                continue
            assert argv0.startswith(str(tool_python)), (name, argv0)
        r = run(exe, tmp_path, "sandbox", "status", "--dir", str(sbx), "-o", "json")
        parts = json.loads(r.stdout)["parts"]
        assert r.returncode == 0 and parts and all(p["ready"] for p in parts.values()), parts
        assert set(parts) == set(doc["parts"])
        # the Features area from the tool install, without mypy: Feast's registry and online store (the
        # up above already ran `feast apply` and a materialization in the tool's Python)
        r = run(exe, tmp_path, "features", "--config", doc["config"], "-o", "json", timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
        feats = json.loads(r.stdout)
        assert feats["project"] == "on_prem_mlops" and feats["views"], feats
        assert not list((tool_python / "lib").glob("python3*/site-packages/mypy"))
        r = run(exe, tmp_path, "sandbox", "down", "--dir", str(sbx), "-o", "json", timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        stopped = json.loads(r.stdout)["parts"]
        assert all(stopped[p] == "stopped" for p in parts), stopped
        assert procs.owned_pids(sbx) == []  # nothing carries the sandbox's marker any more
    finally:  # a failed step leaves nothing running either
        if procs.owned_pids(sbx):
            run(exe, tmp_path, "sandbox", "down", "--dir", str(sbx), timeout=120)
            procs.kill_pids(procs.owned_pids(sbx))

"""The operator's install: the built wheel in a fresh `uv tool` environment, without and with the
`sandbox` extra (README "Install"). Versions are pinned to uv.lock (--constraints) and taken from uv's
cache (--offline), so the step is reproducible and needs no index; bytecode is not compiled here (the
README's measured command does it).

Without the extra: --help, version, status against a cluster that does not answer (exit 3, a message),
completion bash, and `sandbox up` saying how to install the extra (exit 2, nothing started).
With it: `sandbox up` on the session sandbox (idempotent: every part checked ready, none started) and
`sandbox status`; the session fixture's own up/down runs the same code from the development venv.
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
    return whl, cons


def install(wheel: tuple[Path, Path], tmp: Path, extra: str = "") -> Path:
    whl, cons = wheel
    spec = f"mlopstui[{extra}] @ {whl.as_uri()}" if extra else str(whl)
    r = subprocess.run([str(UV), "tool", "install", "-q", "--offline", "--python", "3.11", "--constraints", str(cons),
                        spec], capture_output=True, text=True, timeout=300, env=_env(tmp))
    assert r.returncode == 0, r.stderr
    return tmp / "bin" / "mlopstui"


def run(exe: Path, tmp: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=timeout,
                          env={**_env(tmp), **(env or {})}, cwd=tmp)


def test_core_install_without_the_extra(wheel, tmp_path):
    exe = install(wheel, tmp_path)
    site = next((tmp_path / "tools" / "mlopstui" / "lib").glob("python3*/site-packages"))
    assert not (site / "moto").exists() and not (site / "sklearn").exists() and not (site / "flask").exists()
    assert (site / "mlflow").exists() and (site / "feast").exists() and (site / "kserve").exists()

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
def test_with_the_sandbox_extra(wheel, tmp_path, sandbox):
    exe = install(wheel, tmp_path, "sandbox")
    # `up` on the running session sandbox: the extra's check passes (every module of the extra is
    # found in the tool's environment), every part is found ready
    r = run(exe, tmp_path, "sandbox", "up", "--dir", str(sandbox.dir), "-o", "json", timeout=240)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["started"] == [] and set(doc["parts"]) == set(sandbox.parts)
    r = run(exe, tmp_path, "sandbox", "status", "--dir", str(sandbox.dir), "-o", "json")
    assert r.returncode == 0 and all(p["ready"] for p in json.loads(r.stdout)["parts"].values())

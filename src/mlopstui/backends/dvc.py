"""A DVC project in a Git checkout: tracked outputs, remotes, `dvc status -c`, push/pull of one target.

DVC's own Python API (``dvc.repo.Repo``: ``index.stages``, ``status(cloud=True)``, ``push``, ``pull``)
does the work, never a re-implementation. It runs in a child process
(``python -m mlopstui.backends.dvc ...``): DVC takes seconds to import, a remote without an
``endpointurl`` can hang on public AWS, and a child can be killed at its deadline where a thread
cannot. The child prints one JSON document; secrets never leave it (remote options are reported
as present or not). Progress of push/pull is DVC's own progress bar (``DVC_IGNORE_ISATTY``), read
line by line from the child's stderr.

DVC is the optional ``data`` extra: without it every call says how to install it.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import data as m

if TYPE_CHECKING:
    from mlopstui.context import AppContext

INSTALL_HINT = "install the data extra: pip install 'mlopstui[data]' (dvc and dvc-s3)"


def available() -> bool:
    return importlib.util.find_spec("dvc") is not None


def repo_path(ctx: AppContext) -> tuple[Path, str]:
    if ctx.settings.endpoints.dvc_repo:
        return Path(ctx.settings.endpoints.dvc_repo).expanduser(), "config"
    raise MlopsError(Kind.CONFIG, "no DVC project configured",
                     hint="set endpoints.dvc_repo to a Git checkout with a .dvc directory "
                          "(or MLOPSTUI_ENDPOINTS__DVC_REPO)")


def _check_root(root: Path) -> Path:
    root = root.resolve()
    if not (root / ".dvc").is_dir():
        raise MlopsError(Kind.NOT_FOUND, f"{root} is not a DVC project (no .dvc directory)",
                         hint="point endpoints.dvc_repo at the repository root (where `dvc init` ran)")
    return root


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DVC_NO_ANALYTICS"] = "1"  # no telemetry from a bastion
    env["DVC_IGNORE_ISATTY"] = "1"  # progress bars on a pipe
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    return env


def _run_child(args: list[str], timeout: float, on_line: Callable[[str], None] | None = None,
               cwd: Path | None = None) -> dict:
    if not available():
        raise MlopsError(Kind.UNSUPPORTED, "DVC is not installed here", hint=INSTALL_HINT, source="dvc")
    argv = [sys.executable, "-m", "mlopstui.backends.dvc", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=_child_env(), start_new_session=True, cwd=cwd)
    err_lines: list[str] = []

    def read_err() -> None:
        buf = b""
        assert proc.stderr is not None
        while True:
            chunk = proc.stderr.read1(4096) if hasattr(proc.stderr, "read1") else proc.stderr.read(4096)
            if not chunk:
                break
            buf += chunk
            while True:
                cut = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=-1)
                if cut < 0:
                    break
                line = m.clean(buf[:cut].decode("utf-8", "replace")).strip()
                buf = buf[cut + 1:]
                if len(line) > 2:  # not the bar's one-character redraws
                    err_lines.append(line)
                    del err_lines[:-200]
                    if on_line:
                        on_line(line)

    out_chunks: list[bytes] = []

    def read_out() -> None:  # not communicate(): it would read stderr too, racing read_err for the progress
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    t = threading.Thread(target=read_err, daemon=True)
    t_out = threading.Thread(target=read_out, daemon=True)
    t.start()
    t_out.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
        raise MlopsError(Kind.TIMEOUT, f"DVC did not answer within {timeout:.0f}s",
                         hint="a remote without endpointurl goes to public AWS; check the remote's URL and "
                              "endpointurl", source="dvc") from None
    t.join(timeout=5)
    t_out.join(timeout=5)
    out = b"".join(out_chunks)
    try:
        doc = json.loads(out.decode() or "{}")
    except ValueError:
        doc = {}
    if "error" in doc:
        e = doc["error"]
        raise MlopsError(Kind(e.get("kind", "error")), m.clean(e.get("message")), hint=e.get("hint"), source="dvc")
    if proc.returncode != 0:
        tail = " | ".join(err_lines[-3:]) or f"exit {proc.returncode}"
        raise MlopsError(Kind.ERROR, f"DVC failed: {tail}", source="dvc")
    return doc


def status(root: Path, *, remote: str | None = None, timeout: float = 120.0) -> m.DvcProject:
    """The project's outputs with `dvc status -c` per output, its remotes, and each source's last commit."""
    root = _check_root(root)
    doc = _run_child(["status", str(root), *(["--remote", remote] if remote else [])], timeout, cwd=root)
    return project_from_doc(doc)


def project_from_doc(doc: dict) -> m.DvcProject:
    remotes = [m.DvcRemote(**r) for r in doc.get("remotes") or []]
    outs = [m.DvcOut(**o) for o in doc.get("outs") or []]
    return m.DvcProject(root=doc.get("root", ""), git_commit=doc.get("git_commit"), remotes=remotes, outs=outs,
                        default_remote=doc.get("default_remote"), remote_error=doc.get("remote_error"),
                        env_credentials=bool(doc.get("env_credentials")))


def transfer(root: Path, verb: str, target: str, *, remote: str | None = None, timeout: float = 900.0,
             on_progress: Callable[[str], None] | None = None) -> dict:
    """`dvc push|pull TARGET` through DVC's API; DVC's progress lines go to on_progress."""
    if verb not in ("push", "pull"):
        raise MlopsError(Kind.INVALID, f"unknown DVC transfer {verb!r}")
    root = _check_root(root)
    return _run_child([verb, str(root), target, *(["--remote", remote] if remote else [])], timeout,
                      on_line=on_progress, cwd=root)


# ====================================================================== facts for the doctor

_SECTION = re.compile(r"""^\s*\[\s*'?\s*remote\s+"([^"]+)"\s*'?\s*\]\s*$""")


def _read_dvc_config(path: Path) -> tuple[dict[str, dict[str, str]], str | None]:
    """DVC's config file (configobj INI): remote sections and core.remote. Cheap: no DVC import."""
    remotes: dict[str, dict[str, str]] = {}
    default = None
    try:
        lines = path.read_text().splitlines()[:5000]
    except OSError:
        return remotes, default
    section: str | None = None
    for line in lines:
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        mr = _SECTION.match(s)
        if mr:
            section = "remote:" + mr.group(1)
            remotes.setdefault(mr.group(1), {})
            continue
        if s.startswith("["):
            section = s.strip("[]' ").lower()
            continue
        k, sep, v = s.partition("=")
        if not sep:
            continue
        k, v = k.strip(), v.strip().strip("'\"")
        if section and section.startswith("remote:"):
            remotes[section[7:]][k] = v
        elif section == "core" and k == "remote":
            default = v
    return remotes, default


def remote_objects(root: Path) -> list[dict[str, Any]]:
    """The project's S3 remotes as snapshot objects (kind DVCRemote) for the doctor; no secret values."""
    root = Path(root)
    if not (root / ".dvc").is_dir():
        return []
    merged: dict[str, dict[str, str]] = {}
    default = None
    for name in ("config", "config.local"):
        remotes, dflt = _read_dvc_config(root / ".dvc" / name)
        default = dflt or default
        for r, opts in remotes.items():
            merged.setdefault(r, {}).update(opts)
    env_creds = bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))
    known = next((o["endpointurl"] for o in merged.values() if o.get("endpointurl")), None)
    out = []
    for name, opts in sorted(merged.items()):
        aws = _aws_s3_settings(str(root), opts) if opts.get("url", "").startswith("s3://") else {}
        r = m.remote_from_config(name, opts, default, aws)
        out.append({"kind": "DVCRemote", "metadata": {"name": name},
                    "spec": {"project": str(root), "configFile": str(root / ".dvc" / "config"), "url": r.url,
                             "endpointurl": r.endpointurl, "default": r.is_default,
                             "hasCredentials": r.has_credentials, "envCredentials": env_creds,
                             "signatureV2": r.signature_v2, "signatureVersion": aws.get("signature_version"),
                             "awsConfig": opts.get("configpath"), "hint": known}})
    return out


# ====================================================================== the child process


def _git(root: str, *args: str) -> str | None:
    try:
        p = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def _aws_s3_settings(root: str, section: dict) -> dict[str, str]:
    """The ``s3`` settings of the AWS config profile a remote uses (``configpath`` or AWS_CONFIG_FILE)."""
    path = section.get("configpath") or os.environ.get("AWS_CONFIG_FILE") or os.path.expanduser("~/.aws/config")
    if not os.path.isabs(path):
        path = os.path.join(root, ".dvc", path)
    profile = section.get("profile") or "default"
    cp = configparser.RawConfigParser()
    try:
        cp.read(path)
    except configparser.Error:
        return {}
    name = profile if profile == "default" else f"profile {profile}"
    if not cp.has_section(name):
        return {}
    out = {}
    raw = cp.get(name, "s3", fallback="")
    for line in raw.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    if cp.has_option(name, "signature_version"):
        out.setdefault("signature_version", cp.get(name, "signature_version"))
    return out


def _child_status(root: str, remote: str | None) -> dict:
    from dvc.repo import Repo

    doc: dict[str, Any] = {"root": root, "git_commit": _git(root, "rev-parse", "--short", "HEAD"),
                           "env_credentials": bool(os.environ.get("AWS_ACCESS_KEY_ID")
                                                   or os.environ.get("AWS_PROFILE"))}
    with Repo(root) as repo:
        conf = repo.config
        default = conf["core"].get("remote")
        doc["default_remote"] = default
        remotes = []
        for name, sec in (conf.get("remote") or {}).items():
            sec = {k: str(v) for k, v in dict(sec).items()}
            aws = _aws_s3_settings(root, sec) if sec.get("url", "").startswith("s3://") else {}
            r = m.remote_from_config(name, sec, default, aws)
            remotes.append(r.to_dict())
        doc["remotes"] = remotes
        outs = []
        for stage in repo.index.stages:
            rel_stage = os.path.relpath(stage.path, repo.root_dir)
            if stage.is_data_source:
                source, git_file = rel_stage, rel_stage
            else:
                lock = os.path.join(os.path.dirname(rel_stage), "dvc.lock")
                source, git_file = f"{lock}:{stage.name}", lock
            for out in stage.outs:
                if not out.use_cache:
                    continue
                meta = out.meta
                rel = os.path.relpath(out.fs_path, repo.root_dir)
                last = _git(root, "log", "-1", "--format=%h%x1f%cI%x1f%s", "--", git_file) or ""
                parts = last.split("\x1f") if last else []
                outs.append({"path": rel, "source": source, "md5": out.hash_info.value if out.hash_info else None,
                             "size": getattr(meta, "size", None), "nfiles": getattr(meta, "nfiles", None),
                             "is_dir": bool(getattr(meta, "isdir", False)), "remote": out.remote,
                             "last_commit": parts[0] if parts else None,
                             "last_commit_date": parts[1] if len(parts) > 1 else None,
                             "last_commit_subject": m.clean(parts[2]) if len(parts) > 2 else None})
        try:
            cloud = repo.status(cloud=True, remote=remote)
        except Exception as exc:  # unreachable remote, no credentials: the status stays unknown, with why
            doc["remote_error"] = m.clean(f"{type(exc).__name__}: {exc}")[:500]
            cloud = None
        doc["cloud_status"] = cloud
        for o in outs:
            if cloud is None:
                o["status"] = "unknown"
                continue
            state = cloud.get(o["path"])
            if state is None:
                inner = [v for k, v in cloud.items() if k.startswith(o["path"].rstrip("/") + "/")]
                state = inner[0] if inner else None
            o["status"] = m.cloud_status_word(state)
        doc["outs"] = outs
    return doc


def _child_transfer(verb: str, root: str, target: str, remote: str | None) -> dict:
    from dvc.repo import Repo

    with Repo(root) as repo:
        if verb == "push":
            n = repo.push(targets=[target], remote=remote)
            return {"verb": verb, "target": target, "transferred": int(n or 0)}
        out = repo.pull(targets=[target], remote=remote)
        stats = out if isinstance(out, dict) else {}
        return {"verb": verb, "target": target, "transferred": int(stats.get("fetched", 0) or 0),
                "added": [m.clean(x) for x in stats.get("added", [])][:100]}


def _main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mlopstui.backends.dvc")
    ap.add_argument("verb", choices=("status", "push", "pull"))
    ap.add_argument("root")
    ap.add_argument("target", nargs="?")
    ap.add_argument("--remote")
    a = ap.parse_args(argv)
    try:
        if a.verb == "status":
            doc = _child_status(a.root, a.remote)
        else:
            if not a.target:
                raise MlopsError(Kind.INVALID, f"dvc {a.verb} needs a target")
            doc = _child_transfer(a.verb, a.root, a.target, a.remote)
    except MlopsError as exc:
        doc = {"error": exc.to_dict()}
    except Exception as exc:  # DVC's own errors (no remote, not tracked...): a message, not a traceback
        from mlopstui.secrets import mask_text

        doc = {"error": {"kind": "error", "message": mask_text(f"{type(exc).__name__}: {exc}")[:1000],
                         "hint": None}}
    sys.stdout.write(json.dumps(doc, default=str))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    sys.exit(_main(sys.argv[1:]))

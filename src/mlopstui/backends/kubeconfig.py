"""Reading kubeconfigs as kubectl reads them, in one place for the header, `:ctx` completion and the client.

`load_target()` parses YAML only (no kubernetes package: the first frame never waits on it) and keeps the
merged document in `KubeTarget.config`; `backends.kube.KubeClient` hands that same document to the
kubernetes client's own `KubeConfigLoader` (TLS, tokens, oidc, proxy-url, tls-server-name), so there is
exactly one reading of the files.

Written here by hand, because the kubernetes client (37.x) does it differently from kubectl:
- merging `KUBECONFIG=a:b` (client-go `clientcmd` loading rules): the first file to set a cluster, user or
  context name wins, and `current-context` comes from the first file that sets it. The client's
  `KubeConfigMerger` takes `current-context` from the *last* file that sets it;
- relative paths (certificate-authority, client-certificate, client-key, tokenFile, an exec command with a
  slash) are resolved against the directory of the file that defined them, as kubectl does; the client
  resolves them against one base path;
- `exec` plugins: see `run_exec_plugin` (the client logs a plugin failure and sends no credentials);
- impersonation (`as`, `as-groups`, `as-uid`, `as-user-extra`): the client ignores these fields.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlopstui.errors import Kind, MlopsError

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
EXEC_TIMEOUT = 30.0  # an exec plugin that hangs (waiting for a browser login) must not hang us
_PATH_KEYS = {"clusters": ("cluster", ("certificate-authority",)),
              "users": ("user", ("client-certificate", "client-key", "tokenFile"))}


@dataclass(frozen=True)
class Impersonation:
    """Who to act as (Impersonate-User / -Group / -Uid / -Extra-* headers)."""

    user: str | None = None
    groups: tuple[str, ...] = ()
    uid: str | None = None
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.user or self.groups or self.uid or self.extra)

    def headers(self) -> list[tuple[str, str]]:
        """(name, value) pairs; a header repeats once per group, as client-go sends them."""
        out: list[tuple[str, str]] = []
        if self.user:
            out.append(("Impersonate-User", self.user))
        out.extend(("Impersonate-Group", g) for g in self.groups)
        if self.uid:
            out.append(("Impersonate-Uid", self.uid))
        for key, values in self.extra:
            out.extend((f"Impersonate-Extra-{key}", v) for v in values)
        return out


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster we talk to, as far as the kubeconfig tells."""

    source: str  # path(s) of the kubeconfig, or "in-cluster"
    contexts: tuple[str, ...] = ()
    context: str | None = None
    cluster: str | None = None
    server: str | None = None
    user: str | None = None
    namespace: str = "default"
    context_namespaces: dict[str, str] = field(default_factory=dict, compare=False)
    # the merged kubeconfig document (kubectl's rules, paths made absolute); the client is built from it
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    impersonate: Impersonation = field(default_factory=Impersonation, compare=False)

    def user_entry(self) -> dict[str, Any]:
        return copy.deepcopy(_named(self.config.get("users"), self.user, "user"))

    def cluster_entry(self) -> dict[str, Any]:
        return copy.deepcopy(_named(self.config.get("clusters"), self.cluster, "cluster"))


def _named(items: Any, name: str | None, key: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(key) or {})
    return {}


def default_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.exists()


# libyaml's parser when PyYAML has it (the wheels do): a kubeconfig with inline certificates is mostly long
# base64 strings, which the pure-Python scanner reads a character at a time (~4 ms of every verb's start)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(p: Path) -> dict[str, Any] | None:
    try:
        doc = yaml.load(p.read_text(), Loader=_LOADER)  # a safe loader, libyaml's or PyYAML's
    except (OSError, yaml.YAMLError) as exc:
        raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: {str(exc).splitlines()[0]}",
                         hint="fix the file or point --kubeconfig at a valid one") from exc
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: expected a mapping at the top level",
                         hint="fix the file or point --kubeconfig at a valid one")
    return doc


def _absolute(entry: dict[str, Any], keys: Sequence[str], base: Path) -> dict[str, Any]:
    entry = dict(entry)
    for k in keys:
        v = entry.get(k)
        if isinstance(v, str) and v and not os.path.isabs(os.path.expanduser(v)):
            entry[k] = str(base / v)
        elif isinstance(v, str) and v:
            entry[k] = os.path.expanduser(v)
    ex = entry.get("exec")
    if isinstance(ex, dict):
        cmd = ex.get("command")
        if isinstance(cmd, str) and os.sep in cmd and not os.path.isabs(cmd):
            entry["exec"] = {**ex, "command": str(base / cmd)}
    return entry


def merge_files(paths: Sequence[Path]) -> dict[str, Any]:
    """Merge kubeconfig files by kubectl's rules (first to set a name or a value wins)."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    for p in paths:
        doc = _read(p)
        if doc is None:
            continue
        base = p.resolve().parent
        for key in seen:
            items = doc.get(key) or []
            if not isinstance(items, list):
                raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: '{key}' must be a list")
            for item in items:
                if not isinstance(item, dict) or not item.get("name") or item["name"] in seen[key]:
                    continue
                seen[key].add(item["name"])
                item = dict(item)
                if key in _PATH_KEYS:
                    sub, keys = _PATH_KEYS[key]
                    if isinstance(item.get(sub), dict):
                        item[sub] = _absolute(item[sub], keys, base)
                merged[key].append(item)
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
    return merged


def impersonation_of(user: Mapping[str, Any], as_user: str | None = None,
                     as_groups: Sequence[str] = ()) -> Impersonation:
    """The kubeconfig user's `as`/`as-groups`/`as-uid`/`as-user-extra`, with --as/--as-group on top (as
    kubectl: a flag replaces the kubeconfig's value)."""
    extra = user.get("as-user-extra") or {}
    return Impersonation(
        user=as_user or user.get("as") or None,
        groups=tuple(as_groups) or tuple(str(g) for g in user.get("as-groups") or ()),
        uid=user.get("as-uid") or None,
        extra=tuple(sorted((str(k), tuple(str(x) for x in (v if isinstance(v, list) else [v])))
                           for k, v in extra.items())) if isinstance(extra, dict) else (),
    )


def load_target(path: str | None = None, context: str | None = None, namespace: str | None = None, *,
                as_user: str | None = None, as_groups: Sequence[str] = ()) -> KubeTarget:
    """Parse the kubeconfig (--kubeconfig, else every file of KUBECONFIG merged, else ~/.kube/config) and
    pick the context.

    Raises MlopsError(CONFIG) with a message a person can act on when it is missing or malformed.
    """
    paths = [Path(p).expanduser() for p in path.split(os.pathsep) if p] if path else default_paths()
    existing = [p for p in paths if p.exists()]
    if not existing:
        if in_cluster_available():
            ns_file = IN_CLUSTER_TOKEN.parent / "namespace"
            ns = namespace or (ns_file.read_text().strip() if ns_file.exists() else "default")
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            return KubeTarget(source="in-cluster", contexts=("in-cluster",), context="in-cluster",
                              server=f"https://{host}:{port}", namespace=ns,
                              impersonate=impersonation_of({}, as_user, as_groups))
        where = ", ".join(str(p) for p in paths)
        raise MlopsError(Kind.CONFIG, f"no kubeconfig found at {where}",
                         hint="set KUBECONFIG, pass --kubeconfig, or run `mlopstui --sandbox`")
    merged = merge_files(existing)
    contexts = {c["name"]: (c.get("context") or {}) for c in merged["contexts"]}
    source = os.pathsep.join(str(p) for p in existing)
    if not contexts:
        raise MlopsError(Kind.CONFIG, f"kubeconfig {source} defines no contexts",
                         hint="add a context or run `mlopstui --sandbox`")
    current = merged.get("current-context")
    chosen = context or current
    if chosen not in contexts:
        # as kubectl does: never fall back to some other context (a write would land on the wrong cluster)
        known = "known contexts: " + ", ".join(sorted(contexts))
        if context:
            raise MlopsError(Kind.CONFIG, f"context '{context}' is not in {source}", hint=known)
        if current:
            raise MlopsError(Kind.CONFIG, f"the current-context '{current}' of {source} names no context "
                             "in it", hint=f"pass --context NAME or fix current-context; {known}")
        raise MlopsError(Kind.CONFIG, f"{source} sets no current-context and no --context was given",
                         hint=f"pass --context NAME or run `kubectl config use-context NAME`; {known}")
    ctx = contexts[chosen]
    cluster = _named(merged["clusters"], ctx.get("cluster"), "cluster")
    user = _named(merged["users"], ctx.get("user"), "user")
    return KubeTarget(
        source=source,
        contexts=tuple(sorted(contexts)),
        context=chosen,
        cluster=ctx.get("cluster"),
        server=cluster.get("server"),
        user=ctx.get("user"),
        namespace=namespace or ctx.get("namespace") or "default",
        context_namespaces={n: (c.get("namespace") or "default") for n, c in contexts.items()},
        config=merged,
        impersonate=impersonation_of(user, as_user, as_groups),
    )


# -- exec credential plugins ---------------------------------------------------------------------------
def run_exec_plugin(spec: Mapping[str, Any], cluster: Mapping[str, Any] | None = None, *,
                    timeout: float = EXEC_TIMEOUT) -> dict[str, Any]:
    """Run a `client.authentication.k8s.io` exec plugin and return its ExecCredential status.

    By hand because the kubernetes client's ExecProvider has no timeout and its loader only logs a
    failure (then no credentials are sent and the first request fails as anonymous). Here a missing
    binary is a CONFIG error, a failing plugin, a bad answer or an apiVersion mismatch an UNAUTHORIZED
    one, each naming the plugin and what it said.
    """
    cmd, api_version = spec.get("command"), spec.get("apiVersion")
    name = os.path.basename(str(cmd or "?"))
    if not cmd or not api_version:
        raise MlopsError(Kind.CONFIG, f"exec plugin {name}: the kubeconfig must set "
                         f"{'command' if not cmd else 'apiVersion'}", source="kubeconfig")
    import shutil  # here: a verb without an exec plugin does not pay for shutil and subprocess
    import subprocess

    exe = cmd if os.sep in cmd else shutil.which(cmd)
    if not exe or not os.path.exists(exe):
        hint = spec.get("installHint") or f"install {name} or fix the exec command of this kubeconfig user"
        raise MlopsError(Kind.CONFIG, f"exec plugin {cmd} not found", hint=str(hint).strip(),
                         source="kubeconfig")
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            env[str(item["name"])] = str(item.get("value", ""))
    info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo") and cluster:
        info["spec"]["cluster"] = {k: v for k, v in cluster.items() if k != "extensions"}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    try:
        proc = subprocess.run([exe, *[str(a) for a in spec.get("args") or []]], env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise MlopsError(Kind.UNAUTHORIZED, f"exec plugin {name} gave no credentials within {timeout:g}s",
                         source="kubeconfig") from exc
    except OSError as exc:
        raise MlopsError(Kind.CONFIG, f"exec plugin {cmd} cannot run: {exc.strerror or exc}",
                         source="kubeconfig") from exc
    said = _last_lines(proc.stderr)
    if proc.returncode != 0:
        raise MlopsError(Kind.UNAUTHORIZED, f"exec plugin {name} failed (exit {proc.returncode})"
                         + (f": {said}" if said else ""),
                         hint="log in again with the tool that provides this plugin", source="kubeconfig")
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), dict):
        raise MlopsError(Kind.UNAUTHORIZED, f"exec plugin {name} did not print an ExecCredential"
                         + (f": {said}" if said else ""), source="kubeconfig")
    if doc.get("apiVersion") != api_version:
        raise MlopsError(Kind.UNAUTHORIZED, f"exec plugin {name} answered apiVersion {doc.get('apiVersion')!r}, "
                         f"the kubeconfig asks for {api_version!r}",
                         hint="set the kubeconfig's exec apiVersion to what the plugin speaks",
                         source="kubeconfig")
    status = doc["status"]
    if not status.get("token") and not (status.get("clientCertificateData") and status.get("clientKeyData")):
        raise MlopsError(Kind.UNAUTHORIZED, f"exec plugin {name} returned neither a token nor a client "
                         "certificate and key", source="kubeconfig")
    return status


def _last_lines(text: str | None, limit: int = 300) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return " ".join(lines[-3:])[:limit]


def exec_user(user: dict[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    """The kubeconfig user with the exec plugin replaced by what it returned (token or certificate)."""
    out = {k: v for k, v in user.items() if k != "exec"}
    if status.get("token"):
        out["token"] = status["token"]
    else:
        out["client-certificate-data"] = base64.b64encode(str(status["clientCertificateData"]).encode()).decode()
        out["client-key-data"] = base64.b64encode(str(status["clientKeyData"]).encode()).decode()
    return out

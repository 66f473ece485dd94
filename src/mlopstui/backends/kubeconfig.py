"""Reading a kubeconfig without the kubernetes SDK: contexts for the header and `:ctx` completion.

Light on purpose (YAML only) so the first frame never waits on the kubernetes package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlopstui.errors import Kind, MlopsError

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster we talk to, as far as the kubeconfig tells."""

    source: str  # path of the kubeconfig, or "in-cluster"
    contexts: tuple[str, ...] = ()
    context: str | None = None
    cluster: str | None = None
    server: str | None = None
    user: str | None = None
    namespace: str = "default"
    context_namespaces: dict[str, str] = field(default_factory=dict)


def default_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.exists()


def load_target(path: str | None = None, context: str | None = None, namespace: str | None = None) -> KubeTarget:
    """Parse the kubeconfig (first file of KUBECONFIG, or ~/.kube/config) and pick the context.

    Raises MlopsError(CONFIG) with a message a person can act on when it is missing or malformed.
    """
    paths = [Path(path)] if path else default_paths()
    existing = [p for p in paths if p.exists()]
    if not existing:
        if in_cluster_available():
            ns_file = IN_CLUSTER_TOKEN.parent / "namespace"
            ns = namespace or (ns_file.read_text().strip() if ns_file.exists() else "default")
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            return KubeTarget(source="in-cluster", contexts=("in-cluster",), context="in-cluster",
                              server=f"https://{host}:{port}", namespace=ns)
        where = ", ".join(str(p) for p in paths)
        raise MlopsError(Kind.CONFIG, f"no kubeconfig found at {where}",
                         hint="set KUBECONFIG, pass --kubeconfig, or run `mlopstui --sandbox`")
    merged: dict[str, list] = {"contexts": [], "clusters": [], "users": []}
    current = None
    for p in existing:
        try:
            doc = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: {str(exc).splitlines()[0]}",
                             hint="fix the file or point --kubeconfig at a valid one") from exc
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: expected a mapping at the top level",
                             hint="fix the file or point --kubeconfig at a valid one")
        for key in merged:
            items = doc.get(key) or []
            if not isinstance(items, list):
                raise MlopsError(Kind.CONFIG, f"kubeconfig {p} is malformed: '{key}' must be a list")
            merged[key].extend(i for i in items if isinstance(i, dict))
        current = current or doc.get("current-context")
    contexts = {c.get("name"): (c.get("context") or {}) for c in merged["contexts"] if c.get("name")}
    clusters = {c.get("name"): (c.get("cluster") or {}) for c in merged["clusters"] if c.get("name")}
    source = os.pathsep.join(str(p) for p in existing)
    if not contexts:
        raise MlopsError(Kind.CONFIG, f"kubeconfig {source} defines no contexts",
                         hint="add a context or run `mlopstui --sandbox`")
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
    cluster = clusters.get(ctx.get("cluster"), {})
    return KubeTarget(
        source=source,
        contexts=tuple(sorted(contexts)),
        context=chosen,
        cluster=ctx.get("cluster"),
        server=cluster.get("server"),
        user=ctx.get("user"),
        namespace=namespace or ctx.get("namespace") or "default",
        context_namespaces={n: (c.get("namespace") or "default") for n, c in contexts.items()},
    )

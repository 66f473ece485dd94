"""Fixes for credentials in the spec."""

from __future__ import annotations

from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.fixes.base import (  # noqa: F401
    FixSpec,
    _meta,
    _No,
    _one_target,
    _Opts,
    _pod_template_fix,
    fixer,
    pod_bearer,
)
from mlopstui.doctor.snapshot import Snapshot, ref


# -- credentials in the spec ------------------------------------------------------------------------------
@fixer("credentials-inline")
def fix_credentials_inline(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    """Move secret-named env values into a new Secret and reference them by secretKeyRef: two writes, the
    Secret (created first, its values copied from the spec) and one strategic merge patch of the env.
    A password inside a command's URI is left for a person (the command must be rewritten to $(VAR))."""
    from mlopstui.doctor.rules.security import inline_credentials
    from mlopstui.models.stack import containers_of
    from mlopstui.secrets import is_secret_name

    obj = _one_target(finding, snap, opts)
    target, notes = pod_bearer(snap, obj)
    m = _meta(target)
    secret = f"{m.get('name')}-credentials"[:253]
    data: dict[str, str] = {}
    changes: dict[str, dict[str, Any]] = {}
    uri_left = []
    for c in containers_of(target):
        names, in_uri = inline_credentials(c)
        if in_uri:
            uri_left.append(str(c.get("name")))
        env = []
        for e in c.get("env") or []:
            name = str(e.get("name", ""))
            if name in names and is_secret_name(name) and e.get("value"):
                key = name if name not in data or data[name] == e["value"] else f"{c.get('name')}.{name}"
                data[key] = str(e["value"])
                env.append({"name": name, "value": None, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
        if env:
            changes[str(c.get("name"))] = {"env": env}
    if not changes:
        raise _No(f"{ref(target)}: the only credential is a password inside a URI of the command: rewrite the "
                  "command to use $(DB_PASSWORD) with env DB_PASSWORD from a Secret (not automatic)")
    manifest = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": secret, "namespace": m.get("namespace", ""),
                             "labels": {"app.kubernetes.io/managed-by": "mlopstui"}},
                "stringData": data}
    notes = notes + [f"first creates Secret {m.get('namespace')}/{secret} with keys {', '.join(sorted(data))} "
                     "(the values move there from the spec; they are not shown), then patches the env entries to "
                     "valueFrom.secretKeyRef: two writes",
                     "the old values stay in the workload's history (ReplicaSets, Helm values, Git): rotate them"]
    if uri_left:
        notes.append(f"the password inside the command's URI of {', '.join(uri_left)} is not moved: rewrite it to "
                     "$(DB_PASSWORD) by hand")
    spec = _pod_template_fix(
        finding, target, changes,
        f"move {', '.join(sorted(data))} of {ref(target)} into Secret {secret}", "medium", notes,
        before={k: "inline value" for k in data}, after={k: f"secret {secret}/{k}" for k in data})
    spec.prepare = [manifest]
    return spec

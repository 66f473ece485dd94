"""Credentials written into workload specs instead of Secrets (the seed's own MLflow manifest does both:
AWS keys as env values, the database password inside --backend-store-uri)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import component_for, pod_bearers
from mlopstui.models.stack import containers_of
from mlopstui.secrets import is_secret_name

# scheme://user:password@host where the password is a literal, not a $(VAR) Kubernetes expands from env
_URI_LITERAL_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:(?!\$)[^@\s/]+@")


def inline_credentials(c: dict) -> tuple[list[str], bool]:
    names = [str(e.get("name")) for e in c.get("env") or []
             if isinstance(e, dict) and is_secret_name(str(e.get("name", ""))) and e.get("value")]
    text = " ".join(str(x) for x in [*(c.get("command") or []), *(c.get("args") or [])])
    return names, bool(_URI_LITERAL_PASSWORD.search(text))


@rule("credentials-inline", "cluster", "Credentials written into workload specs instead of Secrets")
def credentials_inline(snap: Snapshot) -> Iterator[Finding]:
    for obj in pod_bearers(snap):
        for c in containers_of(obj):
            names, in_uri = inline_credentials(c)
            if not names and not in_uri:
                continue
            what = []
            if names:
                what.append(f"env {', '.join(names)} as plain values")
            if in_uri:
                what.append("a password inside a URI in its command")
            fix = [f"Put the values in a Secret and reference them from container '{c.get('name')}' with "
                   "env[].valueFrom.secretKeyRef"]
            if in_uri:
                fix.append("for the URI, reference the password as $(DB_PASSWORD) in the command or args "
                           "(Kubernetes expands it from the container's env) with env DB_PASSWORD from the Secret")
            yield Finding(
                "credentials-inline", Severity.WARNING, component_for(snap, obj),
                f"{ref(obj)}: credentials in the spec ({'; '.join(what)})",
                (ref(obj),),
                f"container '{c.get('name')}': {'; '.join(what)} (values not shown)",
                "Anyone who may read this object (get/list on the workload, `kubectl get -o yaml`, most "
                "read-only roles, the Helm values or Git repository it came from) reads these credentials; "
                "access to Secrets is granted separately and can be audited.",
                "; ".join(fix) + ".")

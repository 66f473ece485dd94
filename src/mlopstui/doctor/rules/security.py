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


# names that mention a credential without holding one: where it is (a mounted file, a path, the name of a
# Secret or key), or a switch about it (ALLOW_EMPTY_PASSWORD, ENABLE_SECRET_INFORMER_FILTERING_BY_CERT_UID)
_NOT_A_CREDENTIAL_NAME = re.compile(
    r"(?i)(_FILE|_FILES|_PATH|_DIR|_NAME|_NAMES|_REF|_MOUNT|_LOCATION|_URL|_ENABLED|_DISABLED|_TTL|_EXPIRY|_TIMEOUT"
    r"|_SECRET_KEY_NAME|_KEY_NAME)$"
    r"|^(ALLOW|ENABLE|DISABLE|USE|SKIP|REQUIRE|IGNORE)_"
    r"|_(FILTERING|INFORMER)_")
_BOOLEAN = {"true", "false", "yes", "no", "on", "off", "0", "1", "y", "n", "enabled", "disabled", "none", "null"}
_REFERENCE = re.compile(r"^\$[({][A-Za-z_][A-Za-z0-9_]*[)}]$")


def credential_env(name: str, value: object) -> bool:
    """A literal env value is a credential when the name names one AND the value looks like one: not empty,
    a boolean, a file path, a $(VAR) reference, or (for a *_SECRET name) the name of a Secret."""
    if not is_secret_name(name) or _NOT_A_CREDENTIAL_NAME.search(name):
        return False
    v = str(value if value is not None else "").strip()
    if not v or v.lower() in _BOOLEAN or _REFERENCE.match(v):
        return False
    if v.startswith(("/", "./", "../", "~/", "file:")):
        return False
    return True


def inline_credentials(c: dict) -> tuple[list[str], bool]:
    """(env names whose literal value is a credential, whether a URI in the command carries a literal password)."""
    names = [str(e.get("name")) for e in c.get("env") or []
             if isinstance(e, dict) and "value" in e and credential_env(str(e.get("name", "")), e.get("value"))]
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

"""What a container runs and whom it names: its command line split into tokens, `mlflow server` flags, cluster
host names in URIs, and the feature_store.yaml a Feast container carries. Pure: no I/O.

The Stack catalog uses these to tell what a workload *is* (an MLflow server, not a client pod of the same
chart) and who references a database (the MLflow server's backend URI, Feast's registry path); the doctor
reads the same parse.
"""

from __future__ import annotations

import base64
import binascii
import functools
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def tokens(container: Mapping[str, Any]) -> list[str]:
    raw = tuple(str(t) for t in (container.get("command") or []) + (container.get("args") or []))
    return list(_split_tokens(raw))


@functools.lru_cache(maxsize=512)
def _split_tokens(raw: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for t in raw:
        if any(ch in t for ch in " \n\t"):
            try:
                out.extend(shlex.split(t.replace("\\\n", " "), comments=False))
            except ValueError:
                out.extend(t.split())
        else:
            out.append(t)
    return tuple(out)


def mlflow_server_args(container: Mapping[str, Any]) -> dict[str, str | bool] | None:
    """The flags of `mlflow server ...` in a container's command/args, or None if it is not an MLflow server.

    A container of an mlflow image with no command runs the image default; the Bitnami image and
    most others run `mlflow server` with the args given.
    """
    toks = tokens(container)
    start = None
    for i, t in enumerate(toks):
        if (t == "mlflow" or t.endswith("/mlflow")) and i + 1 < len(toks) and toks[i + 1] == "server":
            start = i + 2
            break
    if start is None:
        image = str(container.get("image", ""))
        if "mlflow" in image.rsplit("/", 1)[-1] and (not toks or toks[0] == "server" or toks[0].startswith("--")):
            start = 1 if toks and toks[0] == "server" else 0
        else:
            return None
    flags: dict[str, str | bool] = {}
    i = start
    while i < len(toks):
        t = toks[i]
        if t in ("&&", ";", "|", "||"):
            break
        if t.startswith("--"):
            if "=" in t:
                k, v = t[2:].split("=", 1)
                flags[k] = v
            elif i + 1 < len(toks) and not toks[i + 1].startswith("--") and toks[i + 1] not in ("&&", ";"):
                flags[t[2:]] = toks[i + 1]
                i += 1
            else:
                flags[t[2:]] = True
        elif t.startswith("-h") or t == "-p":
            pass
        i += 1
    return flags


def host_of(uri: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(uri)
        return parts.hostname, parts.port
    except ValueError:
        return None, None


def cluster_host(host: str, default_ns: str, known_namespaces: set[str]) -> tuple[str, str] | None:
    """'svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local' -> (svc, ns); None when not a cluster name."""
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return None
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0], default_ns
    if len(parts) >= 3 and parts[2] == "svc":
        return parts[0], parts[1]
    if len(parts) == 2 and parts[1] in known_namespaces:
        return parts[0], parts[1]
    return None


# the env vars through which the Feast operator hands its generated feature_store.yaml to the containers
FEATURE_STORE_YAML_ENV = ("FEATURE_STORE_YAML_BASE64", "TMP_FEATURE_STORE_YAML_BASE64")


def feature_store_yaml(container: Mapping[str, Any]) -> str | None:
    """The feature_store.yaml a Feast container is given inline (base64 env), or None."""
    for e in container.get("env") or []:
        if isinstance(e, Mapping) and e.get("name") in FEATURE_STORE_YAML_ENV and e.get("value"):
            try:
                return base64.b64decode(str(e["value"]), validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return None
    return None


@functools.lru_cache(maxsize=64)
def feast_registry_uri(feature_store_text: str) -> str | None:
    """registry.path (or a plain `registry: URI`) of a feature_store.yaml, without parsing YAML fully."""
    import yaml

    try:
        doc = yaml.safe_load(feature_store_text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    reg = doc.get("registry")
    if isinstance(reg, str):
        return reg
    if isinstance(reg, dict) and isinstance(reg.get("path"), str):
        return reg["path"]
    return None

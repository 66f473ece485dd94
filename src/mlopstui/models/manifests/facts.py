"""What the stack already has (`Facts`, read by actions/install.py) and `resolve()`: the operator's
`--set` parameters checked against it, defaults filled in. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.manifests.params import (
    COMPONENT_LABEL,
    INSTALLABLE,
    PGBOUNCER_SERVICES,
    POSTGRES_SERVICES,
    S3_SECRETS,
    check_param,
    refusal,
)

# --------------------------------------------------------------------------------------------------
# what the stack already has


@dataclass
class Facts:
    """What the install action read (no secret values): Services and Secrets (names -> keys) of the
    target namespace, S3 Services anywhere, the configured S3 endpoint."""

    namespace: str
    services: list[dict[str, Any]] = field(default_factory=list)  # in the namespace
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # in the namespace: name -> data keys
    s3_services: list[dict[str, Any]] = field(default_factory=list)  # anywhere
    s3_endpoint: str | None = None  # settings.endpoints.s3
    s3_endpoint_source: str = ""

    def service(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.services if (s.get("metadata") or {}).get("name") == name), None)

    def service_labelled(self, key: str, value: str) -> dict[str, Any] | None:
        return next((s for s in self.services
                     if ((s.get("metadata") or {}).get("labels") or {}).get(key) == value), None)


def _svc_port(svc: Mapping[str, Any], default: int) -> int:
    ports = (svc.get("spec") or {}).get("ports") or []
    return int(ports[0].get("port") or default) if ports else default


def _find_postgres(facts: Facts) -> dict[str, Any] | None:
    for name in POSTGRES_SERVICES:
        if facts.service(name) is not None:
            return facts.service(name)
    return next((s for s in facts.services
                 if ((s.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL) == "postgresql"), None)


def _pg_defaults(svc: Mapping[str, Any] | None) -> tuple[str, str]:
    """(database, user) of a PostgreSQL Service we installed (from its labels), else MLflow's."""
    labels = ((svc or {}).get("metadata") or {}).get("labels") or {}
    return labels.get("mlopstui.dev/database", "mlflow"), labels.get("mlopstui.dev/user", "mlflow")


def _credentials(facts: Facts, target: str, secret: str, key: str, user: str, sets: Mapping[str, str],
                 user_param: str) -> tuple[str, str, str]:
    """(Secret, key, user) for the PostgreSQL behind Service ``target``. What was --set wins; else our own
    install's ``<target>-credentials``; else the Secret the Bitnami chart makes, named like the Service, with
    ``password`` (its custom user) or only ``postgres-password`` (then the user is postgres)."""
    if not secret:
        own = f"{target}-credentials"
        secret = target if own not in facts.secrets and target in facts.secrets else own
    keys = facts.secrets.get(secret) or ()
    key_set = any(k.endswith("secret_key") for k in sets)
    if not key_set and key not in keys and "postgres-password" in keys:
        return secret, "postgres-password", user if user_param in sets else "postgres"
    return secret, key, user  # a missing Secret or key: _need_secret says so, with the --set to use


def _need_secret(facts: Facts, name: str, key: str, what: str, param: str) -> None:
    keys = facts.secrets.get(name)
    if keys is None:
        raise MlopsError(Kind.NOT_FOUND, f"no Secret {facts.namespace}/{name} for {what}",
                         hint=f"create it, or name another with --set {param}=NAME")
    if key not in keys:
        raise MlopsError(Kind.INVALID, f"Secret {facts.namespace}/{name} has no key {key!r} "
                         f"(keys: {', '.join(keys) or 'none'})",
                         hint=f"name the key with --set {param}_key=KEY")


def validate(cid: str, sets: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter checked and defaulted, before anything is read (raises MlopsError)."""
    why = refusal(cid)
    if why is not None:
        raise MlopsError(Kind.UNSUPPORTED, f"{cid}: {why}")
    spec = INSTALLABLE[cid]
    unknown = sorted(set(sets) - {p.key for p in spec.params})
    if unknown:
        raise MlopsError(Kind.INVALID, f"{cid} has no parameter {', '.join(unknown)}",
                         hint="parameters: " + ", ".join(p.key for p in spec.params))
    out: dict[str, Any] = {}
    for p in spec.params:
        raw = sets.get(p.key, p.default)
        out[p.key] = check_param(spec, p, raw)
    if cid in ("postgresql", "feast_registry") and out["storage"] == "":
        raise MlopsError(Kind.INVALID, f"{cid} storage: a database needs a volume size", hint="e.g. 10Gi")
    return out


def resolve(cid: str, sets: Mapping[str, str], facts: Facts) -> dict[str, Any]:
    """Validated parameters with defaults filled in from the stack (raises MlopsError INVALID/NOT_FOUND)."""
    out = validate(cid, sets)
    out["namespace"] = facts.namespace
    if cid in ("postgresql", "feast_registry"):
        out["secret"] = f"{out['name']}-credentials"
    elif cid == "pgbouncer":
        svc = facts.service(out["target"]) if out["target"] else _find_postgres(facts)
        if svc is None:
            raise MlopsError(Kind.NOT_FOUND,
                             f"no PostgreSQL Service {out['target'] or 'found'} in namespace {facts.namespace}",
                             hint="install it first (mlopstui install postgresql) or --set target=SERVICE")
        out["target"] = svc["metadata"]["name"]
        out["target_port"] = _svc_port(svc, 5432)
        db, user = _pg_defaults(svc)
        out["database"] = out["database"] or db
        out["user"] = out["user"] or user
        out["db_secret"], out["db_secret_key"], out["user"] = _credentials(
            facts, out["target"], out["db_secret"], out["db_secret_key"], out["user"], sets, "user")
        _need_secret(facts, out["db_secret"], out["db_secret_key"], "the PostgreSQL password", "db_secret")
        if out["name"] == out["target"]:
            raise MlopsError(Kind.INVALID, f"pgbouncer name {out['name']} is the PostgreSQL Service's name")
    elif cid == "mlflow":
        if out["db_host"]:
            svc = facts.service(out["db_host"])
        else:
            svc = next((facts.service(n) for n in PGBOUNCER_SERVICES if facts.service(n) is not None), None) \
                or facts.service_labelled(COMPONENT_LABEL, "pgbouncer") or _find_postgres(facts)
        if svc is None:
            raise MlopsError(Kind.NOT_FOUND, f"no PostgreSQL or PgBouncer Service "
                             f"{out['db_host'] or 'found'} in namespace {facts.namespace}",
                             hint="install postgresql (and pgbouncer) first, or --set db_host=SERVICE")
        labels = (svc.get("metadata") or {}).get("labels") or {}
        out["db_host"] = svc["metadata"]["name"]
        out["db_via_pgbouncer"] = labels.get(COMPONENT_LABEL) == "pgbouncer" or out["db_host"] in PGBOUNCER_SERVICES
        if "db_port" not in sets:
            out["db_port"] = _svc_port(svc, 5432)
        pg_svc = facts.service(labels["mlopstui.dev/target"]) if labels.get("mlopstui.dev/target") else svc
        db, user = _pg_defaults(pg_svc if pg_svc is not None else svc)
        out["database"] = out["database"] or db
        out["db_user"] = out["db_user"] or user
        if not out["db_secret"] and labels.get("mlopstui.dev/db-auth-from"):
            out["db_secret"] = labels["mlopstui.dev/db-auth-from"]  # the PgBouncer we installed knows it
        out["db_secret"], out["db_secret_key"], out["db_user"] = _credentials(
            facts, (pg_svc or svc)["metadata"]["name"], out["db_secret"], out["db_secret_key"], out["db_user"],
            sets, "db_user")
        _need_secret(facts, out["db_secret"], out["db_secret_key"], "the database password", "db_secret")
        if not out["s3_endpoint"]:
            found = facts.s3_services[0] if facts.s3_services else None
            if found is not None:
                m = found["metadata"]
                out["s3_endpoint"] = f"http://{m['name']}.{m['namespace']}.svc.cluster.local:{_svc_port(found, 9000)}"
                out["s3_endpoint_source"] = f"service {m['namespace']}/{m['name']}"
            elif facts.s3_endpoint:
                out["s3_endpoint"] = facts.s3_endpoint.rstrip("/")
                out["s3_endpoint_source"] = facts.s3_endpoint_source or "config"
            else:
                raise MlopsError(Kind.NOT_FOUND, "no S3 endpoint: no S3 Service in the cluster and none configured",
                                 hint="--set s3_endpoint=http://HOST:PORT (any S3 server; MinIO community "
                                      "is archived)")
        else:
            out["s3_endpoint_source"] = "--set"
        if not out["s3_secret"]:
            out["s3_secret"] = next((n for n in S3_SECRETS if n in facts.secrets), "")
            if not out["s3_secret"]:
                raise MlopsError(Kind.NOT_FOUND, f"no S3 credentials Secret in {facts.namespace} "
                                 f"(looked for {', '.join(S3_SECRETS)})",
                                 hint="kubectl create secret generic s3-credentials --from-literal=access-key=... "
                                      "--from-literal=secret-key=... (or --set s3_secret=NAME)")
        _need_secret(facts, out["s3_secret"], out["s3_access_key_key"], "the S3 access key", "s3_secret")
        _need_secret(facts, out["s3_secret"], out["s3_secret_key_key"], "the S3 secret key", "s3_secret")
    return out

"""Automatic fixes for doctor findings: pure logic, no I/O.

    spec = fix_for(finding, snapshot)          # a FixSpec, or None when no automatic fix is safe
    reason = why_not(finding, snapshot)        # why not ("" when there is a fix)

A FixSpec names one object (kind, namespace, name), the exact patch and its content type, the risk,
notes for the person confirming it, and the resourceVersion it was computed from (carried inside the
patch as metadata.resourceVersion, so a concurrent edit makes the API server answer 409 instead of
being overwritten). Built-in workload kinds get a strategic merge patch (containers and env merge by
name: only what changes is sent); InferenceServices (a CRD) get a JSON merge patch. A failed Job of
a CronJob is re-run by creating a Job exactly as `kubectl create job --from=cronjob/...` does.

Secret values never enter a FixSpec: credentials are added as valueFrom.secretKeyRef (Secret name and
key only).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlopstui.doctor.finding import Finding
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.models.objects import with_resource_version
from mlopstui.units import quantity_bytes

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
CREATE = "Job manifest (POST)"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MAXMEMORY_SHARE = 0.8
DEFAULT_REDIS_LIMIT = 2 * 1024**3
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")


@dataclass
class FixSpec:
    """One write that fixes (part of) a finding."""

    finding_id: str
    finding_key: str
    kind: str  # of the object written: Deployment, StatefulSet, DaemonSet, CronJob, InferenceService, Job
    namespace: str
    name: str
    patch: Any  # the exact body sent: a patch (with metadata.resourceVersion) or, for CREATE, a manifest
    patch_type: str  # STRATEGIC | MERGE | CREATE
    summary: str
    risk: str = "low"  # low | medium | high
    notes: list[str] = field(default_factory=list)
    resource_version: str | None = None  # of the object the patch was computed from
    before: dict[str, Any] | None = None  # what changes, as it was
    after: dict[str, Any] | None = None  # ... and as it will be
    source: str | None = None  # CREATE: the object the manifest was made from ("CronJob ns/name")
    # objects created before the patch (a Secret the values move into). They may hold secret values: never
    # put them in a Plan or a log as they are (secrets.scrub masks a Secret's data)
    prepare: list[dict[str, Any]] = field(default_factory=list)

    @property
    def operation(self) -> str:
        return "create" if self.patch_type == CREATE else "patch"

    @property
    def target(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class NoFix:
    reason: str


class _No(Exception):
    """Raised inside a fixer: no automatic fix, and why."""


# -- the public API ---------------------------------------------------------------------------------
def explain(finding: Finding, snap: Snapshot, *, obj_ref: str | None = None,
            now: datetime | None = None) -> FixSpec | NoFix:
    """The fix of a finding, or why there is none. obj_ref picks one of the finding's objects."""
    fixer = FIXERS.get(finding.id)
    if fixer is None:
        return NoFix(NO_FIX_REASONS.get(finding.id, f"no automatic fix for {finding.id}: {finding.fix}"))
    if obj_ref is not None and obj_ref not in finding.objects:
        return NoFix(f"{obj_ref} is not one of this finding's objects ({', '.join(finding.objects) or '-'})")
    try:
        return fixer(finding, snap, _Opts(obj_ref, now or datetime.now(UTC)))
    except _No as exc:
        return NoFix(str(exc))


def fix_for(finding: Finding, snap: Snapshot, *, obj_ref: str | None = None,
            now: datetime | None = None) -> FixSpec | None:
    out = explain(finding, snap, obj_ref=obj_ref, now=now)
    return out if isinstance(out, FixSpec) else None


def why_not(finding: Finding, snap: Snapshot, *, obj_ref: str | None = None) -> str:
    out = explain(finding, snap, obj_ref=obj_ref)
    return out.reason if isinstance(out, NoFix) else ""


def has_fixer(rule_id: str) -> bool:
    """Whether the rule has an automatic fix at all (a given finding may still be unfixable)."""
    return rule_id in FIXERS


# rules that never get an automatic fix, and why
NO_FIX_REASONS = {
    "image-bitnami-legacy": "swapping a Bitnami image for another is not drop-in (data directory, users, env "
                            "names and entrypoint differ, e.g. bitnami/postgresql vs postgres): migrate it "
                            "deliberately",
    "image-minio-unpatched": "replacing the object store's image changes a stateful service: plan the upgrade "
                             "(or another S3 server) deliberately",
    "mlflow-artifact-root-local": "moving the artifact root needs a bucket decision (which S3 bucket, which "
                                  "credentials) and leaves existing artifacts behind: set it deliberately",
    "mlflow-backend-store-local": "moving the backend store needs a database and a migration of the runs",
    "mlflow-backend-host-unknown": "the right database Service cannot be chosen safely for you: fix the host in "
                                   "--backend-store-uri",
    "probe-failed": "an unreachable endpoint has many causes (pods, Service, network, address): nothing to patch",
    "isvc-serverless-without-knative": "installing Knative Serving is an installation, not a patch",
    "redis-near-maxmemory": "raising maxmemory needs a sizing decision: raise the memory limit and maxmemory "
                            "together",
    "redis-evicting-features": "choosing an eviction policy and size needs a sizing decision",
    "s3-signature-v2": "set the signature version to s3v4 where the variable is defined",
    "postgres-near-max-connections": "add PgBouncer (or raise max_connections) deliberately",
}


@dataclass
class _Opts:
    obj_ref: str | None
    now: datetime


# -- helpers ----------------------------------------------------------------------------------------
def parse_ref(text: str) -> tuple[str, str, str]:
    """'Deployment mlops/x' -> ('Deployment', 'mlops', 'x')."""
    kind, _, rest = text.partition(" ")
    ns, _, name = rest.rpartition("/")
    return kind, ns, name


def find_object(snap: Snapshot, obj_ref: str) -> dict[str, Any] | None:
    kind, ns, name = parse_ref(obj_ref)
    for o in snap.of(kind):
        m = o.get("metadata") or {}
        if m.get("name") == name and (m.get("namespace") or "") == ns:
            return o
    return None


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _rv(obj: Mapping[str, Any]) -> str | None:
    return _meta(obj).get("resourceVersion")


def _owner_cronjob(snap: Snapshot, job: Mapping[str, Any]) -> dict[str, Any] | None:
    ns = _meta(job).get("namespace")
    for o in _meta(job).get("ownerReferences") or []:
        if o.get("kind") == "CronJob":
            for cj in snap.of("CronJob"):
                if _meta(cj).get("name") == o.get("name") and _meta(cj).get("namespace") == ns:
                    return cj
    return None


def managed_notes(obj: Mapping[str, Any]) -> list[str]:
    """A warning when the object is rendered by Helm or owned by an operator: they put their spec back."""
    meta = obj.get("metadata") or {}
    labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
    out = []
    if labels.get("app.kubernetes.io/managed-by") == "Helm" or "meta.helm.sh/release-name" in ann:
        release = ann.get("meta.helm.sh/release-name") or labels.get("app.kubernetes.io/instance") or "?"
        out.append(f"{ref(obj)} is managed by Helm (release {release}): the next helm upgrade puts the old spec "
                   "back; make the same change in the chart's values")
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None and owner.get("kind") not in ("ReplicaSet", "Job", "CronJob"):
        out.append(f"{ref(obj)} is owned by {owner.get('kind')} {owner.get('name')}: its operator may revert "
                   "the patch; change that resource instead")
    return out


def pod_bearer(snap: Snapshot, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The object whose pod template can be patched for obj, and notes; raises _No when there is none.

    A Job's pod template is immutable: a Job of a CronJob is fixed in the CronJob's jobTemplate (the next
    run picks it up); a bare Job or Pod cannot be patched."""
    kind = obj.get("kind")
    if kind in POD_TEMPLATE_KINDS:
        return dict(obj), managed_notes(obj)
    if kind == "Job":
        cj = _owner_cronjob(snap, obj)
        if cj is not None:
            return cj, [f"{ref(obj)}'s pod template is immutable: the fix goes into {ref(cj)}'s jobTemplate "
                        "(its next run picks it up)", *managed_notes(cj)]
        raise _No(f"{ref(obj)} is a Job not owned by a CronJob, and a Job's pod template is immutable: "
                  "delete the Job and create it again with the change")
    if kind == "Pod":
        raise _No(f"{ref(obj)} is a bare Pod (no controller) and a Pod's containers are immutable: "
                  "re-create it with the change, or run it from a Deployment")
    raise _No(f"{ref(obj)}: a {kind} has no pod template mlopstui can patch")


def _template_path(kind: str) -> list[str]:
    if kind == "CronJob":
        return ["spec", "jobTemplate", "spec", "template"]
    return ["spec", "template"]


def _nest(path: list[str], leaf: Any) -> dict[str, Any]:
    out: Any = leaf
    for key in reversed(path):
        out = {key: out}
    return out


def _containers_patch(obj: Mapping[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A strategic merge patch changing containers (by name) of obj's pod template; init containers too."""
    kind = obj.get("kind", "")
    from mlopstui.models.stack import pod_template_spec

    ps = pod_template_spec(obj) or {}
    init_names = {c.get("name") for c in ps.get("initContainers") or []}
    spec: dict[str, Any] = {}
    for cname, change in changes.items():
        key = "initContainers" if cname in init_names else "containers"
        spec.setdefault(key, []).append({"name": cname, **change})
    return with_resource_version(_nest(_template_path(kind) + ["spec"], spec), _rv(obj))


def _pod_template_fix(finding: Finding, obj: Mapping[str, Any], changes: dict[str, dict[str, Any]], summary: str,
                      risk: str, notes: list[str], before: dict | None = None, after: dict | None = None) -> FixSpec:
    m = _meta(obj)
    restart = ("changing the pod template rolls the pods (a new ReplicaSet / rolling update)"
               if obj.get("kind") != "CronJob" else "running Jobs keep their old spec; the next run uses the new one")
    return FixSpec(finding.id, finding.key, obj.get("kind", ""), m.get("namespace", ""), m.get("name", ""),
                   _containers_patch(obj, changes), STRATEGIC, summary, risk, notes + [restart],
                   _rv(obj), before, after)


# -- quantities ---------------------------------------------------------------------------------------
_MULT = {None: 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5, "E": 1000**6,
         "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}


def format_bytes(n: int, binary: bool = True) -> str:
    """The largest unit that divides n exactly: 2147483648 -> '2Gi', 3000000000 -> '3G' (binary=False)."""
    units = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki") if binary else ("E", "P", "T", "G", "M", "k")
    for u in units:
        if n >= _MULT[u] and n % _MULT[u] == 0:
            return f"{n // _MULT[u]}{u}"
    return str(n)


def double_quantity(q: str) -> str | None:
    b = quantity_bytes(q)
    if not b or b < 0:
        return None
    text = str(q).strip()
    binary = text.endswith("i") or text.isdigit()  # 2Gi -> 4Gi, 3G -> 6G, 4e9 -> 8G, 1048576 -> 2Mi
    return format_bytes(2 * b, binary=binary)


# -- MLflow clients: S3 endpoint and credentials --------------------------------------------------------
def _client_containers(snap: Snapshot, obj: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Any]]:
    from mlopstui.doctor.util import env_of, mlflow_server_args
    from mlopstui.models.stack import containers_of

    ns = _meta(obj).get("namespace", "")
    out = []
    for c in containers_of(obj):
        if mlflow_server_args(c) is not None:
            continue
        env = env_of(c, snap, ns)
        if env.has("MLFLOW_TRACKING_URI"):
            out.append((c, env))
    return out


def _one_target(finding: Finding, snap: Snapshot, opts: _Opts) -> dict[str, Any]:
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    if not refs:
        raise _No("the finding names no object")
    obj = find_object(snap, refs[0])
    if obj is None:
        raise _No(f"{refs[0]} is not in the cluster snapshot (deleted?)")
    return obj


def fix_s3_endpoint(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.clients import s3_endpoint_hint

    obj = _one_target(finding, snap, opts)
    target, notes = pod_bearer(snap, obj)
    url = s3_endpoint_hint(snap)
    if "<" in url:
        raise _No("no S3 endpoint was found (no MLflow server sets MLFLOW_S3_ENDPOINT_URL and no object store "
                  "Service was discovered): set MLFLOW_S3_ENDPOINT_URL by hand")
    changes = {}
    for c, env in _client_containers(snap, target):
        if env.has("MLFLOW_S3_ENDPOINT_URL") is False and env.has("AWS_ENDPOINT_URL_S3") is False \
                and env.has("AWS_ENDPOINT_URL") is False:
            changes[c.get("name")] = {"env": [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": url}]}
    if not changes:
        raise _No(f"{ref(target)}: every MLflow client container already sets an S3 endpoint")
    src = ("the MLflow server's own MLFLOW_S3_ENDPOINT_URL" if any(
        env.get("MLFLOW_S3_ENDPOINT_URL") == url for *_x, env in _servers(snap)) else "the object store's Service")
    return _pod_template_fix(
        finding, target, changes,
        f"add MLFLOW_S3_ENDPOINT_URL={url} to {', '.join(changes)} of {ref(target)}", "low",
        notes + [f"endpoint from {src}", "adds one env entry per container (merged by name); nothing else changes"],
        before={"MLFLOW_S3_ENDPOINT_URL": None}, after={"MLFLOW_S3_ENDPOINT_URL": url})


def _servers(snap: Snapshot):
    from mlopstui.doctor.util import mlflow_servers

    return mlflow_servers(snap)


# well-known key names of S3 credentials in a Secret: (access key id, secret key)
CREDENTIAL_KEY_PAIRS = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("aws_access_key_id", "aws_secret_access_key"),
    ("access-key", "secret-key"), ("accesskey", "secretkey"), ("access_key", "secret_key"),
    ("accessKey", "secretKey"), ("access-key-id", "secret-access-key"), ("rootUser", "rootPassword"),
    ("root-user", "root-password"), ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
    ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
)
_ENV_PAIRS = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
              ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"))


def credential_secret(snap: Snapshot, namespace: str) -> tuple[str, str, str, str] | None:
    """(secret, access-key key, secret-key key, where found) for S3 credentials in a namespace.

    First what workloads there already reference (valueFrom.secretKeyRef of AWS_* / MINIO_* variables),
    then Secrets in the snapshot (key names only: the Repair action adds them without values)."""
    from mlopstui.models.stack import containers_of

    for want_id, want_secret in _ENV_PAIRS:
        for o in snap.of("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"):
            if _meta(o).get("namespace") != namespace:
                continue
            for c in containers_of(o):
                refs = {e.get("name"): ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
                        for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
                a, s = refs.get(want_id), refs.get(want_secret)
                if a and s and a.get("name") and a.get("name") == s.get("name") and a.get("key") and s.get("key"):
                    return a["name"], a["key"], s["key"], f"referenced by {ref(o)} ({want_id}/{want_secret})"
    for sec in snap.of("Secret"):
        if _meta(sec).get("namespace") != namespace:
            continue
        keys = set(sec.get("data") or {}) | set(sec.get("stringData") or {})
        for a, s in CREDENTIAL_KEY_PAIRS:
            if a in keys and s in keys:
                return _meta(sec)["name"], a, s, f"Secret {namespace}/{_meta(sec)['name']} holds keys {a} and {s}"
    return None


def fix_s3_credentials(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.clients import CRED_ALTERNATIVES

    obj = _one_target(finding, snap, opts)
    target, notes = pod_bearer(snap, obj)
    ns = _meta(target).get("namespace", "")
    found = credential_secret(snap, ns)
    if found is None:
        raise _No(f"no Secret in namespace {ns} is known to hold S3 keys (AWS_ACCESS_KEY_ID / "
                  "AWS_SECRET_ACCESS_KEY, access-key / secret-key, ...): create one, then fix again")
    secret, akey, skey, where = found
    changes = {}
    for c, env in _client_containers(snap, target):
        if any(env.has(v) for v in CRED_ALTERNATIVES):
            continue
        add = []
        if env.has("AWS_ACCESS_KEY_ID") is False:
            add.append({"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": secret, "key": akey}}})
        if env.has("AWS_SECRET_ACCESS_KEY") is False:
            add.append({"name": "AWS_SECRET_ACCESS_KEY",
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": skey}}})
        if add:
            changes[c.get("name")] = {"env": add}
    if not changes:
        raise _No(f"{ref(target)}: every MLflow client container already has S3 credentials")
    risk = "low"
    notes = notes + [f"credentials from Secret {ns}/{secret} ({where}); the values are never read or shown"]
    if akey in ("rootUser", "root-user", "MINIO_ROOT_USER") or "MINIO_ROOT" in where:
        risk = "medium"
        notes.append("these are the object store's root credentials: prefer a dedicated access key with access "
                     "to the artifact bucket only")
    return _pod_template_fix(
        finding, target, changes,
        f"add AWS credentials from Secret {secret} to {', '.join(changes)} of {ref(target)}", risk, notes,
        before={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
        after={"AWS_ACCESS_KEY_ID": f"secret {secret}/{akey}", "AWS_SECRET_ACCESS_KEY": f"secret {secret}/{skey}"})


# -- Redis ------------------------------------------------------------------------------------------
def _redis_target(finding: Finding, snap: Snapshot, opts: _Opts) -> tuple[dict[str, Any], Mapping[str, Any]]:
    from mlopstui.doctor.rules.redis import redis_containers

    pairs = redis_containers(snap)
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    for r in refs:
        for w, c in pairs:
            if ref(w) == r:
                return w, c
    raise _No("no Redis container found in " + (", ".join(refs) or "the cluster"))


def _flag_value(toks: list[str], flag: str) -> str | None:
    for i, t in enumerate(toks):
        if t == flag and i + 1 < len(toks):
            return toks[i + 1]
        if t.startswith(flag + "="):
            return t.split("=", 1)[1]
    return None


def _without_flags(args: list[str], flags: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for t in args:
        if skip:
            skip = False
            continue
        if t in flags:
            skip = True
            continue
        if any(t.startswith(f + "=") for f in flags):
            continue
        out.append(t)
    return out


def redis_maxmemory_bytes(text: str | None) -> int | None:
    """Redis memory units: 1638mb, 2gb, 100k, 1073741824 (mb = MiB, m = 10^6)."""
    if not text:
        return None
    m = re.match(r"^(\d+)(b|k|kb|m|mb|g|gb)?$", text.strip().lower())
    if not m:
        return None
    mult = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    return int(m.group(1)) * mult[m.group(2)]


def fix_redis_memory(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c = _redis_target(finding, snap, opts)
    image = str(c.get("image", ""))
    command = [str(x) for x in c.get("command") or []]
    args = [str(x) for x in c.get("args") or []]
    if "bitnami" in image:
        raise _No(f"{ref(w)} runs {image}: Bitnami's Redis takes its settings from the chart's redis.conf / "
                  "REDIS_EXTRA_FLAGS, not from args: set maxmemory and a memory limit in the chart values")
    if command and not (len(command) == 1 and command[0].endswith("redis-server")):
        raise _No(f"container '{c.get('name')}' of {ref(w)} starts Redis through its own command "
                  f"({' '.join(command)[:60]}): add --maxmemory there (and set resources.limits.memory)")
    if any(" " in a or "\n" in a for a in args) or any(a.endswith(".conf") for a in command + args):
        raise _No(f"container '{c.get('name')}' of {ref(w)} passes a shell line or a config file: set "
                  "maxmemory there (CONFIG SET maxmemory applies it at once without a restart)")
    limits = ((c.get("resources") or {}).get("limits") or {})
    requests = ((c.get("resources") or {}).get("requests") or {})
    limit_before = limits.get("memory")
    notes: list[str] = []
    cur_max = redis_maxmemory_bytes(_flag_value(args, "--maxmemory"))
    cur_policy = _flag_value(args, "--maxmemory-policy")
    if limit_before:
        limit_b = quantity_bytes(limit_before)
        if not limit_b:
            raise _No(f"cannot read the memory limit {limit_before!r} of {ref(w)}")
        limit_after = str(limit_before)
    else:
        candidates = [DEFAULT_REDIS_LIMIT, quantity_bytes(requests.get("memory")) or 0]
        p = snap.probe("redis")
        used = int(p.data.get("used_memory") or 0) if p is not None else 0
        if used:
            candidates.append(math.ceil(2 * used / 1024**3) * 1024**3)
        if cur_max:
            candidates.append(math.ceil(cur_max / MAXMEMORY_SHARE / 1024**3) * 1024**3)
        limit_b = max(candidates)
        limit_after = format_bytes(limit_b)
        why = [f"{format_bytes(DEFAULT_REDIS_LIMIT)} default"]
        if used:
            why.append(f"twice the {used // 1024**2} MiB in use now")
        if requests.get("memory"):
            why.append(f"the request {requests['memory']}")
        if cur_max:
            why.append(f"the existing maxmemory / {MAXMEMORY_SHARE}")
        basis = why[0] if len(why) == 1 else "the largest of: " + ", ".join(why)
        notes.append(f"memory limit {limit_after} ({basis}): size it for the whole online dataset plus headroom")
    new_args = list(args)
    max_text = None
    if not cur_max:
        max_text = f"{int(limit_b * MAXMEMORY_SHARE) // 1024**2}mb"
        new_args = _without_flags(new_args, ("--maxmemory",))
        new_args += ["--maxmemory", max_text]
    if not cur_policy:
        new_args += ["--maxmemory-policy", "noeviction"]
    change: dict[str, Any] = {}
    if new_args != args:
        change["args"] = new_args
    if limit_after != limit_before:
        change["resources"] = {"limits": {"memory": limit_after}}
    if not change:
        raise _No(f"{ref(w)} already has a memory limit and --maxmemory")
    if max_text:
        notes.insert(0, f"maxmemory {max_text} = {int(MAXMEMORY_SHARE * 100)}% of the {limit_after} limit: Redis "
                        "refuses writes before the kernel OOM-kills it (the rest covers fragmentation and buffers)")
    if cur_policy and cur_policy != "noeviction":
        notes.append(f"keeps the existing --maxmemory-policy {cur_policy}: with allkeys-*/volatile-* policies "
                     "Redis silently evicts features when full")
    else:
        notes.append("policy noeviction, not allkeys-lru: when full, a materialization fails loudly with "
                     "'OOM command not allowed'; allkeys-lru would silently evict features and the feature "
                     "server would return nulls for those entities")
    notes.append("Redis restarts with the new pod template: data survives only with persistence "
                 f"({'--appendonly yes is set' if '--appendonly' in args else 'none configured here'}); "
                 "re-materialize if the online store comes back empty")
    before = {"limits.memory": limit_before, "args": args}
    after = {"limits.memory": limit_after, "args": new_args}
    return _pod_template_fix(finding, w, {c.get("name"): change},
                             f"Redis {ref(w)}: memory limit {limit_before or 'none'} -> {limit_after}, "
                             f"maxmemory {max_text or 'kept'}", "medium", notes, before, after)


# -- InferenceServices ----------------------------------------------------------------------------------
def _isvc(finding: Finding, snap: Snapshot, opts: _Opts) -> dict[str, Any]:
    obj = _one_target(finding, snap, opts)
    if obj.get("kind") != "InferenceService":
        raise _No(f"{ref(obj)} is not an InferenceService")
    return obj


def _isvc_fix(finding: Finding, isvc: Mapping[str, Any], patch: dict[str, Any], summary: str, risk: str,
              notes: list[str], before: dict, after: dict) -> FixSpec:
    m = _meta(isvc)
    return FixSpec(finding.id, finding.key, "InferenceService", m.get("namespace", ""), m.get("name", ""),
                   with_resource_version(patch, _rv(isvc)), MERGE, summary, risk, notes, _rv(isvc), before, after)


def _revision_note(isvc: Mapping[str, Any]) -> list[str]:
    from mlopstui.doctor.rules.serving import is_raw

    pred = (isvc.get("spec") or {}).get("predictor") or {}
    if is_raw(isvc):
        return ["RawDeployment: the predictor Deployment is updated in place"]
    note = "a predictor spec change makes KServe create a new revision"
    if pred.get("canaryTrafficPercent") is not None:
        note += (f"; with canaryTrafficPercent {pred['canaryTrafficPercent']} set, the new revision takes the "
                 "canary share and the last rolled-out revision keeps the rest")
    return [note]


def fix_min_replicas_zero(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import large_model_reason

    isvc = _isvc(finding, snap, opts)
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    if pred.get("minReplicas") != 0:
        raise _No(f"{ref(isvc)}: spec.predictor.minReplicas is {pred.get('minReplicas')}, not 0")
    large = large_model_reason(pred)
    notes = ["keeps one predictor pod warm: no cold start (model download and load) on the first request"]
    risk = "low"
    if "GPU" in large:
        risk = "medium"
        notes.append("the model requests a GPU: one GPU stays allocated even when idle")
    notes += _revision_note(isvc)
    return _isvc_fix(finding, isvc, {"spec": {"predictor": {"minReplicas": 1}}},
                     f"minReplicas 0 -> 1 on {ref(isvc)}", risk, notes,
                     {"spec.predictor.minReplicas": 0}, {"spec.predictor.minReplicas": 1})


def fix_ineffective_minscale(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import BAD_MINSCALE, COMPONENTS

    isvc = _isvc(finding, snap, opts)
    spec = isvc.get("spec") or {}
    patch: dict[str, Any] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    wanted = 1
    anns = _meta(isvc).get("annotations") or {}
    if BAD_MINSCALE in anns:
        patch["metadata"] = {"annotations": {BAD_MINSCALE: None}}
        before[f"metadata.annotations.{BAD_MINSCALE}"] = anns[BAD_MINSCALE]
        after[f"metadata.annotations.{BAD_MINSCALE}"] = None
        wanted = _int_or(anns[BAD_MINSCALE], wanted)
    for comp in COMPONENTS:
        canns = ((spec.get(comp) or {}).get("annotations")) or {}
        if BAD_MINSCALE in canns:
            patch.setdefault("spec", {}).setdefault(comp, {})["annotations"] = {BAD_MINSCALE: None}
            before[f"spec.{comp}.annotations.{BAD_MINSCALE}"] = canns[BAD_MINSCALE]
            after[f"spec.{comp}.annotations.{BAD_MINSCALE}"] = None
            if comp == "predictor":
                wanted = _int_or(canns[BAD_MINSCALE], wanted)
    if not patch:
        raise _No(f"{ref(isvc)} no longer carries {BAD_MINSCALE}")
    wanted = max(1, wanted)
    cur = (spec.get("predictor") or {}).get("minReplicas")
    notes = [f"removes {BAD_MINSCALE} (not a Knative key: it never kept a pod warm) with merge-patch null"]
    if cur is None or cur < wanted:
        patch.setdefault("spec", {}).setdefault("predictor", {})["minReplicas"] = wanted
        before["spec.predictor.minReplicas"] = cur
        after["spec.predictor.minReplicas"] = wanted
        notes.append(f"sets spec.predictor.minReplicas {wanted} (what the annotation meant); KServe generates "
                     "autoscaling.knative.dev/min-scale from it")
        notes += _revision_note(isvc)
    else:
        notes.append(f"spec.predictor.minReplicas is already {cur}: left as it is")
    return _isvc_fix(finding, isvc, patch,
                     f"remove {BAD_MINSCALE} from {ref(isvc)}" + (
                         f", minReplicas {cur if cur is not None else 'unset'} -> {wanted}"
                         if "spec.predictor.minReplicas" in after else ""),
                     "low", notes, before, after)


def _int_or(v: Any, default: int) -> int:
    try:
        return int(str(v).strip())
    except ValueError:
        return default


def fix_canary_raw(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.doctor.rules.serving import COMPONENTS, is_raw
    from mlopstui.models.serving import UNSUPPORTED_RAW

    isvc = _isvc(finding, snap, opts)
    if not is_raw(isvc):
        raise _No(f"{ref(isvc)} is in Serverless mode now: canaryTrafficPercent works there")
    spec = isvc.get("spec") or {}
    patch: dict[str, Any] = {"spec": {}}
    before, after = {}, {}
    for comp in COMPONENTS:
        pct = (spec.get(comp) or {}).get("canaryTrafficPercent")
        if pct is not None:
            patch["spec"][comp] = {"canaryTrafficPercent": None}
            before[f"spec.{comp}.canaryTrafficPercent"] = pct
            after[f"spec.{comp}.canaryTrafficPercent"] = None
    if not before:
        raise _No(f"{ref(isvc)} has no canaryTrafficPercent any more")
    return _isvc_fix(finding, isvc, patch, f"remove the ignored canaryTrafficPercent from {ref(isvc)}", "low",
                     [f"{UNSUPPORTED_RAW}: the field was ignored and the latest spec already takes 100%; "
                      "removing it changes no traffic, it only stops the false impression",
                      "to roll out by canary, redeploy in Serverless mode (needs Knative)"], before, after)


# -- MLflow allowed hosts -------------------------------------------------------------------------------
def _allowed_hosts_fix(finding: Finding, snap: Snapshot, w: Mapping[str, Any], c: Mapping[str, Any], flags: dict,
                       env: Any, extra: list[str]) -> FixSpec:
    from mlopstui.doctor.util import service_hosts

    if isinstance(flags.get("allowed-hosts"), str):
        raise _No(f"the server command of {ref(w)} passes --allowed-hosts itself (it overrides "
                  "MLFLOW_SERVER_ALLOWED_HOSTS): add the Service names to that flag: "
                  + ",".join(h for svc in snap.services_selecting(w) for h in service_hosts(svc)))
    existing = env.get("MLFLOW_SERVER_ALLOWED_HOSTS")
    if env.has("MLFLOW_SERVER_ALLOWED_HOSTS") and existing is None:
        raise _No(f"MLFLOW_SERVER_ALLOWED_HOSTS of {ref(w)} comes from {env.sources.get('MLFLOW_SERVER_ALLOWED_HOSTS')}: "
                  "add the Service names there")
    if env.has("MLFLOW_SERVER_ALLOWED_HOSTS") is None:
        raise _No(f"{ref(w)} takes env from an envFrom Secret whose keys are unknown: it may set "
                  "MLFLOW_SERVER_ALLOWED_HOSTS; set it there")
    have = [h.strip() for h in (existing or "").split(",") if h.strip()]
    needed = [h for svc in snap.services_selecting(w) for h in service_hosts(svc)] + extra
    if not needed:
        raise _No(f"no Service selects {ref(w)}: the host names clients use are unknown; add them to "
                  "--allowed-hosts by hand")
    hosts = list(dict.fromkeys(have + needed))
    if hosts == have:
        raise _No(f"{ref(w)} already allows {', '.join(needed)}")
    value = ",".join(hosts)
    notes = [f"MLflow reads --allowed-hosts from MLFLOW_SERVER_ALLOWED_HOSTS (click envvar); "
             f"{len(hosts) - len(have)} names added" + (f", the existing {len(have)} kept" if have else ""),
             "add your ingress host names too if clients come through an ingress",
             "the tracking server restarts (a new pod); clients retry"]
    return _pod_template_fix(finding, w, {c.get("name"): {"env": [{"name": "MLFLOW_SERVER_ALLOWED_HOSTS",
                                                                    "value": value}]}},
                             f"allow the Service host names on the MLflow server {ref(w)}", "medium", notes,
                             before={"MLFLOW_SERVER_ALLOWED_HOSTS": existing}, after={"MLFLOW_SERVER_ALLOWED_HOSTS": value})


def _server_target(finding: Finding, snap: Snapshot, opts: _Opts):
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    for r in refs:
        for w, c, flags, env in _servers(snap):
            if ref(w) == r:
                return w, c, flags, env
    raise _No("no MLflow server container found in " + (", ".join(refs) or "the cluster"))


def fix_allowed_hosts(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c, flags, env = _server_target(finding, snap, opts)
    return _allowed_hosts_fix(finding, snap, w, c, flags, env, [])


def fix_host_rejected(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    w, c, flags, env = _server_target(finding, snap, opts)
    p = snap.probe("mlflow")
    extra = []
    rejected = str((p.data.get("host_rejected") if p is not None else "") or "")
    if rejected:
        extra = [rejected] + ([rejected.rsplit(":", 1)[0]] if ":" in rejected else [])
    return _allowed_hosts_fix(finding, snap, w, c, flags, env, extra)


# -- workloads: restart, OOM, failed Jobs -----------------------------------------------------------------
def fix_restart(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    obj = _one_target(finding, snap, opts)
    kind = obj.get("kind")
    if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        raise _No(f"{ref(obj)}: rollout restart works on Deployments, StatefulSets and DaemonSets only; "
                  + ("a Job's pods are not restarted in place: fix the cause and re-run it" if kind in ("Job", "CronJob")
                     else "re-create it once the cause is fixed"))
    stamp = opts.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    m = _meta(obj)
    patch = with_resource_version({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}, _rv(obj))
    old = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    notes = ["exactly what `kubectl rollout restart` sends: a pod template annotation, so the controller "
             "replaces every pod (rolling, respecting the update strategy)",
             "a restart fixes only transient causes (a dependency that was down, a stuck process): read the logs "
             "first (l in the component drill-in)"]
    pending = "Pending" in finding.evidence
    if pending:
        notes.append("its pods are Pending (no node fits them): a restart does not make room")
    risk = "low" if kind == "Deployment" and int((obj.get("spec") or {}).get("replicas", 1) or 1) > 1 else "medium"
    if risk == "medium":
        notes.append("a single replica / stateful pods: the component is briefly unavailable while pods are replaced")
    return FixSpec(finding.id, finding.key, kind, m.get("namespace", ""), m.get("name", ""), patch, STRATEGIC,
                   f"rollout restart {ref(obj)}", risk, notes, _rv(obj),
                   {RESTARTED_AT: old.get(RESTARTED_AT)}, {RESTARTED_AT: stamp})


def _oom_containers(snap: Snapshot, obj: Mapping[str, Any]) -> list[str]:
    from mlopstui.models.stack import pods_of

    names: list[str] = []
    for p in pods_of(obj, snap.of("Pod")):
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            for st in ((cs.get("state") or {}).get("terminated"), ((cs.get("lastState") or {}).get("terminated"))):
                if st and st.get("reason") == "OOMKilled" and cs.get("name") not in names:
                    names.append(cs.get("name"))
    return names


def fix_oomkilled(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.models.stack import containers_of

    workloads = [r for r in finding.objects if not r.startswith("Pod ")]
    refs = [opts.obj_ref] if opts.obj_ref and not opts.obj_ref.startswith("Pod ") else workloads
    obj = find_object(snap, refs[0]) if refs else None
    if obj is None:
        raise _No(f"{refs[0] if refs else 'the workload'} is not in the cluster snapshot")
    target, notes = pod_bearer(snap, obj)
    containers = [c for c in containers_of(target) if c.get("name")]
    names = _oom_containers(snap, obj) or ([containers[0]["name"]] if len(containers) == 1 else [])
    if not names:
        raise _No(f"{ref(obj)} has several containers and the pods do not say which one was OOMKilled")
    changes: dict[str, dict[str, Any]] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for c in containers:
        if c["name"] not in names:
            continue
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if not limit:
            hint = (" (for Redis use the redis-no-memory-limit fix: limit plus maxmemory)"
                    if snap.component_of(target) == "redis" else "")
            raise _No(f"container '{c['name']}' of {ref(target)} has no memory limit: it was killed because the "
                      f"node ran out of memory, so doubling is meaningless; set a limit deliberately{hint}")
        doubled = double_quantity(str(limit))
        if doubled is None:
            raise _No(f"cannot read the memory limit {limit!r} of container '{c['name']}'")
        change: dict[str, Any] = {"limits": {"memory": doubled}}
        req = ((c.get("resources") or {}).get("requests") or {}).get("memory")
        changes[c["name"]] = {"resources": change}
        before[f"{c['name']}.limits.memory"] = limit
        after[f"{c['name']}.limits.memory"] = doubled
        if req:
            notes.append(f"container '{c['name']}': request {req} unchanged (the scheduler still reserves only that)")
    notes.insert(0, "limits x2: " + ", ".join(f"{k} {before[k]} -> {after[k]}" for k in before))
    notes.append("more memory hides a leak for a while: check whether usage grows without bound")
    if snap.component_of(target) == "redis":
        notes.append("for Redis, keep maxmemory below the new limit (redis-no-maxmemory)")
    return _pod_template_fix(finding, target, changes,
                             f"raise the memory limit of {', '.join(changes)} in {ref(target)} x2", "medium", notes,
                             before, after)


def fix_job_failed(finding: Finding, snap: Snapshot, opts: _Opts) -> FixSpec:
    from mlopstui.models.features import job_from_cronjob, manual_job_name

    cj = next((find_object(snap, r) for r in finding.objects if r.startswith("CronJob ")), None)
    if cj is None:
        job_ref = finding.objects[0] if finding.objects else "the Job"
        raise _No(f"{job_ref} is not owned by a CronJob and a Job cannot be re-run in place (its pod template is "
                  "immutable): fix the cause, delete the Job and create it again")
    m = _meta(cj)
    name = manual_job_name(m.get("name", "job"), opts.now)
    manifest = job_from_cronjob(cj, name)
    notes = ["the Job `kubectl create job --from=cronjob/" + m.get("name", "") + "` creates",
             "re-running helps only if the cause of the failure is gone: read the failed pod's logs first"]
    risk = "medium"
    active = [a.get("name") for a in (cj.get("status") or {}).get("active") or []]
    if active:
        risk = "high"
        notes.append(f"a Job of this CronJob is still running ({', '.join(filter(None, active))}); its "
                     "concurrencyPolicy does not apply to manual Jobs")
    if snap.component_of(cj) == "feast":
        notes.append("materialization writes every entity row into the online store: watch Redis memory")
    return FixSpec(finding.id, finding.key, "Job", m.get("namespace", ""), name, manifest, CREATE,
                   f"re-run {ref(cj)} as Job {name}", risk, notes, _rv(cj), None, None, source=ref(cj))


# -- credentials in the spec ------------------------------------------------------------------------------
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


FIXERS: dict[str, Callable[[Finding, Snapshot, _Opts], FixSpec]] = {
    "credentials-inline": fix_credentials_inline,
    "mlflow-client-no-s3-endpoint": fix_s3_endpoint,
    "mlflow-client-no-s3-credentials": fix_s3_credentials,
    "redis-no-memory-limit": fix_redis_memory,
    "redis-no-maxmemory": fix_redis_memory,
    "isvc-min-replicas-zero": fix_min_replicas_zero,
    "isvc-ineffective-minscale": fix_ineffective_minscale,
    "isvc-canary-raw-deployment": fix_canary_raw,
    "mlflow-allowed-hosts": fix_allowed_hosts,
    "mlflow-host-rejected": fix_host_rejected,
    "workload-crashloop": fix_restart,
    "workload-not-ready": fix_restart,
    "workload-oomkilled": fix_oomkilled,
    "job-failed": fix_job_failed,
}


def with_object(snap: Snapshot, obj: Mapping[str, Any]) -> Snapshot:
    """The snapshot with one object replaced by a fresher read of it (same kind, namespace, name)."""
    objs = [o for objs in snap.objects.values() for o in objs if ref(o) != ref(obj)] + [copy.deepcopy(dict(obj))]
    return Snapshot.build(objs, snap.probes, catalog=snap.catalog, watched_namespaces=snap.watched_namespaces,
                          taken_at=snap.taken_at)

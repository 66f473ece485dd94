"""The core of the automatic fixes: FixSpec / NoFix, the registry, the public API and shared helpers."""

from __future__ import annotations

import copy
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


# -- the registry: each topic module registers its fixers with the rule ids they fix ----------------------
FIXERS: dict[str, Callable[[Finding, Snapshot, _Opts], FixSpec]] = {}


def fixer(*rule_ids: str):
    """Register a fixer for rule ids (one place: the fixer's module, beside the rule it answers)."""
    def register(fn):
        for rid in rule_ids:
            assert rid not in FIXERS, f"two fixers for {rid}"
            FIXERS[rid] = fn
        return fn
    return register


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


def _one_target(finding: Finding, snap: Snapshot, opts: _Opts) -> dict[str, Any]:
    refs = [opts.obj_ref] if opts.obj_ref else list(finding.objects)
    if not refs:
        raise _No("the finding names no object")
    obj = find_object(snap, refs[0])
    if obj is None:
        raise _No(f"{refs[0]} is not in the cluster snapshot (deleted?)")
    return obj


def with_object(snap: Snapshot, obj: Mapping[str, Any]) -> Snapshot:
    """The snapshot with one object replaced by a fresher read of it (same kind, namespace, name)."""
    objs = [o for objs in snap.objects.values() for o in objs if ref(o) != ref(obj)] + [copy.deepcopy(dict(obj))]
    return Snapshot.build(objs, snap.probes, catalog=snap.catalog, watched_namespaces=snap.watched_namespaces,
                          taken_at=snap.taken_at)

"""Install a missing stack component: render its manifests, dry-run them on the API server, then
server-side apply them one object at a time.

    action = Install(ctx, "redis", namespace="mlops", sets={"memory": "4Gi"})
    plan = action.plan()          # reads, validates, dry-runs (dryRun=All); nothing is changed
    result = action.apply(plan, readonly=ctx.readonly, audit=ctx.audit)

plan() refuses (MlopsError) when the component has no built-in install, is already installed in the
namespace, a parameter is bad, a dependency is missing, or the API server rejects the dry run.
The plan's manifests have Secret data scrubbed; the real objects (with a generated password) stay in
this action and are sent only by apply(), which stops at the first failure and says what was applied.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlopstui.actions.base import Action, Plan, Result, observe_object
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import manifests as mf
from mlopstui.secrets import scrub

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient, Res
    from mlopstui.context import AppContext

PATCH_TYPE = "server-side apply (application/apply-patch+yaml, fieldManager mlopstui), one object at a time"


def res_for(obj: Mapping[str, Any]) -> Res:
    from mlopstui.backends import kube as k

    by_kind = {"Secret": k.SECRETS, "Service": k.SERVICES, "StatefulSet": k.STATEFULSETS,
               "Deployment": k.DEPLOYMENTS, "CronJob": k.CRONJOBS, "ConfigMap": k.CONFIGMAPS}
    return by_kind[obj["kind"]]


def ref_of(obj: Mapping[str, Any]) -> str:
    """Kind/name (kubectl style; a secret-looking name is never followed by a word the masking would eat)."""
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def installed_by_namespace(kube: KubeClient, settings: Any, cid: str,
                           namespace: str | None = None) -> dict[str, list[str]]:
    """{namespace: workloads} the Stack catalog assigns to `cid` (the Stack screen's detection), from one
    listing: across namespaces, or only `namespace` when given."""
    from mlopstui.backends import kube as k
    from mlopstui.backends.stack import add_selected
    from mlopstui.models.stack import assign_workloads, catalog_with_overrides

    objs: list[dict[str, Any]] = []
    for res in (k.DEPLOYMENTS, k.STATEFULSETS, k.DAEMONSETS, k.CRONJOBS):
        objs.extend(kube.list(res, namespace, all_namespaces=namespace is None))
    catalog = catalog_with_overrides(getattr(settings, "components", None))
    add_selected(kube, catalog, objs)
    if namespace is not None:  # a selector lists across namespaces: keep this one's
        objs = [o for o in objs if (o.get("metadata") or {}).get("namespace") == namespace]
    out: dict[str, list[str]] = {}
    for o in assign_workloads(catalog, objs).get(cid, []):
        out.setdefault((o.get("metadata") or {}).get("namespace") or "", []).append(ref_of(o))
    return out


def installed_in(kube: KubeClient, settings: Any, cid: str, namespace: str | None) -> list[str]:
    """Workloads of `cid` in one namespace, or anywhere."""
    return [r for refs in installed_by_namespace(kube, settings, cid, namespace).values() for r in refs]


class Install(Action):
    name = "install"

    def __init__(self, ctx: AppContext, component: str, *, namespace: str | None = None,
                 sets: Mapping[str, str] | None = None):
        self.ctx = ctx
        self.component = component
        self.namespace = namespace or ctx.namespace
        self.sets = dict(sets or {})
        self._objects: list[dict[str, Any]] = []  # the real manifests (may hold a generated password)
        self.rendered: mf.Rendered | None = None

    @property
    def target(self) -> str:
        return f"{self.component} in namespace {self.namespace}"

    # -- plan ---------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        why = mf.refusal(self.component)
        if why is not None:
            raise MlopsError(Kind.UNSUPPORTED, f"{self.component}: {why}",
                             hint=f"built-in installs: {', '.join(mf.installable_ids())}")
        mf.validate(self.component, self.sets)  # bad input is refused before any request
        kube = self.ctx.kube
        self._check_namespace(kube)
        where = self._installed(kube)
        here = where.pop(self.namespace, [])
        if here:
            raise MlopsError(Kind.REFUSED, f"{self.component} is already installed in {self.namespace}: "
                             f"{', '.join(here)}; nothing to install",
                             hint="the Stack area shows its health; upgrade it with your usual tooling")
        facts = self._facts(kube)
        params = mf.resolve(self.component, self.sets, facts)
        password = None
        if self.component in ("postgresql", "feast_registry"):
            if params["secret"] not in facts.secrets:
                password = pysecrets.token_urlsafe(24)  # created once; an existing Secret is reused
            elif "password" not in facts.secrets[params["secret"]]:
                raise MlopsError(Kind.INVALID, f"Secret/{params['secret']} exists in {self.namespace} without a "
                                 "'password' key; nothing was sent",
                                 hint="add the key, remove the Secret, or pick another name with --set name=NAME")
        rendered = mf.render(self.component, params, password=password)
        self._refuse_foreign(kube, rendered)
        notes = [f"purpose: {mf.INSTALLABLE[self.component].purpose}"] + list(rendered.notes)
        elsewhere = [f"{ns}: {', '.join(refs)}" for ns, refs in sorted(where.items())]
        if elsewhere:
            notes.append(f"already runs elsewhere ({'; '.join(elsewhere[:3])}): this installs a second one in "
                         f"{self.namespace}")
        if self.ctx.readonly:
            notes.append("read-only mode: no server-side dry run was sent, and apply will be refused")
        else:
            self._dry_run(kube, rendered.objects)
            notes.append(f"server-side dry run (dryRun=All): the API server accepts all {len(rendered.objects)} "
                         "objects")
        notes.append("applied in this order, one write each; stops at the first failure: "
                     + ", ".join(ref_of(o) for o in rendered.objects))
        self._objects = rendered.objects
        self.rendered = rendered
        return Plan(action=self.name, summary=rendered.summary,
                    target=f"{self.component} -> {self.namespace}: "
                           + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in rendered.objects),
                    context=self.ctx.context_name, patch=scrub(rendered.objects), patch_type=PATCH_TYPE,
                    risk="medium", notes=notes,
                    before={"installed": False, "namespace": self.namespace, "params": scrub(self._shown(params))})

    def _shown(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k not in ("namespace",)}

    def _check_namespace(self, kube: KubeClient) -> None:
        from mlopstui.backends.kube import NAMESPACES

        try:
            kube.get(NAMESPACES, self.namespace)
        except MlopsError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise MlopsError(Kind.NOT_FOUND, f"namespace {self.namespace} does not exist; nothing was sent",
                                 hint=f"kubectl create namespace {self.namespace}, or pick one with -n") from None
            if exc.kind is not Kind.FORBIDDEN:  # reading namespaces may be forbidden: the dry run will tell
                raise

    def _facts(self, kube: KubeClient) -> mf.Facts:
        from mlopstui.backends import kube as k

        ns = self.namespace
        services = kube.list(k.SERVICES, ns)
        secrets: dict[str, tuple[str, ...]] = {}
        for s in kube.list(k.SECRETS, ns):  # keys only: values are dropped right here
            data = dict(s.get("data") or {})
            data.update(s.get("stringData") or {})
            secrets[(s.get("metadata") or {}).get("name", "")] = tuple(sorted(data))
        s3_services: list[dict[str, Any]] = []
        if self.component == "mlflow" and "s3_endpoint" not in self.sets:
            try:
                every = kube.list(k.SERVICES, all_namespaces=True)
            except MlopsError as exc:
                if exc.kind is not Kind.FORBIDDEN:
                    raise
                every = services
            by_name = {}
            for s in every:
                by_name.setdefault((s.get("metadata") or {}).get("name"), s)
            s3_services = [by_name[n] for n in mf.S3_SERVICES if n in by_name]
        configured = getattr(self.ctx.settings.endpoints, "s3", None)
        return mf.Facts(ns, services, secrets, s3_services, configured, "config" if configured else "")

    def _refuse_foreign(self, kube: KubeClient, rendered: mf.Rendered) -> None:
        """An object of the same name that mlopstui did not create is never taken over."""
        for obj in rendered.objects:
            try:
                live = kube.get(res_for(obj), obj["metadata"]["name"], self.namespace)
            except MlopsError as exc:
                if exc.kind is Kind.NOT_FOUND:
                    continue
                raise
            labels = (live.get("metadata") or {}).get("labels") or {}
            if labels.get(mf.MANAGED_BY_LABEL) != mf.MANAGED_BY:
                raise MlopsError(Kind.REFUSED, f"an object not managed by mlopstui has the same name: "
                                 f"{ref_of(obj)}; nothing was sent",
                                 hint="pick another name with --set name=NAME, or remove the old object")

    def _installed(self, kube: KubeClient) -> dict[str, list[str]]:
        """Where the component already runs: one listing across namespaces, or only this namespace when the
        context may not list cluster-wide."""
        try:
            return installed_by_namespace(kube, self.ctx.settings, self.component)
        except MlopsError as exc:
            if exc.kind is not Kind.FORBIDDEN:
                raise
            return installed_by_namespace(kube, self.ctx.settings, self.component, self.namespace)

    def _dry_run(self, kube: KubeClient, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            try:
                kube.apply(res_for(obj), obj, self.namespace, field_manager=mf.FIELD_MANAGER, dry_run=True)
            except MlopsError as exc:
                raise MlopsError(exc.kind, f"the API server rejected the dry run at {ref_of(obj)}; {exc.message} "
                                 "(nothing was changed)", hint=exc.hint, source="kubernetes") from None

    # -- apply --------------------------------------------------------------------------------------
    def _apply(self, plan: Plan) -> Result:
        if not self._objects:
            raise MlopsError(Kind.ERROR, "apply() without a plan from this action")
        from mlopstui import deadline

        kube = self.ctx.kube
        applied: list[str] = []
        reread: list[str] = []  # objects whose answer timed out and a re-read showed applied
        for obj in self._objects:
            try:
                kube.apply(res_for(obj), obj, self.namespace, field_manager=mf.FIELD_MANAGER)
            except MlopsError as exc:
                if exc.kind is Kind.TIMEOUT:
                    deadline.extend(10.0)  # the re-read (and the rest) get a few seconds of their own
                    if observe_object(kube, res_for(obj), obj, self.namespace) is True:
                        reread.append(ref_of(obj))
                        applied.append(ref_of(obj))
                        continue
                done = ", ".join(applied) if applied else "nothing"
                raise MlopsError(exc.kind, f"install stopped at {ref_of(obj)}; {exc.message}; applied before it: "
                                 f"{done}; not applied: "
                                 + ", ".join(ref_of(o) for o in self._objects[len(applied):]),
                                 hint=exc.hint or "fix the cause and run the install again (applied objects "
                                 "are managed by mlopstui and are re-applied)", source="kubernetes") from None
            applied.append(ref_of(obj))
        late = (f" (the answer for {', '.join(reread)} timed out; re-reading showed it applied)" if reread else "")
        return Result(True, f"installed {self.component} in {self.namespace}: {', '.join(applied)}{late}",
                      data={"component": self.component, "namespace": self.namespace, "applied": applied,
                            **({"outcome": "applied", "reread": reread} if reread else {})})

    def observe(self, plan: Plan) -> bool | None:
        """Each object exists with its planned spec: all applied (True), none (False), or some (None, named)."""
        kube = self.ctx.kube
        seen = [observe_object(kube, res_for(o), o, self.namespace) for o in self._objects]
        if seen and all(x is True for x in seen):
            return True
        if seen and all(x is False for x in seen):
            return False
        if any(x is None for x in seen):
            return None
        done = [ref_of(o) for o, x in zip(self._objects, seen, strict=True) if x]
        self.observed = (f"re-reading shows {', '.join(done)} applied, not "
                         + ", ".join(ref_of(o) for o, x in zip(self._objects, seen, strict=True) if not x)
                         + ": run the install again to apply the rest")
        return None


"""The Stack backend: read the cluster objects the catalog needs, resolve endpoints, run the probes
concurrently (each with its own timeout), and roll everything up into a StackReport.

    report = sweep(ctx)                      # CLI: everything, blocking
    state = collect_cluster(ctx)             # TUI: the cluster part in one worker ...
    tasks = probe_tasks(ctx.settings, state) # ... then one worker per probe
    report = build_report(ctx.settings, state, results)   # models/stack/report.py: pure, re-run as results arrive
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlopstui.backends import kube as k
from mlopstui.doctor import Snapshot
from mlopstui.doctor.util import service_hosts
from mlopstui.errors import Kind, MlopsError, from_exception
from mlopstui.models.endpoints import Endpoint, choose
from mlopstui.models.stack import (
    ComponentSpec,
    ProbeResult,
    ProbeState,
    catalog_with_overrides,
    pending_probe,
    skipped_probe,
)
from mlopstui.models.stack.report import (
    ClusterState,
    StackReport,
    build_report,
    not_probeable,
    referenced_configmaps,
    resolve_endpoints,
)
from mlopstui.units import clock

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.config import Settings
    from mlopstui.context import AppContext

# what a sweep lists; optional ones (CRDs) may be absent from the cluster
LISTED: tuple[tuple[k.Res, bool], ...] = (
    (k.DEPLOYMENTS, False), (k.STATEFULSETS, False), (k.DAEMONSETS, False), (k.PODS, False),
    (k.SERVICES, False), (k.JOBS, False), (k.CRONJOBS, False),
    (k.INFERENCESERVICES, True), (k.ARGO_WORKFLOWS, True), (k.FEATURESTORES_V1, True), (k.TENANTS, True),
    (k.ARGO_CRON_WORKFLOWS, True), (k.ARGO_WORKFLOW_TEMPLATES, True),
)
# an optional kind served under an older version too: tried when the first is not served
FALLBACK = {k.FEATURESTORES_V1: k.FEATURESTORES}
# namespaces to read one by one when listing across all namespaces is forbidden
DEFAULT_NAMESPACES = ("mlops", "kserve", "knative-serving", "istio-system", "argo", "kubeflow", "feast")


def _namespaces(settings: Settings, kube: KubeClient) -> list[str]:
    out = list(settings.watched_namespaces) or [kube.namespace]
    out += [o.namespace for o in settings.components.values() if o.namespace]
    out += list(DEFAULT_NAMESPACES)
    return list(dict.fromkeys(out))


def _list_kind(kube: KubeClient, res: k.Res, optional: bool, namespaces: list[str],
               only: str | None = None) -> list[dict[str, Any]]:
    try:
        if only:
            return kube.list(res, only)
        return kube.list(res, all_namespaces=True)
    except MlopsError as err:
        if err.kind is Kind.NOT_FOUND and optional:
            if res in FALLBACK:
                return _list_kind(kube, FALLBACK[res], optional, namespaces, only)
            return []  # the CRD is not installed
        if err.kind is not Kind.FORBIDDEN or only:
            raise
    out: list[dict[str, Any]] = []
    for ns in namespaces:  # RBAC allows only some namespaces: read those
        try:
            out.extend(kube.list(res, ns))
        except MlopsError as err:
            if err.kind not in (Kind.FORBIDDEN, Kind.NOT_FOUND):
                raise
    return out


def collect_cluster(ctx: AppContext, max_workers: int = 8, namespace: str | None = None,
                    watched: bool = False, listener: Callable[[], None] | None = None,
                    start_watches: bool = True) -> ClusterState:
    """List the catalog's object kinds concurrently (blocking: call from a worker); namespace: only that one
    (`-n NS`), else every namespace the credentials may read. watched: from the context's shared watch
    caches (backends/stack_watch.py: listed once, then watched; listener hears their changes), not a list;
    start_watches=False: the caches listed now watch from Informers.start_all on (the first sweep's)."""
    t0 = time.monotonic()
    state = ClusterState(namespace=namespace)
    try:
        kube = ctx.kube
    except MlopsError as err:
        state.error = err
        return state
    namespaces = [namespace] if namespace else _namespaces(ctx.settings, kube)
    if watched and not namespace:
        from mlopstui.backends.stack_watch import list_from_cache

        list_from_cache(ctx.informers, kube, namespaces, state, ctx.settings.kube_timeout * 2, listener,
                        start_watches=start_watches)
    else:
        _list_all(kube, namespaces, namespace, state, max_workers)
    return _finish(ctx, kube, state, namespace, max_workers, t0)


def _list_all(kube: KubeClient, namespaces: list[str], namespace: str | None, state: ClusterState,
              max_workers: int) -> None:
    with cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stack-list") as pool:
        futs = {pool.submit(_list_kind, kube, res, opt, namespaces, namespace): res for res, opt in LISTED}
        for fut in cf.as_completed(futs):
            res = futs[fut]
            try:
                state.objects.extend(fut.result())
            except Exception as exc:  # noqa: BLE001
                err = from_exception(exc)
                if res is k.DEPLOYMENTS or err.kind in (Kind.UNREACHABLE, Kind.TIMEOUT, Kind.UNAUTHORIZED):
                    state.error = state.error or err
                state.errors.append(f"{res.kind}: {err.message}")


def _finish(ctx: AppContext, kube: KubeClient, state: ClusterState, namespace: str | None, max_workers: int,
            t0: float) -> ClusterState:
    if state.error is None:
        try:
            add_selected(kube, catalog_with_overrides(ctx.settings.components), state.objects)
        except MlopsError as err:
            state.errors.append(f"label selector: {err.message}")
        state.objects.extend(_referenced_configmaps(kube, state.objects, max_workers))
        state.objects.extend(_argo_objects(kube, state.objects))
        state.objects.extend(_data_objects(ctx, state.objects))
    if namespace and state.error is None:  # -n: what selectors or side reads brought from elsewhere goes
        state.objects = [o for o in state.objects if (o.get("metadata") or {}).get("namespace") in (None, "", namespace)]
    if state.error is not None:
        state.objects = []
    state.duration = time.monotonic() - t0
    state.at = clock()
    return state


_KIND_RES = {"Deployment": k.DEPLOYMENTS, "StatefulSet": k.STATEFULSETS, "DaemonSet": k.DAEMONSETS,
             "CronJob": k.CRONJOBS}


def add_selected(kube: KubeClient, catalog: tuple[ComponentSpec, ...], objects: list[dict[str, Any]]) -> None:
    """For each matcher with a label selector: list its kinds with labelSelector= (the API server
    evaluates it, set-based and inequality requirements included) and mark what came back with
    SELECTED_BY, adding objects not listed yet. In place."""
    from mlopstui.models.stack import SELECTED_BY

    by_key = {_key(o): o for o in objects}
    for spec in catalog:
        for m in spec.matchers:
            if not m.selector:
                continue
            for kind in m.kinds:
                res = _KIND_RES.get(kind)
                if res is None:
                    continue
                found: list[dict[str, Any]] = []
                for ns in m.namespaces or (None,):
                    found.extend(kube.list(res, ns, label_selector=m.selector, all_namespaces=ns is None))
                for o in found:
                    mine = by_key.setdefault(_key(o), o)
                    if mine is o:
                        objects.append(o)
                    mine.setdefault(SELECTED_BY, [])
                    if m.selector not in mine[SELECTED_BY]:
                        mine[SELECTED_BY].append(m.selector)


def _key(o: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = o.get("metadata") or {}
    return (str(o.get("kind")), str(meta.get("namespace")), str(meta.get("name")))


def _data_objects(ctx: AppContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Facts of the Data area for the doctor: LakeFS repositories (their buckets), the DVC project's remotes.
    LakeFS is asked only when it is configured or the cluster runs it (a Deployment or Service named lakefs*)."""
    runs_lakefs = any(o.get("kind") in ("Deployment", "StatefulSet", "Service")
                      and (o.get("metadata") or {}).get("name", "").startswith("lakefs") for o in objects)
    out: list[dict[str, Any]] = []
    if ctx.settings.endpoints.lakefs or runs_lakefs:
        # only then: it imports httpx (~0.1 CPU-s, before the first Stack rows)
        from mlopstui.backends import lakefs

        out = lakefs.repository_objects(ctx)
    if ctx.settings.endpoints.dvc_repo:
        from pathlib import Path

        from mlopstui.backends import dvc

        out.extend(dvc.remote_objects(Path(ctx.settings.endpoints.dvc_repo).expanduser()))
    return out


def _argo_objects(kube: KubeClient, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Argo's artifact repositories (workflow-controller-configmap, each workflow namespace's
    artifact-repositories) and a stub per credentials Secret they name: `exists` and its key names, never
    the values (dropped here, before anything else sees them)."""
    import yaml

    argo_ns = {(o.get("metadata") or {}).get("namespace", "") for o in objects
               if o.get("kind") in ("Workflow", "WorkflowTemplate", "CronWorkflow")} - {""}
    ctl_ns = {(o.get("metadata") or {}).get("namespace", "") for o in objects
              if o.get("kind") == "Deployment" and (o.get("metadata") or {}).get("name") == "workflow-controller"}
    if not argo_ns and not ctl_ns:
        return []
    out: list[dict[str, Any]] = []
    wanted = [(ns, "workflow-controller-configmap") for ns in sorted(ctl_ns | {"argo"})]
    wanted += [(ns, "artifact-repositories") for ns in sorted(argo_ns)]
    for ns, name in wanted[:40]:
        try:
            cm = kube.get(k.CONFIGMAPS, name, ns)
        except MlopsError:
            continue
        cm.setdefault("kind", "ConfigMap")
        out.append(cm)
    secrets: set[tuple[str, str]] = set()
    for cm in out:
        meta = cm.get("metadata") or {}
        users = [meta.get("namespace", "")] if meta.get("name") == "artifact-repositories" else sorted(argo_ns)
        for text in (cm.get("data") or {}).values():
            try:
                s3 = (yaml.safe_load(text) or {}).get("s3") or {}
            except (yaml.YAMLError, AttributeError):
                continue
            for f in ("accessKeySecret", "secretKeySecret"):
                name = (s3.get(f) or {}).get("name") if isinstance(s3, dict) else None
                if name:
                    secrets.update((ns, name) for ns in users)
    for ns, name in sorted(secrets)[:40]:
        try:
            sec = kube.get(k.SECRETS, name, ns)
            stub = {"kind": "Secret", "metadata": {"name": name, "namespace": ns}, "exists": True,
                    "dataKeys": sorted({*(sec.get("data") or {}), *(sec.get("stringData") or {})})}
            del sec
        except MlopsError as exc:
            if exc.kind is not Kind.NOT_FOUND:
                continue  # forbidden or unreachable: unknown, not missing
            stub = {"kind": "Secret", "metadata": {"name": name, "namespace": ns}, "exists": False}
        out.append(stub)
    return out


def _referenced_configmaps(kube: KubeClient, objects: list[dict[str, Any]], max_workers: int = 8) -> list[dict[str, Any]]:
    def get(ns: str, name: str) -> dict[str, Any] | None:
        try:
            cm = kube.get(k.CONFIGMAPS, name, ns)
        except MlopsError:
            return None  # unreadable: the rules that need it say so
        cm.setdefault("kind", "ConfigMap")
        return cm

    wanted = referenced_configmaps(objects)
    if not wanted:
        return []
    with cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stack-cm") as pool:
        return [cm for cm in pool.map(lambda t: get(*t), wanted) if cm is not None]


# -- probes ----------------------------------------------------------------------------------------
@dataclass
class ProbeTask:
    component: str
    kind: str
    endpoint: Endpoint
    run: Callable[[], ProbeResult]

    def pending(self) -> ProbeResult:
        return pending_probe(self.component, self.kind, self.endpoint.display, self.endpoint.source)


def _mlflow_hosts(snapshot_objects: list[dict[str, Any]], assigned: Mapping[str, list]) -> list[str]:
    """The Host header in-cluster clients send to MLflow: <svc>.<ns>.svc.cluster.local:<port>."""
    snap = Snapshot.build(snapshot_objects)
    hosts: list[str] = []
    for w in assigned.get("mlflow", []):
        for svc in snap.services_selecting(w):
            hs = service_hosts(svc)
            hosts.extend(h for h in hs if h.count(".") == 4 and ":" in h)
    return hosts[:1]


def _probe_via(spec: ComponentSpec, ep: Endpoint, probe: Callable[[str, str], ProbeResult]) -> ProbeResult:
    """Probe through the chosen route and say which in the result; a dark endpoint says why."""
    from dataclasses import replace

    from mlopstui.backends.routes import via_text

    if not ep.url:
        short = "dark: forbidden" if "forbidden" in ep.source.lower() else "dark: no route"
        return ProbeResult(spec.id, spec.probe, "-", ep.source, ProbeState.FAILED, short, detail=ep.source,
                           data={"route": ep.via})
    res = probe(ep.url, ep.source)
    return replace(res, summary=f"{res.summary} {via_text(ep)}".strip(), data={**res.data, "route": ep.via or "direct"})


def _routed(spec: ComponentSpec, settings: Settings, kube: KubeClient, hit: tuple[dict, dict, str],
            probe: Callable[[str, str], ProbeResult]) -> ProbeResult:
    """Choose the route of the Service discovery found (direct, API proxy, port-forward), then probe."""
    from mlopstui.backends.routes import route

    svc, port, scheme = hit
    return _probe_via(spec, route(spec.endpoint or "", svc, port, scheme, settings, kube), probe)


def _names_service(ep: Endpoint) -> bool:
    from urllib.parse import urlsplit

    from mlopstui.backends.routes import cluster_service_of

    return cluster_service_of(urlsplit(ep.url or "").hostname or "") is not None


def _routed_named(spec: ComponentSpec, settings: Settings, kube: KubeClient, found: Endpoint,
                  probe: Callable[[str, str], ProbeResult]) -> ProbeResult:
    """A configured URL naming a Service by cluster DNS, probed through that Service's route."""
    from mlopstui.backends.routes import route_named

    return _probe_via(spec, route_named(found, settings, kube), probe)


def probe_tasks(settings: Settings, state: ClusterState,
                catalog: tuple[ComponentSpec, ...] | None = None,
                kube: KubeClient | None = None) -> tuple[list[ProbeTask], dict[str, ProbeResult]]:
    """(tasks to run, results known without running: skipped) for every catalog component.

    With a cluster client, an endpoint found from a Service is reached by the first route that answers
    (backends/routes.py: direct, else through the API server), chosen inside the task (a worker)."""
    from mlopstui.backends import probes

    catalog = catalog or catalog_with_overrides(settings.components)
    services = state.services()
    snap = Snapshot.build(state.objects, catalog=catalog)
    endpoints = resolve_endpoints(settings, catalog, services, snap.components)
    timeout = settings.probe_timeout
    tasks: list[ProbeTask] = []
    skipped: dict[str, ProbeResult] = {}
    for spec in catalog:
        if spec.probe == "none" or not spec.endpoint:
            skipped[spec.id] = skipped_probe(spec.id, "none", "no probe")
            continue
        ep = endpoints[spec.id]
        hit = None
        if kube is not None and ep.url and ep.source.startswith("service "):
            # the Service and port discovery chose for the component (models/endpoints, discovery.choose)
            hit = choose(spec.endpoint, services, list(snap.components.get(spec.id, [])))
        if hit is not None:
            from mlopstui.backends.routes import known_route

            ep = known_route(spec.endpoint, hit[0], hit[1], settings, kube) or ep
        if not ep.url:
            why = "no endpoint" if snap.installed(spec.id) else "-"
            skipped[spec.id] = skipped_probe(spec.id, spec.probe, why, ep.source)
            continue
        why_not = not_probeable(spec.probe, ep.url)
        if why_not:
            skipped[spec.id] = skipped_probe(spec.id, spec.probe, why_not, ep.source, ep.display)
            continue
        named = kube is not None and hit is None and ep.source.startswith(("config", "env ")) and _names_service(ep)
        if not named and hit is None and (ep.url.endswith(".svc.cluster.local") or ".svc.cluster.local:" in ep.url):
            # a cluster-internal name, found from a Service: only reachable from inside the cluster
            if not _resolvable(ep.url):
                skipped[spec.id] = skipped_probe(spec.id, spec.probe, "in-cluster only", ep.source, ep.display)
                continue
        if spec.probe == "http":
            hosts = _mlflow_hosts(state.objects, snap.components) if spec.id == "mlflow" else []

            def probe(url: str, source: str, spec=spec, hosts=hosts) -> ProbeResult:
                return probes.probe_http(spec.id, url, timeout=timeout, source=source,
                                         health_path=spec.health_path, version_path=spec.version_path,
                                         accept_any=spec.accept_any_http, host_headers=hosts)
        else:
            probe_fn = probes.PROBES[spec.probe]

            def probe(url: str, source: str, spec=spec, probe_fn=probe_fn) -> ProbeResult:
                return probe_fn(spec.id, url, timeout=timeout, source=source)
        if hit is not None:
            def fn(spec=spec, hit=hit, probe=probe) -> ProbeResult:
                return _routed(spec, settings, kube, hit, probe)
        elif named:
            def fn(spec=spec, ep=ep, probe=probe) -> ProbeResult:
                return _routed_named(spec, settings, kube, ep, probe)
        else:
            def fn(ep=ep, probe=probe) -> ProbeResult:
                return probe(ep.url, ep.source)
        tasks.append(ProbeTask(spec.id, spec.probe, ep, fn))
    return tasks, skipped


def _resolvable(url: str) -> bool:
    """Cluster DNS names resolve only inside the cluster; never look them up from outside (a failing
    lookup can take seconds)."""
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def timed_out(task: ProbeTask, timeout: float) -> ProbeResult:
    return ProbeResult(task.component, task.kind, task.endpoint.display, task.endpoint.source,
                       ProbeState.TIMEOUT, "timeout", timeout * 1000.0,
                       detail=f"no answer within {timeout:g}s")


def run_probes(tasks: list[ProbeTask], timeout: float,
               on_result: Callable[[ProbeResult], None] | None = None) -> dict[str, ProbeResult]:
    """Run every probe at once; one that hangs past timeout (+ a little grace) is reported as a timeout
    and abandoned (its thread finishes on its own socket timeout)."""
    results: dict[str, ProbeResult] = {}
    if not tasks:
        return results
    from mlopstui.backends import probes

    # the probe SDKs (~0.45 CPU-s: boto3, redis, psycopg, httpx) before the timeouts start, here and not in
    # probe_tasks: the TUI's first Stack rows are posted before this runs (bench/bench_startup.py)
    probes.warm_up()
    pool = cf.ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="stack-probe")
    try:
        futs = {pool.submit(t.run): t for t in tasks}
        deadline = time.monotonic() + timeout + 0.5
        pending = set(futs)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done, pending = cf.wait(pending, timeout=left, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                task = futs[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - probes do not raise, but be safe
                    res = ProbeResult(task.component, task.kind, task.endpoint.display, task.endpoint.source,
                                      ProbeState.FAILED, "error", detail=from_exception(exc).message)
                results[task.component] = res
                if on_result:
                    on_result(res)
        for fut in pending:
            res = timed_out(futs[fut], timeout)
            results[res.component] = res
            if on_result:
                on_result(res)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def sweep(ctx: AppContext, namespace: str | None = None) -> StackReport:
    """Everything, blocking (the CLI): cluster, then all probes concurrently, then the doctor; namespace:
    only that namespace (`-n`), else all."""
    state = collect_cluster(ctx, namespace=namespace)
    tasks, results = probe_tasks(ctx.settings, state, kube=ctx.kube_or_none)
    results.update(run_probes(tasks, ctx.settings.probe_timeout))
    return build_report(ctx.settings, state, results)

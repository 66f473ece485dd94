"""KServe: InferenceServices and their Knative Revisions through the kube client; inference requests.

Dict-based access through ctx.kube (the kserve SDK takes seconds to import and is not needed).
Inference requests use httpx with explicit timeouts.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlopstui import deadline as verb_deadline
from mlopstui.errors import Kind, MlopsError, from_exception
from mlopstui.models.serving import (
    DEPLOYMENT_MODE_ANNOTATION,
    ISVC_CONFIG,
    KNOWN_MODES,
    InferenceService,
    default_mode_from_config,
    infer_path,
    parse_isvc,
    request_body,  # noqa: F401 - re-exported: the pure body/path builders live in models.serving
)

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.context import AppContext


def _revisions(kube: KubeClient, namespace: str | None, all_namespaces: bool = False) -> list[dict[str, Any]]:
    from mlopstui.backends.kube import KNATIVE_REVISIONS

    try:
        return kube.list(KNATIVE_REVISIONS, namespace, all_namespaces=all_namespaces)
    except MlopsError as exc:
        if exc.kind in (Kind.NOT_FOUND, Kind.FORBIDDEN):  # no Knative, or no right to read it: URIs unknown
            return []
        raise


def _needs_default_mode(obj: dict[str, Any]) -> bool:
    """Neither status.deploymentMode nor a known annotation: the mode is the cluster's default."""
    ann = ((obj.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_MODE_ANNOTATION)
    return not (obj.get("status") or {}).get("deploymentMode") and str(ann or "").lower() not in KNOWN_MODES


def cluster_default_mode(kube: KubeClient) -> str | None:
    """deploy.defaultDeploymentMode of KServe's inferenceservice-config ConfigMap (None: absent or not readable)."""
    from mlopstui.backends.kube import CONFIGMAPS

    name, namespaces = ISVC_CONFIG
    for ns in namespaces:
        try:
            cm = kube.get(CONFIGMAPS, name, ns)
        except MlopsError as exc:
            if exc.kind in (Kind.NOT_FOUND, Kind.FORBIDDEN):
                continue
            raise
        return default_mode_from_config(cm.get("data") or {})
    return None


def _default_mode_for(kube: KubeClient, items: list[dict[str, Any]]) -> str | None:
    return cluster_default_mode(kube) if any(_needs_default_mode(i) for i in items) else None


def list_isvcs(kube: KubeClient, namespace: str | None = None, *,
               all_namespaces: bool = False) -> list[InferenceService]:
    from mlopstui.backends.kube import INFERENCESERVICES

    try:
        items = kube.list(INFERENCESERVICES, namespace, all_namespaces=all_namespaces)
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise MlopsError(Kind.NOT_FOUND, "the InferenceService API (serving.kserve.io/v1beta1) is not served",
                             hint="is KServe installed in this cluster?", source="kubernetes") from None
        raise
    revs = _revisions(kube, namespace, all_namespaces) if items else []
    return _build_isvcs(items, revs, _default_mode_for(kube, items))


def _build_isvcs(items: list[dict[str, Any]], revs: list[dict[str, Any]], default: str | None) -> list[InferenceService]:
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for r in revs:
        by_ns.setdefault((r.get("metadata") or {}).get("namespace", ""), []).append(r)
    out = [parse_isvc(i, by_ns.get((i.get("metadata") or {}).get("namespace", ""), []), default) for i in items]
    return sorted(out, key=lambda s: (s.namespace, s.name))


class IsvcWatch:
    """The InferenceService list kept by watch (backends/informer.py): InferenceServices and their Knative
    Revisions are each listed once and then watched; `isvcs()` builds the list from the local caches, no
    request. The cluster's default deployment mode (a ConfigMap) is read when the InferenceServices are
    (re)listed, not on every event."""

    def __init__(self, kube: KubeClient, namespace: str | None, *, all_namespaces: bool = False,
                 on_change: Any = None, watch_timeout: int = 60, informers: Any = None):
        """informers: the context's shared caches (backends/informer.Informers): the InferenceService cache
        across all namespaces when one runs already (the Stack's), filtered here, else one of this scope."""
        from mlopstui.backends.informer import Informer
        from mlopstui.backends.kube import INFERENCESERVICES, KNATIVE_REVISIONS

        self.kube = kube
        self._default: str | None = None
        self._default_at = -1
        self._on_change = on_change
        self._shared = informers
        self.namespace = None if all_namespaces else (namespace or kube.namespace)
        if informers is not None:
            def shared(res: Any) -> Informer:
                scope = None if informers.find(res, None) is not None else self.namespace
                return informers.informer(res, scope, optional=True, listener=self._changed)

            self.isvc, self.revisions = shared(INFERENCESERVICES), shared(KNATIVE_REVISIONS)
            return
        self.isvc = Informer(kube, INFERENCESERVICES, namespace, all_namespaces=all_namespaces,
                             on_change=self._changed, watch_timeout=watch_timeout)
        self.revisions = Informer(kube, KNATIVE_REVISIONS, namespace, all_namespaces=all_namespaces,
                                  on_change=self._changed, watch_timeout=watch_timeout, optional=True)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def start(self) -> IsvcWatch:
        if self._shared is None:  # shared caches run already
            self.isvc.start()
            self.revisions.start()
        return self

    def close(self) -> None:
        if self._shared is not None:
            self._shared.unsubscribe(self._changed)  # the caches stay, for the other areas
            return
        self.isvc.close()
        self.revisions.close()

    def _mine(self, inf: Any) -> list[dict[str, Any]]:
        items = inf.items()
        if self.namespace is not None and inf.namespace is None:  # the all-namespaces cache, shared
            items = [o for o in items if (o.get("metadata") or {}).get("namespace") == self.namespace]
        return items

    def wait_synced(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        return self.isvc.wait_synced(timeout) and self.revisions.wait_synced(max(0.0, end - time.monotonic()))

    @property
    def state(self):
        """The InferenceServices' cache state (the Revisions only refine the URIs)."""
        return self.isvc.state

    def isvcs(self) -> list[InferenceService]:
        items = self._mine(self.isvc)
        if self._default_at != self.isvc.lists and any(_needs_default_mode(i) for i in items):
            try:
                self._default = cluster_default_mode(self.kube)
            except MlopsError:
                self._default = None
            self._default_at = self.isvc.lists
        return _build_isvcs(items, self._mine(self.revisions), self._default)


def get_isvc(kube: KubeClient, namespace: str, name: str, *, with_revisions: bool = True) -> InferenceService:
    from mlopstui.backends.kube import INFERENCESERVICES

    try:
        obj = kube.get(INFERENCESERVICES, name, namespace)
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise MlopsError(Kind.NOT_FOUND, f"no InferenceService {name} in namespace {namespace}",
                             hint="`mlopstui isvc -n NS` lists them", source="kubernetes") from None
        raise
    revs = [r for r in _revisions(kube, namespace) if _belongs(r, name)] if with_revisions else []
    return parse_isvc(obj, revs, _default_mode_for(kube, [obj]))


def _belongs(rev: dict[str, Any], isvc: str) -> bool:
    meta = rev.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get("serving.kserve.io/inferenceservice") == isvc:
        return True
    return str(meta.get("name", "")).startswith(f"{isvc}-predictor-")


def revisions_of(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    revs = [r for r in _revisions(kube, namespace) if _belongs(r, name)]
    return sorted(revs, key=lambda r: (r.get("metadata") or {}).get("name", ""))


# -- inference -------------------------------------------------------------------------------------
@dataclass
class InferResult:
    ok: bool
    status: int
    latency_ms: float
    url: str
    host: str | None
    protocol: str
    revision: str | None = None
    model_version: str | None = None
    predictions: Any = None
    body: Any = None
    error: str | None = None

    def line(self) -> str:
        rev = self.revision or self.model_version or "?"
        if not self.ok:
            return f"{self.protocol} HTTP {self.status} in {self.latency_ms:.0f} ms: {self.error}"
        return (f"{self.protocol} HTTP {self.status} in {self.latency_ms:.0f} ms, revision {rev}: "
                f"{json.dumps(self.predictions)[:200]}")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "latency_ms": round(self.latency_ms, 1), "url": self.url,
                "host": self.host, "protocol": self.protocol, "revision": self.revision,
                "model_version": self.model_version, "predictions": self.predictions, "error": self.error}


@dataclass
class BurstResult:
    results: list[InferResult] = field(default_factory=list)

    @property
    def split(self) -> dict[str, int]:
        return dict(Counter((r.revision or r.model_version or "?") if r.ok else "error" for r in self.results))

    def percentages(self) -> dict[str, float]:
        n = len(self.results) or 1
        return {k: round(100.0 * v / n, 1) for k, v in sorted(self.split.items())}

    def text(self) -> str:
        if not self.results:
            return "no requests"
        lat = sorted(r.latency_ms for r in self.results)
        p50 = lat[len(lat) // 2]
        parts = ", ".join(f"{k} {v}%" for k, v in self.percentages().items())
        return f"{len(self.results)} requests, p50 {p50:.0f} ms: {parts}"

    def to_dict(self) -> dict[str, Any]:
        return {"requests": len(self.results), "split": self.split, "percent": self.percentages(),
                "errors": [r.error for r in self.results if not r.ok][:5]}


@dataclass(frozen=True)
class InferTarget:
    url: str  # where the request goes (service URL, or the ingress)
    host: str | None  # Host header when going through an ingress
    via: str  # words for the screen: "ingress http://... (config)" / "service URL"


def infer_target(isvc: InferenceService, ingress: str | None = None, ingress_source: str = "") -> InferTarget:
    """Through the ingress with the service's host name as Host header (Istio routing), else the URL."""
    if not isvc.url:
        raise MlopsError(Kind.INVALID, f"{isvc.name} has no URL in its status yet",
                         hint="wait until it is Ready, or check its conditions")
    from mlopstui.text import control_chars

    try:
        host = urlsplit(isvc.url).hostname
        bad = control_chars(isvc.url)
    except ValueError as exc:
        host, bad = None, [str(exc)]
    if bad or not host:
        raise MlopsError(Kind.INVALID, f"{isvc.name}'s status.url {isvc.url!r} is not a usable URL",
                         hint="the InferenceService's status is malformed; check it with kubectl", source="kubernetes")
    if ingress:
        via = f"ingress {ingress}" + (f" ({ingress_source})" if ingress_source else "") + f", Host: {host}"
        return InferTarget(ingress.rstrip("/"), host, via)
    return InferTarget(isvc.url.rstrip("/"), None, "service URL")


def resolve_target(ctx: AppContext, isvc: InferenceService, use_ingress: bool = True) -> InferTarget:
    """Blocking (may list Services to find istio-ingressgateway): call in a worker."""
    if use_ingress:
        ep = ctx.endpoint("ingress")
        if ep.url:
            return infer_target(isvc, ep.url, ep.source)
    return infer_target(isvc)


def infer(target: InferTarget, model: str, protocol: str, body: dict[str, Any], *, timeout: float = 10.0,
          client: Any = None) -> InferResult:
    """One inference request. Never raises for HTTP errors: the result says what happened."""
    import httpx

    if protocol not in ("v1", "v2"):
        raise MlopsError(Kind.INVALID, f"unknown protocol {protocol!r}", hint="v1 or v2")
    url = target.url + infer_path(model, protocol)
    headers = {"Content-Type": "application/json"}
    if target.host:
        headers["Host"] = target.host
    own = client is None
    started = time.perf_counter()
    try:
        timeout = verb_deadline.timeout(timeout, f"POST {url}")
    except MlopsError as exc:
        return InferResult(False, 0, 0.0, url, target.host, protocol, error=f"[{exc.kind.value}] {exc.message}")
    c = client or httpx.Client(timeout=timeout, trust_env=False)
    try:
        resp = c.post(url, content=json.dumps(body), headers=headers, timeout=timeout)
    except Exception as exc:  # httpx transport errors
        err = from_exception(exc, source="inference")
        return InferResult(False, 0, (time.perf_counter() - started) * 1000, url, target.host, protocol,
                           error=f"[{err.kind.value}] {err.message}")
    finally:
        if own:
            c.close()
    latency = (time.perf_counter() - started) * 1000
    try:
        doc = resp.json()
    except ValueError:
        doc = resp.text[:500]
    revision = resp.headers.get("x-mlopstui-revision") or resp.headers.get("x-model-revision")
    model_version = doc.get("model_version") if isinstance(doc, dict) else None
    if resp.status_code >= 400:
        msg = (doc.get("error") or doc.get("message") or doc.get("detail")) if isinstance(doc, dict) else doc
        return InferResult(False, resp.status_code, latency, url, target.host, protocol, revision, model_version,
                           body=doc, error=str(msg or resp.reason_phrase)[:300])
    preds: Any = None
    if isinstance(doc, dict):
        if "predictions" in doc:
            preds = doc["predictions"]
        elif isinstance(doc.get("outputs"), list):
            preds = {o.get("name", "out"): o.get("data") for o in doc["outputs"] if isinstance(o, dict)}
    if preds is None:
        # a 200 that is not a v1 ({"predictions": ...}) or v2 ({"outputs": [...]}) answer: an HTML page,
        # a proxy's banner, invalid JSON. Not ok, whatever the status says.
        from mlopstui.text import snippet

        ctype = resp.headers.get("content-type", "") or "no content type"
        what = "an HTML page" if resp.text.lstrip()[:1] == "<" else (
            "JSON without predictions/outputs" if isinstance(doc, dict) else "a body that is not JSON")
        return InferResult(False, resp.status_code, latency, url, target.host, protocol, revision, model_version,
                           body=None, error=f"[invalid] {url} answered HTTP {resp.status_code} with {what} "
                                            f"({ctype}), not a {protocol} inference answer: {snippet(resp.text)!r}")
    return InferResult(True, resp.status_code, latency, url, target.host, protocol, revision, model_version,
                       predictions=preds, body=doc)


def burst(target: InferTarget, model: str, protocol: str, body: dict[str, Any], n: int, *,
          timeout: float = 10.0) -> BurstResult:
    import httpx

    out = BurstResult()
    with httpx.Client(timeout=timeout, trust_env=False) as c:
        for _ in range(max(0, n)):
            out.results.append(infer(target, model, protocol, body, timeout=timeout, client=c))
            left = verb_deadline.remaining()
            if left is not None and left <= 0.05:  # the verb's deadline: stop sending, say how many went
                break
    return out


def model_name(isvc: InferenceService) -> str:
    """The model name the server answers to: KServe uses the InferenceService name."""
    return isvc.name


@dataclass
class TestRequestOutcome:
    """What a test request (or a burst of them) did and the route it took: the TUI and the CLI show this."""

    __test__ = False  # not a pytest test class

    via: str
    result: InferResult | BurstResult

    @property
    def ok(self) -> bool:
        r = self.result
        return all(x.ok for x in r.results) if isinstance(r, BurstResult) else r.ok

    def text(self) -> str:
        r = self.result
        if isinstance(r, BurstResult):
            return f"burst via {self.via}\n{r.text()}"
        return f"via {self.via}\n{r.line()}"

    def to_dict(self) -> dict[str, Any]:
        return {"via": self.via, **self.result.to_dict()}


def send_test_request(ctx: AppContext, isvc: InferenceService, protocol: str, body: dict[str, Any], *,
                      burst_n: int = 0, use_ingress: bool = True, timeout: float = 10.0) -> TestRequestOutcome:
    """The infer flow of the Serving screen and `mlopstui infer`, after models.serving.test_body checked the
    input: the route (ingress, else the isvc's URL), one request or a burst of burst_n. Blocking: call in a
    worker."""
    target = resolve_target(ctx, isvc, use_ingress=use_ingress)
    model = model_name(isvc)
    if burst_n > 0:
        return TestRequestOutcome(target.via, burst(target, model, protocol, body, burst_n, timeout=timeout))
    return TestRequestOutcome(target.via, infer(target, model, protocol, body, timeout=timeout))

"""Live signals for rollout gates: per-revision request counts, failures and latency.

Sources, in order of preference (the rollout always shows which one it used):
0. Prometheus, when configured or discovered (backends/prometheus.py: Istio's request metrics by
   destination workload, as Flagger's built-in checks query them);
1. the model servers' own ``/metrics`` (KServe's ``request_predict_seconds`` histogram and
   ``<counter>{code}``), one scrape per revision at the start and the end of the window;
2. synthetic test requests sent by this product through the ingress during the pause, split by the
   revision that answered (``x-mlopstui-revision`` / ``model_version``): labelled "synthetic".
No signal: the gate cannot pass (models.rollout.evaluate answers "wait").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import rollout as r

if TYPE_CHECKING:
    from mlopstui.context import AppContext
    from mlopstui.models.serving import InferenceService

MAX_SYNTHETIC = 2000


def _wait(stop: threading.Event | None, seconds: float) -> None:
    """Sleep, cut short when `stop` is set (the TUI pauses or halts a rollout)."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)  # requests per window, whatever the pause


class SyntheticSignal:
    """Sends test inference requests through the ingress for the whole window (bounded), per revision."""

    kind = "synthetic"

    def __init__(self, ctx: AppContext, isvc: InferenceService, protocol: str = "v1", timeout: float = 5.0):
        from mlopstui.backends import kserve

        sample = ctx.settings.inference_sample
        if sample is None:
            raise MlopsError(Kind.CONFIG, "synthetic signal: no request input (settings.inference_sample)",
                             hint='set inference_sample, e.g. {"instances": [[...]]}')
        self.body = kserve.request_body(sample, protocol)
        self.target = kserve.resolve_target(ctx, isvc, use_ingress=True)
        self.model = kserve.model_name(isvc)
        self.protocol = protocol
        self.timeout = timeout
        self.source = f"synthetic requests via {self.target.via}"

    def collect(self, seconds: float, *, enough: Callable[[dict[str, int]], bool] | None = None,
                max_seconds: float | None = None, rps: float | None = None,
                stop: threading.Event | None = None) -> dict[str, r.Measure]:
        """Requests for `seconds` (then, while `enough` says no, up to `max_seconds`); per revision.
        `stop` set: return what was measured so far."""
        import httpx

        from mlopstui.backends import kserve

        lat: dict[str, list[float]] = {}
        failed: dict[str, int] = {}
        started = time.monotonic()
        hard = started + max(seconds, max_seconds or seconds)
        gap = 1.0 / rps if rps else 0.0
        with httpx.Client(timeout=self.timeout, trust_env=False) as c:
            for _ in range(MAX_SYNTHETIC):
                now = time.monotonic()
                if now >= hard or (stop is not None and stop.is_set()):
                    break
                if now - started >= seconds and (enough is None or enough({k: len(v) for k, v in lat.items()})):
                    break
                res = kserve.infer(self.target, self.model, self.protocol, self.body, timeout=self.timeout, client=c)
                rev = res.revision or res.model_version or "?"
                lat.setdefault(rev, []).append(res.latency_ms)
                if not res.ok and (res.status >= 500 or res.status == 0):
                    failed[rev] = failed.get(rev, 0) + 1
                if gap:
                    _wait(stop, max(0.0, gap - (time.monotonic() - now)))
        return {rev: r.measure_from_requests(v, failed.get(rev, 0), "synthetic") for rev, v in lat.items()}


REVISION_LABEL = "serving.knative.dev/revision"
MAX_PODS = 20


class MetricsSignal:
    """Each revision's model-server ``/metrics`` read through the API server's pods/proxy: the counter
    ``<counter>_total{code}`` (requests, 5xx) and KServe's ``request_predict_seconds`` histogram, summed
    over the revision's ready pods, scraped at the start and the end of the window."""

    kind = "pod-metrics"

    def __init__(self, ctx: AppContext, isvc: InferenceService, revisions: list[str], *, port: int = 8080,
                 counter: str = "sandbox_model_requests", histogram: str = "request_predict_seconds"):
        from mlopstui.backends.kserve import model_name

        self.ctx = ctx
        self.namespace = isvc.namespace
        self.revisions = [rv for rv in revisions if rv]
        self.port = port
        self.counter = counter
        self.histogram = histogram
        self.match = {"model_name": model_name(isvc)}
        self.source = f"model-server /metrics via the API server's pods/proxy (port {port})"

    def _pods(self, revision: str) -> list[str]:
        from mlopstui.backends.kube import PODS

        items = self.ctx.kube.list(PODS, self.namespace, label_selector=f"{REVISION_LABEL}={revision}")
        items = items.get("items", []) if isinstance(items, dict) else items
        names = []
        for p in items[:MAX_PODS]:
            conds = (p.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                names.append(p["metadata"]["name"])
        return names

    def scrape(self, revision: str) -> r.Scrape:
        pods = self._pods(revision)
        if not pods:
            raise MlopsError(Kind.UNREACHABLE, f"revision {revision} has no ready pod to read /metrics from")
        total = r.Scrape()
        seen_counter = False
        for pod in pods:
            path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}:{self.port}/proxy/metrics"
            status, _, body = self.ctx.kube.raw("GET", path, timeout=5.0)
            if status != 200:
                raise MlopsError(Kind.UNREACHABLE, f"GET {path}: HTTP {status}")
            samples = r.parse_prometheus_text(body[:2_000_000].decode("utf-8", "replace"))
            seen_counter |= any(n in (self.counter, self.counter + "_total") for n, _, _ in samples)
            s = r.reduce_scrape(samples, counter=self.counter, histogram=self.histogram, match=self.match)
            total.requests += s.requests
            total.errors += s.errors
            for le, c in s.buckets.items():
                total.buckets[le] = total.buckets.get(le, 0.0) + c
        if not seen_counter:
            raise MlopsError(Kind.UNSUPPORTED, f"revision {revision}'s /metrics has no {self.counter} counter "
                             "(requests by code)")
        return total

    def check(self) -> None:
        for rev in self.revisions:
            self.scrape(rev)

    def collect(self, seconds: float, *, enough: Callable[[dict[str, int]], bool] | None = None,
                max_seconds: float | None = None, rps: float | None = None,
                stop: threading.Event | None = None) -> dict[str, r.Measure]:
        first = {rev: self.scrape(rev) for rev in self.revisions}
        started = time.monotonic()
        hard = started + max(seconds, max_seconds or seconds)
        last = first
        while True:
            _wait(stop, min(1.0, max(0.05, seconds - (time.monotonic() - started))))
            last = {rev: self.scrape(rev) for rev in self.revisions}
            now = time.monotonic()
            counts = {rev: int(r.counter_increase([first[rev].requests, last[rev].requests]))
                      for rev in self.revisions}
            if now >= hard or (now - started >= seconds and (enough is None or enough(counts))) \
                    or (stop is not None and stop.is_set()):
                break
        return {rev: r.measure_from_scrapes([first[rev], last[rev]], "metrics") for rev in self.revisions}


SIGNALS = ("auto", "prometheus", "pod-metrics", "synthetic")


def choose(ctx: AppContext, isvc: InferenceService, revisions: list[str], prefer: str = "auto"):
    """(signal, note): the first usable of Prometheus, the model servers' /metrics, synthetic requests
    (auto), or the one asked for (its failure raises). The note says why preferred sources were passed over."""
    if prefer == "metrics":
        prefer = "pod-metrics"
    if prefer not in SIGNALS:
        raise MlopsError(Kind.INVALID, f"signal {prefer!r}: one of {', '.join(SIGNALS)}")
    why: list[str] = []
    if prefer in ("auto", "prometheus"):
        from mlopstui.backends import prometheus

        ep = prometheus.find(ctx)
        try:
            if not ep.url:
                raise MlopsError(Kind.UNREACHABLE, f"prometheus {ep.source}")
            sig = prometheus.PrometheusSignal(ctx, isvc, revisions, endpoint=ep)
            sig.check()
            return sig, ""
        except MlopsError as exc:
            if prefer == "prometheus":
                raise MlopsError(exc.kind, f"prometheus unusable: {exc.message}",
                                 hint="set endpoints.prometheus, or use --signal auto") from None
            why.append(exc.message if exc.message.startswith("prometheus") else f"prometheus: {exc.message}")
    if prefer in ("auto", "pod-metrics"):
        sig = MetricsSignal(ctx, isvc, revisions)
        try:
            sig.check()
            return sig, "; ".join(why)
        except MlopsError as exc:
            if prefer == "pod-metrics":
                raise MlopsError(exc.kind, f"model-server /metrics unusable: {exc.message}",
                                 hint="use --signal synthetic or auto") from None
            why.append(f"model-server /metrics unusable: {exc.message}")
    return SyntheticSignal(ctx, isvc), "; ".join(why)

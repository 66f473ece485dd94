"""Prometheus as the rollout gates' signal: Istio's request metrics per revision (models/promql.py).

Where Prometheus is: ``endpoints.prometheus`` (config or MLOPSTUI_ENDPOINTS__PROMETHEUS), else a cluster
Service with a conventional name (prometheus-server, prometheus-operated, prometheus-k8s,
kube-prometheus-stack-prometheus, ...; backends/discovery.py) reached directly or through the API server's
services/proxy (backends/routes.py). Queries go to ``GET /api/v1/query`` (instant vectors, decoded through
errors.decode_json).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlopstui import deadline
from mlopstui.errors import Kind, MlopsError, decode_json
from mlopstui.models import promql
from mlopstui.models import rollout as r

if TYPE_CHECKING:
    from mlopstui.backends.discovery import Endpoint
    from mlopstui.context import AppContext
    from mlopstui.models.serving import InferenceService

QUERY_TIMEOUT = 5.0
POLL_S = 1.0


class PrometheusClient:
    def __init__(self, endpoint: Endpoint, timeout: float = QUERY_TIMEOUT):
        if not endpoint.url:
            raise MlopsError(Kind.UNREACHABLE, f"prometheus: {endpoint.source}")
        self.endpoint = endpoint
        self.base = endpoint.url.rstrip("/")
        self.timeout = timeout
        self.queries: list[str] = []  # what was asked, in order (shown in --json events and tests)

    def _get(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        import httpx

        from mlopstui.errors import from_exception

        self.queries.append(params["query"])
        try:
            resp = httpx.get(f"{self.base}/api/v1/{api}", params=params, trust_env=False,
                             timeout=deadline.timeout(self.timeout, "a Prometheus query"))
        except httpx.HTTPError as exc:
            raise from_exception(exc, source="prometheus") from None
        # Prometheus answers 400/422/503 with the same envelope: status error, errorType, error
        return resp.status_code, decode_json(resp.content, f"prometheus {self.endpoint.display}/api/v1/{api}",
                                             content_type=resp.headers.get("content-type"), source="prometheus")

    def query(self, q: str) -> list[tuple[dict[str, str], float | None]]:
        status, doc = self._get("query", {"query": q})
        return promql.parse_vector(doc, f"prometheus (HTTP {status})")

    def query_range(self, q: str, start: float, end: float, step: float):
        status, doc = self._get("query_range", {"query": q, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                "step": f"{step:g}"})
        return promql.parse_matrix(doc, f"prometheus (HTTP {status})")


def find(ctx: AppContext) -> Endpoint:
    return ctx.endpoint("prometheus")


class PrometheusSignal:
    """Per revision over the measuring window: Istio's request count, 5xx and p95 by destination_workload."""

    kind = "prometheus"

    def __init__(self, ctx: AppContext, isvc: InferenceService, revisions: list[str],
                 endpoint: Endpoint | None = None):
        ep = endpoint or find(ctx)
        self.client = PrometheusClient(ep)
        self.namespace = isvc.namespace
        self.revisions = [rv for rv in revisions if rv]
        self.source = f"prometheus {ep.display} ({ep.source}): {promql.REQUESTS} by {promql.WORKLOAD_LABEL}"

    def check(self) -> None:
        """Prometheus answers and has Istio's request counter for one of the revisions."""
        found = self.client.query(promql.presence_query(self.namespace, self.revisions))
        if not found:
            raise MlopsError(Kind.UNSUPPORTED, f"prometheus has no {promql.REQUESTS} for "
                             f"{', '.join(promql.workload_of(rv) for rv in self.revisions)} in {self.namespace}")

    def measure(self, seconds: float) -> dict[str, r.Measure]:
        q = promql.istio_queries(self.namespace, self.revisions, seconds)
        req = promql.by_label(self.client.query(q.requests))
        err = promql.by_label(self.client.query(q.errors))
        p95 = promql.by_label(self.client.query(q.p95))
        out: dict[str, r.Measure] = {}
        for rev in self.revisions:
            w = promql.workload_of(rev)
            if w not in req:
                continue
            out[rev] = r.Measure(req.get(w) or 0.0, err.get(w) or 0.0, p95.get(w), "prometheus")
        return out

    def collect(self, seconds: float, *, enough: Callable[[dict[str, int]], bool] | None = None,
                max_seconds: float | None = None, rps: float | None = None,
                stop: threading.Event | None = None) -> dict[str, r.Measure]:
        """Wait the pause, then ask for the window since it began; while `enough` says no, wait and ask
        again over the longer window, up to `max_seconds`. `stop` set: ask once, now."""
        stop = stop or threading.Event()
        started = time.monotonic()
        hard = started + max(seconds, max_seconds or seconds)
        stop.wait(max(0.0, seconds))
        while True:
            elapsed = time.monotonic() - started
            got = self.measure(elapsed)
            counts = {rev: int(m.requests) for rev, m in got.items()}
            if time.monotonic() >= hard or enough is None or enough(counts) or stop.is_set():
                return got
            stop.wait(min(POLL_S, max(0.0, hard - time.monotonic())))

    def sample(self, seconds: float = 30.0) -> dict[str, r.Measure]:
        """The last `seconds` at once (the TUI's sparklines)."""
        return self.measure(seconds)

    def history(self, minutes: float = 3.0, step: float = 2.0, window: float = 30.0
                ) -> dict[str, dict[str, list[float]]]:
        """The last minutes per revision, one point per step: {"rate": req/s, "err": 5xx %, "p95": ms}."""
        end = time.time()
        start = end - minutes * 60
        q = promql.istio_rate_queries(self.namespace, self.revisions, window)
        series = {key: {labels.get(promql.WORKLOAD_LABEL, ""): dict(points)
                        for labels, points in self.client.query_range(query, start, end, step)}
                  for key, query in (("rate", q.requests), ("errors", q.errors), ("p95", q.p95))}
        out: dict[str, dict[str, list[float]]] = {}
        for rev in self.revisions:
            w = promql.workload_of(rev)
            rate = series["rate"].get(w, {})
            errs = series["errors"].get(w, {})
            p95 = series["p95"].get(w, {})
            ts = sorted(rate)
            out[rev] = {
                "rate": [rate[t] or 0.0 for t in ts],
                "err": [100.0 * (errs.get(t) or 0.0) / rate[t] if rate[t] else 0.0 for t in ts],
                "p95": [p95[t] for t in sorted(p95) if p95[t] is not None],
            }
        return out

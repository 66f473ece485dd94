"""PromQL for the rollout gates, shaped as Flagger's built-in Istio checks (pure).

Flagger (pkg/metrics/observers/istio.go, fixture tests/fixtures/upstream/flagger/istio_queries.txt) selects a
workload's requests with ``istio_requests_total{reporter="destination", destination_workload_namespace=NS,
destination_workload=~TARGET}``, its success rate as non-5xx over all, and its latency as
``histogram_quantile(q, sum(rate(istio_request_duration_milliseconds_bucket{...}[interval])) by (le))``.
A Knative revision's pods belong to the Deployment ``<revision>-deployment``: that is the workload Istio
reports. The gates also need the request count (min-requests), so per revision we ask for
``increase`` of the counter in total and for 5xx, and the p95 of the duration buckets, each grouped by
``destination_workload`` so one query answers for the canary and the stable revision together.

Answers are the HTTP API's instant vectors (``GET /api/v1/query``): ``{"status": "success", "data":
{"resultType": "vector", "result": [{"metric": {...}, "value": [ts, "1.5"]}]}}``; a NaN value (a quantile
with no observations) is no value, as Flagger's RunQuery treats it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from mlopstui.errors import Kind, MlopsError

REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds_bucket"
WORKLOAD_LABEL = "destination_workload"


def render(template: str, **values: str) -> str:
    """Flagger's RenderQuery for its templates plus RunQuery's trimming (whitespace runs -> one space)."""
    out = template
    for k, v in values.items():
        out = out.replace("{{ " + k + " }}", v)
    return re.sub(r"\s+", " ", out)


_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def label_value(v: str) -> str:
    """A Kubernetes name as a PromQL string literal (names are DNS-1123: refuse anything else)."""
    if not _NAME_RE.match(v or ""):
        raise MlopsError(Kind.INVALID, f"not a Kubernetes name for a PromQL selector: {v!r}")
    return v


def workload_of(revision: str) -> str:
    """The Deployment Knative runs a revision's pods in (what Istio reports as destination_workload)."""
    return f"{label_value(revision)}-deployment"


def window(seconds: float) -> str:
    """A range selector's duration in whole seconds (at least 1s)."""
    return f"{max(1, math.ceil(seconds))}s"


@dataclass(frozen=True)
class Queries:
    requests: str
    errors: str
    p95: str


def istio_selector(namespace: str, revisions: list[str]) -> str:
    """Flagger's label matchers, for the Deployments of these revisions."""
    target = "|".join(workload_of(r).replace(".", "\\\\.") for r in revisions)
    return (f'reporter="destination", destination_workload_namespace="{label_value(namespace)}", '
            f'{WORKLOAD_LABEL}=~"{target}"')


def presence_query(namespace: str, revisions: list[str]) -> str:
    """Which of the revisions' workloads have the request counter at all (is this the right Prometheus?)."""
    return f"count by ({WORKLOAD_LABEL}) ({REQUESTS}{{{istio_selector(namespace, revisions)}}})"


def _istio(namespace: str, revisions: list[str], seconds: float, over: str) -> Queries:
    sel = istio_selector(namespace, revisions)
    w = window(seconds)
    return Queries(
        requests=f"sum by ({WORKLOAD_LABEL}) ({over}({REQUESTS}{{{sel}}}[{w}]))",
        errors=f'sum by ({WORKLOAD_LABEL}) ({over}({REQUESTS}{{{sel}, response_code=~"5.*"}}[{w}]))',
        p95=f"histogram_quantile(0.95, sum by (le, {WORKLOAD_LABEL}) (rate({DURATION}{{{sel}}}[{w}])))",
    )


def istio_queries(namespace: str, revisions: list[str], seconds: float) -> Queries:
    """Per-revision request count, 5xx count and p95 (ms) over the last `seconds`, Flagger's selectors."""
    return _istio(namespace, revisions, seconds, "increase")


def istio_rate_queries(namespace: str, revisions: list[str], seconds: float) -> Queries:
    """Per-revision request rate (1/s), 5xx rate and p95 (ms), each a rolling `seconds` window: the series a
    range query evaluates at every step (the rollout view's sparklines over the last minutes)."""
    return _istio(namespace, revisions, seconds, "rate")


def _envelope(doc: Any, what: str, result_type: str) -> list[Any]:
    if not isinstance(doc, dict):
        raise MlopsError(Kind.ERROR, f"{what}: the answer is not a JSON object")
    if doc.get("status") != "success":
        err = str(doc.get("error") or doc.get("status") or "no status")[:300]
        raise MlopsError(Kind.INVALID if doc.get("errorType") == "bad_data" else Kind.ERROR, f"{what}: {err}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != result_type or not isinstance(data.get("result"), list):
        raise MlopsError(Kind.ERROR, f"{what}: expected {'an instant vector' if result_type == 'vector' else 'a matrix'}")
    return data["result"][:1000]


def _number(v: Any) -> float | None:
    if not isinstance(v, str):
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def parse_matrix(doc: Any, what: str = "prometheus") -> list[tuple[dict[str, str], list[tuple[float, float | None]]]]:
    """A range query's answer -> [(labels, [(ts, value)])]; NaN/Inf -> None."""
    out = []
    for item in _envelope(doc, what, "matrix"):
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            continue
        metric = item.get("metric") if isinstance(item.get("metric"), dict) else {}
        points = [(float(p[0]), _number(p[1])) for p in item["values"][:10_000]
                  if isinstance(p, list) and len(p) == 2 and isinstance(p[0], (int, float))]
        out.append(({str(k): str(v) for k, v in metric.items()}, points))
    return out


def parse_vector(doc: Any, what: str = "prometheus") -> list[tuple[dict[str, str], float | None]]:
    """An instant-vector answer -> [(labels, value)]; NaN/Inf -> None. An error answer raises MlopsError."""
    out: list[tuple[dict[str, str], float | None]] = []
    for item in _envelope(doc, what, "vector"):
        if not isinstance(item, dict):
            continue
        metric = item.get("metric") if isinstance(item.get("metric"), dict) else {}
        pair = item.get("value")
        value = _number(pair[1]) if isinstance(pair, list) and len(pair) == 2 else None
        out.append(({str(k): str(v) for k, v in metric.items()}, value))
    return out


def by_label(rows: list[tuple[dict[str, str], float | None]], label: str = WORKLOAD_LABEL) -> dict[str, float | None]:
    return {labels.get(label, ""): value for labels, value in rows}

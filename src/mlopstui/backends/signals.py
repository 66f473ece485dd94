"""Live signals for rollout gates: per-revision request counts, failures and latency.

Sources, in order of preference (the rollout always shows which one it used):
1. the model servers' own ``/metrics`` (KServe's ``request_predict_seconds`` histogram and
   ``<counter>{code}``), one scrape per revision at the start and the end of the window;
2. synthetic test requests sent by this product through the ingress during the pause, split by the
   revision that answered (``x-mlopstui-revision`` / ``model_version``): labelled "synthetic".
No signal: the gate cannot pass (models.rollout.evaluate answers "wait").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import rollout as r

if TYPE_CHECKING:
    from mlopstui.context import AppContext
    from mlopstui.models.serving import InferenceService

MAX_SYNTHETIC = 2000  # requests per window, whatever the pause


class SyntheticSignal:
    """Sends test inference requests through the ingress for the whole window (bounded), per revision."""

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
                max_seconds: float | None = None, rps: float | None = None) -> dict[str, r.Measure]:
        """Requests for `seconds` (then, while `enough` says no, up to `max_seconds`); per revision."""
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
                if now >= hard:
                    break
                if now - started >= seconds and (enough is None or enough({k: len(v) for k, v in lat.items()})):
                    break
                res = kserve.infer(self.target, self.model, self.protocol, self.body, timeout=self.timeout, client=c)
                rev = res.revision or res.model_version or "?"
                lat.setdefault(rev, []).append(res.latency_ms)
                if not res.ok and (res.status >= 500 or res.status == 0):
                    failed[rev] = failed.get(rev, 0) + 1
                if gap:
                    time.sleep(max(0.0, gap - (time.monotonic() - now)))
        return {rev: r.measure_from_requests(v, failed.get(rev, 0), "synthetic") for rev, v in lat.items()}

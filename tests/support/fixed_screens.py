"""Fixed data and a fixed clock for the snapshot tests of the key screens (tests/ui/test_snapshots.py).

Nothing here is live: the cluster is upstream's published install objects (tests/fixtures/upstream/installs,
settled as a healthy cluster shows them, created at fixed times), the probe answers are fixed, the
InferenceService is KServe's own published canary object (tests/fixtures/upstream/kserve), and MLflow is a
deterministic in-process backend with the interface of backends/mlflow.MlflowBackend. Ages are computed
against units.set_clock(FIXED_NOW)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from mlopstui.models.experiments import (
    ArtifactEntry,
    Experiment,
    MetricPoint,
    MetricSeries,
    RunDetail,
    RunRow,
)

FIXED_NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC).timestamp()
CREATED = "2026-11-25T08:00:00Z"  # every fixture object: 3 days before FIXED_NOW


def stack_objects() -> list[dict[str, Any]]:
    from support.upstream_cluster import load_docs, settle

    objs = settle(load_docs("bitnami-redis", "bitnami-postgresql", "community-mlflow", "bitnami-minio"))
    for i, o in enumerate(objs):
        meta = o.setdefault("metadata", {})
        meta["creationTimestamp"] = CREATED
        meta.setdefault("uid", f"uid-{i}")
        meta.setdefault("namespace", "mlops")
    return objs


def stack_report(settings: Any):
    """(report, fixes, probes) as a sweep would post them, from the fixed objects and probe answers."""
    from mlopstui.doctor.fixes import explain
    from mlopstui.models.stack import ProbeResult, ProbeState
    from mlopstui.models.stack.report import ClusterState, build_report

    def probe(cid: str, kind: str, state: ProbeState, summary: str) -> ProbeResult:
        return ProbeResult(cid, kind, f"{cid}.mlops.svc", "cluster Service", state, summary, latency_ms=12.0,
                           at=FIXED_NOW)

    probes = {
        "redis": probe("redis", "redis", ProbeState.OK, "PONG 1.0M/no max noeviction"),
        "postgresql": probe("postgresql", "postgres", ProbeState.OK, "conn 5/100"),
        "mlflow": probe("mlflow", "http", ProbeState.OK, "HTTP 200"),
        "s3": probe("s3", "s3", ProbeState.FAILED, "refused"),
    }
    from mlopstui.models.stack import catalog_with_overrides, skipped_probe

    for spec in catalog_with_overrides(settings.components):
        probes.setdefault(spec.id, skipped_probe(spec.id, spec.probe, "-"))
    state = ClusterState(objects=stack_objects(), at=FIXED_NOW)
    report = build_report(settings, state, probes)
    fixes = {f.key: explain(f, report.snapshot) for f in report.findings}
    return report, fixes, probes


def fraud_isvc():
    """KServe's published canary at 10 % (canary-split-10) and its Revisions."""
    from support import serving_upstream as up

    return up.parsed("canary-split-10"), up.objects("canary-split-10", "Revision")


# -- MLflow ------------------------------------------------------------------------------------------------
EXPERIMENT = Experiment("1", "fraud-detection", creation_time=int(FIXED_NOW * 1000) - 86_400_000,
                        tags={"team": "fraud"})


def _runs() -> list[RunRow]:
    start = int(FIXED_NOW * 1000) - 20 * 3_600_000
    out = []
    for i in range(20):
        failed = i == 8
        out.append(RunRow(
            run_id=f"{i:02d}" + "ab" * 15, experiment_id="1", run_name=f"fraud-gbt-{i:02d}",
            status="FAILED" if failed else "FINISHED", start_time=start + i * 3_600_000,
            end_time=start + i * 3_600_000 + 95_000, user_id="ops", artifact_uri=f"s3://mlflow-artifacts/1/{i:02d}",
            params={"learning_rate": "0.05", "max_depth": str(3 + i % 4)},
            metrics={} if failed else {"accuracy": round(0.90 + i * 0.003, 4), "auc": round(0.93 + i * 0.002, 4),
                                       "loss": round(0.30 - i * 0.01, 4)},
            tags={"mlflow.source.name": "train.py", "model_type": "gbt"}))
    return list(reversed(out))  # newest first, as the default order


class FixedMlflow:
    """The part of MlflowBackend the runs and run-detail screens use, answering from fixed data."""

    url = "http://mlflow.example:5000"
    display = "http://mlflow.example:5000 (fixture)"
    auth_mode = "none"
    timeout = 10.0

    def __init__(self) -> None:
        self.runs = _runs()

    def search_runs(self, experiment_ids, filter="", order_by=None, max_results=100, page_token=None):
        return self.runs[:max_results], None

    def run_detail(self, run_id: str) -> RunDetail:
        run = next(r for r in self.runs if r.run_id == run_id)
        return RunDetail(run, EXPERIMENT.name, self.url, metric_steps={k: 49 for k in run.metrics})

    def metric_histories(self, run_id: str, keys) -> dict[str, MetricSeries]:
        run = next(r for r in self.runs if r.run_id == run_id)
        t0 = run.start_time or 0
        out = {}
        for k in keys:
            final = run.metrics[k]
            pts = [MetricPoint(s, t0 + s * 2000, round(final - (final - 0.5) * math.exp(-s / 10), 5))
                   for s in range(50)]
            out[k] = MetricSeries(k, pts)
        return out

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactEntry]:
        return [ArtifactEntry("metrics.json", size=120), ArtifactEntry("model", is_dir=True)] if not path else []

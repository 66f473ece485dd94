"""Rollout plan parsing, state annotation, and gate arithmetic (models/rollout.py) on recorded samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import rollout as r

FIX = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIX / "upstream" / "prometheus" / "histograms_test_quantiles.yaml"
RECORDED = FIX / "recorded" / "sandbox_model_server_metrics.txt"


# -- histogram_quantile against Prometheus's own test data --------------------------------------------
def _cases():
    data = yaml.safe_load(UPSTREAM.read_text())
    for name, case in data.items():
        buckets = [(float(le), float(c)) for le, c in case["buckets"].items()]
        for q, want in case["expect"].items():
            yield pytest.param(float(q), buckets, float(want), id=f"{name}-q{q}")


@pytest.mark.parametrize(("q", "buckets", "want"), list(_cases()))
def test_histogram_quantile_matches_prometheus(q, buckets, want):
    assert r.histogram_quantile(q, buckets) == pytest.approx(want, abs=1e-9)


def test_histogram_quantile_without_inf_or_observations_is_none():
    assert r.histogram_quantile(0.95, [(0.1, 3.0), (1.0, 5.0)]) is None  # Prometheus: NaN
    assert r.histogram_quantile(0.95, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    # non-monotonic cumulative counts (scrape race) are fixed upwards, as ensureMonotonic does
    assert r.histogram_quantile(0.5, [(1.0, 4.0), (2.0, 3.0), (float("inf"), 4.0)]) == pytest.approx(0.5)


# -- counters and resets -------------------------------------------------------------------------------
def test_counter_increase_handles_resets():
    assert r.counter_increase([10, 15, 20]) == 10
    # the process restarted between 20 and 3: the 3 counts from zero (Prometheus' reset handling)
    assert r.counter_increase([10, 20, 3, 8]) == 10 + 3 + 5
    assert r.counter_increase([5]) == 0


def test_bucket_increase_over_a_restart():
    a = {0.1: 5.0, 0.5: 8.0, float("inf"): 10.0}
    b = {0.1: 1.0, 0.5: 2.0, float("inf"): 2.0}  # restarted
    inc = dict(r.bucket_increase([a, b]))
    assert inc == {0.1: 1.0, 0.5: 2.0, float("inf"): 2.0}


# -- a real scrape of the sandbox model server ---------------------------------------------------------
def test_recorded_model_server_scrape_window():
    """Two scrapes of a sandbox model server's /metrics (KServe request_predict_seconds + our request
    counter); between them 20 requests of which 5 failed (fault canary-errors), see the file header."""
    text = RECORDED.read_text()
    first, second = text.split("# ---- second scrape ----\n")
    s1 = r.reduce_scrape(r.parse_prometheus_text(first), counter="sandbox_model_requests",
                         histogram="request_predict_seconds", match={"model_name": "fraud-detection"})
    s2 = r.reduce_scrape(r.parse_prometheus_text(second), counter="sandbox_model_requests",
                         histogram="request_predict_seconds", match={"model_name": "fraud-detection"})
    meas = r.measure_from_scrapes([s1, s2], "model-server /metrics")
    header = json.loads(text.splitlines()[1].lstrip("# "))
    assert meas.requests == header["requests_between"]
    assert meas.errors == header["errors_between"]
    assert meas.p95_ms == pytest.approx(header["p95_ms_by_hand"])


def test_parse_prometheus_text_ignores_garbage():
    text = 'a_total{code="200",x="q\\"uote"} 3\nnot a sample\n# HELP x\nb 1e3 1700000000\nc{le="+Inf"} NaNx\n'
    got = r.parse_prometheus_text(text)
    assert got == [("a_total", {"code": "200", "x": 'q"uote'}, 3.0), ("b", {}, 1000.0)]


# -- gates --------------------------------------------------------------------------------------------
G = r.Gates(max_error_rate=0.01, max_p95_ms=200, max_p95_ratio=1.5, min_requests=50)


def test_gates_pass_fail_wait():
    ok = r.Measure(100, 0, 120, "x")
    stable = r.Measure(900, 0, 100, "x")
    assert r.evaluate(G, ok, stable)[0] == "pass"
    v, res = r.evaluate(G, r.Measure(100, 5, 120, "x"), stable)
    assert v == "fail" and next(g for g in res if g.ok is False).gate == "error-rate"
    v, res = r.evaluate(G, r.Measure(100, 0, 250, "x"), stable)
    assert v == "fail" and {g.gate for g in res if g.ok is False} == {"p95", "p95-ratio"}
    # 10 requests, all failed: too few to decide -> wait, never pass
    assert r.evaluate(G, r.Measure(10, 10, 120, "x"), stable)[0] == "wait"
    assert r.evaluate(G, None)[0] == "wait"
    # no stable latency: the relative gate cannot pass
    assert r.evaluate(G, ok, None)[0] == "wait"


def test_synthetic_p95_nearest_rank():
    m = r.measure_from_requests([float(i) for i in range(1, 101)], 2, "synthetic")
    assert m.p95_ms == 95.0 and m.error_rate == 0.02


# -- plan parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "10,5,100", "10,50", "0,100", "10,abc,100", "10,,100", "101", "1e2"])
def test_bad_steps_refused(bad):
    with pytest.raises(MlopsError) as e:
        r.parse_steps(bad)
    assert e.value.kind is Kind.INVALID


def test_parsers():
    assert r.parse_steps("10,25,50,100") == [10, 25, 50, 100]
    assert r.parse_pause("60s") == 60 and r.parse_pause("2m") == 120 and r.parse_pause("manual") is None
    assert r.parse_rate("1%") == 0.01 and r.parse_rate("0.05") == 0.05
    assert r.parse_latency_ms("200ms") == 200 and r.parse_latency_ms("0.2s") == 200
    for bad, fn in (("-1%", r.parse_rate), ("200%", r.parse_rate), ("fast", r.parse_latency_ms),
                    ("3q", r.parse_pause), ("99999h", r.parse_pause)):
        with pytest.raises(MlopsError):
            fn(bad)


def test_state_round_trip_and_stale_running_reads_paused():
    plan = r.RolloutPlan([10, 50, 100], 5.0, r.Gates(min_requests=5))
    st = r.RolloutState(plan=plan, step=1, phase="running", started=1000.0, canary="a-2", stable="a-1",
                        gates=[{"gate": "error-rate", "ok": True}], updated=1000.0)
    back = r.RolloutState.from_annotation(st.to_annotation())
    assert back == st
    assert back.effective_phase(1010.0) == "running"
    assert back.effective_phase(1000.0 + 60) == "running"
    assert back.effective_phase(1000.0 + r.FOLLOW_S + r.measure_bound(5.0) + 31) == "paused"
    assert "--resume" in back.summary_text(2000.0)


@pytest.mark.parametrize("bad", ["{", "[]", '{"plan":{"steps":[10,100]},"phase":"weird","step":0}',
                                 '{"plan":{"steps":[10,100]},"phase":"running","step":7}'])
def test_bad_annotation_refused(bad):
    with pytest.raises(MlopsError):
        r.RolloutState.from_annotation(bad)


def test_serving_status_lines_show_the_recorded_rollout():
    from mlopstui.models import serving as m

    plan = r.RolloutPlan([10, 50, 100], 60.0, r.Gates())
    st = r.RolloutState(plan=plan, step=1, phase="running", started=1000.0, updated=1000.0,
                        gates=[{"gate": "min-requests", "ok": True}, {"gate": "error-rate", "ok": None}],
                        measured={"source": "synthetic"})
    isvc = m.InferenceService(name="fraud", namespace="ml",
                              raw={"metadata": {"annotations": {r.ANNOTATION: st.to_annotation()}}})
    lines = m.rollout_lines(isvc, now=1010.0)
    assert lines == ["rollout running: steps 10 [50] 100", "gates   min-requests ok, error-rate wait (synthetic)"]
    assert "mlopstui rollout fraud --resume" in m.rollout_lines(isvc, now=1000.0 + 10_000)[0]
    bad = m.InferenceService(name="x", namespace="ml", raw={"metadata": {"annotations": {r.ANNOTATION: "{"}}})
    assert "unreadable" in m.rollout_lines(bad)[0]

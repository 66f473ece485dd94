"""PromQL for the rollout gates against Flagger's Istio checks (tests/fixtures/upstream/flagger/istio_queries.txt)
and the Prometheus HTTP API's instant-vector answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlopstui.config import RolloutDefaults, load
from mlopstui.errors import MlopsError
from mlopstui.models import promql
from mlopstui.models import rollout as r

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "flagger" / "istio_queries.txt"


def _sections() -> dict[str, str]:
    text = FIXTURE.read_text()
    assert "commit: " in text and "fluxcd/flagger" in text
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            cur = line[3:]
            out[cur] = ""
        elif cur is not None:
            out[cur] += line + "\n"
    return out


def _template(section: str) -> str:
    body = _sections()[section]
    return body.split("`", 1)[1].rsplit("`", 1)[0]


def _matchers(selector: str) -> set[str]:
    return {m.replace(" ", "") for m in re.findall(r'[a-z_]+\s*(?:=~|!~|=|!=)\s*"[^"]*"', selector)}


def test_render_reproduces_flaggers_expected_queries():
    s = _sections()
    for section, expected in (("request-success-rate", "expected success-rate (namespace default, target podinfo, "
                               "interval 1m)"), ("request-duration", "expected duration")):
        got = promql.render(_template(section), namespace="default", target="podinfo", interval="1m")
        assert got == s[expected].rstrip("\n")


def test_our_selectors_are_flaggers_for_the_revisions_deployments():
    rendered = promql.render(_template("request-success-rate"), namespace="mlops",
                             target="fraud-detection-predictor-00002-deployment", interval="30s")
    flagger_all = _matchers(rendered.split("/")[1])  # the denominator: every request of the workload
    q = promql.istio_queries("mlops", ["fraud-detection-predictor-00002"], 30)
    assert _matchers(q.requests) == flagger_all
    assert "[30s]" in q.requests and q.requests.startswith("sum by (destination_workload) (increase(")
    assert _matchers(q.errors) == flagger_all | {'response_code=~"5.*"'}
    dur = promql.render(_template("request-duration"), namespace="mlops",
                        target="fraud-detection-predictor-00002-deployment", interval="30s")
    assert _matchers(q.p95) == _matchers(dur)
    assert q.p95.startswith("histogram_quantile(0.95, sum by (le, destination_workload) (rate("
                            "istio_request_duration_milliseconds_bucket{")
    two = promql.istio_queries("mlops", ["a-00001", "a-00002"], 2.2)
    assert 'destination_workload=~"a-00001-deployment|a-00002-deployment"' in two.requests and "[3s]" in two.requests


def test_selector_refuses_what_is_not_a_kubernetes_name():
    for bad in ('x"} or vector(1) or {a="', "UPPER", "", "a b"):
        with pytest.raises(MlopsError):
            promql.istio_queries("mlops", [bad], 10)
    with pytest.raises(MlopsError):
        promql.istio_queries('mlops"', ["a"], 10)


def test_parse_vector_as_flaggers_provider_reads_it():
    doc = json.loads(_sections()["response"])
    assert promql.parse_vector(doc) == [({}, 100.0)]
    doc = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"destination_workload": "a-deployment"}, "value": [1.0, "12.5"]},
        {"metric": {"destination_workload": "b-deployment"}, "value": [1.0, "NaN"]},
        {"metric": {"destination_workload": "c-deployment"}, "value": [1.0, 3]}]}}
    assert promql.by_label(promql.parse_vector(doc)) == {"a-deployment": 12.5, "b-deployment": None,
                                                         "c-deployment": None}
    with pytest.raises(MlopsError, match="parse error"):
        promql.parse_vector({"status": "error", "errorType": "bad_data", "error": "1:1: parse error"})
    with pytest.raises(MlopsError, match="instant vector"):
        promql.parse_vector({"status": "success", "data": {"resultType": "matrix", "result": []}})
    with pytest.raises(MlopsError):
        promql.parse_vector(["not", "an", "object"])


def test_rollout_defaults_in_settings(tmp_path):
    d = RolloutDefaults()
    assert (d.steps, d.pause, d.max_error_rate, d.min_requests, d.signal) == ("10,25,50,100", "60s", "1%", 20, "auto")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rollout:\n  steps: 20,100\n  pause: 5s\n  max_p95: 300ms\n  signal: prometheus\n")
    s = load(cfg)
    plan = r.plan_from(s.rollout.steps, s.rollout.pause, s.rollout.max_error_rate, s.rollout.max_p95,
                       s.rollout.max_p95_ratio, s.rollout.min_requests)
    assert plan.steps == [20, 100] and plan.pause_s == 5 and plan.gates.max_p95_ms == 300
    assert s.rollout.signal == "prometheus"
    for bad in ("rollout:\n  steps: 10,50\n", "rollout:\n  pause: soon\n", "rollout:\n  signal: guess\n",
                "rollout:\n  max_error_rate: 200%\n"):
        cfg.write_text(bad)
        with pytest.raises(MlopsError):
            load(cfg)


def test_parse_matrix_and_rate_queries():
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"destination_workload": "a-deployment"}, "values": [[1.0, "2"], [3.0, "NaN"], ["x", "1"]]}]}}
    assert promql.parse_matrix(doc) == [({"destination_workload": "a-deployment"}, [(1.0, 2.0), (3.0, None)])]
    with pytest.raises(MlopsError, match="a matrix"):
        promql.parse_matrix({"status": "success", "data": {"resultType": "vector", "result": []}})
    q = promql.istio_rate_queries("mlops", ["a-00001"], 30)
    assert q.requests.startswith("sum by (destination_workload) (rate(istio_requests_total{") and "[30s]" in q.requests
    assert _matchers(q.p95) == _matchers(promql.istio_queries("mlops", ["a-00001"], 30).p95)

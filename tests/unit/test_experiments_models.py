"""Pure logic of the Experiments area: parsing MLflow JSON, columns, order_by, diffs, durations, previews."""

import math

import httpx
import pytest

from mlopstui.backends.mlflow import MlflowBackend, allowed_hosts_for
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import experiments as m
from mlopstui.screens.model_registry import parse_canary_target

RUN_JSON = {
    "info": {"run_id": "abc123", "experiment_id": "4", "run_name": "r1", "status": "FINISHED",
             "start_time": 1_700_000_000_000, "end_time": 1_700_000_065_000, "user_id": "alice",
             "artifact_uri": "s3://mlflow-artifacts/4/abc123/artifacts", "lifecycle_stage": "active"},
    "data": {"metrics": [{"key": "accuracy", "value": 0.95, "timestamp": 1, "step": 3},
                         {"key": "loss", "value": "NaN", "timestamp": 1, "step": 3}],
             "params": [{"key": "learning_rate", "value": "0.01"}],
             "tags": [{"key": "mlflow.source.name", "value": "/src/train.py"}, {"key": "team", "value": "fraud"}]},
}


def test_run_from_api_and_cells():
    r = m.RunRow.from_api(RUN_JSON)
    assert r.run_id == "abc123" and r.params == {"learning_rate": "0.01"}
    assert r.metrics["accuracy"] == 0.95 and math.isnan(r.metrics["loss"])
    assert r.source == "train.py" and r.duration_s == 65.0
    assert r.cell("duration") == "1m05s" and r.cell("metrics.accuracy") == "0.95"
    assert r.cell("params.learning_rate") == "0.01" and r.cell("tags.team") == "fraud"
    assert r.cell("run") == "abc123"[:8] and r.cell("metrics.missing") == ""


def test_duration_running_and_unknown():
    assert m.duration_s(1000, None, "RUNNING", now=11.0) == 10.0
    assert m.duration_s(1000, None, "FAILED") is None
    assert m.fmt_duration(None) == "-" and m.fmt_duration(0.25) == "250ms" and m.fmt_duration(7200) == "2h00m"


def test_choose_and_parse_columns():
    runs = [m.RunRow.from_api(RUN_JSON), m.RunRow("x", "4", metrics={"auc": 0.7}, params={"max_depth": "3"})]
    cols = m.choose_columns(runs, max_metrics=2, max_params=1)
    assert cols[:2] == ["metrics.accuracy", "metrics.auc"] and len(cols) == 3
    assert m.choose_columns(runs, preferred=["params.max_depth"])[0] == "params.max_depth"
    assert m.parse_columns("accuracy, p:lr, tags.team, t:x, params.n") == [
        "metrics.accuracy", "params.lr", "tags.team", "tags.x", "params.n"]


@pytest.mark.parametrize("text,want", [
    ("accuracy", "metrics.`accuracy` ASC"),
    ("-accuracy", "metrics.`accuracy` DESC"),
    ("metrics.loss", "metrics.loss ASC"),
    ("-start", "attributes.start_time DESC"),
    ("params.max_depth DESC", "params.max_depth DESC"),
    ("start_time", "attributes.start_time ASC"),
])
def test_parse_order_by(text, want):
    assert m.parse_order_by(text) == want


def test_order_by_for_columns():
    assert m.order_by_for("metrics.accuracy", False) == "metrics.`accuracy` DESC"
    assert m.order_by_for("name", True) == "attributes.run_name ASC"


def test_diff_params_flags_differences():
    a = m.RunRow("a", "1", params={"lr": "0.01", "depth": "3"})
    b = m.RunRow("b", "1", params={"lr": "0.1", "depth": "3", "extra": "1"})
    diffs = {d.key: d for d in m.diff_params([a, b])}
    assert diffs["lr"].differs and not diffs["depth"].differs
    assert diffs["extra"].values == [None, "1"] and diffs["extra"].differs
    assert m.best_index([0.9, 0.95, None], higher_is_better=True) == 1
    assert m.best_index([0.3, 0.2], higher_is_better=not m.lower_is_better("val_loss")) == 1


def test_metric_series_by_step_and_time():
    s = m.MetricSeries.from_api("acc", [{"step": 2, "timestamp": 3000, "value": 0.8},
                                        {"step": 1, "timestamp": 1000, "value": 0.5},
                                        {"step": 3, "timestamp": 4000, "value": "NaN"}])
    assert s.xy("step") == ([1.0, 2.0], [0.5, 0.8])
    assert s.xy("time") == ([0.0, 2.0], [0.5, 0.8])


def test_preview_kinds_and_csv():
    assert m.preview_kind("metrics.json") == "json" and m.preview_kind("model/MLmodel") == "yaml"
    assert m.preview_kind("confusion.csv") == "csv" and m.preview_kind("notes.txt") == "text"
    assert m.preview_kind("model.pkl") == "binary"
    assert m.looks_binary(b"\x00\x01abc") and not m.looks_binary("héllo".encode())
    header, rows = m.csv_rows("a,b\n1,2\n3\n")
    assert header == ["a", "b"] and rows == [["1", "2"], ["3", ""]]
    assert m.fmt_size(2048) == "2.0 KiB" and m.fmt_size(5) == "5 B"


def test_registry_models_parse():
    rm = m.RegisteredModel.from_api({"name": "fraud", "aliases": [{"alias": "champion", "version": "1"}],
                                     "latest_versions": [{"version": "10"}, {"version": "2"}]})
    assert rm.aliases == {"champion": "1"} and rm.latest_versions == ["2", "10"]
    mv = m.ModelVersion.from_api({"name": "fraud", "version": "2", "aliases": ["challenger"], "run_id": "r",
                                  "tags": [{"key": "stage", "value": "canary"}]})
    assert mv.aliases == ["challenger"] and mv.tags == {"stage": "canary"}


def test_canary_target_parsing():
    assert parse_canary_target("mlops/fraud-detection 20", "default") == ("mlops", "fraud-detection", 20)
    assert parse_canary_target("fraud 5%", "ns") == ("ns", "fraud", 5)
    with pytest.raises(MlopsError):
        parse_canary_target("fraud 120", "ns")


def test_backend_config_errors_and_auth(monkeypatch):
    with pytest.raises(MlopsError) as ei:
        MlflowBackend("", "not found")
    assert ei.value.kind == Kind.CONFIG
    with pytest.raises(MlopsError) as ei:
        MlflowBackend("sqlite:///mlflow.db", "env MLFLOW_TRACKING_URI")
    assert ei.value.kind == Kind.UNSUPPORTED
    b = MlflowBackend("http://u:pw@h:5000", "config", env={"MLFLOW_TRACKING_TOKEN": "t0k"})
    assert b.auth_mode == "token" and "pw" not in b.display
    assert MlflowBackend("http://h:5000", env={"MLFLOW_TRACKING_USERNAME": "u"}).auth_mode == "basic"


def test_status_error_mapping():
    b = MlflowBackend("http://mlflow-server.mlops.svc.cluster.local:5000", "service mlops/mlflow-server")
    req = httpx.Request("GET", "http://x")
    e = b._status_error(httpx.Response(403, text="Invalid Host header - possible DNS rebinding attack detected",
                                       request=req), "list")
    assert e.kind == Kind.FORBIDDEN and "--allowed-hosts" in e.hint
    assert "mlflow-server.mlops.svc.cluster.local:5000" in e.hint
    e = b._status_error(httpx.Response(401, text="no", request=req), "list")
    assert e.kind == Kind.UNAUTHORIZED and "MLFLOW_TRACKING_TOKEN" in e.hint
    e = b._status_error(httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"},
                                       request=req), "run")
    assert e.kind == Kind.NOT_FOUND
    e = b._status_error(httpx.Response(503, text="upstream", request=req), "run")
    assert e.kind == Kind.UNREACHABLE
    assert allowed_hosts_for("http://mlflow-server.mlops.svc.cluster.local:5000")[:2] == [
        "mlflow-server.mlops.svc.cluster.local", "mlflow-server.mlops.svc.cluster.local:5000"]
    assert "mlflow-server:5000" in allowed_hosts_for("http://mlflow-server.mlops.svc.cluster.local:5000")


def test_app_import_does_not_load_mlflow():
    import subprocess
    import sys

    code = ("import sys, mlopstui.app, mlopstui.cli, mlopstui.screens.experiments, mlopstui.screens.runs, "
            "mlopstui.screens.run_detail, mlopstui.screens.compare, mlopstui.screens.model_registry, "
            "mlopstui.commands.experiments; "
            "print(any(k == 'mlflow' or k.startswith('mlflow.') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

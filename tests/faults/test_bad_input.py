"""The bad-input table: every write verb and every name-taking verb, with the names, namespaces,
percents and values an attacker or a typo gives. Each: a clear message, exit 2, zero writes and, for
names and namespaces, zero requests of any kind in the emulator's request log.

Names follow Kubernetes' rules (k8s.io/apimachinery pkg/util/validation): an InferenceService name is a
DNS-1035 label (KServe's IsvcNameFmt), a namespace a DNS-1123 label.
"""

from __future__ import annotations

import pytest

from mlopstui.cli import main  # noqa: E402
from support.cli_env import isolate  # noqa: E402
from support.serving import NS, serving_cluster  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "DELETE")
BAD_NAMES = {
    "query": "fraud-detection?dryRun=All",
    "traversal": "x/../fraud-detection",
    "empty": "",
    "dotdot": "..",
    "slash": "mlops/fraud-detection",
    "upper": "Fraud-Detection",
    "unicode": "ｆｒａｕｄ-detection",
    "300 chars": "f" * 300,
    "osc": "fraud\x1b]0;pwned\x07",
    "percent-encoded": "fraud%2Fdetection",
}
BAD_NAMESPACES = {"traversal": "kube-system/../mlops", "empty": "", "upper": "MLOPS", "query": "mlops?x=1",
                  "64 chars": "n" * 64}

# verb argv with NAME standing for the name under test; each must refuse a bad name before any request
NAME_VERBS = {
    "canary": ["canary", "NAME", "35", "--yes"],
    "canary-step": ["canary", "NAME", "--step", "10", "--yes"],
    "promote": ["promote", "NAME", "--yes"],
    "rollback": ["rollback", "NAME", "--yes"],
    "min-replicas": ["min-replicas", "NAME", "2", "--yes"],
    "set-model": ["set-model", "NAME", "s3://models/fraud-detection/v9", "--yes"],
    "isvc": ["isvc", "NAME"],
    "infer": ["infer", "NAME", "--input", "[[1, 2]]"],
}
# (argv, words the message must hold): bad values of write verbs
BAD_VALUES = {
    "percent with %": (["canary", "fraud-detection", "10%", "--yes"], "whole"),
    "percent with spaces": (["canary", "fraud-detection", " 20 ", "--yes"], "whole"),
    "5000-digit percent": (["canary", "fraud-detection", "9" * 5000, "--yes"], "range"),
    "percent 101": (["canary", "fraud-detection", "101", "--yes"], "range"),
    "negative percent": (["canary", "fraud-detection", "-5", "--yes"], ""),
    "empty percent": (["canary", "fraud-detection", "", "--yes"], "percent"),
    "unicode percent": (["canary", "fraud-detection", "٣٠", "--yes"], "whole"),
    "step 1000": (["canary", "fraud-detection", "--step", "1000", "--yes"], "-100..100"),
    "replicas -1": (["min-replicas", "fraud-detection", "-1", "--yes"], "replica"),
    "replicas 5000 digits": (["min-replicas", "fraud-detection", "1" * 5000, "--yes"], "replica"),
    "storageUri with ESC": (["set-model", "fraud-detection", "s3://models/x\x1b[2J", "--yes"], "control"),
    "storageUri empty": (["set-model", "fraud-detection", "", "--yes"], "storageUri"),
    "set-model percent 10%": (["set-model", "fraud-detection", "s3://models/v9", "--percent", "10%", "--yes"],
                              "whole"),
    "infer timeout -5": (["infer", "fraud-detection", "--timeout", "-5"], "greater than 0"),
    "infer burst 100000": (["infer", "fraud-detection", "--burst", "100000"], "0..100"),
    "deadline 0": (["isvc", "--deadline", "0"], "greater than 0"),
    "missing config": (["isvc", "--config", "/missing.yaml"], "missing.yaml"),
    "doctor unknown component": (["doctor", "--component", "nonexistent"], "nonexistent"),
    "runs --max -5": (["runs", "fraud-detection", "--max", "-5"], ">= 0"),
    "filter with ESC": (["runs", "fraud-detection", "--filter", "metrics.a > 1\x1b]0;t\x07"], "control characters"),
    "infer input with ESC": (["infer", "fraud-detection", "--input", "[[1, 2]]\x1b[2J"], "control characters"),
    "install --set with ESC": (["install", "redis", "--set", "memory=4Gi\x1b[2J", "--yes"], "control characters"),
    "models ../x": (["models", "../x"], "model name"),
    "models empty": (["models", ""], "model name"),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("badinput")
    with serving_cluster(tmp) as c:
        yield c


@pytest.fixture
def env(tmp_path, monkeypatch):
    return isolate(tmp_path, monkeypatch)


def run(cluster, capsys, argv, namespace=NS):
    code = main([*argv, "--kubeconfig", str(cluster.kubeconfig), "--context", "mlopstui-sandbox",
                 "-n", namespace])
    out = capsys.readouterr()
    return code, out.out, out.err


def _check_refused(cluster, code, out, err, mark, env, *, no_requests):
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "internal error" not in err
    assert "\x1b" not in out + err  # the refusal itself is terminal-safe
    assert err.strip(), "a message says why"
    log = cluster.srv.request_log[mark:]
    assert not [e for e in log if e["method"] in WRITES], log
    if no_requests:
        assert log == [], log
    assert not (env / "audit.jsonl").exists() or not (env / "audit.jsonl").read_text().strip()


@pytest.mark.parametrize("verb", list(NAME_VERBS))
@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_bad_name_is_refused_before_any_request(cluster, capsys, env, verb, case):
    argv = [BAD_NAMES[case] if a == "NAME" else a for a in NAME_VERBS[verb]]
    mark = cluster.mark()
    code, out, err = run(cluster, capsys, argv)
    _check_refused(cluster, code, out, err, mark, env, no_requests=True)
    assert "name" in err or "control characters" in err


@pytest.mark.parametrize("case", list(BAD_NAMESPACES))
def test_bad_namespace_is_refused_before_any_request(cluster, capsys, env, case):
    for argv in (["canary", "fraud-detection", "35", "--yes"], ["isvc"]):
        mark = cluster.mark()
        code, out, err = run(cluster, capsys, argv, namespace=BAD_NAMESPACES[case])
        _check_refused(cluster, code, out, err, mark, env, no_requests=True)
        assert "namespace" in err


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_value_is_refused_with_no_write(cluster, capsys, env, case):
    argv, words = BAD_VALUES[case]
    mark = cluster.mark()
    code, out, err = run(cluster, capsys, argv)
    _check_refused(cluster, code, out, err, mark, env, no_requests=False)
    assert words in err, err


def test_good_input_still_writes(cluster, capsys, env):
    """The table above is not passing because everything is refused."""
    mark = cluster.mark()
    code, out, err = run(cluster, capsys, ["canary", "fraud-detection", "35", "--yes", "--wait", "0"])
    assert code == 0, (out, err)
    assert [e for e in cluster.srv.request_log[mark:] if e["method"] == "PATCH"]


def test_audit_records_identity_object_and_answer(cluster, capsys, env):
    import json

    code, out, err = run(cluster, capsys, ["canary", "fraud-detection", "40", "--yes", "--wait", "0"])
    assert code == 0, (out, err)
    entry = json.loads((env / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["kube_identity"]["context"] == "mlopstui-sandbox"
    assert entry["kube_identity"]["user"]  # the kubeconfig user entry, beside the OS user
    assert entry["os_user"] == entry["user"]
    assert entry["object"] == {"resource": "inferenceservices.serving.kserve.io", "namespace": NS,
                               "name": "fraud-detection"}
    assert entry["server"]["resourceVersion"] and entry["server"]["dry_run"] is False
    assert entry["outcome"] == "applied"


def test_order_by_descending_form_is_accepted():
    from mlopstui.cli import _join_dash_values, build_parser

    args = build_parser().parse_args(_join_dash_values(["runs", "exp", "--order-by", "-accuracy"]))
    assert args.order_by == ["-accuracy"]


def test_headless_verbs_honour_mlopstui_config(cluster, capsys, env, tmp_path, monkeypatch):
    """After `eval "$(mlopstui sandbox env)"`, `isvc` lists the namespace the settings file names."""
    import yaml

    cfg = tmp_path / "sandbox-config.yaml"
    cfg.write_text(yaml.safe_dump({"namespace": NS, "kubeconfig": str(cluster.kubeconfig),
                                   "context": "mlopstui-sandbox"}))
    monkeypatch.setenv("MLOPSTUI_CONFIG", str(cfg))
    code = main(["isvc"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "fraud-detection" in out.out


def test_pager_stops_on_every_loop_shape():
    from mlopstui.backends.mlflow import Pager
    from mlopstui.errors import Kind, MlopsError

    p = Pager("MLflow (x)")
    assert p.next({"next_page_token": "a"}, 1) == "a"
    with pytest.raises(MlopsError, match="already given") as e:
        p.next({"next_page_token": "a"}, 1)
    assert e.value.kind is Kind.INVALID
    with pytest.raises(MlopsError, match="empty page"):
        Pager("x").next({"next_page_token": "b"}, 0)
    capped = Pager("x", max_pages=3)
    capped.next({"next_page_token": "1"}, 1)
    capped.next({"next_page_token": "2"}, 1)
    with pytest.raises(MlopsError, match="more than 3 pages"):
        capped.next({"next_page_token": "3"}, 1)
    assert Pager("x").next({}, 0) is None

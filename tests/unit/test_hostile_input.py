"""Hostile input in pure code: Kubernetes name rules and path building, terminal-safe text,
response decoding, kubeconfig context choice, settings resolution ($MLOPSTUI_CONFIG).

Expected answers come from Kubernetes' own rules (k8s.io/apimachinery pkg/util/validation:
IsDNS1123Label / IsDNS1123Subdomain / IsDNS1035Label) and kubectl's refusal of an unknown
current-context, not from our output.
"""

from __future__ import annotations

import json

import pytest

from mlopstui import config, deadline
from mlopstui.backends.kube import (
    CONFIGMAPS,
    INFERENCESERVICES,
    NAMESPACES,
    PODS,
    check_name,
    check_namespace,
)
from mlopstui.backends.kubeconfig import load_target
from mlopstui.errors import Kind, MlopsError, decode_json
from mlopstui.text import clean, clean_line, control_chars

BAD_NAMES = ["", "fraud-detection?dryRun=All", "x/../fraud-detection", "..", ".", "a/b", "Fraud", "-x", "x-",
             "a b", "a%2Fb", "fraud\x1b]0;pwned\x07", "naïve", "ｆｒａｕｄ", "a" * 300, "x#frag", "a\nb"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_refused_before_a_path_exists(name):
    with pytest.raises(MlopsError) as exc:
        INFERENCESERVICES.path("mlops", name)
    assert exc.value.kind is Kind.INVALID
    assert "\x1b" not in exc.value.message and "\n" not in exc.value.message
    assert len(exc.value.message) < 400


@pytest.mark.parametrize("ns", ["", "kube-system/../mlops", "MLOPS", "a.b", "a" * 64, "ns?x=1"])
def test_bad_namespaces_refused(ns):
    with pytest.raises(MlopsError) as exc:
        PODS.path(ns, "p")
    assert exc.value.kind is Kind.INVALID and "namespace" in exc.value.message


def test_rules_per_kind():
    # a DNS-1123 subdomain may hold dots (ConfigMaps, Pods); a label (namespace) may not;
    # a DNS-1035 label (Services, InferenceServices) starts with a letter
    assert CONFIGMAPS.path("mlops", "feast.repo-v1") == "/api/v1/namespaces/mlops/configmaps/feast.repo-v1"
    assert check_name("a" * 253) and check_namespace("a" * 63)
    with pytest.raises(MlopsError):
        check_name("a" * 254)
    with pytest.raises(MlopsError):
        NAMESPACES.path(None, "a.b")
    with pytest.raises(MlopsError):
        INFERENCESERVICES.path("mlops", "1model")
    assert PODS.path("mlops", "1model-0", "log") == "/api/v1/namespaces/mlops/pods/1model-0/log"
    assert PODS.path(None) == "/api/v1/pods"  # None: every namespace


def test_clean_strips_sequences_keeps_text():
    osc = "fraud\x1b]0;owned\x07-exp"
    assert clean(osc) == "fraud-exp"
    assert clean("\x1b[2J\x1b[31mred\x1b[0m") == "red"
    assert clean("a\rb\x08c\x00d\x7f\x9b31me") == "abcde"
    assert clean("line1\nline2\tx") == "line1\nline2\tx"
    assert clean_line("line1\nline2") == "line1 line2"
    assert clean("\u202eevil") == "evil"
    assert clean("\x1bP1$r\x1b\\ok") == "ok"  # DCS string
    assert clean("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"  # OSC 8 hyperlink
    assert clean("plain ünïcode ✓") == "plain ünïcode ✓"
    assert control_chars("s3://m/\x1b[2J") == ["\\x1b"] and control_chars("ok") == []


def test_decode_json_names_the_endpoint():
    with pytest.raises(MlopsError) as exc:
        decode_json("<html><body>login</body></html>", "the API server (GET /api/v1/pods)",
                    content_type="text/html; charset=utf-8")
    assert exc.value.kind is Kind.INVALID and "GET /api/v1/pods" in exc.value.message
    assert "HTML" in exc.value.message and "text/html" in exc.value.message
    for body in ('{"items": [', "", "[1, 2]", '"x"'):
        with pytest.raises(MlopsError) as exc:
            decode_json(body, "MLflow (GET /x)")
        assert exc.value.kind is Kind.INVALID and "MLflow (GET /x)" in exc.value.message
    assert decode_json('{"a": 1}', "x") == {"a": 1}
    with pytest.raises(MlopsError) as exc:
        decode_json("\x1b]0;pwned\x07 garbage", "x")
    assert "\x1b" not in exc.value.message


KCFG = """
apiVersion: v1
kind: Config
{current}
clusters:
- name: c1
  cluster: {{server: "https://10.0.0.1:6443"}}
contexts:
- name: a-first
  context: {{cluster: c1, user: u1}}
- name: prod
  context: {{cluster: c1, user: u2}}
users:
- name: u1
  user: {{token: abc}}
- name: u2
  user: {{token: def}}
"""


@pytest.mark.parametrize("current,needle", [("current-context: gone", "current-context 'gone'"),
                                            ("", "no current-context"),
                                            ("current-context: ''", "no current-context")])
def test_unresolvable_current_context_is_refused(tmp_path, current, needle):
    p = tmp_path / "k"
    p.write_text(KCFG.format(current=current))
    with pytest.raises(MlopsError) as exc:
        load_target(str(p))
    assert exc.value.kind is Kind.CONFIG and needle in exc.value.message
    assert "a-first" in exc.value.hint  # the known contexts are named, none is picked
    assert load_target(str(p), "prod").context == "prod"  # an explicit --context still works


def test_mlopstui_config_env_is_the_settings_file(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("namespace: from-env-file\nendpoints: {ingress: 'http://10.9.9.9'}\n")
    monkeypatch.setenv("MLOPSTUI_CONFIG", str(cfg))
    s = config.load(None)
    assert s.namespace == "from-env-file" and s.endpoints.ingress == "http://10.9.9.9"
    assert s.config_path == str(cfg)
    other = tmp_path / "o.yaml"
    other.write_text("namespace: flag-file\n")
    assert config.load(str(other)).namespace == "flag-file"  # --config wins
    monkeypatch.setenv("MLOPSTUI_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(MlopsError) as exc:
        config.load(None)
    assert exc.value.kind is Kind.CONFIG and "missing.yaml" in exc.value.message


def test_deadline_cuts_call_timeouts():
    deadline.start(0.5)
    try:
        assert deadline.timeout(5.0) <= 0.5
        deadline.start(1e-9)  # already passed
        with pytest.raises(MlopsError) as exc:
            deadline.timeout(5.0, "GET /x")
        assert exc.value.kind is Kind.TIMEOUT and "deadline" in exc.value.message
    finally:
        deadline.clear()
    assert deadline.timeout(5.0) == 5.0


def test_error_json_stays_json():
    err = MlopsError(Kind.INVALID, "name 'x\x1b]0;t\x07' is bad")
    doc = json.loads(json.dumps({"error": err.to_dict()}))
    assert doc["error"]["kind"] == "invalid"

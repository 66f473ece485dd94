import pytest

from mlopstui.backends.kubeconfig import load_target
from mlopstui.errors import Kind, MlopsError

KCFG = """
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443"}
contexts:
- name: a
  context: {cluster: c1, user: u1, namespace: mlops}
- name: b
  context: {cluster: c1, user: u2}
users:
- name: u1
  user: {token: abc}
- name: u2
  user: {token: def}
"""


def test_parses_contexts(tmp_path):
    p = tmp_path / "k"
    p.write_text(KCFG)
    t = load_target(str(p))
    assert t.contexts == ("a", "b") and t.context == "a" and t.namespace == "mlops"
    assert t.server == "https://10.0.0.1:6443"
    t = load_target(str(p), "b", None)
    assert t.user == "u2" and t.namespace == "default"
    assert load_target(str(p), "b", "x").namespace == "x"


@pytest.mark.parametrize("text,needle", [
    ("clusters: [", "malformed"),
    ("- just\n- a list\n", "malformed"),
    ("contexts: 5\n", "must be a list"),
    ("apiVersion: v1\n", "no contexts"),
])
def test_malformed(tmp_path, text, needle):
    p = tmp_path / "k"
    p.write_text(text)
    with pytest.raises(MlopsError) as exc:
        load_target(str(p))
    assert exc.value.kind is Kind.CONFIG and needle in exc.value.message


def test_missing_and_unknown_context(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(MlopsError, match="no kubeconfig"):
        load_target(str(tmp_path / "none"))
    p = tmp_path / "k"
    p.write_text(KCFG)
    with pytest.raises(MlopsError, match="known contexts: a, b"):
        load_target(str(p), "zzz")

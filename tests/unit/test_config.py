import json
import os

import pytest

from mlopstui import config


def test_file_env_flags_precedence(tmp_path, monkeypatch):
    f = tmp_path / "c.yaml"
    f.write_text("namespace: fromfile\nrefresh_interval: 5\nprobe_timeout: 2\nendpoints:\n  mlflow: http://m:5000\n")
    monkeypatch.setenv("MLOPSTUI_REFRESH_INTERVAL", "7")
    s = config.load(f)
    assert s.namespace == "fromfile"  # file
    assert s.refresh_interval == 7.0  # env beats file
    assert s.probe_timeout == 2.0
    assert s.endpoints.mlflow == "http://m:5000"
    assert s.config_path == str(f)
    s = config.load(f, namespace="flag", refresh_interval=3)
    assert s.namespace == "flag" and s.refresh_interval == 3.0  # flags beat env


def test_nested_env(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("MLOPSTUI_ENDPOINTS__S3", "http://s3:9000")
    assert config.load().endpoints.s3 == "http://s3:9000"


@pytest.mark.parametrize("text,needle", [
    ("namespace: [unclosed", "not valid YAML"),
    ("- a\n- b\n", "mapping"),
    ("refresh_interval: abc\n", "refresh_interval"),
    ("no_such_key: 1\n", "no_such_key"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, needle):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(config.ConfigError) as exc:
        config.load(f)
    assert needle in str(exc.value)


def test_missing_explicit_config(tmp_path):
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "nope.yaml")


def test_default_locations_follow_xdg(tmp_path, monkeypatch):
    from mlopstui import locations

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert locations.audit_log_file() == tmp_path / "state" / "mlopstui" / "audit.jsonl"
    assert locations.config_file() == tmp_path / "cfg" / "mlopstui" / "config.yaml"
    assert config.load().audit_log_path() == tmp_path / "state" / "mlopstui" / "audit.jsonl"


def test_env_structured_values_and_unknown_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("MLOPSTUI_WATCHED_NAMESPACES", '["mlops", "kserve"]')
    monkeypatch.setenv("MLOPSTUI_READONLY", "true")
    monkeypatch.setenv("MLOPSTUI_SANDBOX_DIR", "/not/a/setting")  # ignored, like MLOPSTUI_CONFIG
    s = config.load()
    assert s.watched_namespaces == ["mlops", "kserve"] and s.readonly is True
    monkeypatch.setenv("MLOPSTUI_WATCHED_NAMESPACES", "mlops,kserve")
    with pytest.raises(config.ConfigError, match="must be JSON"):
        config.load()


# -- the hand-written validation (config.py: no pydantic, measured) -------------------------------------------

@pytest.mark.parametrize("text,key,words", [
    ("refresh_interval: [1]\n", "refresh_interval", "must be a number"),
    ("refresh_interval: 0.5\n", "refresh_interval", "at least 1"),
    ("probe_timeout: 0\n", "probe_timeout", "greater than 0"),
    ("deadline: 99999\n", "deadline", "at most 3600"),
    ("canary_step: 2.5\n", "canary_step", "whole number"),
    ("readonly: maybe\n", "readonly", "true or false"),
    ("namespace: 123\n", "namespace", "must be a string"),
    ("route: sideways\n", "route", "one of auto, direct, api"),
    ("watched_namespaces: mlops\n", "watched_namespaces", "must be a list"),
    ("watched_namespaces: [mlops, 3]\n", "watched_namespaces[1]", "must be a string"),
    ("endpoints: http://m\n", "endpoints", "must be a mapping"),
    ("endpoints: {mlflw: http://m}\n", "endpoints.mlflw", "did you mean mlflow"),
    ("components: {mlflow: {selektor: a=b}}\n", "components.mlflow.selektor", "unknown setting"),
    ("keymap: {app.help: 1}\n", "keymap['app.help']", "must be a string"),
    ("rollout: {steps: '50,10'}\n", "rollout.steps", "must increase"),
    ("rollout: {signal: psychic}\n", "rollout.signal", "one of auto"),
    ("config_path: /x\n", "config_path", "unknown setting"),  # not a setting
])
def test_a_bad_value_is_refused_naming_its_key(tmp_path, text, key, words):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(config.ConfigError) as exc:
        config.load(f)
    assert f": {key}: " in exc.value.message and words in exc.value.message, exc.value.message
    assert str(f) in exc.value.message


@pytest.mark.parametrize("key,value", [
    ("mlflow", "localhost:5000"),  # no scheme: urlsplit would take "localhost" for one
    ("s3", "http://"),
    ("ingress", "http://10.0.0.50:http"),
    ("lakefs", "http://lakefs:99999"),
    ("prometheus", "http://prom server:9090"),
    ("redis", "redis://\x1b[31mhost:6379"),
    ("postgresql", "postgres"),
    ("feast_registry", "postgresql://h:port/db"),
])
def test_a_bad_endpoint_uri_is_refused(tmp_path, key, value):
    f = tmp_path / "c.yaml"
    f.write_text(json.dumps({"endpoints": {key: value}}))
    with pytest.raises(config.ConfigError) as exc:
        config.load(f)
    assert f"endpoints.{key}: " in exc.value.message and "URI" in exc.value.message, exc.value.message
    assert "\x1b" not in exc.value.message  # the value is shown escaped


@pytest.mark.parametrize("key,value", [
    ("mlflow", "https://mlflow.example.internal"),
    ("redis", "redis://10.0.0.5:6379/0"),
    ("postgresql", "postgresql://feast:secret@pg.feast.svc:5432/feast"),
    ("feast_registry", "/srv/feature repo/data/registry.db"),  # a path (spaces allowed in paths)
    ("feast_registry", "sqlite:///srv/registry.db"),
    ("feast_repo", "/srv/feature_repo"),
    ("dvc_repo", "relative/checkout"),
])
def test_good_endpoints_and_paths_pass(tmp_path, key, value):
    f = tmp_path / "c.yaml"
    f.write_text(json.dumps({"endpoints": {key: value}}))
    assert getattr(config.load(f).endpoints, key) == value


def test_lax_conversions_as_before(tmp_path, monkeypatch):
    """What pydantic's lax mode accepted still is: env strings as numbers and booleans, ints for floats,
    numbers for the rollout options' texts; blank names are unset."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("MLOPSTUI_READONLY", "yes")
    monkeypatch.setenv("MLOPSTUI_CANARY_STEP", "5")
    monkeypatch.setenv("MLOPSTUI_ROLLOUT__MIN_REQUESTS", "7")
    f = tmp_path / "c.yaml"
    f.write_text("kube_timeout: 2\nnamespace: ''\nrollout: {max_error_rate: 0.01, pause: 30, max_p95: 250}\n"
                 "components: {mlflow: {names: [tracking]}}\ninference_sample: {instances: [[1, 2]]}\n")
    s = config.load(f)
    assert s.readonly is True and s.canary_step == 5 and s.rollout.min_requests == 7
    assert s.kube_timeout == 2.0 and isinstance(s.kube_timeout, float) and s.namespace is None
    assert (s.rollout.max_error_rate, s.rollout.pause, s.rollout.max_p95) == ("0.01", "30", "250")
    assert s.components["mlflow"].names == ["tracking"] and s.components["mlflow"].selector is None
    assert s.inference_sample == {"instances": [[1, 2]]}
    assert s.endpoints.mlflow is None and s.keymap == {} and s.rollout.steps == "10,25,50,100"


def test_an_env_value_that_does_not_validate_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("MLOPSTUI_ENDPOINTS__MLFLOW", "mlflow:5000")
    with pytest.raises(config.ConfigError, match=r"endpoints\.mlflow: .*\(from \$MLOPSTUI_ENDPOINTS__MLFLOW\)"):
        config.load()
    monkeypatch.delenv("MLOPSTUI_ENDPOINTS__MLFLOW")
    with pytest.raises(config.ConfigError, match=r"refresh_interval: .*\(given as an option\)"):
        config.load(None, refresh_interval=0)


def test_a_bad_config_is_exit_2_with_the_key_on_stderr(tmp_path, capsys):
    from mlopstui.cli import main

    f = tmp_path / "c.yaml"
    f.write_text("endpoints:\n  mlflow: mlflow.internal:5000\n")
    assert main(["--config", str(f), "--kubeconfig", str(tmp_path / "none"), "isvc"]) == 2
    err = capsys.readouterr().err
    assert "endpoints.mlflow" in err and "mlflow.internal:5000" in err and "Traceback" not in err
    assert main(["--config", str(f), "--kubeconfig", str(tmp_path / "none"), "isvc", "-o", "json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["kind"] == "config" and "endpoints.mlflow" in out["error"]["message"]


def test_the_tui_refuses_a_bad_config_with_exit_2(tmp_path):
    """The TUI entry (no verb) validates before any screen: exit 2, the key named, no traceback."""
    import subprocess
    import sys

    f = tmp_path / "c.yaml"
    f.write_text("refresh_interval: often\n")
    p = subprocess.run([sys.executable, "-m", "mlopstui", "--config", str(f)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert p.returncode == 2 and "refresh_interval" in p.stderr and "Traceback" not in p.stderr, p.stderr

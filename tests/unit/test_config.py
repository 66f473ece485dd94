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

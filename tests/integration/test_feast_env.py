"""Feast's own environment variables locate the repository as they do for the `feast` CLI:
FEATURE_REPO_DIR_ENV_VAR (the CLI's --chdir) and FEAST_FS_YAML_FILE_PATH (feature_store.yaml anywhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def features(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    cfg = tmp_path / "no-repo.yaml"
    cfg.write_text("namespace: mlops\n")  # no endpoints.feast_repo: the environment decides
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEAST_", "FEATURE_REPO", "MLOPSTUI_"))}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), **env_extra)
    return subprocess.run([sys.executable, "-m", "mlopstui.cli", "features", "--no-kube", "-o", "json",
                           "--config", str(cfg)], env=env, capture_output=True, text=True, timeout=240)


def test_feast_repo_dir_and_yaml_variables(sandbox, tmp_path):
    repo = Path(sandbox.env["FEAST_REPO_PATH"])
    # the CLI's repository variable, and feature_store.yaml kept elsewhere under another name; relative
    # paths in it (registry: data/registry.db) resolve against the repository, as for `feast`
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "store.yaml").write_text((repo / "feature_store.yaml").read_text())
    r = features(tmp_path, {"FEATURE_REPO_DIR_ENV_VAR": str(repo), "FEAST_FS_YAML_FILE_PATH": str(conf / "store.yaml")})
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert {v["name"] for v in doc["views"]} == {"customer_stats", "transaction_stats"}
    assert "FEATURE_REPO_DIR_ENV_VAR" in doc["repo_source"]
    # a FEAST_FS_YAML_FILE_PATH that does not exist: said so, with the file named (Feast is not imported)
    r = features(tmp_path, {"FEAST_FS_YAML_FILE_PATH": str(conf / "missing.yaml"), "FEAST_REPO_PATH": str(repo)})
    assert r.returncode != 0 and "missing.yaml" in r.stderr

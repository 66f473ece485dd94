"""The Data verbs against the sandbox: LakeFS (the emulator, its request log) and the seeded DVC project
(`dvc status -c` run in the same repository is the reference), and the doctor's data findings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlopstui.cli import main

pytestmark = pytest.mark.integration
DVC = Path(sys.executable).parent / "dvc"


@pytest.fixture
def data(sandbox, tmp_path, monkeypatch):
    for k, v in sandbox.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return sandbox


def run(sandbox, capsys, *argv):
    code = main([*argv, "--config", str(sandbox.config_path), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def lakefs_writes(sandbox) -> list[dict]:
    log = sandbox.dir / "lakefs" / "requests.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [e for e in map(json.loads, lines) if e["method"] in ("POST", "PUT", "DELETE", "PATCH")]


def test_lakefs_repos_and_diff_between_branches(data, capsys):
    code, doc = run(data, capsys, "lakefs", "repos")
    assert code == 0
    (repo,) = [r for r in doc["repositories"] if r["id"] == "fraud-datasets"]
    assert repo["storage_namespace"] == "s3://lakefs-data/datasets" and repo["default_branch"] == "main"
    code, doc = run(data, capsys, "lakefs", "diff", "fraud-datasets", "main", "dedup-experiment")
    assert code == 0
    assert {(d["type"], d["path"]) for d in doc["diff"]} == {("added", "notes/dedup.txt"),
                                                             ("changed", "raw/transactions.csv")}
    code, doc = run(data, capsys, "lakefs", "show", "fraud-datasets", "main", "features/daily.parquet")
    assert code == 0 and doc["rows"] == 100 and ["transaction_id", "int64"] in doc["schema"]


def test_dvc_status_matches_dvc_status_c(data, capsys):
    code, doc = run(data, capsys, "dvc", "status")
    assert code == 1  # one dataset is not in the remote
    root = doc["root"]
    ref = subprocess.run([str(DVC), "status", "-c", "--json"], cwd=root, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert ref.returncode == 0, ref.stderr
    expected = json.loads(ref.stdout)  # {"data/labels.csv": "new"}: in the cache, not in the remote
    ours = {o["path"]: o["status"] for o in doc["outs"]}
    assert set(ours) == {"data/transactions.csv", "data/labels.csv"}
    assert {p for p, s in ours.items() if s != "in-remote"} == set(expected)
    assert all(ours[p] == {"new": "not-in-remote", "deleted": "not-in-remote"}.get(s, s) for p, s in expected.items())
    by_path = {o["path"]: o for o in doc["outs"]}
    assert by_path["data/labels.csv"]["last_commit_subject"] == "Track analyst labels (not pushed yet)"
    assert by_path["data/transactions.csv"]["md5"] and by_path["data/transactions.csv"]["size"] > 0
    remotes = {r["name"]: r for r in doc["remotes"]}
    assert remotes["storage"]["endpointurl"] == data.env["MLFLOW_S3_ENDPOINT_URL"]
    assert remotes["backup"]["endpointurl"] is None
    assert data.env["AWS_SECRET_ACCESS_KEY"] not in json.dumps(doc)


def test_branch_writes_one_request_and_refusals_send_none(data, capsys):
    before = len(lakefs_writes(data))
    code, doc = run(data, capsys, "lakefs", "branch", "fraud-datasets", "main", "--delete", "--yes")
    assert code == 2 and "default branch" in doc["error"]["message"]
    code, _ = run(data, capsys, "--readonly", "lakefs", "branch", "fraud-datasets", "ro-test", "--from", "main",
                  "--yes")
    assert code == 2
    assert len(lakefs_writes(data)) == before
    code, doc = run(data, capsys, "lakefs", "branch", "fraud-datasets", "cli-test", "--from", "v1.0", "--yes")
    assert code == 0, doc
    writes = lakefs_writes(data)[before:]
    assert [(w["method"], w["path"]) for w in writes] == [("POST", "/api/v1/repositories/fraud-datasets/branches")]
    code, _ = run(data, capsys, "lakefs", "branch", "fraud-datasets", "cli-test", "--delete", "--yes")
    assert code == 0
    audit = [json.loads(x) for x in Path(os.environ["MLOPSTUI_AUDIT_LOG"]).read_text().splitlines()]
    assert [a["action"] for a in audit] == ["lakefs-branch", "lakefs-branch-delete"]


def test_doctor_finds_the_planted_data_faults(data, capsys):
    code, doc = run(data, capsys, "doctor")
    found = {(f["id"], tuple(f["objects"])) for f in doc["findings"]}
    assert ("lakefs-bucket-via-minio", ("CronJob mlops/nightly-dataset-export",)) in found
    assert any(i == "dvc-remote-no-endpointurl" and "backup" in o[0] for i, o in found)
    assert not any(i == "dvc-remote-no-endpointurl" and "storage" in o[0] for i, o in found)


def test_dvc_push_of_one_target_with_progress(data, capsys, tmp_path):
    src = data.dir / "dvc" / "fraud-data"
    root = tmp_path / "fraud-data"
    shutil.copytree(src, root, symlinks=True)
    # push to a prefix of its own, so the shared project's remote keeps its seeded state
    conf = root / ".dvc" / "config"
    conf.write_text(conf.read_text().replace("s3://dvc-store/fraud-data", f"s3://dvc-store/push-{uuid.uuid4().hex[:8]}"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(Path(data.config_path).read_text().replace(str(src), str(root)))
    code = main(["dvc", "push", "data/labels.csv", "--yes", "--config", str(cfg)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "pushed 1 file of data/labels.csv" in captured.out, captured.out + captured.err
    assert "Pushing" in captured.err, captured.err  # DVC's own progress, line by line
    code = main(["dvc", "status", "--config", str(cfg), "--json"])
    outs = {o["path"]: o["status"] for o in json.loads(capsys.readouterr().out)["outs"]}
    assert outs["data/labels.csv"] == "in-remote" and outs["data/transactions.csv"] == "not-in-remote"

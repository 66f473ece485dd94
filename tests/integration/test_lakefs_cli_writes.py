"""The CLI's LakeFS write verbs (`lakefs branch|revert|merge`) against the LakeFS emulator in this process
(``local://`` storage: no S3, no sandbox): without --yes the plan is printed and nothing is written (exit 2),
--dry-run prints it (exit 0), --yes applies it with one write and an audit entry, --readonly refuses with
no write, and bad input is exit 2 before any request."""

from __future__ import annotations

import json

import pytest

from mlopstui.cli import main
from mlopstui.sandbox.lakefs import LakeFSServer

KEY, SECRET = "AKIAIOSFOCLIWRITES", "cli-writes-test-secret"


@pytest.fixture
def lakefs(tmp_path, monkeypatch):
    srv = LakeFSServer(tmp_path / "lakefs", access_key_id=KEY, secret_access_key=SECRET).start()
    import httpx

    http = httpx.Client(base_url=srv.api_url, auth=(KEY, SECRET), timeout=10)
    http.post("/repositories", json={"name": "repo", "storage_namespace": "local://repo"}).raise_for_status()

    def put(branch: str, path: str, data: bytes) -> None:
        http.post(f"/repositories/repo/branches/{branch}/objects", params={"path": path},
                  files={"content": ("f", data)}).raise_for_status()

    def commit(branch: str, msg: str) -> str:
        r = http.post(f"/repositories/repo/branches/{branch}/commits", json={"message": msg})
        r.raise_for_status()
        return r.json()["id"]

    put("main", "a.csv", b"x,y\n1,2\n")
    commit("main", "base")
    http.post("/repositories/repo/branches", json={"name": "side", "source": "main"}).raise_for_status()
    put("side", "b.json", b'{"k": 1}')
    commit("side", "side change")
    # the CLI finds the endpoint and credentials as lakectl does, and no cluster at all
    monkeypatch.setenv("LAKECTL_SERVER_ENDPOINT_URL", srv.url)
    monkeypatch.setenv("LAKECTL_CREDENTIALS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    (tmp_path / "config.yaml").write_text("{}\n")
    yield srv, http, put, commit, tmp_path
    http.close()
    srv.stop()


def run(tmp_path, capsys, *argv) -> tuple[int, dict | None]:
    code = main([*argv, "--config", str(tmp_path / "config.yaml"), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def writes(srv) -> list[tuple[str, str]]:
    return [(w["method"], w["path"]) for w in srv.writes()]


def audit(tmp_path) -> list[dict]:
    log = tmp_path / "audit.jsonl"
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_branch_plan_dry_run_yes_and_delete(lakefs, capsys):
    srv, http, _, _, tmp = lakefs
    before = len(srv.writes())
    code, doc = run(tmp, capsys, "lakefs", "branch", "repo", "exp", "--from", "main")
    assert code == 2 and doc["applied"] is False and doc["plan"]["action"] == "lakefs-branch"
    code, doc = run(tmp, capsys, "lakefs", "branch", "repo", "exp", "--from", "main", "--dry-run")
    assert code == 0 and doc["applied"] is False
    assert srv.writes()[before:] == []
    code, doc = run(tmp, capsys, "lakefs", "branch", "repo", "exp", "--from", "main", "--yes")
    assert code == 0 and doc["applied"] is True and doc["result"]["ok"] is True
    assert writes(srv)[before:] == [("POST", "/api/v1/repositories/repo/branches")]
    assert http.get("/repositories/repo/branches/exp").status_code == 200
    code, doc = run(tmp, capsys, "lakefs", "branch", "repo", "exp", "--delete", "--yes")
    assert code == 0 and doc["applied"] is True
    assert writes(srv)[-1] == ("DELETE", "/api/v1/repositories/repo/branches/exp")
    assert [a["action"] for a in audit(tmp)] == ["lakefs-branch", "lakefs-branch-delete"]


def test_merge_then_revert_it(lakefs, capsys):
    srv, http, _, _, tmp = lakefs
    code, doc = run(tmp, capsys, "lakefs", "merge", "repo", "side", "main")
    assert code == 2 and doc["applied"] is False and "b.json" in json.dumps(doc["plan"])
    before = len(srv.writes())
    code, doc = run(tmp, capsys, "lakefs", "merge", "repo", "side", "main", "-m", "take side", "--yes")
    assert code == 0 and doc["result"]["ok"] is True
    assert writes(srv)[before:] == [("POST", "/api/v1/repositories/repo/refs/side/merge/main")]
    merge_id = doc["result"]["data"]["commit_id"]
    assert http.get("/repositories/repo/refs/main/objects/stat", params={"path": "b.json"}).status_code == 200
    # a merge commit needs its parent named: a usage error, nothing sent
    before = len(srv.writes())
    code, doc = run(tmp, capsys, "lakefs", "revert", "repo", "main", merge_id, "--yes")
    assert code == 2 and srv.writes()[before:] == []
    code, doc = run(tmp, capsys, "lakefs", "revert", "repo", "main", merge_id, "--parent", "1", "--yes")
    assert code == 0 and doc["result"]["ok"] is True
    assert writes(srv)[before:] == [("POST", "/api/v1/repositories/repo/branches/main/revert")]
    assert http.get("/repositories/repo/refs/main/objects/stat", params={"path": "b.json"}).status_code == 404
    assert [a["action"] for a in audit(tmp)] == ["lakefs-merge", "lakefs-revert"]


@pytest.mark.parametrize("argv", [
    ("lakefs", "branch", "repo", "ro", "--from", "main", "--yes"),
    ("lakefs", "merge", "repo", "side", "main", "--yes"),
    ("lakefs", "revert", "repo", "side", "0" * 64, "--yes"),
])
def test_readonly_refuses_with_no_write(lakefs, capsys, argv):
    srv, _, _, _, tmp = lakefs
    before = len(srv.writes())
    code, doc = run(tmp, capsys, "--readonly", *argv)
    assert code == 2 and doc["error"]["kind"] == "refused"
    assert srv.writes()[before:] == [] and audit(tmp) == []


@pytest.mark.parametrize("argv", [
    ("lakefs", "branch", "repo", "bad name", "--from", "main", "--yes"),
    ("lakefs", "branch", "repo", "main", "--delete", "--yes"),  # the default branch
    ("lakefs", "merge", "Bad_Repo!", "side", "main", "--yes"),
    ("lakefs", "revert", "repo", "main", "not-a-commit;", "--yes"),
])
def test_bad_input_is_a_usage_error_with_no_write(lakefs, capsys, argv):
    srv, _, _, _, tmp = lakefs
    before = len(srv.writes())
    code, doc = run(tmp, capsys, *argv)
    assert code == 2 and doc["error"]["message"]
    assert srv.writes()[before:] == [] and audit(tmp) == []

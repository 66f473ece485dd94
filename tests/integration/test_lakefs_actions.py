"""The LakeFS actions (plan -> apply -> audit) and backend against the emulator in this process
(``local://`` storage namespace: no S3 needed): merge shows its diff and reports a conflict without
writing anything else, revert undoes a commit, read-only refuses before any request."""

from __future__ import annotations

import pytest

from mlopstui.actions.base import AuditLog
from mlopstui.actions.data import CreateBranch, DeleteBranch, MergeBranch, RevertCommit
from mlopstui.backends.lakefs import Credentials, LakeFSClient
from mlopstui.errors import Kind, MlopsError
from mlopstui.sandbox.lakefs import LakeFSServer

KEY, SECRET = "AKIAIOSFOLACTIONS", "actions-test-secret"


@pytest.fixture
def lakefs(tmp_path):
    srv = LakeFSServer(tmp_path / "lakefs", access_key_id=KEY, secret_access_key=SECRET).start()
    client = LakeFSClient(srv.url, Credentials(KEY, SECRET, "test"), timeout=10)
    http = client._http
    http.post("/repositories", json={"name": "repo", "storage_namespace": "local://repo"}).raise_for_status()

    def put(branch, path, data: bytes):
        http.post(f"/repositories/repo/branches/{branch}/objects", params={"path": path},
                  files={"content": ("f", data)}).raise_for_status()

    def commit(branch, msg):
        r = http.post(f"/repositories/repo/branches/{branch}/commits", json={"message": msg})
        r.raise_for_status()
        return r.json()["id"]

    put("main", "a.csv", b"x,y\n1,2\n")
    commit("main", "base")
    client.create_branch("repo", "side", "main")
    put("side", "a.csv", b"x,y\n1,3\n")
    put("side", "b.json", b'{"k": 1}')
    commit("side", "side change")
    yield srv, client, put, commit
    client.close()
    srv.stop()


def test_merge_plan_shows_the_diff_and_a_conflict_is_reported(lakefs, tmp_path):
    srv, c, put, commit = lakefs
    put("main", "a.csv", b"x,y\n1,4\n")
    commit("main", "main change")
    action = MergeBranch(c, "repo", "side", "main")
    plan = action.plan()
    text = plan.render()
    assert "1 added, 1 changed from side" in text and "changed a.csv" in text and "added b.json" in text
    assert plan.risk == "high" and "conflicts: main also changed a.csv" in text
    before = len(srv.writes())
    audit = AuditLog(tmp_path / "audit.jsonl")
    result = action.apply(plan, readonly=False, audit=audit)
    assert not result.ok and "conflict on a.csv" in result.message
    assert [(w["method"], w["path"]) for w in srv.writes()[before:]] == [
        ("POST", "/api/v1/repositories/repo/refs/side/merge/main")]
    assert audit.entries()[-1]["ok"] is False


def test_merge_without_conflict_then_revert_it(lakefs):
    _, c, _, _ = lakefs
    action = MergeBranch(c, "repo", "side", "main")
    plan = action.plan()
    assert plan.risk == "medium"
    result = action.apply(plan, readonly=False, audit=None)
    assert result.ok
    merge_commit = c.log("repo", "main", limit=1)[0]
    assert merge_commit.is_merge and merge_commit.id == result.data["commit_id"]
    with pytest.raises(MlopsError) as e:  # a merge commit needs its parent named
        RevertCommit(c, "repo", "main", merge_commit.id).plan()
    assert e.value.kind is Kind.INVALID
    revert = RevertCommit(c, "repo", "main", merge_commit.id, parent_number=1)
    plan = revert.plan()
    assert "undoes: 1 changed, 1 removed" in plan.render()  # b.json goes, a.csv is back
    assert revert.apply(plan, readonly=False, audit=None).ok
    assert c.read("repo", "main", "a.csv") == b"x,y\n1,2\n"
    assert [o.path for o in c.objects("repo", "main")] == ["a.csv"]
    # nothing left to merge: refused in the plan
    with pytest.raises(MlopsError):
        MergeBranch(c, "repo", "side", "main").plan()


def test_readonly_and_default_branch_refusals_send_no_write(lakefs):
    srv, c, _, _ = lakefs
    before = len(srv.writes())
    action = CreateBranch(c, "repo", "new-one", "main")
    plan = action.plan()
    with pytest.raises(MlopsError) as e:
        action.apply(plan, readonly=True, audit=None)
    assert e.value.kind is Kind.REFUSED
    with pytest.raises(MlopsError) as e:
        DeleteBranch(c, "repo", "main").plan()
    assert e.value.kind is Kind.REFUSED and "default branch" in e.value.message
    with pytest.raises(MlopsError) as e:
        CreateBranch(c, "repo", "bad name", "main")
    assert e.value.kind is Kind.INVALID
    assert srv.writes()[before:] == []
    plan = DeleteBranch(c, "repo", "side").plan()
    assert plan.risk == "high" and "not merged into main" in plan.render()

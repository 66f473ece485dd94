"""The sandbox's LakeFS emulator, checked by the official `lakefs-sdk` client (as kubectl checks the
Kubernetes emulator): repositories and branches listed, a branch created, an object uploaded and
committed, a diff and a merge; plus lakeFS's semantics of merge conflicts, revert and the default
branch (treeverse/lakeFS pkg/graveler/graveler.go, pkg/api/controller.go at 71a45eeb1639).

Objects go to a real S3 endpoint (moto's server, in this process) under the storage namespace.
"""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.config import Config

from mlopstui.sandbox.lakefs import LakeFSServer

KEY, SECRET = "AKIAIOSFOLSANDBOXTEST", "sandbox-test-secret-value"


@pytest.fixture(scope="module")
def s3():
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="y", config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket="lakefs-data")
    yield url, client
    srv.stop()


@pytest.fixture()
def lakefs(s3, tmp_path):
    url, _ = s3
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    srv = LakeFSServer(tmp_path / "lakefs", s3_endpoint=url, access_key_id=KEY, secret_access_key=SECRET).start()
    yield srv
    srv.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _put(objects, tmp_path, repo, branch, path, data: bytes):
    """`ObjectsApi.upload_object`'s `content` is a file name in the generated SDK (multipart upload)."""
    f = tmp_path / ("upload-" + path.replace("/", "_"))
    f.write_bytes(data)
    return objects.upload_object(repo, branch, path, content=str(f))


def _client(srv, key=KEY, secret=SECRET):
    import lakefs_sdk

    cfg = lakefs_sdk.Configuration(host=srv.api_url, username=key, password=secret)
    return lakefs_sdk.ApiClient(cfg)


def test_official_sdk_repos_branches_upload_commit_diff_merge(lakefs, s3, tmp_path):
    import lakefs_sdk
    from lakefs_sdk import BranchCreation, CommitCreation, Merge, RepositoryCreation

    _, s3client = s3
    with _client(lakefs) as c:
        repos = lakefs_sdk.RepositoriesApi(c)
        branches = lakefs_sdk.BranchesApi(c)
        objects = lakefs_sdk.ObjectsApi(c)
        commits = lakefs_sdk.CommitsApi(c)
        refs = lakefs_sdk.RefsApi(c)

        repo = repos.create_repository(RepositoryCreation(name="datasets",
                                                          storage_namespace="s3://lakefs-data/datasets"))
        assert repo.default_branch == "main"
        listed = repos.list_repositories()
        assert [r.id for r in listed.results] == ["datasets"]
        assert listed.results[0].storage_namespace == "s3://lakefs-data/datasets"

        ref = branches.create_branch("datasets", BranchCreation(name="exp", source="main"))
        main_tip = branches.get_branch("datasets", "main").commit_id
        assert ref == main_tip  # a pointer to the same commit: zero-copy
        assert sorted(b.id for b in branches.list_branches("datasets").results) == ["exp", "main"]

        stats = _put(objects, tmp_path, "datasets", "exp", "raw/train.csv", b"a,b\n1,2\n")
        assert stats.size_bytes == 8 and stats.physical_address.startswith("s3://lakefs-data/datasets/data/")
        # the bytes are in the storage namespace, once
        key = stats.physical_address.removeprefix("s3://lakefs-data/")
        assert s3client.get_object(Bucket="lakefs-data", Key=key)["Body"].read() == b"a,b\n1,2\n"
        # uncommitted changes show in the branch diff, and reading the branch sees them
        assert [d.path for d in branches.diff_branch("datasets", "exp").results] == ["raw/train.csv"]
        assert bytes(objects.get_object("datasets", "exp", "raw/train.csv")) == b"a,b\n1,2\n"

        commit = commits.commit("datasets", "exp", CommitCreation(message="add train", metadata={"src": "t"}))
        assert commit.parents == [main_tip] and commit.message == "add train"
        assert commit.metadata == {"src": "t"}

        diff = refs.diff_refs("datasets", "main", "exp")
        assert [(d.type, d.path, d.size_bytes) for d in diff.results] == [("added", "raw/train.csv", 8)]
        listing = objects.list_objects("datasets", "exp", prefix="raw/")
        assert [o.path for o in listing.results] == ["raw/train.csv"]
        assert objects.stat_object("datasets", "exp", "raw/train.csv").checksum == stats.checksum

        result = refs.merge_into_branch("datasets", "exp", "main", merge=Merge(message="merge exp"))
        log = refs.log_commits("datasets", "main").results
        assert log[0].id == result.reference
        assert log[0].parents == [main_tip, commit.id]
        assert log[0].metadata[".lakefs.merge.strategy"] == "default"
        assert [c.message for c in log] == ["merge exp", "add train", "Repository created"]
        assert refs.diff_refs("datasets", "main", "exp").results == []


def test_bad_credentials_are_401(lakefs):
    import lakefs_sdk

    with _client(lakefs, secret="wrong") as c, pytest.raises(lakefs_sdk.ApiException) as e:
        lakefs_sdk.RepositoriesApi(c).list_repositories()
    assert e.value.status == 401


def test_conflict_revert_and_default_branch(lakefs, tmp_path):
    import lakefs_sdk
    from lakefs_sdk import BranchCreation, CommitCreation, RepositoryCreation, RevertCreation

    with _client(lakefs) as c:
        lakefs_sdk.RepositoriesApi(c).create_repository(
            RepositoryCreation(name="conflicts", storage_namespace="s3://lakefs-data/conflicts"))
        b, o, cm, r = (lakefs_sdk.BranchesApi(c), lakefs_sdk.ObjectsApi(c), lakefs_sdk.CommitsApi(c),
                       lakefs_sdk.RefsApi(c))
        _put(o, tmp_path, "conflicts", "main", "f.txt", b"base")
        cm.commit("conflicts", "main", CommitCreation(message="base"))
        b.create_branch("conflicts", BranchCreation(name="side", source="main"))
        _put(o, tmp_path, "conflicts", "side", "f.txt", b"side")
        cm.commit("conflicts", "side", CommitCreation(message="side change"))
        _put(o, tmp_path, "conflicts", "main", "f.txt", b"main")
        main_change = cm.commit("conflicts", "main", CommitCreation(message="main change"))
        writes = len(lakefs.writes())
        with pytest.raises(lakefs_sdk.ApiException) as e:
            r.merge_into_branch("conflicts", "side", "main")
        assert e.value.status == 409
        assert len(lakefs.writes()) == writes + 1
        # nothing changed on main
        assert b.get_branch("conflicts", "main").commit_id == main_change.id

        # revert the main change: f.txt is back to "base", in a new commit "Revert <ref>"
        b.revert_branch("conflicts", "main", RevertCreation(ref=main_change.id, parent_number=0))
        log = r.log_commits("conflicts", "main").results
        assert log[0].message == f"Revert {main_change.id}" and log[0].parents == [main_change.id]
        assert bytes(o.get_object("conflicts", "main", "f.txt")) == b"base"

        with pytest.raises(lakefs_sdk.ApiException) as e:
            b.delete_branch("conflicts", "main")
        assert e.value.status == 403 and "default branch" in e.value.body
        b.delete_branch("conflicts", "side")
        assert [x.id for x in b.list_branches("conflicts").results] == ["main"]


def test_state_survives_a_restart(lakefs, s3, tmp_path):
    import lakefs_sdk
    from lakefs_sdk import CommitCreation, RepositoryCreation

    with _client(lakefs) as c:
        lakefs_sdk.RepositoriesApi(c).create_repository(
            RepositoryCreation(name="persist", storage_namespace="s3://lakefs-data/persist"))
        _put(lakefs_sdk.ObjectsApi(c), tmp_path, "persist", "main", "x.json", b"{\"a\": 1}")
        lakefs_sdk.CommitsApi(c).commit("persist", "main", CommitCreation(message="x"))
    again = LakeFSServer(tmp_path / "lakefs", s3_endpoint=s3[0], access_key_id=KEY, secret_access_key=SECRET).start()
    try:
        with _client(again) as c:
            assert bytes(lakefs_sdk.ObjectsApi(c).get_object("persist", "main", "x.json")) == b'{"a": 1}'
    finally:
        again.stop()


def test_stop_cuts_open_keep_alive_connections(tmp_path):
    """A client that keeps its connection open (an SDK's pool) does not hold a handler thread past stop():
    the emulator ends the connection as a stopped server would (the API emulator and the relays do too)."""
    import http.client
    import threading
    import time

    # handler threads of other servers in this process (an earlier test's emulator) have the same name
    others = set(threading.enumerate())
    srv = LakeFSServer(tmp_path / "lakefs", access_key_id=KEY, secret_access_key=SECRET).start()
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/healthcheck")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 204 and not resp.will_close  # kept alive: its handler waits for the next request
        handlers = [t for t in threading.enumerate() if "process_request" in t.name and t not in others]
        assert handlers
        srv.stop()
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""  # the server closed it (before: recv waited out its timeout)
        end = time.monotonic() + 5
        while any(t.is_alive() for t in handlers) and time.monotonic() < end:
            time.sleep(0.05)
        assert not any(t.is_alive() for t in handlers)
    finally:
        conn.close()
        srv.stop()

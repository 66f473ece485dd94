"""The Data area's pure logic: previews, refs, merge conflicts, DVC remotes (its doctor rules: test_doctor_rules)."""

from __future__ import annotations

import pytest

from mlopstui.backends.dvc import remote_objects
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import data as m


def test_csv_preview_is_aligned_and_cleaned():
    pv = m.preview_from_bytes("raw/t.csv", b"id,amount\n1,9.5\n2,\x1b]0;pwned\x07 10\n", size=30)
    assert pv.kind == "csv"
    assert pv.lines[0].split() == ["id", "amount"]
    assert "\x1b" not in "".join(pv.lines) and "pwned" not in "".join(pv.lines)


def test_json_preview_pretty_and_truncated_text_cut_at_a_line():
    pv = m.preview_from_bytes("s.json", b'{"a": {"b": 1}}', size=15)
    assert pv.kind == "json" and pv.lines == ["{", '  "a": {', '    "b": 1', "  }", "}"]
    pv = m.preview_from_bytes("notes.txt", b"line one\nline tw", size=10_000)
    assert pv.truncated and pv.lines == ["line one"]
    assert m.preview_from_bytes("blob.bin", b"\x00\x01", size=2).kind == "binary"
    assert m.preview_kind("features/daily.parquet") == "parquet"


@pytest.mark.parametrize("name", ["-bad", "a b", "x\x1b[2J", "", "main..x"])
def test_bad_refs_are_refused_before_any_request(name):
    with pytest.raises(MlopsError) as e:
        m.validate_ref(name) if ".." in name else m.validate_branch(name)
    assert e.value.kind is Kind.INVALID


def test_refs_accept_lakefs_forms():
    for ref in ("main", "dedup-experiment", "v1.0", "a1b2c3d4e5f6", "main~2", "main^1"):
        assert m.validate_ref(ref) == ref
    with pytest.raises(MlopsError):
        m.validate_repo("UPPER")


def test_merge_conflicts_are_paths_both_sides_changed():
    src = [m.DiffEntry("changed", "raw/t.csv"), m.DiffEntry("added", "notes.txt")]
    dst = [m.DiffEntry("changed", "raw/t.csv"), m.DiffEntry("removed", "old.csv")]
    assert m.merge_conflicts(src, dst) == ["raw/t.csv"]
    assert m.merge_conflicts(src, []) == []
    assert m.diff_summary(src) == "1 added, 1 changed"


def test_commit_from_api_cleans_server_strings():
    c = m.Commit.from_api({"id": "ab" * 32, "message": "fix\x1b[31m red\nline", "committer": "x",
                           "creation_date": 0, "parents": ["p"], "metadata": {"k\x07": "v"}})
    assert c.message == "fix red line" and c.metadata == {"k": "v"} and c.created is None


def test_dvc_cloud_status_words_follow_dvc_status_c():
    # dvc/repo/status.py _cloud_status: new = not in the remote, missing = nowhere; absent = in sync
    assert m.cloud_status_word(None) == "in-remote"
    assert m.cloud_status_word("new") == "not-in-remote"
    assert m.cloud_status_word("missing") == "missing"


def _dvc_project(tmp_path, config: str, local: str = "", aws: str | None = None):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text(config)
    if local:
        (tmp_path / ".dvc" / "config.local").write_text(local)
    if aws is not None:
        (tmp_path / "aws-config").write_text(aws)
    return tmp_path


def test_remote_objects_read_dvc_config_and_local_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nothing"))
    root = _dvc_project(tmp_path, "[core]\n    remote = storage\n"
                                  "['remote \"storage\"']\n    url = s3://dvc-store/p\n"
                                  "    endpointurl = http://minio.storage:9000\n"
                                  "['remote \"backup\"']\n    url = s3://backup/p\n",
                        "['remote \"storage\"']\n    access_key_id = AKIA\n    secret_access_key = s3cr3t\n")
    objs = {o["metadata"]["name"]: o["spec"] for o in remote_objects(root)}
    assert objs["storage"]["endpointurl"] == "http://minio.storage:9000"
    assert objs["storage"]["hasCredentials"] and objs["storage"]["default"]
    assert objs["backup"]["endpointurl"] is None and not objs["backup"]["hasCredentials"]
    assert "s3cr3t" not in repr(objs)


def test_signature_v2_comes_from_the_remotes_aws_profile(tmp_path):
    root = _dvc_project(tmp_path, "['remote \"old\"']\n    url = s3://b/p\n    endpointurl = http://m:9000\n"
                                  f"    configpath = {tmp_path / 'aws-config'}\n    profile = legacy\n",
                        aws="[profile legacy]\ns3 =\n    signature_version = s3\n")
    (spec,) = [o["spec"] for o in remote_objects(root)]
    assert spec["signatureV2"] and spec["signatureVersion"] == "s3"


def test_sandbox_dvc_endpoint_follows_the_s3_port_in_config_local(tmp_path, monkeypatch):
    from mlopstui.sandbox.data_seed import write_local_config

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nothing"))
    root = _dvc_project(tmp_path, "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://dvc-store/p\n")
    write_local_config(root, "http://127.0.0.1:1111", "KEY", "SECRET")
    write_local_config(root, "http://127.0.0.1:2222", "KEY", "SECRET")  # the next `sandbox up`, another port
    (spec,) = [o["spec"] for o in remote_objects(root)]
    assert spec["endpointurl"] == "http://127.0.0.1:2222" and spec["hasCredentials"]
    assert (root / ".dvc" / "config.local").stat().st_mode & 0o777 == 0o600

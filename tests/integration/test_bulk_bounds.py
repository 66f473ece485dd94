"""Bulk data stays off the bastion unless asked for (issue 20): sizes first, caps, streaming.

- an artifact larger than the preview cap is not downloaded whole for a preview (bytes counted by a TCP
  forwarder in front of the sandbox's real MLflow server);
- a download lists the sizes first and, above the cap, fetches nothing: `mlopstui run ID --download` needs
  --max-bytes or --yes above 100 MiB (here: a cap below the file's size), as the TUI asks first;
- pod logs are read with limitBytes (Kubernetes' own parameter; the emulator honours it as the kubelet).
"""

from __future__ import annotations

import os

import pytest

from mlopstui.backends.mlflow import PREVIEW_BYTES, MlflowBackend
from mlopstui.errors import Kind, MlopsError
from support.tcp_forward import Forwarder

pytestmark = pytest.mark.integration

BIG = 24 * 1024 * 1024


@pytest.fixture(scope="module")
def big_run(sandbox, tmp_path_factory):
    from urllib.parse import urlsplit

    from mlflow.tracking import MlflowClient

    old = dict(os.environ)
    os.environ.update(sandbox.env)
    try:
        client = MlflowClient(tracking_uri=sandbox.env["MLFLOW_TRACKING_URI"])
        exp = client.get_experiment_by_name("bulk-bounds") or client.get_experiment(
            client.create_experiment("bulk-bounds"))
        run = client.create_run(exp.experiment_id)
        d = tmp_path_factory.mktemp("big")
        (d / "big.bin").write_bytes(os.urandom(1024) * (BIG // 1024))
        (d / "small.txt").write_text("hello\n")
        client.log_artifact(run.info.run_id, str(d / "big.bin"))
        client.log_artifact(run.info.run_id, str(d / "small.txt"), "docs")
    finally:
        os.environ.clear()
        os.environ.update(old)
    u = urlsplit(sandbox.env["MLFLOW_TRACKING_URI"])
    fwd = Forwarder(u.hostname, u.port).start()
    yield run.info.run_id, fwd
    fwd.stop()


def test_a_preview_reads_only_the_preview_cap(big_run):
    rid, fwd = big_run
    b = MlflowBackend(fwd.url, timeout=30)
    try:
        sizes = {e.path: e.size for e in b.list_artifacts(rid)}
        assert sizes["big.bin"] == BIG
        before = fwd.bytes_to_client
        data, cut = b.read_artifact(rid, "big.bin")
        assert cut and len(data) == PREVIEW_BYTES
    finally:
        b.close()
    # what crossed the wire: the preview and what the socket buffers held, not the 24 MiB file
    assert fwd.bytes_to_client - before < BIG // 2, fwd.bytes_to_client - before


def test_a_download_above_the_cap_fetches_nothing(big_run, tmp_path):
    rid, fwd = big_run
    b = MlflowBackend(fwd.url, timeout=60)
    try:
        files = b.artifact_files(rid, "")
        assert sorted((e.path, e.size) for e in files) == [("big.bin", BIG), ("docs/small.txt", 6)]
        before = fwd.bytes_to_client
        with pytest.raises(MlopsError) as exc:
            b.download_artifacts(rid, "", tmp_path / "all", max_bytes=BIG // 2)
        assert exc.value.kind is Kind.REFUSED and "24.0 MiB" in exc.value.message, exc.value
        assert fwd.bytes_to_client - before < 64 * 1024  # the listings only
        assert not (tmp_path / "all").exists() or not any((tmp_path / "all").rglob("*"))
        out = b.download_artifacts(rid, "docs", tmp_path / "docs")  # under the default cap
        assert (out / "small.txt").read_text() == "hello\n"
    finally:
        b.close()


def test_cli_download_needs_max_bytes_or_yes_above_the_cap(sandbox_env, big_run, tmp_path, capsys):
    from mlopstui import cli

    rid, _ = big_run
    code = cli.main(["run", rid, "--download", "big.bin", "--to", str(tmp_path), "--max-bytes", str(BIG - 1)])
    err = capsys.readouterr().err
    assert code == 2 and "more than the" in err and "--max-bytes" in err, err
    assert not (tmp_path / "big.bin").exists()
    assert cli.main(["run", rid, "--download", "big.bin", "--to", str(tmp_path), "--max-bytes", str(BIG)]) == 0
    assert (tmp_path / "big.bin").stat().st_size == BIG
    assert "1 files, 24.0 MiB" in capsys.readouterr().err


def test_pod_logs_are_read_with_limit_bytes(tmp_path):
    from mlopstui.backends.kube import LOG_LIMIT_BYTES, NAMESPACES, PODS, KubeClient
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        kube = KubeClient.from_settings(srv.kubeconfig_path, None, "default")
        kube.create(NAMESPACES, {"metadata": {"name": "logs"}})
        kube.create(PODS, {"metadata": {"name": "chatty"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
                    "logs")
        srv.store.set_log("logs", "chatty", "x" * 99 + "\n" * 1 + ("y" * 1023 + "\n") * 4096)  # 4 MiB
        text = kube.pod_log("chatty", "logs", tail_lines=None)
        assert len(text) == LOG_LIMIT_BYTES and text.startswith("x" * 99)
        assert "limitBytes=2097152" in srv.request_log[-1]["query"]
        assert kube.pod_log("chatty", "logs", tail_lines=2, limit_bytes=100) == "y" * 100
    finally:
        srv.stop()


def test_a_lakefs_preview_behind_a_proxy_that_ignores_range_reads_only_the_preview():
    """A proxy between us and LakeFS that drops the Range header answers 200 with the whole object: the read
    stops at the range's length, and a suffix read (Parquet footer) is refused rather than read whole."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlopstui.backends.lakefs import Credentials, LakeFSClient

    sent = {"bytes": 0}

    class Whole(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            try:
                for _ in range(BIG // 65536):
                    self.wfile.write(b"z" * 65536)
                    sent["bytes"] += 65536
            except OSError:
                pass

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Whole)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    c = LakeFSClient(f"http://127.0.0.1:{srv.server_address[1]}", Credentials("k", "s", "test"), timeout=10)
    try:
        data = c.read("repo", "main", "big.csv", start=0, end=1023)
        assert data == b"z" * 1024
        with pytest.raises(MlopsError) as exc:
            c.read_tail("repo", "main", "big.parquet", 8)
        assert exc.value.kind is Kind.UNSUPPORTED and "ignored the Range" in exc.value.message
    finally:
        c.close()
        srv.shutdown()
    assert sent["bytes"] < BIG // 2, sent["bytes"]

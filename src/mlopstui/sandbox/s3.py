"""The sandbox's S3 endpoint: moto in server mode, with file persistence added by us.

moto keeps its state in memory only (moto 5 has no on-disk persistence in server
mode; its "recorder" replays raw requests and is not meant for this). So this
process mirrors the buckets to ``DIR/s3data/<bucket>/<key>``:
- at start it re-creates the buckets and re-uploads every mirrored object;
- every few seconds, and on SIGTERM before exiting, it writes back any change
  (new, changed or deleted objects) so data logged by MLflow clients survives
  ``sandbox down`` / ``up``.

moto accepts any access key and checks SigV4 request *format* but not the
secret; the sandbox still generates random credentials (DIR/secrets.json) so
clients are configured exactly as against MinIO.

Run: ``python -m mlopstui.sandbox.s3 --dir DATA --port P``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

BUCKETS = ("mlflow-artifacts", "models", "argo-artifacts")
MARKER = ".mlopstui-meta"  # files with this suffix are never objects


def _client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "sandbox"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _safe_key_path(root: Path, bucket: str, key: str) -> Path | None:
    p = (root / bucket / key).resolve()
    if not str(p).startswith(str((root / bucket).resolve()) + os.sep):
        return None
    return p


def restore(client, root: Path) -> int:
    """Create the buckets and upload the mirror. Returns the number of objects."""
    n = 0
    buckets = set(BUCKETS)
    if root.exists():
        buckets |= {p.name for p in root.iterdir() if p.is_dir()}
    for b in sorted(buckets):
        client.create_bucket(Bucket=b)
        base = root / b
        if not base.exists():
            continue
        for f in base.rglob("*"):
            if f.is_file() and not f.name.endswith(MARKER):
                client.put_object(Bucket=b, Key=f.relative_to(base).as_posix(), Body=f.read_bytes())
                n += 1
    return n


def snapshot(client, root: Path, known: dict[tuple[str, str], str]) -> None:
    """Write changed objects to the mirror and delete removed ones."""
    seen: set[tuple[str, str]] = set()
    for b in client.list_buckets().get("Buckets", []):
        bucket = b["Name"]
        (root / bucket).mkdir(parents=True, exist_ok=True)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj.get("ETag", "")
                seen.add((bucket, key))
                if known.get((bucket, key)) == etag:
                    continue
                path = _safe_key_path(root, bucket, key)
                if path is None or key.endswith("/"):
                    continue
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp" + MARKER)
                tmp.write_bytes(body)
                os.replace(tmp, path)
                known[(bucket, key)] = etag
    for bucket, key in set(known) - seen:
        known.pop((bucket, key), None)
        path = _safe_key_path(root, bucket, key)
        if path is not None and path.exists():
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mlopstui.sandbox.s3")
    ap.add_argument("--dir", required=True, help="mirror directory (DIR/s3data)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sync-interval", type=float, default=3.0)
    a = ap.parse_args(argv)

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    root = Path(a.dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / ("ready" + MARKER)).unlink(missing_ok=True)  # stale from a crash or a copied DIR
    server = ThreadedMotoServer(ip_address=a.host, port=a.port, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    endpoint = f"http://{a.host}:{a.port}"
    client = _client(endpoint)
    n = restore(client, root)
    known: dict[tuple[str, str], str] = {}
    for b in client.list_buckets().get("Buckets", []):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
            for obj in page.get("Contents", []):
                known[(b["Name"], obj["Key"])] = obj.get("ETag", "")
    # readiness marker: the manager waits for this file, not just for the port
    (root / ("ready" + MARKER)).write_text(str(os.getpid()))
    print(f"s3 (moto) ready on {endpoint}, restored {n} objects from {root}", flush=True)

    stop = threading.Event()
    lock = threading.Lock()

    def _term(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    while not stop.wait(a.sync_interval):
        try:
            with lock:
                snapshot(client, root, known)
        except Exception as exc:  # keep serving; report in the log
            print(f"s3 mirror sync failed: {exc}", file=sys.stderr, flush=True)
    try:
        snapshot(client, root, known)
        print("s3 mirror written; stopping", flush=True)
    finally:
        (root / ("ready" + MARKER)).unlink(missing_ok=True)
        server.stop()
    return 0


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())

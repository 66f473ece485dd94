"""Seed the sandbox's Data area (once, on the first `sandbox up` that has it):

- Kubernetes: LakeFS's Deployment, Service and PostgreSQL, the Secret with its installation
  credentials (the emulator's real ones), and a CronJob that writes a LakeFS-managed bucket through
  MinIO directly (a FAULT for the doctor): ``manifests/data.yaml``;
- LakeFS (through its API, as a user would): repository ``fraud-datasets`` on ``s3://lakefs-data/datasets``
  with two commits and a tag on ``main``, and a branch ``dedup-experiment`` with one more commit;
- DVC: a Git repository ``DIR/dvc/fraud-data`` with ``dvc init``, two tracked datasets
  (``data/transactions.csv`` pushed to the sandbox's S3, ``data/labels.csv`` not pushed), the default
  remote ``storage`` (the sandbox S3, credentials in ``.dvc/config.local`` as DVC advises) and a
  FAULT remote ``backup`` on S3 without ``endpointurl`` (pushes there would go to public AWS).

Run: ``python -m mlopstui.sandbox.data_seed DIR`` (the environment of ``sandbox env``, plus
``LAKEFS_URL``, ``LAKEFS_KEY``, ``LAKEFS_SECRET``).
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import yaml

LAKEFS_REPO = "fraud-datasets"
LAKEFS_BUCKET = "lakefs-data"
DVC_BUCKET = "dvc-store"
DVC_PROJECT = "fraud-data"
MANIFEST = Path(__file__).with_name("manifests") / "data.yaml"

TRANSACTIONS = "transaction_id,amount,merchant_id,hour,is_fraud\n" + "".join(
    f"{i},{(i * 37) % 500 + 0.99:.2f},{i % 23},{i % 24},{int(i % 17 == 0)}\n" for i in range(1, 201))
LABELS = "transaction_id,label,reviewed_by\n" + "".join(
    f"{i},{'fraud' if i % 17 == 0 else 'ok'},analyst-{i % 3}\n" for i in range(1, 121))


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def render(lakefs_key: str, lakefs_secret: str) -> list[dict]:
    db_password = secrets.token_urlsafe(18)
    values = {
        "LAKEFS_KEY_B64": _b64(lakefs_key),
        "LAKEFS_SECRET_B64": _b64(lakefs_secret),
        "LAKEFS_DB_PASSWORD_B64": _b64(db_password),
        "LAKEFS_DB_B64": _b64(f"postgres://lakefs:{db_password}@lakefs-postgresql.mlops.svc.cluster.local:5432"
                              f"/lakefs?sslmode=disable"),
        "LAKEFS_ENCRYPT_B64": _b64(secrets.token_urlsafe(24)),
    }
    return [d for d in yaml.safe_load_all(string.Template(MANIFEST.read_text()).substitute(values)) if d]


def seed_kube(kubeconfig: Path, context: str, lakefs_key: str, lakefs_secret: str, log=print) -> None:
    from mlopstui.sandbox.seed import Kube

    kube = Kube(kubeconfig, context)
    for obj in render(lakefs_key, lakefs_secret):
        kube.create(obj, log)


def _s3(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def _parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"transaction_id": pa.array(range(1, 101), pa.int64()),
                      "amount_7d_mean": pa.array([float(i % 50) for i in range(100)], pa.float64()),
                      "merchant_risk": pa.array([(i % 10) / 10 for i in range(100)], pa.float32()),
                      "event_date": pa.array(["2026-11-30"] * 100, pa.string())})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def seed_lakefs(url: str, key: str, secret: str, s3_endpoint: str, log=print) -> None:
    import httpx

    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket=LAKEFS_BUCKET)
    with httpx.Client(base_url=url.rstrip("/") + "/api/v1", auth=(key, secret), timeout=30) as c:
        def call(method, path, ok=(200, 201, 204), **kw):
            r = c.request(method, path, **kw)
            if r.status_code not in ok:
                raise RuntimeError(f"lakefs {method} {path}: {r.status_code} {r.text[:200]}")
            return r

        r = c.get(f"/repositories/{LAKEFS_REPO}")
        if r.status_code == 200:
            return
        call("POST", "/repositories", json={"name": LAKEFS_REPO, "storage_namespace": f"s3://{LAKEFS_BUCKET}/datasets",
                                            "default_branch": "main"})
        repo = f"/repositories/{LAKEFS_REPO}"

        def put(branch, path, data: bytes, ctype="application/octet-stream"):
            call("POST", f"{repo}/branches/{branch}/objects", params={"path": path},
                 files={"content": (path.rsplit("/", 1)[-1], data, ctype)})

        def commit(branch, message, **meta):
            return call("POST", f"{repo}/branches/{branch}/commits", json={"message": message, "metadata": meta}).json()

        put("main", "raw/transactions.csv", TRANSACTIONS.encode(), "text/csv")
        put("main", "raw/schema.json", b'{"transaction_id": "int", "amount": "float", "merchant_id": "int", '
                                       b'"hour": "int", "is_fraud": "bool"}', "application/json")
        commit("main", "Add raw transactions", source="etl/ingest", run="2026-11-29")
        put("main", "features/daily.parquet", _parquet())
        c2 = commit("main", "Add daily features", source="feast/export")
        call("POST", f"{repo}/tags", json={"id": "v1.0", "ref": c2["id"]})
        call("POST", f"{repo}/branches", json={"name": "dedup-experiment", "source": "main"})
        deduped = "\n".join(dict.fromkeys(TRANSACTIONS.splitlines()[:150])) + "\n"
        put("dedup-experiment", "raw/transactions.csv", deduped.encode(), "text/csv")
        put("dedup-experiment", "notes/dedup.txt", b"dropped transactions 150-200 (duplicated upstream)\n", "text/plain")
        commit("dedup-experiment", "Drop duplicate transactions", author="data-team")
    log(f"  lakefs: repository {LAKEFS_REPO} (main, dedup-experiment, tag v1.0)")


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Sandbox Seed", "GIT_AUTHOR_EMAIL": "seed@mlopstui.invalid",
           "GIT_COMMITTER_NAME": "Sandbox Seed", "GIT_COMMITTER_EMAIL": "seed@mlopstui.invalid"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env, timeout=60)


def write_local_config(root: Path, s3_endpoint: str, key: str, secret: str) -> None:
    """The storage remote's endpointurl and credentials in .dvc/config.local (mode 0600). Written on every
    `sandbox up`: the S3 port may change between ups, and this file is not in Git."""
    p = root / ".dvc" / "config.local"
    text = (f"['remote \"storage\"']\n    endpointurl = {s3_endpoint}\n    access_key_id = {key}\n"
            f"    secret_access_key = {secret}\n")
    if p.exists() and p.read_text() == text:
        return
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def seed_dvc(root: Path, s3_endpoint: str, log=print) -> None:
    from dvc.repo import Repo

    if (root / ".dvc").is_dir() and (root / "data" / "labels.csv.dvc").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket=DVC_BUCKET)
    _git(root, "init", "-q", "-b", "main")
    repo = Repo.init(str(root))
    with repo.config.edit() as conf:  # .dvc/config (committed)
        conf["core"]["remote"] = "storage"
        conf["core"]["analytics"] = False
        conf["remote"]["storage"] = {"url": f"s3://{DVC_BUCKET}/fraud-data"}
        # FAULT: an S3 remote without endpointurl: `dvc push -r backup` goes to public AWS
        conf["remote"]["backup"] = {"url": "s3://fraud-dvc-backup/fraud-data"}
    # .dvc/config.local (git-ignored): this machine's endpoint (the sandbox's S3 port) and the credentials
    write_local_config(root, s3_endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Initialize DVC")
    data = root / "data"
    data.mkdir(exist_ok=True)
    (data / "transactions.csv").write_text(TRANSACTIONS)
    repo.add(str(data / "transactions.csv"))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Track transactions dataset")
    (data / "labels.csv").write_text(LABELS)
    repo.add(str(data / "labels.csv"))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Track analyst labels (not pushed yet)")
    repo.push(targets=[str(data / "transactions.csv")], remote="storage")
    repo.close()
    log(f"  dvc: project {root} (transactions.csv pushed, labels.csv not)")


def main(argv: list[str]) -> int:
    d = Path(argv[0])
    kubeconfig = Path(os.environ["KUBECONFIG"])
    s3 = os.environ["MLFLOW_S3_ENDPOINT_URL"]
    key, secret, url = os.environ["LAKEFS_KEY"], os.environ["LAKEFS_SECRET"], os.environ["LAKEFS_URL"]
    seed_kube(kubeconfig, os.environ.get("SANDBOX_CONTEXT", "mlopstui-sandbox"), key, secret)
    print("  kubernetes: LakeFS objects", flush=True)
    seed_lakefs(url, key, secret, s3)
    seed_dvc(d / "dvc" / DVC_PROJECT, s3)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

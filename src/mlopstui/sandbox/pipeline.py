"""The steps of the sandbox's lifecycle pipeline (the seed's diagram: Argo fetches data from Feast and logs
metrics to MLflow), run by the emulator's workflow controller as a container's command would run:

    python -m mlopstui.sandbox.pipeline fetch --repo /feature_repo --out /tmp/data/train.csv
    python -m mlopstui.sandbox.pipeline train --data /tmp/data/train.csv --C 1.0 --out-run-id ... --out-version ...
    python -m mlopstui.sandbox.pipeline check-schema --repo /feature_repo --view transaction_stats --columns a,b

`fetch` reads historical features through Feast (point-in-time join over the offline store); `train` fits
a LogisticRegression, logs params, metrics and the model to MLflow (artifacts go to S3 through
MLFLOW_S3_ENDPOINT_URL), registers a model version and tags the run with the workflow
(`argo.workflow.uid`, `argo.workflow.name`, `argo.workflow.namespace`, from ARGO_WORKFLOW_* env set with
`{{workflow.uid}}` ...). Everything comes from the step's environment and arguments, as in a pod.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

FEATURES = ["customer_stats:avg_amount_30d", "customer_stats:account_age_days", "customer_stats:credit_limit",
            "transaction_stats:txn_count_24h", "transaction_stats:last_amount", "transaction_stats:merchant_risk"]
SOURCES = {"customer_stats": "customers.parquet", "transaction_stats": "transactions.parquet"}


def fetch(repo: str, out: str, rows_out: str | None) -> int:
    import pandas as pd
    from feast import FeatureStore

    fs = FeatureStore(repo_path=repo)
    ids = sorted(pd.read_parquet(Path(repo) / "data" / "customers.parquet")["customer_id"].unique())
    now = pd.Timestamp.now(tz="UTC").floor("min")
    entity_df = pd.DataFrame([{"customer_id": int(c), "event_timestamp": now - pd.Timedelta(hours=h)}
                              for h in (0, 12, 30) for c in ids])
    df = fs.get_historical_features(entity_df=entity_df, features=FEATURES).to_df().dropna()
    # the label a fraud team would join from chargebacks; here a rule over the features
    score = df["merchant_risk"] * 3 + (df["last_amount"] / (df["avg_amount_30d"] + 1.0)) * 0.4 \
        - df["account_age_days"] / 3000.0
    df["is_fraud"] = (score > score.quantile(0.7)).astype(int)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"fetched {len(df)} rows x {len(FEATURES)} features from Feast project {fs.project} "
          f"(historical, point-in-time) into {os.path.basename(out)}; fraud rate {df['is_fraud'].mean():.2f}",
          flush=True)
    if rows_out:
        Path(rows_out).parent.mkdir(parents=True, exist_ok=True)
        Path(rows_out).write_text(str(len(df)))
    return 0


def train(data: str, experiment: str, model_name: str, c: float, out_run: str | None,
          out_version: str | None) -> int:
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(data)
    cols = [f.split(":")[1] for f in FEATURES]
    x_train, x_test, y_train, y_test = train_test_split(df[cols], df["is_fraud"], test_size=0.3, random_state=7,
                                                        stratify=df["is_fraud"])
    wf_tags = {"argo.workflow.uid": os.environ.get("ARGO_WORKFLOW_UID", ""),
               "argo.workflow.name": os.environ.get("ARGO_WORKFLOW_NAME", ""),
               "argo.workflow.namespace": os.environ.get("ARGO_WORKFLOW_NAMESPACE", ""),
               "argo.pod.name": os.environ.get("ARGO_POD_NAME", "")}
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"pipeline-{wf_tags['argo.workflow.name'] or 'local'}") as run:
        mlflow.set_tags({**{k: v for k, v in wf_tags.items() if v}, "model_type": "logreg",
                         "dataset": "feast:on_prem_mlops historical"})
        mlflow.log_params({"C": c, "rows": len(df), "features": ",".join(cols), "test_size": 0.3})
        model = LogisticRegression(C=c, max_iter=500).fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
        acc = float(accuracy_score(y_test, proba > 0.5))
        auc = float(roc_auc_score(y_test, proba))
        mlflow.log_metrics({"accuracy": round(acc, 4), "auc": round(auc, 4)})
        # the model as run artifacts under model/ (in S3 through MLFLOW_S3_ENDPOINT_URL), registered from
        # there: the version's source is an s3:// path a KServe storageUri can use
        with tempfile.TemporaryDirectory() as td:
            mlflow.sklearn.save_model(model, os.path.join(td, "model"), input_example=x_test.head(2))
            mlflow.log_artifacts(os.path.join(td, "model"), artifact_path="model")
        run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
    client = MlflowClient()
    try:
        client.create_registered_model(model_name)
    except Exception as exc:  # noqa: BLE001 - it exists already
        if "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    mv = client.create_model_version(model_name, f"{artifact_uri}/model", run_id=run_id,
                                     tags={k: v for k, v in wf_tags.items() if v},
                                     description=f"trained by workflow {wf_tags['argo.workflow.name'] or '-'}")
    version = int(mv.version)
    print(f"run {run_id}: accuracy {acc:.3f} auc {auc:.3f}; registered {model_name} version {version}", flush=True)
    for path, value in ((out_run, run_id), (out_version, str(version))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(value)
    return 0


def check_schema(repo: str, view: str, columns: str) -> int:
    import pyarrow.parquet as pq

    if view not in SOURCES:
        print(f"unknown feature view {view}; known: {', '.join(SOURCES)}", flush=True)
        return 2
    have = set(pq.read_schema(Path(repo) / "data" / SOURCES[view]).names)
    want = [c.strip() for c in columns.split(",") if c.strip()]
    missing = [c for c in want if c not in have]
    if missing:
        print(f"ERROR feature view {view}: its source has no column {', '.join(missing)} "
              f"(columns: {', '.join(sorted(have - {'event_timestamp', 'created'}))})", flush=True)
        return 1
    print(f"feature view {view}: columns {', '.join(want)} present", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlopstui.sandbox.pipeline")
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("fetch")
    p.add_argument("--repo", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rows-out")
    p = sub.add_parser("train")
    p.add_argument("--data", required=True)
    p.add_argument("--experiment", default="fraud-detection")
    p.add_argument("--model", default="fraud-detection")
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--out-run-id")
    p.add_argument("--out-version")
    p = sub.add_parser("check-schema")
    p.add_argument("--repo", required=True)
    p.add_argument("--view", required=True)
    p.add_argument("--columns", required=True)
    a = ap.parse_args(argv)
    if a.step == "fetch":
        return fetch(a.repo, a.out, a.rows_out)
    if a.step == "train":
        return train(a.data, a.experiment, a.model, a.C, a.out_run_id, a.out_version)
    return check_schema(a.repo, a.view, a.columns)


if __name__ == "__main__":
    sys.exit(main())

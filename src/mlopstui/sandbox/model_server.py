"""Sandbox model servers: real scikit-learn fraud models behind ``kserve.ModelServer``.

- ``train_models(models_dir)`` trains v1 (LogisticRegression, the stable model) and
  v2 (GradientBoostingClassifier, the canary) on generated fraud-like data and saves
  ``models_dir/fraud-detection/v{1,2}/model.joblib`` (+ ``model.json`` metadata).
  The InferenceService uses ``modelFormat: sklearn`` to match these real models.
- ``python -m mlopstui.sandbox.model_server`` serves one of them (REST only). Its
  configuration comes from the environment (kserve parses ``sys.argv`` at import,
  so we keep our own flags out of argv): ``SANDBOX_MODEL_DIR``, ``SANDBOX_MODEL_NAME``,
  ``SANDBOX_MODEL_VERSION``, ``SANDBOX_HTTP_PORT``.

Both protocols answer: v1 ``POST /v1/models/fraud-detection:predict`` returns
``{"predictions": [...], "model_version": "v2"}``; v2 ``POST
/v2/models/fraud-detection/infer`` returns ``model_version``. Every prediction
response carries the header ``x-model-revision: <version>``.

``GET /metrics`` is KServe's own (prometheus_client: the ``request_predict_seconds`` histogram by
``model_name``) plus ``sandbox_model_requests_total{model_name,code}``: predict calls by answer code.
The ingress plays the canary faults of ``sandbox.mlopstui.dev/fault`` through the header
``x-sandbox-fault``: ``canary-errors`` answers 500, ``canary-slow`` adds SLOW_FAULT_S to predict.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FEATURES = ["amount", "hour", "merchant_risk", "txn_count_24h", "avg_amount_30d", "distance_km"]
MODEL_NAME = "fraud-detection"
FAULT_HEADER = "x-sandbox-fault"
SLOW_FAULT_S = 0.4
REQUESTS_METRIC = "sandbox_model_requests"  # exposed as sandbox_model_requests_total


def make_data(n: int = 2000, seed: int = 7):
    """Fraud-like tabular data: (X, y) with ~8% positives."""
    import numpy as np

    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 1.0, n)
    hour = rng.integers(0, 24, n).astype(float)
    merchant_risk = rng.beta(2, 8, n)
    txn_count = rng.poisson(3, n).astype(float)
    avg_amount = rng.lognormal(3.4, 0.6, n)
    distance = rng.exponential(20, n)
    logit = (
        -4.2
        + 1.2 * (amount / (avg_amount + 1) > 3)
        + 3.0 * merchant_risk
        + 0.9 * ((hour < 5) | (hour > 22))
        + 0.15 * txn_count
        + 0.01 * distance
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([amount, hour, merchant_risk, txn_count, avg_amount, distance])
    return X, y


def train_models(models_dir: Path) -> dict[str, Path]:
    """Train and save v1 and v2; return {version: directory}. Skips what exists."""
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: dict[str, Path] = {}
    X, y = make_data()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    specs = {
        "v1": ("LogisticRegression", lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))),
        "v2": ("GradientBoostingClassifier", lambda: GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0)),
    }
    for version, (algo, build) in specs.items():
        d = models_dir / MODEL_NAME / version
        out[version] = d
        if (d / "model.joblib").exists():
            continue
        d.mkdir(parents=True, exist_ok=True)
        model = build().fit(Xtr, ytr)
        proba = model.predict_proba(Xte)[:, 1]
        meta = {
            "name": MODEL_NAME,
            "version": version,
            "algorithm": algo,
            "features": FEATURES,
            "accuracy": float(accuracy_score(yte, model.predict(Xte))),
            "auc": float(roc_auc_score(yte, proba)),
            "framework": "sklearn",
        }
        joblib.dump(model, d / "model.joblib")
        (d / "model.json").write_text(json.dumps(meta, indent=2))
    return out


def _build_model_class():
    import joblib
    import numpy as np
    from kserve import Model
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from prometheus_client import Counter

    requests_total = Counter(REQUESTS_METRIC, "predict calls by answer code (sandbox)", ["model_name", "code"])

    class SandboxSklearnModel(Model):
        def __init__(self, name: str, model_dir: Path, version: str) -> None:
            super().__init__(name, return_response_headers=True)
            self.model_dir = model_dir
            self.version = version
            self.model = None

        def load(self) -> bool:
            self.model = joblib.load(self.model_dir / "model.joblib")
            self.ready = True
            return self.ready

        def predict(self, payload, headers=None, response_headers=None):
            fault = {k.lower(): v for k, v in (headers or {}).items()}.get(FAULT_HEADER)
            if fault == "canary-slow":
                import time

                time.sleep(SLOW_FAULT_S)  # inside predict: KServe's request_predict_seconds sees it
            if fault == "canary-errors":
                requests_total.labels(self.name, "500").inc()
                raise RuntimeError("sandbox fault canary-errors: this revision fails its predictions")
            try:
                out = self._predict(payload, response_headers)
            except Exception:
                requests_total.labels(self.name, "500").inc()
                raise
            requests_total.labels(self.name, "200").inc()
            return out

        def _predict(self, payload, response_headers):
            if response_headers is not None:
                response_headers["x-model-revision"] = self.version
            if isinstance(payload, InferRequest):
                x = payload.inputs[0].as_numpy().astype(float)
                if x.ndim == 1:
                    x = x.reshape(1, -1)
                proba = self.model.predict_proba(x)[:, 1]
                out = InferOutput(name="fraud_probability", shape=[len(proba)], datatype="FP64")
                out.set_data_from_numpy(proba.astype(np.float64))
                return InferResponse(
                    response_id=payload.id or "sandbox",
                    model_name=self.name,
                    model_version=self.version,
                    infer_outputs=[out],
                )
            if isinstance(payload, (bytes, str)):
                payload = json.loads(payload)
            instances = payload.get("instances", payload.get("inputs", []))
            x = np.asarray(instances, dtype=float)
            if x.ndim == 1:
                x = x.reshape(1, -1)
            proba = self.model.predict_proba(x)[:, 1]
            return {
                "predictions": [int(p >= 0.5) for p in proba],
                "probabilities": [float(p) for p in proba],
                "model_name": self.name,
                "model_version": self.version,
            }

    return SandboxSklearnModel


def main() -> int:
    model_dir = Path(os.environ["SANDBOX_MODEL_DIR"])
    name = os.environ.get("SANDBOX_MODEL_NAME", MODEL_NAME)
    version = os.environ.get("SANDBOX_MODEL_VERSION", "v1")
    port = int(os.environ["SANDBOX_HTTP_PORT"])
    sys.argv = sys.argv[:1]  # kserve parses argv at import time
    from kserve import ModelServer

    cls = _build_model_class()
    model = cls(name, model_dir, version)
    model.load()
    ModelServer(http_port=port, grpc_port=0, enable_grpc=False, workers=1,
                enable_latency_logging=False).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())

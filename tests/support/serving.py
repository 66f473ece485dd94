"""Test support for the Serving tests: an emulator with InferenceServices (no tests here).

`serving_cluster(tmp)` starts the sandbox's KubeApiServer with its controllers (the InferenceService
controller plays KServe Serverless: every predictor spec change other than canaryTrafficPercent makes a
revision `<isvc>-predictor-000NN` and the status traffic follows canaryTrafficPercent) and creates the
seed's InferenceServices through the API.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

NS = "mlops"
ISVC_PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"


def fraud(name: str = "fraud-detection", uri: str = "s3://models/fraud-detection/v1", canary: int | None = None,
          raw: bool = False) -> dict:
    pred: dict = {"minReplicas": 1, "model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}}
    if canary is not None:
        pred["canaryTrafficPercent"] = canary
    meta: dict = {"name": name, "namespace": NS}
    if raw:
        meta["annotations"] = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": meta,
            "spec": {"predictor": pred}}


class Cluster:
    def __init__(self, srv):
        self.srv = srv
        self.kubeconfig = Path(srv.kubeconfig_path)

    def kube(self, context: str = "mlopstui-sandbox"):
        from mlopstui.backends.kube import KubeClient

        return KubeClient.from_settings(str(self.kubeconfig), context, NS)

    def writes(self, since: int = 0, method: str = "PATCH") -> list[dict]:
        return [e for e in self.srv.request_log[since:] if e["method"] == method]

    def mark(self) -> int:
        return len(self.srv.request_log)

    def status_of(self, name: str) -> dict:
        rt = self.srv.registry.get("serving.kserve.io", "v1beta1", "inferenceservices")
        return self.srv.store.get(rt, NS, name)

    def wait_traffic(self, name: str, pred, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            obj = self.status_of(name)
            comp = ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}
            if pred(comp):
                return comp
            if time.monotonic() > deadline:
                raise AssertionError(f"traffic did not match: {comp}")
            time.sleep(0.05)


@contextmanager
def serving_cluster(tmp: Path, isvcs: list[dict] | None = None):
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp / "kubeapi"), run_controllers=True).start()
    try:
        c = Cluster(srv)
        k = c.kube()
        from mlopstui.backends.kube import INFERENCESERVICES, NAMESPACES

        k.create(NAMESPACES, {"metadata": {"name": NS}})
        for obj in isvcs if isvcs is not None else [fraud(), fraud("churn-model", "s3://models/churn-model/v1",
                                                                     raw=True)]:
            k.create(INFERENCESERVICES, obj, NS)
        # the seed's shape: v1 rolled out, then v2 as a canary at 20 %
        if isvcs is None:
            c.wait_traffic("fraud-detection", lambda comp: comp.get("latestRolledoutRevision"))
            k.merge_patch(INFERENCESERVICES, "fraud-detection",
                          {"spec": {"predictor": {"canaryTrafficPercent": 20,
                                                  "model": {"storageUri": "s3://models/fraud-detection/v2"}}}}, NS)
            c.wait_traffic("fraud-detection", lambda comp: len(comp.get("traffic") or []) == 2)
        k.close()
        yield c
    finally:
        srv.stop()

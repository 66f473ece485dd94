"""Test support for the Serving tests: an emulator with InferenceServices (no tests here).

`serving_cluster(tmp)` starts the sandbox's KubeApiServer with its controllers when they exist.
While the emulator has no InferenceService controller yet, a small stand-in plays KServe Serverless
inside the test process (it works on the emulator's store directly, so the request log only shows
what the client under test sent): every predictor spec change other than canaryTrafficPercent makes a
revision `<isvc>-predictor-000NN` (a Knative Revision with the storage-uri annotation) and the status
traffic follows canaryTrafficPercent.
"""

from __future__ import annotations

import copy
import json
import threading
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


class StandInKServe:
    """Plays the KServe + Knative controllers for InferenceServices (only while the emulator has none)."""

    def __init__(self, srv):
        self.srv = srv
        self.store = srv.store
        self.isvc_rt = srv.registry.get("serving.kserve.io", "v1beta1", "inferenceservices")
        self.rev_rt = srv.registry.get("serving.knative.dev", "v1", "revisions")
        self.state: dict[tuple[str, str], dict] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True, name="standin-kserve")

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(2)

    def _loop(self):
        while not self._stop.is_set():
            try:
                items, _ = self.store.list(self.isvc_rt, None)
                for obj in items:
                    self._reconcile(obj)
            except Exception:  # noqa: BLE001 - a race with a test's own write; next round fixes it
                pass
            time.sleep(0.05)

    def _reconcile(self, obj: dict) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        pred = copy.deepcopy(spec.get("predictor") or {})
        canary = pred.pop("canaryTrafficPercent", None)
        h = json.dumps(pred, sort_keys=True)
        st = self.state.setdefault((ns, name), {"revs": [], "rolled": None, "prev": None})
        raw = (meta.get("annotations") or {}).get("serving.kserve.io/deploymentMode") == "RawDeployment"
        if not st["revs"] or st["revs"][-1][1] != h:
            rev = f"{name}-predictor-{len(st['revs']) + 1:05d}"
            uri = (pred.get("model") or {}).get("storageUri", "")
            st["revs"].append((rev, h))
            if not raw:
                self.store.create(self.rev_rt, ns, {
                    "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                    "metadata": {"name": rev, "namespace": ns,
                                 "labels": {"serving.kserve.io/inferenceservice": name},
                                 "annotations": {"sandbox.mlopstui.dev/storage-uri": uri}}})
        latest = st["revs"][-1][0]
        url = f"http://{name}.{ns}.example.com"
        comp: dict = {"latestCreatedRevision": latest, "latestReadyRevision": latest, "url": url}
        if raw:
            comp = {"url": url}
        elif canary is None or canary == 100 or st["rolled"] is None:
            if st["rolled"] != latest:
                st["prev"], st["rolled"] = st["rolled"], latest
            comp["traffic"] = [{"revisionName": latest, "percent": 100, "latestRevision": True}]
        else:
            stable = st["rolled"] if st["rolled"] != latest else st["prev"]
            comp["traffic"] = [{"revisionName": latest, "percent": canary, "latestRevision": True, "tag": "latest"},
                               {"revisionName": stable, "percent": 100 - canary, "latestRevision": False,
                                "tag": "prev"}]
        if st["rolled"]:
            comp["latestRolledoutRevision"] = st["rolled"]
        if st["prev"]:
            comp["previousRolledoutRevision"] = st["prev"]
        status = {"url": url, "components": {"predictor": comp}, "observedGeneration": meta.get("generation", 1),
                  "conditions": [{"type": "PredictorReady", "status": "True"},
                                 {"type": "Ready", "status": "True"}]}
        if raw:
            status["deploymentMode"] = "RawDeployment"
        if obj.get("status") != status:
            new = copy.deepcopy(obj)
            new["status"] = status
            new["metadata"].pop("resourceVersion", None)
            self.store.update(self.isvc_rt, ns, name, new, subresource="status")


class Cluster:
    def __init__(self, srv, standin):
        self.srv = srv
        self.standin = standin
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

    try:
        srv = KubeApiServer(str(tmp / "kubeapi"), run_controllers=True)
    except ImportError:
        srv = KubeApiServer(str(tmp / "kubeapi"), run_controllers=False)
    srv.start()
    standin = None if srv.controllers is not None else StandInKServe(srv).start()
    try:
        c = Cluster(srv, standin)
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
        if standin:
            standin.stop()
        srv.stop()

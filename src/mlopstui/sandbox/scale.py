"""A platform-sized cluster in the Kubernetes API emulator (issue 20): `mlopstui sandbox up --scale N` and the
benches (bench/bench_watch.py, bench/bench_scale.py); never the default test run.

seed(store, registry, scale=1.0) stores, at scale 1: 200 namespaces, 5,000 pods, 1,000 Deployments and
StatefulSets (half each), 500 InferenceServices (Serverless, each with two Knative Revisions and a
status traffic split), 200 CronJobs/Jobs (half each) and 2,000 Events. Objects are stored directly with
their status (fixtures.load_objects, the emulator's fixture loader), and the emulator is started without
controllers, so the figures are the API's and the client's, not the controllers'.
Usage: start(tmpdir, scale) -> a started KubeApiServer; seed_once(server, scale) for the sandbox's emulator
(with its controllers: the objects are stored settled, so reconciling them changes little).
"""

from __future__ import annotations

import time

from mlopstui.sandbox.kubeapi.controllers.base import short_hash
from mlopstui.sandbox.kubeapi.controllers.inferenceservice import PREDICTOR_HASH_ANNOTATION


def objects(scale: float = 1.0) -> list[dict]:
    n = lambda k: max(1, int(k * scale))  # noqa: E731
    nss = [f"team-{i:03d}" for i in range(n(200))]
    out: list[dict] = []
    for i in range(n(5000)):
        ns = nss[i % len(nss)]
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"worker-{i:05d}", "namespace": ns,
                    "labels": {"app": f"app-{i % 50}"}},
                    "spec": {"containers": [{"name": "main", "image": "python:3.12-slim"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    for i in range(n(1000)):
        kind = "Deployment" if i % 2 == 0 else "StatefulSet"
        out.append({"apiVersion": "apps/v1", "kind": kind,
                    "metadata": {"name": f"{kind.lower()}-{i:04d}", "namespace": nss[i % len(nss)]},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": f"s{i}"}},
                             "template": {"metadata": {"labels": {"app": f"s{i}"}},
                                          "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}},
                    "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}})
    for i in range(n(500)):
        ns, name = nss[i % len(nss)], f"model-{i:03d}"
        revs = [f"{name}-predictor-0000{r}" for r in (1, 2)]
        out.append({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"predictor": {"minReplicas": 1, "canaryTrafficPercent": 10,
                                           "model": {"modelFormat": {"name": "sklearn"},
                                                     "storageUri": f"s3://models/{name}/v2"}}},
                    "status": {"deploymentMode": "Serverless", "url": f"http://{name}.{ns}.example.com",
                               "conditions": [{"type": "Ready", "status": "True"}],
                               "components": {"predictor": {
                                   "latestReadyRevision": revs[1], "latestCreatedRevision": revs[1],
                                   "latestRolledoutRevision": revs[0],
                                   "traffic": [{"revisionName": revs[1], "percent": 10, "latestRevision": True},
                                               {"revisionName": revs[0], "percent": 90, "latestRevision": False,
                                                "tag": "prev"}]}}}})
        for r, rev in enumerate(revs, 1):
            # owned by their InferenceService, the newest marked with its predictor's hash, as the emulator's
            # controller makes them: with controllers on it finds them and creates none (was: a refused create,
            # 409, per InferenceService, retried about once a minute)
            pred = {"minReplicas": 1, "model": {"modelFormat": {"name": "sklearn"},
                                                "storageUri": f"s3://models/{name}/v{r}"}}
            out.append({"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                        "metadata": {"name": rev, "namespace": ns, "labels": {
                            "serving.kserve.io/inferenceservice": name, "serving.knative.dev/configuration":
                            f"{name}-predictor", "serving.knative.dev/configurationGeneration": str(r)},
                            "annotations": {PREDICTOR_HASH_ANNOTATION: short_hash(pred)},
                            "ownerReferences": [{"apiVersion": "serving.kserve.io/v1beta1",
                                                 "kind": "InferenceService", "name": name, "controller": True,
                                                 "blockOwnerDeletion": True}]},
                        "spec": {"containers": [{"image": "kserve/sklearnserver", "env": [
                            {"name": "STORAGE_URI", "value": f"s3://models/{name}/v{r}"}]}]},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    for i in range(n(200)):
        ns = nss[i % len(nss)]
        if i % 2 == 0:
            out.append({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": f"cron-{i:03d}",
                        "namespace": ns}, "spec": {"schedule": "*/15 * * * *", "jobTemplate": {"spec": {
                            "template": {"spec": {"restartPolicy": "Never",
                                                  "containers": [{"name": "c", "image": "busybox"}]}}}}}})
        else:
            out.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"job-{i:03d}", "namespace": ns},
                        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                       "containers": [{"name": "c", "image": "busybox"}]}}},
                        "status": {"succeeded": 1}})
    for i in range(n(2000)):
        ns = nss[i % len(nss)]
        out.append({"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"ev-{i:05d}", "namespace": ns},
                    "involvedObject": {"kind": "Pod", "name": f"worker-{i:05d}", "namespace": ns},
                    "reason": "Pulled", "message": "Container image already present", "type": "Normal"})
    return out


def start(state_dir: str, scale: float = 1.0):
    """Start an emulator (no controllers) seeded at `scale`; returns (server, objects, seconds to start)."""
    from mlopstui.sandbox.kubeapi import KubeApiServer

    t0 = time.perf_counter()
    srv = KubeApiServer(state_dir, port=0, run_controllers=False)
    docs = objects(scale)
    srv.load_fixture(docs)
    srv.start()
    return srv, len(docs), time.perf_counter() - t0


MARK_NAMESPACE = "team-000"  # present once a scale seed was stored (the state directory keeps it)


def seed_once(srv, scale: float) -> int:
    """Store the scale objects unless an earlier start did (the emulator persists its objects). Returns how
    many were stored now."""
    ns_rt = srv.registry.get("", "v1", "namespaces")
    if srv.store.try_get(ns_rt, "", MARK_NAMESPACE) is not None:
        return 0
    return len(srv.load_fixture(objects(scale)))

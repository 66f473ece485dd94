"""The catalog's detection, pod/workload status and the health roll-up (pure)."""

from __future__ import annotations

from mlopstui.config import ComponentOverride
from mlopstui.models.stack import (
    CATALOG,
    CATALOG_BY_ID,
    SELECTED_BY,
    ComponentStatus,
    Health,
    ProbeResult,
    ProbeState,
    assign_workloads,
    catalog_with_overrides,
    image_tag,
    pod_status,
    workload_status,
)


def dep(name, ns="mlops", labels=None, kind="Deployment", replicas=1, ready=1):
    labels = labels or {"x": name}
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "img:1.2"}]}}},
            "status": {"readyReplicas": ready}}


def test_detection_by_name_namespace_and_labels():
    objs = [dep("controller", ns="knative-serving"), dep("controller", ns="mlops"),
            dep("feast-redis-master", kind="StatefulSet", labels={"app.kubernetes.io/name": "redis"}),
            dep("my-cache", labels={"app.kubernetes.io/name": "redis"}),
            dep("feast-postgres", kind="StatefulSet", labels={"app": "feast-postgres"})]
    got = {cid: [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in v]
           for cid, v in assign_workloads(CATALOG, objs).items() if v}
    assert got["knative"] == [("knative-serving", "controller")]  # a "controller" elsewhere is not Knative
    assert ("mlops", "my-cache") in got["redis"] and ("mlops", "feast-redis-master") in got["redis"]
    assert got["feast_registry"] == [("mlops", "feast-postgres")]  # not the MLflow backend store
    assert "postgresql" not in got


def test_overrides_replace_detection():
    cat = catalog_with_overrides({"mlflow": ComponentOverride(namespace="ml", names=["tracking"])})
    got = assign_workloads(cat, [dep("tracking", ns="ml"), dep("mlflow-server", ns="mlops")])
    assert [o["metadata"]["name"] for o in got["mlflow"]] == ["tracking"]
    # a selector is the API server's to evaluate: what it returned for it is marked, nothing is parsed
    cat = catalog_with_overrides({"redis": ComponentOverride(selector="tier in (cache)")})
    picked = {**dep("kv", labels={"tier": "cache"}), SELECTED_BY: ["tier in (cache)"]}
    got = assign_workloads(cat, [picked, dep("kv2", labels={"tier": "cache"})])
    assert [o["metadata"]["name"] for o in got["redis"]] == ["kv"]


def test_pod_and_workload_status():
    d = dep("mlflow-server", labels={"app": "mlflow"}, ready=0)
    pod = {"kind": "Pod", "metadata": {"name": "mlflow-server-1", "namespace": "mlops", "labels": {"app": "mlflow"}},
           "spec": {"containers": [{"name": "c"}], "nodeName": "n1"},
           "status": {"phase": "Running", "containerStatuses": [{"ready": False, "restartCount": 4,
                      "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                      "lastState": {"terminated": {"reason": "OOMKilled"}}}]}}
    p = pod_status(pod)
    assert (p.restarts, p.node, p.problem, p.last_terminated) == (4, "n1", "CrashLoopBackOff", "OOMKilled")
    w = workload_status(d, [pod])
    assert (w.ready, w.desired, w.restarts, w.problem) == (0, 1, 4, "CrashLoopBackOff")
    assert image_tag("quay.io/minio/minio:RELEASE.2025") == "RELEASE.2025" and image_tag("redis") == "latest"


def probe(state, source="config"):
    return ProbeResult("mlflow", "http", "http://x", source, state, state.value)


def test_health_roll_up():
    spec = CATALOG_BY_ID["mlflow"]
    ok = workload_status(dep("mlflow-server"), [])
    assert ComponentStatus(spec, [ok], probe(ProbeState.OK)).health is Health.OK
    assert ComponentStatus(spec, [ok], probe(ProbeState.FAILED)).health is Health.ERROR
    assert ComponentStatus(spec, [ok], probe(ProbeState.DEGRADED)).health is Health.WARN
    half = workload_status(dep("mlflow-server", replicas=2, ready=1), [])
    assert ComponentStatus(spec, [half], probe(ProbeState.OK)).health is Health.WARN
    none = workload_status(dep("mlflow-server", ready=0), [])
    assert ComponentStatus(spec, [none], probe(ProbeState.OK)).health is Health.ERROR
    assert ComponentStatus(spec, [], probe(ProbeState.SKIPPED)).health is Health.ABSENT
    assert ComponentStatus(spec, [], probe(ProbeState.TIMEOUT, source="config")).health is Health.ERROR
    assert ComponentStatus(spec, [], probe(ProbeState.TIMEOUT, source="service x/y")).health is Health.ABSENT

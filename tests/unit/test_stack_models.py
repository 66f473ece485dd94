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


# -- upstream shapes (facts from tests/fixtures/upstream/installs; expected answers from upstream docs) -------
def test_image_tag_keeps_digests_and_non_versions_as_they_are():
    from mlopstui.models.stack import image_tag

    assert image_tag("quay.io/minio/minio:RELEASE.2022-11-17T23-20-09Z@sha256:b2a98df34c3e8d60") == \
        "RELEASE.2022-11-17T23-20-09Z"  # tag and digest: the tag
    assert image_tag("gcr.io/knative-releases/knative.dev/serving/cmd/activator@sha256:cf8d126fc08e596b742025") == \
        "sha256:cf8d126fc08e"  # digest only: shown as a digest, not a version
    assert image_tag("auto") == "latest" and image_tag("docker.io/istio/proxyv2:auto") == "auto"


def test_version_from_the_label_else_the_main_container_never_an_init_container():
    from mlopstui.models.stack import workload_version

    bitnami = {"kind": "StatefulSet", "metadata": {"labels": {"app.kubernetes.io/version": "8.2.1"}},
               "spec": {"template": {"spec": {"initContainers": [{"image": "docker.io/bitnami/os-shell:12-debian-12-r51"}],
                                              "containers": [{"image": "docker.io/bitnami/redis:8.2.1-debian-12-r0"}]}}}}
    assert workload_version(bitnami) == ("8.2.1", "label")
    del bitnami["metadata"]["labels"]
    assert workload_version(bitnami) == ("8.2.1-debian-12-r0", "image")


def test_init_container_crashloop_counts():
    from mlopstui.models.stack import pod_status

    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "kserve-container"}]},
           "status": {"phase": "Pending",
                      "initContainerStatuses": [{"name": "storage-initializer", "restartCount": 356, "ready": False,
                                                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                      "containerStatuses": [{"name": "kserve-container", "restartCount": 0, "ready": False,
                                             "state": {"waiting": {"reason": "PodInitializing"}}}]}}
    ps = pod_status(pod)
    assert (ps.status, ps.restarts, ps.problem) == ("Init:CrashLoopBackOff", 356, "CrashLoopBackOff")


def test_gateway_endpoint_port_is_never_the_status_port():
    from mlopstui.models.endpoints import pick_port, scheme_for

    gw = {"spec": {"ports": [{"name": "status-port", "port": 15021}, {"name": "http2", "port": 80},
                             {"name": "https", "port": 443}]}}
    assert pick_port(gw, "ingress")["port"] == 80
    tenant = {"spec": {"ports": [{"name": "https-minio", "port": 443, "targetPort": 9000}]}}
    port = pick_port(tenant, "s3")
    assert port["port"] == 443 and scheme_for(port, "s3") == "https"
    weed = {"spec": {"ports": [{"name": "http-iam", "port": 8111}, {"name": "http-s3", "port": 8333},
                               {"name": "http-s3-compat", "port": 9000}, {"name": "http-master", "port": 9333}]}}
    assert pick_port(weed, "s3")["port"] == 9000  # what KFP's OBJECTSTORECONFIG_PORT uses


def test_credential_names_and_values():
    from mlopstui.doctor.rules.security import credential_env

    assert credential_env("AWS_SECRET_ACCESS_KEY", "supersecret") and credential_env("AWS_ACCESS_KEY_ID", "admin")
    for name, value in (("MINIO_ROOT_PASSWORD_FILE", "/opt/bitnami/minio/secrets/root-password"),
                        ("ALLOW_EMPTY_PASSWORD", "no"), ("SECRET_NAME", "kserve-webhook-server-cert"),
                        ("ENABLE_SECRET_INFORMER_FILTERING_BY_CERT_UID", "false"), ("REDIS_PASSWORD", ""),
                        ("DB_PASSWORD", "$(DB_PASSWORD_FROM_SECRET)"), ("LOG_LEVEL", "debug")):
        assert not credential_env(name, value), name


def test_pods_by_namespace_selects_what_a_scan_of_the_namespace_selects():
    from mlopstui.models.stack import PodsByNamespace, pods_of

    def pod(ns, name, labels):
        return {"kind": "Pod", "metadata": {"namespace": ns, "name": name, "labels": labels}}

    pods = [pod("a", "p1", {"app": "x", "tier": "web"}), pod("a", "p2", {"app": "x"}), pod("b", "p3", {"app": "x"}),
            pod("a", "p4", {"app": "y", "tier": "web"}), pod("a", "p5", {"app": 1}), pod("a", "p6", None)]

    def dep(ns, sel):
        return {"kind": "Deployment", "metadata": {"namespace": ns, "name": "d"},
                "spec": {"selector": {"matchLabels": sel}}}

    index = PodsByNamespace(pods)
    for ns, sel in [("a", {"app": "x"}), ("a", {"app": "x", "tier": "web"}), ("a", {"tier": "*"}),
                    ("a", {"app": 1}), ("b", {"app": "x"}), ("c", {"app": "x"}), ("a", {"app": "z"})]:
        scanned = [p["metadata"]["name"] for p in pods_of(dep(ns, sel), pods)]
        indexed = [p["metadata"]["name"] for p in pods_of(dep(ns, sel), index)]
        assert indexed == scanned, (ns, sel)
    assert [p["metadata"]["name"] for p in pods_of(dep("a", {"app": "x", "tier": "web"}), index)] == ["p1"]


def test_a_report_with_other_probe_answers_on_the_same_cluster_read_is_the_fresh_report():
    from mlopstui import config
    from mlopstui.models.stack import ProbeResult, ProbeState
    from mlopstui.models.stack.report import ClusterState, build_report

    settings = config.load(None)
    objs = [{"kind": "Deployment", "apiVersion": "apps/v1",
             "metadata": {"namespace": "mlops", "name": "mlflow", "resourceVersion": "3", "labels": {"app": "mlflow"}},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mlflow"}}, "template": {
                 "metadata": {"labels": {"app": "mlflow"}},
                 "spec": {"containers": [{"name": "m", "image": "ghcr.io/mlflow/mlflow:v2.16.2",
                                          "command": ["mlflow", "server"]}]}}},
             "status": {"readyReplicas": 1}}]
    state = ClusterState(objects=objs)
    first = build_report(settings, state, {})
    failed = {"mlflow": ProbeResult("mlflow", "http", "http://mlflow.mlops:5000", "discovered", ProbeState.FAILED,
                                    "connection refused")}
    again = build_report(settings, state, failed)  # the cluster part reused
    fresh = build_report(settings, ClusterState(objects=[dict(o) for o in objs], at=state.at), failed)
    assert [f.key for f in again.findings] == [f.key for f in fresh.findings] != [f.key for f in first.findings]
    assert [(c.id, c.installed, c.health) for c in again.components] == \
        [(c.id, c.installed, c.health) for c in fresh.components]
    state.objects.append({"kind": "Deployment", "metadata": {"namespace": "mlops", "name": "minio"},
                          "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "minio/minio"}]}}}})
    added = build_report(settings, state, failed)  # the same state, added to: read again
    assert added.component("s3").installed and not again.component("s3").installed

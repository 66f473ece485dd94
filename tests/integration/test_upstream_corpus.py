"""The Stack catalog and the doctor on what the upstream projects really install.

Each case loads trimmed upstream installs (tests/fixtures/upstream/installs, rendered offline from the charts
and kustomizations named in each file's header) into an in-process API emulator as a settled, healthy cluster,
runs the real sweep over HTTP, and compares:
  - the detection table: component -> workloads found, endpoint, version and where the version came from;
  - the findings: (rule, severity, object) exactly; anything else raised counts as a false finding.
The expected answers come from the upstream documentation (cited per case), not from our output.

Plants: real misconfigurations written into otherwise correct installs; each must be found (a miss counts).

Precision on the corpus (printed by test_precision_summary, -s to see it):
  PYTHONPATH=src .venv/bin/python -m pytest -q -p no:cacheprovider -s tests/integration/test_upstream_corpus.py -k summary
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.upstream_cluster import container, find, header, load_docs, load_into, settle  # noqa: E402

ENV_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
            "FEAST_REPO_PATH", "REDIS_URL", "KUBECONFIG")
SVC = "svc.cluster.local"


@dataclass
class Case:
    installs: tuple[str, ...]
    # component -> (workload refs, endpoint, version, version source); components not named: not installed
    table: dict[str, tuple[set[str], str, str, str]]
    findings: set[tuple[str, str, str]] = field(default_factory=set)  # (rule, severity, first object)
    why: str = ""  # the upstream documentation the expected answer rests on


def ws(*refs: str) -> set[str]:
    return set(refs)


CASES: dict[str, Case] = {
    "kserve": Case(
        ("kserve",),
        {"kserve": (ws("Deployment kserve/kserve-controller-manager", "Deployment kserve/kserve-localmodel-controller-manager",
                       "Deployment kserve/llmisvc-controller-manager", "DaemonSet kserve/kserve-localmodelnode-agent"),
                    "-", "v0.16.0", "image")},
        why="kserve.github.io/website/docs/admin-guide/kubernetes-deployment: the release YAML installs the "
            "controller manager (+ localmodel, llmisvc) in namespace kserve; no version label, image tag v0.16.0"),
    "kubeflow-istio": Case(
        ("kubeflow-istio",),
        {"istio": (ws("Deployment istio-system/istiod", "Deployment istio-system/istio-ingressgateway"),
                   f"http://istio-ingressgateway.istio-system.{SVC}:80", "1.29.1", "label")},
        why="istio.io docs: port 15021 is the status port; traffic enters on http2/80"),
    "kubeflow-knative": Case(
        ("kubeflow-knative",),
        {"knative": (ws(*(f"Deployment knative-serving/{n}" for n in (
            "activator", "autoscaler", "controller", "webhook", "net-istio-controller", "net-istio-webhook"))),
            "-", "1.21.1", "label")},
        why="knative.dev install docs: Serving's Deployments in knative-serving, images pinned by digest, "
            "app.kubernetes.io/version labels"),
    "kubeflow-kfp-seaweedfs": Case(
        ("kubeflow-kfp-seaweedfs",),
        {"kfp": (ws(*(f"Deployment kubeflow/{n}" for n in (
            "ml-pipeline", "ml-pipeline-ui", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow",
            "ml-pipeline-viewer-crd", "ml-pipeline-visualizationserver"))),
            f"http://ml-pipeline.kubeflow.{SVC}:8888", "2.16.0", "image"),
         "s3": (ws("Deployment kubeflow/seaweedfs"), f"http://seaweedfs.kubeflow.{SVC}:9000", "4.00", "image")},
        why="kubeflow/manifests README: SeaweedFS is the default object store of KFP (S3 API, "
            "OBJECTSTORECONFIG_HOST seaweedfs.kubeflow, port 9000)"),
    "istio-gateway-istio-ingress": Case(
        ("istio-gateway-istio-ingress",),
        {"istio": (ws("Deployment istio-ingress/istio-ingress"), f"http://istio-ingress.istio-ingress.{SVC}:80",
                   "1.0.0", "label")},
        why="istio.io/latest/docs/setup/install/helm: `helm install istio-ingress istio/gateway -n istio-ingress`, "
            "selector istio: ingress; image 'auto' is injected at admission"),
    "istio-gateway-istio-system": Case(
        ("istio-gateway-istio-system",),
        {"istio": (ws("Deployment istio-system/istio-ingressgateway"),
                   f"http://istio-ingressgateway.istio-system.{SVC}:80", "1.0.0", "label")},
        why="KServe's quick install: istio-ingressgateway in istio-system, label istio: ingressgateway"),
    "bitnami-redis": Case(
        ("bitnami-redis",),
        {"redis": (ws("StatefulSet mlops/feast-redis-master", "StatefulSet mlops/feast-redis-replicas"),
                   f"redis://feast-redis-master.mlops.{SVC}:6379", "8.2.1", "label")},
        {("redis-no-maxmemory", "warning", "StatefulSet mlops/feast-redis-master"),
         ("image-bitnami-legacy", "warning", "StatefulSet mlops/feast-redis-master"),
         ("image-bitnami-legacy", "warning", "StatefulSet mlops/feast-redis-replicas")},
        why="bitnami/redis README: commonConfiguration (redis.conf in the -configuration ConfigMap) sets only "
            "appendonly/save by default; resourcesPreset nano sets a 192Mi limit; passwords as REDIS_PASSWORD_FILE"),
    "bitnami-postgresql": Case(
        ("bitnami-postgresql",),
        {"postgresql": (ws("StatefulSet mlops/mlflow-db-postgresql"),
                        f"postgresql://mlflow-db-postgresql.mlops.{SVC}:5432", "17.6.0", "label")},
        {("image-bitnami-legacy", "warning", "StatefulSet mlops/mlflow-db-postgresql")},
        why="bitnami/postgresql README: POSTGRES_PASSWORD_FILE mounted from the Secret"),
    "bitnami-minio": Case(
        ("bitnami-minio",),
        {"s3": (ws("Deployment mlops/minio"), f"http://minio.mlops.{SVC}:9000", "2025.7.23", "label")},
        {("image-minio-unpatched", "warning", "Deployment mlops/minio"),
         ("image-bitnami-legacy", "warning", "Deployment mlops/minio"),
         ("image-bitnami-legacy", "warning", "Deployment mlops/minio-console")},
        why="bitnami/minio README: the console (minio-object-browser) is a web UI on 9090, the S3 API is 9000"),
    "bitnami-mlflow": Case(
        ("bitnami-mlflow",),
        {"mlflow": (ws("Deployment mlops/mlflow-tracking"), f"http://mlflow-tracking.mlops.{SVC}:80", "3.3.2", "label"),
         "s3": (ws("Deployment mlops/mlflow-minio"), f"http://mlflow-minio.mlops.{SVC}:80", "2025.7.23", "label"),
         "postgresql": (ws("StatefulSet mlops/mlflow-postgresql"), f"postgresql://mlflow-postgresql.mlops.{SVC}:5432",
                        "17.6.0", "label")},
        {("image-bitnami-legacy", "warning", "Deployment mlops/mlflow-tracking"),
         ("image-bitnami-legacy", "warning", "Deployment mlops/mlflow-run"),
         ("image-bitnami-legacy", "warning", "Deployment mlops/mlflow-minio"),
         ("image-bitnami-legacy", "warning", "StatefulSet mlops/mlflow-postgresql"),
         ("image-bitnami-legacy", "warning", "Job mlops/mlflow-minio-provisioning"),
         ("image-minio-unpatched", "warning", "Deployment mlops/mlflow-minio"),
         ("image-minio-unpatched", "warning", "Job mlops/mlflow-minio-provisioning")},
        why="bitnami/mlflow README: run.enabled deploys a client pod (sleep infinity) pointing at the tracking "
            "server, which runs with --serve-artifacts --artifacts-destination s3://mlflow (clients never talk "
            "to S3); mlflow.org docs: --serve-artifacts is the default since MLflow 2.0"),
    "community-mlflow": Case(
        ("community-mlflow",),
        {"mlflow": (ws("Deployment mlflow/mlflow"), f"http://mlflow.mlflow.{SVC}:80", "3.15.1", "label")},
        {("mlflow-backend-store-local", "error", "Deployment mlflow/mlflow"),
         ("mlflow-artifact-root-local", "error", "Deployment mlflow/mlflow"),
         ("mlflow-allowed-hosts", "warning", "Deployment mlflow/mlflow")},
        why="community-charts mlflow README: defaults are backendStore sqlite (in memory) and artifactRoot "
            "./mlruns; MLFLOW_SERVER_ALLOWED_HOSTS only from ingress hosts or serverAllowedHosts (both empty by "
            "default), so MLflow 3.5+ rejects the Service name (mlflow.org security middleware docs). "
            "Warning, not error: envFrom Secrets the doctor does not read could set it"),
    "feast-operator": Case(
        ("feast-operator",),
        {"feast": (ws("Deployment feast-operator-system/feast-operator-controller-manager"), "-", "0.66.0", "image")},
        why="feast-operator README: the operator alone serves nothing until a FeatureStore is created"),
    "feast-featurestore": Case(
        ("feast-featurestore",),
        {"feast": (ws("FeatureStore test-ns-feast/credit-scoring", "Deployment test-ns-feast/feast-credit-scoring"),
                   f"http://feast-credit-scoring-online.test-ns-feast.{SVC}:80", "0.66.0", "image"),
         "feast_registry": (ws("Deployment test-ns-feast/postgres"), f"postgresql://postgres.test-ns-feast.{SVC}:5432",
                            "postgres-17-alpine", "image"),
         "redis": (ws("Deployment test-ns-feast/redis"), f"redis://redis.test-ns-feast.{SVC}:6379",
                   "redis-7-alpine", "image")},
        {("redis-no-memory-limit", "warning", "Deployment test-ns-feast/redis"),
         ("redis-no-maxmemory", "error", "Deployment test-ns-feast/redis")},
        why="feast-operator docs: Services feast-<name>-online/-offline/-registry; the registry is the sql store "
            "on postgres.test-ns-feast named in the generated feature_store.yaml; redis runs with no config "
            "(maxmemory 0) and no limit"),
    "minio-operator": Case(
        ("minio-operator",),
        {},
        why="min.io/docs operator: the operator manages Tenants; it is not an object store itself"),
    "minio-tenant": Case(
        ("minio-operator", "minio-tenant", "minio-tenant-children"),
        {"s3": (ws("Tenant tenant-ns/myminio", "StatefulSet tenant-ns/myminio-pool-0"),
                f"https://minio.tenant-ns.{SVC}:443", "RELEASE.2025-04-08T15-41-24Z", "image")},
        {("image-minio-unpatched", "warning", "StatefulSet tenant-ns/myminio-pool-0")},
        why="min.io/docs tenant: Service minio serves the S3 API, TLS on 443 with requestAutoCert (the default); "
            "<tenant>-console is the web console"),
    "rook-ceph-rgw": Case(
        ("rook-ceph-rgw",),
        {"s3": (ws("Deployment rook-ceph/rook-ceph-rgw-my-store-a"), f"http://rook-ceph-rgw-my-store.rook-ceph.{SVC}:80",
                "v20.2.4", "image")},
        why="rook.io docs (object storage): the RGW Service rook-ceph-rgw-<store> serves the S3 API on the "
            "gateway port (80 in the example); the seed names Ceph RGW as the bare-metal S3"),
    "argo-quick-start": Case(
        ("argo-quick-start",),
        {"argo": (ws("Deployment argo/argo-server", "Deployment argo/workflow-controller"),
                  f"https://argo-server.argo.{SVC}:2746", "latest", "image"),
         "s3": (ws("Deployment argo/minio"), f"http://minio.argo.{SVC}:9000", "RELEASE.2022-11-17T23-20-09Z", "image")},
        {("credentials-inline", "warning", "Deployment argo/minio"),
         ("image-minio-unpatched", "warning", "Deployment argo/minio")},
        why="argo-workflows quick-start docs: a demo MinIO with admin/password in its env; argo-server serves "
            "HTTPS on 2746 by default"),
}


# -- plants: real misconfigurations, each must be found ------------------------------------------------------
def _plant_redis_no_maxmemory_but_fixed(docs):
    """A Bitnami redis whose commonConfiguration sets maxmemory: no redis-no-maxmemory (a negative plant)."""
    cm = find(docs, "ConfigMap", "feast-redis-configuration")
    cm["data"]["redis.conf"] += "\nmaxmemory 150mb\nmaxmemory-policy noeviction\n"


def _plant_init_crashloop(objects):
    pod = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("mlflow-tracking-"))
    ics = pod["status"]["initContainerStatuses"][0]
    ics.update(ready=False, restartCount=356,
               state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
               lastState={"terminated": {"exitCode": 1, "reason": "Error"}})
    pod["status"]["phase"] = "Pending"
    for cs in pod["status"]["containerStatuses"]:
        cs.update(ready=False, state={"waiting": {"reason": "PodInitializing"}})


def _plant_client_without_endpoint(docs):
    """An MLflow client pointing at a server whose artifact root is s3:// (clients upload themselves)."""
    server = find(docs, "Deployment", "mlflow-tracking")
    c = container(server, "mlflow")
    c["args"] = [a for a in c["args"] if not a.startswith(("--artifacts-destination", "--serve-artifacts"))]
    c["args"].append("--default-artifact-root=s3://mlflow")


def _plant_inline_aws_secret(docs):
    c = container(find(docs, "Deployment", "mlflow-run"), "mlflow")
    c["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})


def _plant_backend_typo(docs):
    c = container(find(docs, "Deployment", "mlflow-tracking"), "mlflow")
    c["args"] = [a.replace("@mlflow-postgresql:", "@mlflow-postgres:") for a in c["args"]]


def _plant_modelmesh_and_serverless(docs):
    docs.append({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                 "metadata": {"name": "mm", "namespace": "kserve",
                              "annotations": {"serving.kserve.io/deploymentMode": "ModelMesh"}},
                 "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/1"}}}})


def _plant_serverless_without_knative(docs):
    _plant_modelmesh_and_serverless(docs)
    docs.append({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                 "metadata": {"name": "sl", "namespace": "kserve"},
                 "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/1"}}}})


def _plant_sigv2(docs):
    container(find(docs, "Deployment", "mlflow-run"), "mlflow")["env"].append({"name": "S3_SIGNATURE_VERSION", "value": "s3"})


def _plant_redis_oomkilled(objects):
    pod = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"] == "feast-redis-master-0")
    pod["status"]["containerStatuses"][0].update(restartCount=4, lastState={"terminated": {"exitCode": 137,
                                                                                          "reason": "OOMKilled"}})


def _plant_scale_to_zero(docs):
    docs.append({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                 "metadata": {"name": "big", "namespace": "kserve"},
                 "spec": {"predictor": {"minReplicas": 0, "model": {
                     "modelFormat": {"name": "pytorch"}, "storageUri": "s3://m/1",
                     "resources": {"limits": {"memory": "16Gi", "nvidia.com/gpu": "1"}}}}}})


@dataclass
class PlantCase:
    installs: tuple[str, ...]
    plant: object  # fn(docs) before settling, or fn(objects) after (when after=True)
    expect: set[tuple[str, str, str]]  # findings that must be there
    absent: set[tuple[str, str]] = field(default_factory=set)  # (rule, first object) that must not be there
    after: bool = False


PLANTS: dict[str, PlantCase] = {
    "redis-maxmemory-in-configmap": PlantCase(
        ("bitnami-redis",), _plant_redis_no_maxmemory_but_fixed, set(),
        {("redis-no-maxmemory", "StatefulSet mlops/feast-redis-master")}),
    "storage-initializer-init-crashloop": PlantCase(
        ("bitnami-mlflow",), _plant_init_crashloop,
        {("workload-crashloop", "error", "Deployment mlops/mlflow-tracking")}, after=True),
    "client-without-s3-endpoint": PlantCase(
        ("bitnami-mlflow",), _plant_client_without_endpoint,
        {("mlflow-client-no-s3-endpoint", "error", "Deployment mlops/mlflow-run")}),
    "inline-aws-secret": PlantCase(
        ("bitnami-mlflow",), _plant_inline_aws_secret,
        {("credentials-inline", "warning", "Deployment mlops/mlflow-run")}),
    "backend-host-typo": PlantCase(
        ("bitnami-mlflow",), _plant_backend_typo,
        {("mlflow-backend-host-unknown", "error", "Deployment mlops/mlflow-tracking")}),
    "modelmesh-is-not-serverless": PlantCase(
        ("kserve",), _plant_modelmesh_and_serverless, set(),
        {("isvc-serverless-without-knative", "InferenceService kserve/mm")}),
    "signature-v2": PlantCase(
        ("bitnami-mlflow",), _plant_sigv2, {("s3-signature-v2", "error", "Deployment mlops/mlflow-run")}),
    "redis-oomkilled": PlantCase(
        ("bitnami-redis",), _plant_redis_oomkilled,
        {("workload-oomkilled", "error", "StatefulSet mlops/feast-redis-master")}, after=True),
    "large-model-scales-to-zero": PlantCase(
        ("kserve", "kubeflow-knative"), _plant_scale_to_zero,
        {("isvc-min-replicas-zero", "error", "InferenceService kserve/big")}),
    "serverless-without-knative": PlantCase(
        ("kserve",), _plant_serverless_without_knative,
        {("isvc-serverless-without-knative", "error", "InferenceService kserve/sl")}),
}


# -- running a case ------------------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch):
    for k in ENV_KEYS:
        monkeypatch.delenv(k, raising=False)


def run_sweep(tmp_path, objects, namespace: str | None = None, all_namespaces: bool = False):
    """The sweep without its live probes: nothing runs behind the corpus's Services, so a probe could only
    report that (the probes have their own tests against real servers); every endpoint is a cluster DNS
    name, reported as found and not probed."""
    from mlopstui import config
    from mlopstui.backends.stack import collect_cluster, probe_tasks
    from mlopstui.context import AppContext
    from mlopstui.models.stack.report import build_report
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        load_into(srv, objects)
        cfg = tmp_path / "config.yaml"
        # 20 s per call, not 5: at a load of 15 on 2 cores one list timed out and a component went undetected
        # (an SSLEOFError in the emulator's log, the bitnami-minio case failed); an answered call is not slower
        cfg.write_text("kube_timeout: 20\n")
        settings = config.load(str(cfg), kubeconfig=srv.kubeconfig_path, namespace=namespace)
        ctx = AppContext.create(settings)
        try:
            state = collect_cluster(ctx, namespace=namespace if not all_namespaces else None)
            _tasks, skipped = probe_tasks(ctx.settings, state)  # no cluster client: no route, nothing probed
            return build_report(ctx.settings, state, skipped)
        finally:
            ctx.close()
    finally:
        srv.stop()


def table_of(report) -> dict[str, tuple[set[str], str, str, str]]:
    out = {}
    for c in report.components:
        if not c.installed:
            continue
        out[c.id] = ({f"{w.kind} {w.namespace}/{w.name}" for w in c.workloads}, c.endpoint, c.version,
                     c.version_source)
    return out


def findings_of(report) -> set[tuple[str, str, str]]:
    return {(f.id, f.severity.value, f.objects[0] if f.objects else "-") for f in report.findings}


def objects_for(case_installs, plant=None, after=False):
    docs = load_docs(*case_installs)
    if plant is not None and not after:
        plant(docs)
    objects = settle(docs)
    if plant is not None and after:
        plant(objects)
    return objects


# each case's findings, kept for the precision summary (which would otherwise sweep everything again)
_SEEN: dict[str, set[tuple[str, str, str]]] = {}


def case_findings(key: str, tmp_path, installs, plant=None, after=False):
    if key not in _SEEN:
        _SEEN[key] = findings_of(run_sweep(tmp_path, objects_for(installs, plant, after)))
    return _SEEN[key]


# -- the tests ---------------------------------------------------------------------------------------------
def test_every_fixture_names_its_source():
    for path in sorted((Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "installs").glob("*.yaml")):
        h = header(path.stem)
        assert h.get("repository") and h.get("commit") and len(h["commit"]) == 40, path.name
        assert h.get("path") and h.get("render"), path.name


@pytest.mark.parametrize("name", sorted(CASES))
def test_detection_and_findings(name, tmp_path, clean_env):
    case = CASES[name]
    report = run_sweep(tmp_path, objects_for(case.installs))
    assert table_of(report) == case.table, case.why
    got = _SEEN[name] = findings_of(report)
    assert got == case.findings, f"unexpected: {sorted(got - case.findings)}; missed: {sorted(case.findings - got)}"
    for f in report.findings:  # every finding names its objects and its evidence
        assert f.objects and f.evidence


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_misconfigurations(name, tmp_path, clean_env):
    p = PLANTS[name]
    got = case_findings(f"plant-{name}", tmp_path, p.installs, p.plant, p.after)
    assert p.expect <= got, f"missed {sorted(p.expect - got)}"
    firsts = {(r, o) for r, _s, o in got}
    assert not (p.absent & firsts), f"raised although fixed: {sorted(p.absent & firsts)}"


def test_init_container_crashloop_shows_in_the_pod_state(tmp_path, clean_env):
    objects = objects_for(("bitnami-mlflow",), _plant_init_crashloop, after=True)
    report = run_sweep(tmp_path, objects)
    mlflow = report.component("mlflow")
    pod = mlflow.workloads[0].pods[0]
    assert pod.status == "Init:CrashLoopBackOff" and pod.restarts == 356
    assert mlflow.problem == "CrashLoopBackOff" and mlflow.restarts == 356


def test_namespace_scope(tmp_path, clean_env):
    """`-n NS` reads only that namespace; without it every namespace is read."""
    objects = objects_for(("bitnami-redis", "feast-featurestore"))
    only = run_sweep(tmp_path / "a", objects, namespace="test-ns-feast")
    assert {w.namespace for c in only.components for w in c.workloads} == {"test-ns-feast"}
    assert all(o["metadata"].get("namespace") in (None, "test-ns-feast") for objs in only.snapshot.objects.values()
               for o in objs)
    assert only.scope == "namespace test-ns-feast"
    both = run_sweep(tmp_path / "b", objects, namespace="test-ns-feast", all_namespaces=True)
    assert {w.namespace for c in both.components for w in c.workloads} == {"mlops", "test-ns-feast"}
    assert both.scope == "all namespaces"


def test_feature_store_yaml_names_the_registry_database():
    """The FeatureStore's generated feature_store.yaml (TMP_FEATURE_STORE_YAML_BASE64) names postgres.test-ns-feast."""
    dep = find(load_docs("feast-featurestore"), "Deployment", "feast-credit-scoring")
    text = base64.b64decode(container(dep, "registry")["env"][0]["value"]).decode()
    assert "@postgres.test-ns-feast.svc.cluster.local:5432" in text


def test_precision_summary(tmp_path, clean_env, capsys):
    raised = true = false_err = false_warn = 0
    per: list[str] = []
    worst_false_warnings = 0
    for name, case in sorted(CASES.items()):
        got = case_findings(name, tmp_path / name, case.installs)
        fe = sum(1 for f in got - case.findings if f[1] == "error")
        fw = sum(1 for f in got - case.findings if f[1] == "warning")
        raised += len(got)
        true += len(got & case.findings)
        false_err += fe
        false_warn += fw
        worst_false_warnings = max(worst_false_warnings, fw)
        per.append(f"  {name}: {len(got)} raised, {len(got & case.findings)} true, {fe} false errors, {fw} false warnings")
    misses = 0
    for name, p in sorted(PLANTS.items()):
        got = case_findings(f"plant-{name}", tmp_path / f"plant-{name}", p.installs, p.plant, p.after)
        firsts = {(r, o) for r, _s, o in got}
        misses += len(p.expect - got) + len(p.absent & firsts)
    with capsys.disabled():
        print(f"\nupstream corpus: {len(CASES)} installs, {raised} findings raised, {true} true, "
              f"{false_err} false errors, {false_warn} false warnings; {len(PLANTS)} plants, {misses} missed")
        print("\n".join(per))
    assert false_err == 0 and worst_false_warnings <= 1 and misses == 0
    assert os.environ.get("KUBECONFIG") is None


def test_status_doctor_and_the_stack_report_agree(tmp_path, clean_env, capsys):
    """The headless verbs on a MinIO tenant: `status` shows the tenant as the object store, `doctor` flags its
    pool's unpatched image under the same component, `-n` limits both and says so."""
    import json

    from mlopstui.cli import main
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0, run_controllers=False).start()
    try:
        load_into(srv, objects_for(("minio-operator", "minio-tenant", "minio-tenant-children", "bitnami-redis")))
        cfg = tmp_path / "config.yaml"
        cfg.write_text("{}\n")
        base = ["--config", str(cfg), "--kubeconfig", srv.kubeconfig_path]

        def run(*argv):
            main([*base, *argv, "--json"])
            return json.loads(capsys.readouterr().out)

        status = run("status")
        s3 = next(c for c in status["components"] if c["id"] == "s3")
        assert {(w["kind"], w["name"]) for w in s3["workloads"]} == {("Tenant", "myminio"), ("StatefulSet", "myminio-pool-0")}
        assert s3["endpoint"] == f"https://minio.tenant-ns.{SVC}:443" and status["scope"] == "all namespaces"
        doctor = run("doctor")
        minio = [f for f in doctor["findings"] if f["id"] == "image-minio-unpatched"]
        assert [(f["component"], f["objects"]) for f in minio] == [("s3", ["StatefulSet tenant-ns/myminio-pool-0"])]
        assert s3["findings"] == sum(1 for f in doctor["findings"] if f["component"] == "s3")
        scoped = run("status", "-n", "tenant-ns")
        assert scoped["scope"] == "namespace tenant-ns"
        assert not next(c for c in scoped["components"] if c["id"] == "redis")["installed"]
        assert {f["objects"][0].split()[1].split("/")[0] for f in run("doctor", "-n", "mlops")["findings"]} == {"mlops"}
    finally:
        srv.stop()


def test_a_fix_on_a_helm_release_says_helm_will_put_it_back(tmp_path, clean_env):
    """A real inline credential on Bitnami's mlflow-run: the fix moves it to a Secret and says the release
    (app.kubernetes.io/managed-by: Helm, instance mlflow) reverts the patch on the next upgrade."""
    from mlopstui.doctor import fixes

    report = run_sweep(tmp_path, objects_for(("bitnami-mlflow",), _plant_inline_aws_secret))
    finding = next(f for f in report.findings if f.id == "credentials-inline")
    assert finding.objects == ("Deployment mlops/mlflow-run",) and "AWS_SECRET_ACCESS_KEY" in finding.evidence
    spec = fixes.fix_for(finding, report.snapshot)
    assert any("managed by Helm (release mlflow)" in n for n in spec.notes), spec.notes

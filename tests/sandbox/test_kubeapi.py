"""Kubernetes API emulator driven by the real `kubernetes` Python client."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from mlopstui.sandbox.kubeapi import KubeApiServer

NS = "mlops"


def wait_for(fn, timeout: float = 8.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (ApiException, AttributeError, TypeError, IndexError):  # not there yet
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last={last!r})")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("kubeapi")), host="127.0.0.1", port=0).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(srv):
    return config.new_client_from_config(config_file=srv.kubeconfig_path)


@pytest.fixture(scope="module")
def viewer_api(srv):
    return config.new_client_from_config(config_file=srv.kubeconfig_path, context="mlopstui-sandbox-viewer")


@pytest.fixture(scope="module")
def ns(api):
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    return NS


def status_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def isvc_body(name: str, uri: str, **predictor) -> dict:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri},
                                   **predictor}}}


def raw_request(srv, path: str, token: str | None, method: str = "GET", body: dict | None = None,
                content_type: str = "application/json"):
    ctx = ssl.create_default_context(cafile=srv.ca_cert_path)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(srv.url + path, method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# ---- kubeconfig, auth, persistence ---------------------------------------------------------------
def test_kubeconfig_contexts_and_https(srv):
    cfg = yaml.safe_load(open(srv.kubeconfig_path))
    assert cfg["current-context"] == "mlopstui-sandbox"
    ctxs = {c["name"]: c["context"] for c in cfg["contexts"]}
    assert ctxs["mlopstui-sandbox"]["user"] == "admin"
    assert ctxs["mlopstui-sandbox-viewer"]["user"] == "viewer"
    cluster = cfg["clusters"][0]
    assert cluster["name"] == "mlopstui-sandbox"
    assert cluster["cluster"]["server"] == srv.url == f"https://127.0.0.1:{srv.port}"
    assert cluster["cluster"]["certificate-authority-data"]
    tokens = {u["name"]: u["user"]["token"] for u in cfg["users"]}
    assert set(tokens) == {"admin", "viewer"} and tokens["admin"] != tokens["viewer"]


def test_unauthorized_without_or_with_unknown_token(srv):
    code, body = raw_request(srv, "/api/v1/namespaces", None)
    assert code == 401 and body["reason"] == "Unauthorized" and body["kind"] == "Status"
    code, body = raw_request(srv, "/api/v1/namespaces", "not-a-token")
    assert code == 401
    code, body = raw_request(srv, "/api/v1/namespaces", srv.token("admin"))
    assert code == 200 and body["kind"] == "NamespaceList"
    assert srv.request_log[-1]["user"] == "admin" and srv.request_log[-1]["status"] == 200
    assert any(e["status"] == 401 and e["user"] is None for e in srv.request_log)


def test_state_and_tokens_persist_across_restart(tmp_path):
    s1 = KubeApiServer(str(tmp_path), port=0, run_controllers=False).start()
    try:
        a = config.new_client_from_config(config_file=s1.kubeconfig_path)
        client.CoreV1Api(a).create_namespaced_config_map("default", {"metadata": {"name": "keep"},
                                                                     "data": {"k": "v"}})
        token = s1.token("admin")
    finally:
        s1.stop()
    s2 = KubeApiServer(str(tmp_path), port=0, run_controllers=False).start()
    try:
        assert s2.token("admin") == token
        a = config.new_client_from_config(config_file=s2.kubeconfig_path)
        cm = client.CoreV1Api(a).read_namespaced_config_map("keep", "default")
        assert cm.data == {"k": "v"}
        # watch history does not survive a restart: an old resourceVersion is 410 Gone
        w = watch.Watch()
        with pytest.raises(ApiException) as ei:
            for _ in w.stream(client.CoreV1Api(a).list_namespaced_config_map, "default", resource_version="1",
                              timeout_seconds=2):
                pass
        assert ei.value.status == 410
    finally:
        s2.stop()


# ---- discovery -----------------------------------------------------------------------------------
def test_discovery(srv, api):
    assert client.VersionApi(api).get_code().major == "1"
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    for g in ("apps", "batch", "serving.kserve.io", "serving.knative.dev", "networking.istio.io", "argoproj.io",
              "feast.dev", "apiextensions.k8s.io", "networking.k8s.io"):
        assert g in groups
    assert groups["serving.kserve.io"].preferred_version.version == "v1beta1"
    code, res = raw_request(srv, "/apis/serving.kserve.io/v1beta1", srv.token("admin"))
    isvc = next(r for r in res["resources"] if r["name"] == "inferenceservices")
    assert isvc["shortNames"] == ["isvc"] and isvc["namespaced"] and "patch" in isvc["verbs"]
    code, res = raw_request(srv, "/api/v1", srv.token("admin"))
    names = {r["name"]: r for r in res["resources"]}
    assert "pods/log" in names and names["deployments" if False else "pods"]["shortNames"] == ["po"]
    code, res = raw_request(srv, "/apis/apps/v1", srv.token("admin"))
    assert {"deployments/scale", "statefulsets"} <= {r["name"] for r in res["resources"]}


def test_crd_registers_resource_dynamically(api, ns):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.dev"},
           "spec": {"group": "example.dev", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object("example.dev", "v1", ns, "widgets",
                                       {"apiVersion": "example.dev/v1", "kind": "Widget",
                                        "metadata": {"name": "w1"}, "spec": {"size": 3}})
    got = co.get_namespaced_custom_object("example.dev", "v1", ns, "widgets", "w1")
    assert got["spec"]["size"] == 3 and got["kind"] == "Widget"
    assert "example.dev" in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("widgets.example.dev")
    with pytest.raises(ApiException) as ei:
        co.get_namespaced_custom_object("example.dev", "v1", ns, "widgets", "w1")
    assert ei.value.status == 404


# ---- CRUD and Status errors ----------------------------------------------------------------------
def test_create_get_errors_like_kube_apiserver(api, ns):
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}, "data": {"a": "1"}})
    assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) > 4
    assert cm.metadata.uid and cm.metadata.creation_timestamp and int(cm.metadata.resource_version) > 0
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_config_map(ns, {"metadata": {"name": cm.metadata.name}})
    b = status_body(ei.value)
    assert ei.value.status == 409 and b["reason"] == "AlreadyExists"
    assert b["message"] == f'configmaps "{cm.metadata.name}" already exists'
    with pytest.raises(ApiException) as ei:
        client.CustomObjectsApi(api).get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                                                  "inferenceservices", "nope")
    b = status_body(ei.value)
    assert ei.value.status == 404 and b["reason"] == "NotFound"
    assert b["message"] == 'inferenceservices.serving.kserve.io "nope" not found'
    assert b["details"] == {"name": "nope", "group": "serving.kserve.io", "kind": "inferenceservices"}
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert ei.value.status == 404 and status_body(ei.value)["message"] == 'namespaces "no-such-ns" not found'
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}})
    assert ei.value.status == 422 and status_body(ei.value)["reason"] == "Invalid"


def test_stale_replace_is_conflict_and_generation(api, ns):
    co = client.CustomObjectsApi(api)
    obj = co.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                             isvc_body("conflict-demo", "s3://m/1"))
    assert obj["metadata"]["generation"] == 1
    stale = json.loads(json.dumps(obj))
    obj["spec"]["predictor"]["model"]["storageUri"] = "s3://m/2"
    updated = co.replace_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                                  "conflict-demo", obj)
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(stale["metadata"]["resourceVersion"])
    stale["spec"]["predictor"]["model"]["storageUri"] = "s3://m/3"
    with pytest.raises(ApiException) as ei:
        co.replace_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                            "conflict-demo", stale)
    b = status_body(ei.value)
    assert ei.value.status == 409 and b["reason"] == "Conflict"
    assert b["message"] == ('Operation cannot be fulfilled on inferenceservices.serving.kserve.io "conflict-demo": '
                            "the object has been modified; please apply your changes to the latest version and "
                            "try again")
    # metadata-only change: no new generation
    m = co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", "conflict-demo",
                                          {"metadata": {"labels": {"team": "risk"}}})
    assert m["metadata"]["generation"] == 2


def test_viewer_rbac(api, viewer_api, ns):
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                       isvc_body("fraud-detection", "s3://models/fraud/1"))
    vco = client.CustomObjectsApi(viewer_api)
    assert vco.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                            "fraud-detection")["metadata"]["name"] == "fraud-detection"
    with pytest.raises(ApiException) as ei:
        vco.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                           "fraud-detection", {"spec": {"predictor": {"canaryTrafficPercent": 10}}})
    b = status_body(ei.value)
    assert ei.value.status == 403 and b["reason"] == "Forbidden"
    assert b["message"] == ('inferenceservices.serving.kserve.io "fraud-detection" is forbidden: User "viewer" '
                            'cannot patch resource "inferenceservices" in API group "serving.kserve.io" in the '
                            'namespace "mlops"')
    vcore = client.CoreV1Api(viewer_api)
    with pytest.raises(ApiException) as ei:
        vcore.list_namespaced_secret(ns)
    assert ei.value.status == 403 and "cannot list resource \"secrets\"" in status_body(ei.value)["message"]
    with pytest.raises(ApiException) as ei:
        vcore.create_namespaced_config_map(ns, {"metadata": {"name": "nope"}})
    assert ei.value.status == 403
    assert vcore.list_namespaced_config_map(ns).items is not None


# ---- selectors -----------------------------------------------------------------------------------
def test_label_and_field_selectors(api, ns):
    core = client.CoreV1Api(api)
    for name, labels in [("sel-a", {"app": "web", "tier": "fe"}), ("sel-b", {"app": "api", "tier": "be"}),
                         ("sel-c", {"app": "db"})]:
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})

    def names(**kw):
        return sorted(c.metadata.name for c in core.list_namespaced_config_map(ns, **kw).items
                      if c.metadata.name.startswith("sel-"))

    assert names(label_selector="app=web") == ["sel-a"]
    assert names(label_selector="app==api") == ["sel-b"]
    assert names(label_selector="app!=web") == ["sel-b", "sel-c"]
    assert names(label_selector="app in (web,db)") == ["sel-a", "sel-c"]
    assert names(label_selector="app notin (web,db)") == ["sel-b"]
    assert names(label_selector="tier") == ["sel-a", "sel-b"]
    assert names(label_selector="!tier") == ["sel-c"]
    assert names(label_selector="app in (web,api),tier=be") == ["sel-b"]
    assert names(field_selector="metadata.name=sel-c") == ["sel-c"]
    assert names(field_selector="metadata.namespace=mlops,metadata.name!=sel-c") == ["sel-a", "sel-b"]
    core.create_namespaced_pod(ns, {"metadata": {"name": "lonely"},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    wait_for(lambda: core.read_namespaced_pod("lonely", ns).status.phase == "Running")
    running = core.list_namespaced_pod(ns, field_selector="status.phase=Running").items
    assert "lonely" in {p.metadata.name for p in running}
    assert not core.list_namespaced_pod(ns, field_selector="status.phase=Pending,metadata.name=lonely").items
    all_pods = core.list_pod_for_all_namespaces(field_selector="metadata.name=lonely").items
    assert [p.metadata.namespace for p in all_pods] == [ns]


# ---- patches and dry run -------------------------------------------------------------------------
def test_patch_flavours(api, ns):
    apps = client.AppsV1Api(api)
    dep = {"metadata": {"name": "patchme"},
           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "patchme"}},
                    "template": {"metadata": {"labels": {"app": "patchme"}},
                                 "spec": {"containers": [{"name": "main", "image": "img:1",
                                                          "env": [{"name": "A", "value": "1"}]},
                                                         {"name": "side", "image": "side:1"}]}}}}
    apps.create_namespaced_deployment(ns, dep)
    # strategic merge (the python client's default for dict bodies): containers merged by name
    d = apps.patch_namespaced_deployment("patchme", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:2", "env": [{"name": "B", "value": "2"}]}]}}}})
    cs = {c.name: c for c in d.spec.template.spec.containers}
    assert cs["main"].image == "img:2" and cs["side"].image == "side:1"
    assert {e.name for e in cs["main"].env} == {"A", "B"}
    # JSON patch including a test op
    d = apps.patch_namespaced_deployment("patchme", ns, [
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "img:2"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "img:3"}])
    assert d.spec.template.spec.containers[0].image == "img:3"
    with pytest.raises(ApiException) as ei:
        apps.patch_namespaced_deployment("patchme", ns, [
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "img:2"}])
    assert ei.value.status == 422
    # merge patch: lists replaced, null deletes
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                       isvc_body("merge-demo", "s3://m/1", minReplicas=1))
    m = co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", "merge-demo",
                                          {"spec": {"predictor": {"minReplicas": None}}})
    assert "minReplicas" not in m["spec"]["predictor"]
    # a patch carrying a stale resourceVersion is a conflict
    with pytest.raises(ApiException) as ei:
        co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", "merge-demo",
                                          {"metadata": {"resourceVersion": "1"}, "spec": {}})
    assert ei.value.status == 409


def test_server_side_apply(api, srv, ns):
    path = f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/applied"
    body = isvc_body("applied", "s3://m/1")
    # without fieldManager: 422
    code, st = raw_request(srv, path, srv.token("admin"), "PATCH", body, "application/apply-patch+yaml")
    assert code == 422 and st["reason"] == "Invalid" and "fieldManager" in st["message"]
    co = client.CustomObjectsApi(api)
    resp = co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                             "applied", body, field_manager="tests", force=True,
                                             _content_type="application/apply-patch+yaml", _preload_content=False)
    assert resp.status == 201  # apply creates an absent object
    created = json.loads(resp.data)
    assert created["metadata"]["managedFields"][0]["manager"] == "tests"
    body["spec"]["predictor"]["canaryTrafficPercent"] = 10
    again = co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                              "applied", body, field_manager="tests", force=True,
                                              _content_type="application/apply-patch+yaml")
    assert again["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert again["spec"]["predictor"]["model"]["storageUri"] == "s3://m/1"


def test_dry_run_does_not_store(api, ns):
    core = client.CoreV1Api(api)
    out = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run="All")
    assert out.metadata.name == "dry"
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}})
    p = core.patch_namespaced_config_map("dry", ns, {"data": {"a": "2"}}, dry_run="All")
    assert p.data["a"] == "2"
    assert core.read_namespaced_config_map("dry", ns).data["a"] == "1"
    core.delete_namespaced_config_map("dry", ns, dry_run="All")
    assert core.read_namespaced_config_map("dry", ns).data["a"] == "1"


# ---- watch ---------------------------------------------------------------------------------------
def test_watch_streams_events_after_resource_version(api, ns):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version

    def writer():
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "watched", "labels": {"w": "1"}}})
        core.patch_namespaced_config_map("watched", ns, {"data": {"x": "y"}})
        core.create_namespaced_config_map(ns, {"metadata": {"name": "unwatched"}})
        core.delete_namespaced_config_map("watched", ns)

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    start = time.monotonic()
    for ev in watch.Watch().stream(core.list_namespaced_config_map, ns, label_selector="w=1",
                                   resource_version=rv, timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
    t.join()
    assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]
    assert time.monotonic() - start < 5  # timeoutSeconds honoured


# ---- controllers ---------------------------------------------------------------------------------
def test_deployment_statefulset_and_faults(api, ns):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    tmpl = {"metadata": {"labels": {"app": "mlflow"}},
            "spec": {"containers": [{"name": "mlflow", "image": "mlflow:3", "env": [{"name": "X", "value": "1"}]}]}}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "mlflow-server"},
                                           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "mlflow"}},
                                                    "template": tmpl}})
    d = wait_for(lambda: (x := apps.read_namespaced_deployment_status("mlflow-server", ns)).status.ready_replicas == 2
                 and x)
    assert d.status.available_replicas == 2 and d.status.observed_generation == d.metadata.generation
    assert any(c.type == "Available" and c.status == "True" for c in d.status.conditions)
    pods = core.list_namespaced_pod(ns, label_selector="app=mlflow").items
    assert len(pods) == 2
    for p in pods:
        assert p.metadata.name.startswith("mlflow-server-") and len(p.metadata.name.split("-")) == 4
        assert p.status.phase == "Running" and p.status.container_statuses[0].ready
        assert p.spec.containers[0].env[0].value == "1"
    assert core.read_namespaced_pod_log(pods[0].metadata.name, ns)
    apps.patch_namespaced_deployment_scale("mlflow-server", ns, {"spec": {"replicas": 1}})
    wait_for(lambda: len(core.list_namespaced_pod(ns, label_selector="app=mlflow").items) == 1)
    apps.patch_namespaced_deployment("mlflow-server", ns,
                                     {"metadata": {"annotations": {"sandbox.mlopstui.dev/fault": "crashloop"}}})
    pod = wait_for(lambda: next((p for p in core.list_namespaced_pod(ns, label_selector="app=mlflow").items
                                 if p.status.container_statuses and p.status.container_statuses[0].state.waiting),
                                None))
    cs = pod.status.container_statuses[0]
    assert cs.state.waiting.reason == "CrashLoopBackOff" and cs.restart_count > 0 and not cs.ready
    wait_for(lambda: not apps.read_namespaced_deployment("mlflow-server", ns).status.ready_replicas)
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "redis", "annotations": {
        "sandbox.mlopstui.dev/fault": "oomkilled"}}, "spec": {
        "replicas": 2, "serviceName": "redis", "selector": {"matchLabels": {"app": "redis"}},
        "template": {"metadata": {"labels": {"app": "redis"}},
                     "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}}})
    wait_for(lambda: len(core.list_namespaced_pod(ns, label_selector="app=redis").items) == 2)
    redis0 = core.read_namespaced_pod("redis-0", ns)
    assert redis0.status.container_statuses[0].last_state.terminated.reason == "OOMKilled"
    evs = core.list_namespaced_event(ns, field_selector="involvedObject.name=redis-0").items
    assert {"Scheduled", "Pulled", "Started", "BackOff"} <= {e.reason for e in evs}


def test_deleting_an_owner_garbage_collects_what_it_owns(api, ns):
    """Background cascading deletion, as the garbage collector does it: the ReplicaSet whose Deployment is
    gone is deleted, then the pods of that ReplicaSet."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    tmpl = {"metadata": {"labels": {"app": "gc-me"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "gc-me"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "gc-me"}}, "template": tmpl}})
    wait_for(lambda: len(core.list_namespaced_pod(ns, label_selector="app=gc-me").items) == 2)
    assert apps.list_namespaced_replica_set(ns, label_selector="app=gc-me").items
    apps.delete_namespaced_deployment("gc-me", ns)
    wait_for(lambda: not apps.list_namespaced_replica_set(ns, label_selector="app=gc-me").items)
    wait_for(lambda: not core.list_namespaced_pod(ns, label_selector="app=gc-me").items)


def test_loadbalancer_service(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_service(ns, {"metadata": {"name": "minio"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "minio"}, "ports": [{"port": 9000}]}})
    svc = wait_for(lambda: (s := core.read_namespaced_service("minio", ns)).status.load_balancer.ingress and s)
    assert svc.status.load_balancer.ingress[0].ip == "127.0.0.1" and svc.spec.cluster_ip


def _traffic(co, ns, name):
    st = co.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", name)["status"]
    return st, sorted((t["revisionName"][-5:], t["percent"], t.get("tag")) for t in
                      st["components"]["predictor"]["traffic"])


def test_isvc_canary_promote_rollback(api, ns):
    co = client.CustomObjectsApi(api)
    name = "canary"

    def patch(body):
        before = time.monotonic()
        out = co.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", name, body)
        gen = out["metadata"]["generation"]
        wait_for(lambda: co.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                                         name).get("status", {}).get("observedGeneration") == gen,
                 interval=0.05)
        return time.monotonic() - before

    co.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                       isvc_body(name, "s3://models/fraud/1"))
    st = wait_for(lambda: co.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                                          name).get("status"))
    assert st["url"] == f"http://{name}.{ns}.example.com"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    _, tr = _traffic(co, ns, name)
    assert tr == [("00001", 100, None)]
    # shapes as KServe writes them (ksvc_reconciler.go + PropagateStatus): the "latest" tag only with
    # enable-tag-routing, previousRolledoutRevision moves only when a revision reaches 100 %
    took = patch({"spec": {"predictor": {"canaryTrafficPercent": 20,
                                         "model": {"storageUri": "s3://models/fraud/2"}}}})
    assert 0.4 <= took < 3
    st, tr = _traffic(co, ns, name)
    assert tr == [("00001", 80, "prev"), ("00002", 20, None)]
    pred = st["components"]["predictor"]
    assert pred["latestCreatedRevision"] == f"{name}-predictor-00002" == pred["latestReadyRevision"]
    assert pred["latestRolledoutRevision"] == f"{name}-predictor-00001"
    assert "previousRolledoutRevision" not in pred
    patch({"spec": {"predictor": {"canaryTrafficPercent": 30}}})  # no new revision
    st, tr = _traffic(co, ns, name)
    assert tr == [("00001", 70, "prev"), ("00002", 30, None)]
    patch({"spec": {"predictor": {"canaryTrafficPercent": None}}})  # promote
    st, tr = _traffic(co, ns, name)
    assert tr == [("00002", 100, None)]
    pred = st["components"]["predictor"]
    assert pred["latestRolledoutRevision"] == f"{name}-predictor-00002"
    assert pred["previousRolledoutRevision"] == f"{name}-predictor-00001"
    # rollback: KServe first splits over 00002 (its latest rolled-out revision), PropagateStatus then moves
    # latestRolledoutRevision back to 00001 and the next reconcile routes the rest there
    patch({"spec": {"predictor": {"canaryTrafficPercent": 0}}})
    wait_for(lambda: _traffic(co, ns, name)[1] == [("00001", 100, "prev"), ("00002", 0, None)])
    st, _ = _traffic(co, ns, name)
    assert st["components"]["predictor"]["latestRolledoutRevision"] == f"{name}-predictor-00001"
    revs = co.list_namespaced_custom_object("serving.knative.dev", "v1", ns, "revisions",
                                            label_selector=f"serving.kserve.io/inferenceservice={name}")["items"]
    uris = {r["metadata"]["name"]: r["metadata"]["annotations"]["internal.serving.kserve.io/storage-initializer-sourceuri"] for r in revs}
    assert uris == {f"{name}-predictor-00001": "s3://models/fraud/1", f"{name}-predictor-00002": "s3://models/fraud/2"}
    core = client.CoreV1Api(api)
    pods = wait_for(lambda: core.list_namespaced_pod(
        ns, label_selector=f"serving.kserve.io/inferenceservice={name}").items)
    assert all(p.status.phase == "Running" for p in pods)


def test_isvc_raw_deployment(api, ns):
    co = client.CustomObjectsApi(api)
    body = isvc_body("churn-model", "s3://models/churn/1")
    body["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    co.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices", body)
    st = wait_for(lambda: co.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices",
                                                          "churn-model").get("status"))
    assert st["deploymentMode"] == "RawDeployment"
    assert "traffic" not in st["components"]["predictor"]
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    assert not co.list_namespaced_custom_object("serving.knative.dev", "v1", ns, "revisions",
                                                label_selector="serving.kserve.io/inferenceservice=churn-model")[
        "items"]
    wait_for(lambda: client.AppsV1Api(api).read_namespaced_deployment("churn-model-predictor", ns)
             .status.ready_replicas == 1)


def _job(name, command, annotations=None):
    return {"metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "feast:sandbox", "command": command,
                 "env": [{"name": "FEAST_USAGE", "value": "False"}]}]}}}}


def _job_done(batch, ns, name):
    j = batch.read_namespaced_job_status(name, ns)
    return j if j.status and (j.status.succeeded or j.status.failed) else None


def test_jobs_succeed_fail_and_feast_without_repo(api, ns):
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(ns, _job("ok-job", ["python", "-c", "print(1)"]))
    batch.create_namespaced_job(ns, _job("bad-job", ["python", "train.py"], {"sandbox.mlopstui.dev/fault": "fail"}))
    batch.create_namespaced_job(ns, _job("feast-job", ["feast", "materialize-incremental", "2026-11-28T00:00:00"]))
    ok = wait_for(lambda: _job_done(batch, ns, "ok-job"))
    assert ok.status.succeeded == 1 and ok.status.completion_time and ok.status.start_time
    assert any(c.type == "Complete" and c.status == "True" for c in ok.status.conditions)
    bad = wait_for(lambda: _job_done(batch, ns, "bad-job"))
    assert any(c.type == "Failed" and c.status == "True" for c in bad.status.conditions)
    feast = wait_for(lambda: _job_done(batch, ns, "feast-job"))
    failed = next(c for c in feast.status.conditions if c.type == "Failed")
    assert failed.status == "True" and "--feast-repo" in failed.message
    pod = core.list_namespaced_pod(ns, label_selector="job-name=feast-job").items[0]
    assert pod.status.phase == "Failed"
    log = core.read_namespaced_pod_log(pod.metadata.name, ns)
    assert "no Feast repository" in log and "materialize-incremental" in log


def test_pod_log_tail_lines(srv, api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, {"metadata": {"name": "logger", "annotations": {
        "sandbox.mlopstui.dev/log": "one\ntwo\nthree\n"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    wait_for(lambda: core.read_namespaced_pod_log("logger", ns))
    assert core.read_namespaced_pod_log("logger", ns) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("logger", ns, tail_lines=2) == "two\nthree\n"


def test_cli_entry_point_serves_and_stops_on_sigterm(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mlopstui.sandbox.kubeapi", "--dir", str(tmp_path), "--host",
                             "127.0.0.1", "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        kubeconfig = tmp_path / "kubeconfig"
        wait_for(lambda: kubeconfig.exists(), timeout=15)
        cfg = yaml.safe_load(kubeconfig.read_text())
        assert cfg["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
        assert {c["name"] for c in cfg["contexts"]} == {"mlopstui-sandbox", "mlopstui-sandbox-viewer"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:  # plain HTTP probe
            assert r.read() == b"ok"
        a = config.new_client_from_config(config_file=str(kubeconfig))
        assert "default" in {n.metadata.name for n in client.CoreV1Api(a).list_namespace().items}
        assert oct(os.stat(tmp_path / "tokens.json").st_mode & 0o777) == "0o600"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert (tmp_path / "state.json").exists()


def test_secret_string_data_becomes_base64_data(tmp_path):
    """As on a real API server: stringData is write-only, merged into data on create and on update."""
    import base64

    from mlopstui.backends import kube as k
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kube"), port=0).start()
    try:
        kube = k.KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", "default")
        kube.create(k.SECRETS, {"metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"1").decode()},
                                "stringData": {"b": "two"}}, "default")
        got = kube.get(k.SECRETS, "s", "default")
        assert "stringData" not in got and base64.b64decode(got["data"]["b"]) == b"two"
        got = kube.merge_patch(k.SECRETS, "s", {"stringData": {"a": "uno"}}, "default")
        assert "stringData" not in got and base64.b64decode(got["data"]["a"]) == b"uno"
        assert base64.b64decode(got["data"]["b"]) == b"two"
        kube.close()
    finally:
        srv.stop()


def _listen_backlog(port: int) -> int:
    """The kernel's backlog of the listening socket on port (`ss`: Send-Q of a LISTEN socket)."""
    import subprocess

    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def test_the_listen_backlog_takes_a_dozen_watches_opening_at_once(srv, tmp_path):
    """The TUI opens a connection per watched kind, a dozen at once; with socketserver's default backlog (5) the
    kernel dropped the SYNs beyond it and each of those clients waited 1 s to resend (first Stack rows in
    1.4 s instead of 0.37 s in bench_startup). The emulators listen with room for them."""
    from mlopstui.sandbox.lakefs import LakeFSServer

    assert _listen_backlog(srv.port) >= 64
    lake = LakeFSServer(tmp_path / "lakefs", s3_endpoint="http://127.0.0.1:9", access_key_id="k",
                        secret_access_key="s").start()
    try:
        assert _listen_backlog(lake.port) >= 64
    finally:
        lake.stop()

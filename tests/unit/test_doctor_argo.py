"""The Argo doctor rules on hand-built snapshots: each fires on its fault, names the object, and is quiet on
the fixed version. (The MLflow-client rules now read WorkflowTemplates and CronWorkflows too.)"""

from __future__ import annotations

import copy

from mlopstui.doctor import Snapshot, run

NS = "mlops"


def cm(name, ns, data, annotations=None):
    meta = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"kind": "ConfigMap", "metadata": meta, "data": data}


def repo_text(endpoint="minio.mlops.svc.cluster.local:9000", insecure=None, secret="minio-credentials"):
    lines = ["s3:", "  bucket: argo-artifacts", f"  endpoint: {endpoint}"]
    if insecure is not None:
        lines.append(f"  insecure: {'true' if insecure else 'false'}")
    lines += [f"  accessKeySecret: {{name: {secret}, key: access-key}}",
              f"  secretKeySecret: {{name: {secret}, key: secret-key}}"]
    return "\n".join(lines) + "\n"


def minio():
    labels = {"app.kubernetes.io/name": "minio"}
    return [{"kind": "Deployment", "metadata": {"name": "minio", "namespace": NS, "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels},
                                   "spec": {"containers": [{"name": "minio", "image": "minio/minio"}]}}},
             "status": {"readyReplicas": 1}},
            {"kind": "Service", "metadata": {"name": "minio", "namespace": NS},
             "spec": {"selector": labels, "ports": [{"port": 9000}]}}]


def mlflow_client(env):
    return {"kind": "WorkflowTemplate", "metadata": {"name": "train", "namespace": NS},
            "spec": {"entrypoint": "t", "templates": [{"name": "t", "container": {
                "image": "python", "env": [{"name": k, "value": v} for k, v in env.items()]}}]}}


def secret_stub(name, exists=True, keys=("access-key", "secret-key")):
    s = {"kind": "Secret", "metadata": {"name": name, "namespace": NS}, "exists": exists}
    if exists:
        s["dataKeys"] = list(keys)
    return s


def ids(objs, rule_prefix="argo-"):
    return sorted({f.id for f in run(Snapshot.build(objs)) if f.id.startswith(rule_prefix)})


def findings(objs, rid):
    return [f for f in run(Snapshot.build(objs)) if f.id == rid]


def base(**kw):
    client = mlflow_client({"MLFLOW_TRACKING_URI": "http://mlflow-server.mlops:5000",
                            "MLFLOW_S3_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000",
                            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    return [*minio(), client, secret_stub("minio-credentials"),
            cm("artifact-repositories", NS, {"default-v1": repo_text(**kw)},
               {"workflows.argoproj.io/default-artifact-repository": "default-v1"})]


def test_a_correct_repository_is_quiet():
    assert ids(base(insecure=True)) == []


def test_endpoint_without_a_service():
    fs = findings(base(endpoint="minio.storage.svc.cluster.local:9000", insecure=True), "argo-artifact-repo-endpoint")
    assert len(fs) == 1 and "not a Service" in fs[0].summary and fs[0].objects == ("ConfigMap mlops/artifact-repositories",)
    assert "minio.mlops.svc.cluster.local:9000" in fs[0].fix


def test_endpoint_not_the_object_store():
    objs = base(endpoint="other-s3.mlops.svc.cluster.local:9000", insecure=True)
    objs.append({"kind": "Service", "metadata": {"name": "other-s3", "namespace": NS}, "spec": {"ports": [{"port": 9000}]}})
    assert ids(objs) == ["argo-artifact-repo-not-object-store"]


def test_plain_http_without_insecure():
    fs = findings(base(), "argo-artifact-repo-insecure")
    assert len(fs) == 1 and "insecure: true" in fs[0].fix
    assert findings(base(insecure=False), "argo-artifact-repo-insecure")
    assert not findings(base(insecure=True), "argo-artifact-repo-insecure")


def test_missing_credentials_secret_or_key():
    objs = base(insecure=True, secret="argo-s3")
    objs.append(secret_stub("argo-s3", exists=False))
    fs = findings(objs, "argo-artifact-repo-secret")
    assert fs and "does not exist in mlops" in fs[0].summary
    objs = base(insecure=True, secret="argo-s3")
    objs.append(secret_stub("argo-s3", keys=("accesskey", "secretkey")))
    fs = findings(objs, "argo-artifact-repo-secret")
    assert fs and "has no key access-key" in fs[0].summary
    # not looked up (e.g. forbidden): no claim either way
    assert not findings(base(insecure=True, secret="unknown"), "argo-artifact-repo-secret")


def test_controller_configmap_serves_namespaces_without_their_own():
    objs = [o for o in base() if (o.get("metadata") or {}).get("name") != "artifact-repositories"]
    objs.append(cm("workflow-controller-configmap", "argo", {"artifactRepository": repo_text(secret="nope")}))
    objs.append(secret_stub("nope", exists=False))
    got = ids(objs)
    assert "argo-artifact-repo-insecure" in got and "argo-artifact-repo-secret" in got


def test_mlflow_client_rules_read_workflow_templates_and_cron_workflows():
    objs = [*minio(), mlflow_client({"MLFLOW_TRACKING_URI": "http://mlflow-server.mlops:5000"})]
    found = {f.id: f for f in run(Snapshot.build(objs))}
    assert found["mlflow-client-no-s3-endpoint"].objects == ("WorkflowTemplate mlops/train",)
    assert "mlflow-client-no-s3-credentials" in found
    cron = {"kind": "CronWorkflow", "metadata": {"name": "nightly", "namespace": NS},
            "spec": {"schedules": ["0 2 * * *"], "workflowSpec": copy.deepcopy(objs[-1]["spec"])}}
    found = [f for f in run(Snapshot.build([*minio(), cron])) if f.id == "mlflow-client-no-s3-endpoint"]
    assert found and found[0].objects == ("CronWorkflow mlops/nightly",)


def test_controller_health_and_stuck_pending():
    wf = {"kind": "Workflow", "metadata": {"name": "w1", "namespace": NS}, "status": {"phase": "Running"}}
    assert [f.id for f in run(Snapshot.build([wf])) if f.id == "argo-controller"] == ["argo-controller"]
    ctl = {"kind": "Deployment", "metadata": {"name": "workflow-controller", "namespace": "argo",
                                              "labels": {"app": "workflow-controller"}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "workflow-controller"}},
                    "template": {"metadata": {"labels": {"app": "workflow-controller"}},
                                 "spec": {"containers": [{"name": "c", "image": "quay.io/argoproj/workflow-controller"}]}}},
           "status": {"readyReplicas": 0}}
    fs = [f for f in run(Snapshot.build([wf, ctl])) if f.id == "argo-controller"]
    assert fs and "not ready (0/1)" in fs[0].summary
    ctl["status"]["readyReplicas"] = 1
    assert not [f for f in run(Snapshot.build([wf, ctl])) if f.id == "argo-controller"]
    pod = {"kind": "Pod", "metadata": {"name": "w1-train-123", "namespace": NS,
                                       "labels": {"workflows.argoproj.io/workflow": "w1"}},
           "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                          "reason": "Unschedulable",
                                                          "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}
    fs = [f for f in run(Snapshot.build([wf, ctl, pod])) if f.id == "argo-workflow-stuck-pending"]
    assert fs and "Insufficient nvidia.com/gpu" in fs[0].evidence and fs[0].objects[0] == "Workflow mlops/w1"
    wf["status"]["phase"] = "Failed"
    assert not [f for f in run(Snapshot.build([wf, ctl, pod])) if f.id == "argo-workflow-stuck-pending"]

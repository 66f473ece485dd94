"""The emulator shows what real clusters show, checked against KServe's published objects.

- KServe's published InferenceServices loaded with their status unchanged (no controllers), then read by
  `mlopstui isvc --json`, the detail text, `canary`/`promote` plans, and by kubectl: `get isvc` columns are
  KServe's CRD printer columns (the same JSONPaths evaluated by kubectl itself) and the documented rows.
- Status is a subresource; `kubectl auth can-i` is answered from the emulator's RBAC; the preferred version
  follows Kubernetes version priority; the InferenceService controller does ModelMesh (no Knative objects)
  and a not-ready new revision (fault annotation) the way KServe + Knative do.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlopstui.cli import main  # noqa: E402
from mlopstui.sandbox.kubeapi import KubeApiServer  # noqa: E402
from mlopstui.sandbox.kubeapi.fixtures import documents  # noqa: E402
from support.serving_upstream import FIXTURES, MEANINGS, suffix  # noqa: E402

KUBECTL = Path(sys.executable).parent / "kubectl"
ADMIN, VIEWER = "mlopstui-sandbox", "mlopstui-sandbox-viewer"
CRD = yaml.safe_load((FIXTURES / "inferenceservices-crd.yaml").read_text())
NO_CONFIG = [n for n in sorted(MEANINGS) if n != "config-default-standard"]


def kubectl(srv, *args, context=ADMIN, check=True, stdin=None):
    out = subprocess.run([str(KUBECTL), "--kubeconfig", srv.kubeconfig_path, "--context", context, *args],
                         capture_output=True, text=True, timeout=30, input=stdin,
                         env={**os.environ, "KUBECONFIG": ""})
    if check:
        assert out.returncode == 0, out.stderr
    return out


def fixture_docs(name: str) -> list[dict]:
    """The fixture's objects, moved to a namespace named after it (several fixtures reuse `sklearn-iris`)."""
    docs = copy.deepcopy(documents(FIXTURES / f"{name}.yaml"))
    for d in docs:
        if d["kind"] != "ConfigMap":
            d["metadata"]["namespace"] = name
    return docs


def isvc_name(name: str) -> str:
    return next(d for d in fixture_docs(name) if d["kind"] == "InferenceService")["metadata"]["name"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("fidelity")), run_controllers=False).start()
    for name in NO_CONFIG:
        s.load_fixture(fixture_docs(name))
    yield s
    s.stop()


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))


def run(srv, capsys, ns, *argv):
    code = main([*argv, "--kubeconfig", srv.kubeconfig_path, "--context", ADMIN, "-n", ns])
    out = capsys.readouterr()
    return code, out.out, out.err


def writes(srv, since):
    return [e for e in srv.request_log[since:] if e["method"] not in ("GET", "HEAD")]


# -- the table, through the emulator and the CLI --------------------------------------------------
def check_cli(srv, capsys, fixture: str):
    want = MEANINGS[fixture]
    name = isvc_name(fixture)
    code, out, err = run(srv, capsys, fixture, "isvc", name, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["modeClass"] == {"serverless": "Serverless", "raw": "RawDeployment", "modelmesh": "ModelMesh"}[want.mode]
    assert doc["canarySupported"] is (want.mode == "serverless")
    assert doc["readyState"] == want.ready
    if want.reason:
        assert want.reason in f"{doc['readyReason']} {doc['readyMessage']}"
    code, text, _ = run(srv, capsys, fixture, "isvc", name)
    # the human detail is the shared renderer (models.serving.detail_lines): the tri-state as a word
    word = {"True": "✓ yes", "False": "✗ NO", "Unknown": "? unknown"}[want.ready]
    assert code == 0 and f"ready {word}" in text, text
    if want.mode != "serverless":
        mark = len(srv.request_log)
        for verb in (["canary", name, "10"], ["promote", name], ["rollback", name]):
            code, out, err = run(srv, capsys, fixture, *verb, "--yes", "--wait", "0")
            assert code == 2 and "nothing was sent" in err and doc["deploymentMode"] in err, (verb, err)
        assert writes(srv, mark) == []
        return
    assert {suffix(x["revisionName"]): x["percent"] for x in doc["split"]} == want.split
    assert (suffix(doc["canaryRevision"]), doc["canaryShare"]) == want.canary
    assert doc["converged"]["done"] is want.converged, doc["converged"]
    if want.rolling_out:
        assert suffix(doc["rollingOut"]["revisionName"]) == want.rolling_out[0]
        assert want.rolling_out[1] in doc["rollingOut"]["reason"]
        assert f"rolling out: {doc['rollingOut']['revisionName']} not ready" in text
        code, out, _ = run(srv, capsys, fixture, "promote", name, "--dry-run")
        assert code == 0 and "WARNING: promoting" in out and "not ready" in out
    else:
        assert doc["rollingOut"] is None
    if want.stable_uri is not None:
        assert (doc["stableStorageUri"] or "unknown") == want.stable_uri


@pytest.mark.parametrize("fixture", NO_CONFIG)
def test_cli_reads_upstream_objects_as_upstream_means_them(srv, capsys, cli_env, fixture):
    check_cli(srv, capsys, fixture)


def test_cluster_default_mode_from_inferenceservice_config(tmp_path, capsys, cli_env):
    s = KubeApiServer(str(tmp_path / "cfg-default"), run_controllers=False).start()
    try:
        s.load_fixture(fixture_docs("config-default-standard"))
        check_cli(s, capsys, "config-default-standard")
        code, out, _ = run(s, capsys, "config-default-standard", "isvc", "--json")
        assert json.loads(out)["items"][0]["deploymentModeSource"] == "inferenceservice-config"
    finally:
        s.stop()


# -- kubectl: KServe's printer columns --------------------------------------------------------------
def kubectl_rows(srv, ns: str, *extra) -> list[dict[str, str]]:
    """`kubectl get isvc` parsed by header positions ('' for empty cells and <none>)."""
    lines = kubectl(srv, "get", "isvc", "-n", ns, *extra).stdout.rstrip("\n").splitlines()
    head = lines[0]
    names = head.split()
    starts = [head.index(n) if i == 0 else head.index(" " + n, 0) + 1 for i, n in enumerate(names)]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append({n: ("" if c == "<none>" else c) for n, c in zip(names, cells, strict=True)})
    return rows


@pytest.mark.parametrize("fixture", NO_CONFIG)
def test_get_isvc_columns_are_kserve_printer_columns(srv, fixture):
    cols = CRD["spec"]["versions"][0]["additionalPrinterColumns"]
    server_side = kubectl_rows(srv, fixture)
    # the same JSONPaths evaluated by kubectl itself (client side) on the same objects
    spec = ",".join(f"{c['name'].upper()}:{{{c['jsonPath']}}}" for c in cols if c["type"] != "date")
    client_side = kubectl_rows(srv, fixture, "-o", f"custom-columns=NAME:.metadata.name,{spec}")
    assert len(server_side) == len(client_side) == 1
    assert list(server_side[0]) == ["NAME"] + [c["name"].upper() for c in cols]
    for c in cols:
        if c["type"] != "date":
            # kubectl's custom-columns prints every match; the API server's table convertor the first
            assert server_side[0][c["name"].upper()] == client_side[0][c["name"].upper()].split(",")[0], c
    row = MEANINGS[fixture].row
    if row is not None:  # the row the docs print
        got = server_side[0]
        assert (got["READY"], got["PREV"], got["LATEST"], got["PREVROLLEDOUTREVISION"],
                got["LATESTREADYREVISION"]) == row


# -- kubectl auth can-i -------------------------------------------------------------------------------
def test_auth_can_i_answers_from_rbac(srv):
    yes = kubectl(srv, "auth", "can-i", "patch", "inferenceservices", "-n", "canary-split-10")
    assert yes.stdout.strip() == "yes"
    no = kubectl(srv, "auth", "can-i", "patch", "inferenceservices", "-n", "canary-split-10", context=VIEWER,
                 check=False)
    assert no.returncode == 1 and no.stdout.strip() == "no"
    assert kubectl(srv, "auth", "can-i", "get", "isvc", "-n", "canary-split-10", context=VIEWER).stdout.strip() == "yes"
    sec = kubectl(srv, "auth", "can-i", "get", "secrets", context=VIEWER, check=False)
    assert sec.returncode == 1 and sec.stdout.strip() == "no"


# -- status subresource, version priority ------------------------------------------------------------------
def test_status_is_a_subresource(srv):
    ns = "status-sub"
    kubectl(srv, "create", "namespace", ns)
    obj = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "s", "namespace": ns},
           "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/1"}}},
           "status": {"url": "http://forged", "conditions": [{"type": "Ready", "status": "True"}]}}
    kubectl(srv, "create", "-f", "-", stdin=json.dumps(obj))
    get = lambda: json.loads(kubectl(srv, "get", "isvc", "s", "-n", ns, "-o", "json").stdout)  # noqa: E731
    assert "status" not in get()  # status sent on create is ignored
    kubectl(srv, "replace", "--subresource=status", "-f", "-", stdin=json.dumps({**get(), "status": obj["status"]}))
    assert get()["status"]["url"] == "http://forged"
    kubectl(srv, "patch", "isvc", "s", "-n", ns, "--type=merge",
            "-p", json.dumps({"spec": {"predictor": {"minReplicas": 2}}, "status": {"url": "http://main"}}))
    cur = get()
    assert cur["spec"]["predictor"]["minReplicas"] == 2 and cur["status"]["url"] == "http://forged"
    kubectl(srv, "patch", "isvc", "s", "-n", ns, "--subresource=status", "--type=merge",
            "-p", json.dumps({"spec": {"predictor": {"minReplicas": 5}}, "status": {"url": "http://status"}}))
    cur = get()
    assert cur["spec"]["predictor"]["minReplicas"] == 2 and cur["status"]["url"] == "http://status"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": ns},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c",
                                                                                               "image": "x"}]}}},
           "status": {"readyReplicas": 9}}
    kubectl(srv, "create", "-f", "-", stdin=json.dumps(dep))
    assert "readyReplicas" not in (json.loads(kubectl(srv, "get", "deploy", "d", "-n", ns, "-o", "json").stdout)
                                   .get("status") or {})


def test_preferred_version_follows_kubernetes_priority_and_crd_columns(srv):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.mlopstui.dev"},
           "spec": {"group": "example.mlopstui.dev", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": v, "served": True, "storage": v == "v1beta1",
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}},
                                  "additionalPrinterColumns": [
                                      {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                      {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}]}
                                 for v in ("v1alpha1", "v1beta1", "v1")]}}
    kubectl(srv, "apply", "-f", "-", stdin=json.dumps(crd))
    group = json.loads(kubectl(srv, "get", "--raw", "/apis/example.mlopstui.dev").stdout)
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1", "v1alpha1"]
    listed = next(g for g in json.loads(kubectl(srv, "get", "--raw", "/apis").stdout)["groups"]
                  if g["name"] == "example.mlopstui.dev")
    assert listed["preferredVersion"]["version"] == "v1"
    kubectl(srv, "create", "namespace", "widgets")
    kubectl(srv, "create", "-f", "-", stdin=json.dumps({"apiVersion": "example.mlopstui.dev/v1", "kind": "Widget",
                                                        "metadata": {"name": "w", "namespace": "widgets"},
                                                        "spec": {"size": 3}}))
    lines = kubectl(srv, "get", "widgets", "-n", "widgets").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "PHASE"] and lines[1].split() == ["w", "3"]


# -- the InferenceService controller ---------------------------------------------------------------------
def wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not met in {timeout}s: {last!r}")
        time.sleep(0.05)


def test_controller_modelmesh_and_a_new_revision_that_is_not_ready(tmp_path, capsys, cli_env):
    from mlopstui.backends.kube import INFERENCESERVICES, NAMESPACES, KubeClient

    s = KubeApiServer(str(tmp_path / "ctl"), run_controllers=True).start()
    try:
        k = KubeClient.from_settings(s.kubeconfig_path, ADMIN, "ml")
        k.create(NAMESPACES, {"metadata": {"name": "ml"}})
        pred = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/m/1"}}
        k.create(INFERENCESERVICES, {"metadata": {"name": "mesh", "annotations": {
            "serving.kserve.io/deploymentMode": "ModelMesh"}}, "spec": {"predictor": pred}}, "ml")
        k.create(INFERENCESERVICES, {"metadata": {"name": "m"}, "spec": {"predictor": pred}}, "ml")
        rt = s.registry.get("serving.kserve.io", "v1beta1", "inferenceservices")
        get = lambda n: s.store.get(rt, "ml", n)  # noqa: E731
        comp = lambda n: ((get(n).get("status") or {}).get("components") or {}).get("predictor") or {}  # noqa: E731
        wait_for(lambda: get("mesh").get("status"))
        mesh = get("mesh")["status"]
        assert mesh["url"].startswith("grpc://modelmesh-serving.") and "traffic" not in mesh["components"]["predictor"]
        assert "observedGeneration" not in mesh and "deploymentMode" not in mesh
        rev_rt = s.registry.get("serving.knative.dev", "v1", "revisions")
        deploy_rt = s.registry.get("apps", "v1", "deployments")
        owned = lambda o: any(r.get("name") == "mesh" for r in o["metadata"].get("ownerReferences") or [])  # noqa: E731
        wait_for(lambda: comp("m").get("latestRolledoutRevision"))
        assert not [o for o in s.store.list(rev_rt, "ml")[0] if o["metadata"]["name"].startswith("mesh")]
        assert not [o for o in s.store.list(deploy_rt, "ml")[0] if owned(o)]
        # issue point 1 reproduced: a new model with a 10 % canary whose revision never becomes ready
        k.merge_patch(INFERENCESERVICES, "m", {
            "metadata": {"annotations": {"sandbox.mlopstui.dev/fault": "revision-not-ready"}},
            "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "s3://models/m/2"}}}}, "ml")
        c = wait_for(lambda: comp("m").get("latestCreatedRevision") == "m-predictor-00002" and comp("m"))
        assert c["latestReadyRevision"] == "m-predictor-00001"
        assert {(t["revisionName"], t["percent"]) for t in c["traffic"]} == {("m-predictor-00001", 10),
                                                                              ("m-predictor-00001", 90)}
        ready = {x["type"]: x["status"] for x in get("m")["status"]["conditions"]}["Ready"]
        assert ready == "Unknown"
        code, out, err = run(s, capsys, "ml", "canary", "m", "10", "--yes", "--wait", "2")
        assert code == 1 and "rolling out: m-predictor-00002 not ready" in out + err
        code, out, _ = run(s, capsys, "ml", "isvc", "m", "--json")
        doc = json.loads(out)
        assert doc["canaryShare"] == 0 and doc["readyState"] == "Unknown"
        assert doc["stableStorageUri"] == "s3://models/m/1"
        # the fault goes away: 00002 becomes ready and gets its 10 %
        k.merge_patch(INFERENCESERVICES, "m", {"metadata": {"annotations": {"sandbox.mlopstui.dev/fault": None}}},
                      "ml")
        wait_for(lambda: comp("m").get("latestReadyRevision") == "m-predictor-00002")
        code, out, _ = run(s, capsys, "ml", "isvc", "m", "--json")
        doc = json.loads(out)
        assert doc["canaryShare"] == 10 and doc["converged"]["done"] and doc["readyState"] == "True"
        k.close()
    finally:
        s.stop()

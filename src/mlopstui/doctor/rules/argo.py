"""Argo Workflows: the S3 artifact repository (workflow-controller-configmap `artifactRepository`, a
namespace's `artifact-repositories`), the controller's health, workflows stuck on pods that cannot start.

Argo picks a workflow's repository from `spec.artifactRepositoryRef`, else the namespace's
`artifact-repositories` ConfigMap (the key its `workflows.argoproj.io/default-artifact-repository`
annotation names, else the first), else the controller's default; the S3 `endpoint` is host:port and
Argo speaks TLS to it unless `insecure: true`; the credential Secrets are read in the workflow's
namespace (argo-workflows docs: configure-artifact-repository.md, artifact-repository-ref.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from mlopstui.doctor.finding import Finding, Severity
from mlopstui.doctor.registry import rule
from mlopstui.doctor.snapshot import Snapshot, ref
from mlopstui.doctor.util import cluster_host, namespaces_in, pod_bearers
from mlopstui.models.stack import containers_of

A_DEFAULT_REPO = "workflows.argoproj.io/default-artifact-repository"
ARGO_KINDS = ("Workflow", "WorkflowTemplate", "CronWorkflow", "ClusterWorkflowTemplate")


def _repos(snap: Snapshot) -> Iterator[tuple[dict, str, dict]]:
    """(ConfigMap, key, parsed repository) for every artifact repository the snapshot holds."""
    for cm in snap.of("ConfigMap"):
        meta = cm.get("metadata") or {}
        data = cm.get("data") or {}
        if meta.get("name") == "workflow-controller-configmap" and data.get("artifactRepository"):
            keys = ["artifactRepository"]
        elif meta.get("name") == "artifact-repositories":
            keys = list(data)
        else:
            continue
        for key in keys:
            try:
                repo = yaml.safe_load(data[key]) or {}
            except yaml.YAMLError:
                continue
            if isinstance(repo, dict) and isinstance(repo.get("s3"), dict):
                yield cm, key, repo


def _where(cm: dict, key: str) -> str:
    return f"{ref(cm)} ({key})"


def _secret(snap: Snapshot, ns: str, name: str) -> dict | None:
    """The stub the cluster reader left for a referenced Secret (`exists`, `dataKeys`; never values);
    None when it was not looked up."""
    for s in snap.of("Secret"):
        m = s.get("metadata") or {}
        if m.get("namespace") == ns and m.get("name") == name:
            return s
    return None


def _store_hosts(snap: Snapshot) -> set[tuple[str, str]]:
    """(service, namespace) of the object store the catalog found."""
    out = set()
    for w in snap.workloads_of("s3"):
        for svc in snap.services_selecting(w):
            m = svc.get("metadata") or {}
            out.add((m.get("name", ""), m.get("namespace", "")))
    return out


def _http_endpoints(snap: Snapshot) -> set[str]:
    """host:port of S3 endpoints other clients reach over plain http (MLFLOW_S3_ENDPOINT_URL, AWS_ENDPOINT_URL*)."""
    out = set()
    for obj in pod_bearers(snap, watched_only=False):
        for c in containers_of(obj):
            for e in c.get("env") or []:
                if e.get("name") in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3") \
                        and str(e.get("value") or "").startswith("http://"):
                    out.add(str(e["value"])[len("http://"):].rstrip("/"))
    return out


def _users(snap: Snapshot, cm: dict) -> list[str]:
    """Namespaces whose workflows use this repository (a namespace's own, or the controller's default)."""
    meta = cm.get("metadata") or {}
    if meta.get("name") == "artifact-repositories":
        return [meta.get("namespace", "")]
    own = {(c.get("metadata") or {}).get("namespace") for c in snap.of("ConfigMap")
           if (c.get("metadata") or {}).get("name") == "artifact-repositories"}
    return sorted({(o.get("metadata") or {}).get("namespace", "") for o in snap.of(*ARGO_KINDS)} - own - {""})


@rule("argo-artifact-repo-endpoint", "argo", "Argo artifact repository S3 endpoint")
def artifact_repo_endpoint(snap: Snapshot) -> Iterator[Finding]:
    known_ns = namespaces_in(snap)
    stores = _store_hosts(snap)
    for cm, key, repo in _repos(snap):
        s3 = repo["s3"]
        endpoint = str(s3.get("endpoint") or "")
        ns = (cm.get("metadata") or {}).get("namespace", "")
        host = endpoint.rsplit(":", 1)[0] if ":" in endpoint else endpoint
        if not endpoint:
            yield Finding("argo-artifact-repo-endpoint", Severity.ERROR, "argo",
                          f"{_where(cm, key)}: S3 artifact repository without an endpoint", (ref(cm),),
                          f"s3.bucket={s3.get('bucket')} and no s3.endpoint",
                          "Without an endpoint Argo uploads artifacts and logs to AWS S3 "
                          "(s3.amazonaws.com): on a private cluster every step that saves an output fails.",
                          f"Set s3.endpoint to the object store's Service, e.g. "
                          f"{_suggest(stores)} (host:port, no scheme).")
            continue
        svc = cluster_host(host, ns, known_ns)
        if svc is None:
            continue
        if snap.service(*svc) is None:
            yield Finding("argo-artifact-repo-endpoint", Severity.ERROR, "argo",
                          f"{_where(cm, key)}: S3 endpoint {endpoint} is not a Service in the cluster",
                          (ref(cm),), f"s3.endpoint={endpoint}: no Service {svc[0]} in namespace {svc[1]}",
                          "Every artifact upload and download of a workflow (outputs, inputs, archived logs) "
                          "fails with a DNS error: steps that pass artifacts cannot run.",
                          f"Point s3.endpoint at the object store's Service: {_suggest(stores)}.")
        elif stores and svc not in stores:
            yield Finding("argo-artifact-repo-not-object-store", Severity.WARNING, "argo",
                          f"{_where(cm, key)}: S3 endpoint {endpoint} is not the object store the stack uses",
                          (ref(cm),), f"s3.endpoint={endpoint}; the object store found: "
                                      f"{', '.join(f'{a}.{b}' for a, b in sorted(stores))}",
                          "Pipeline artifacts land in another store than MLflow's models and the serving "
                          "layer's storageUris; a LakeFS gateway or a second MinIO may be intended, check it.",
                          f"If not intended, set s3.endpoint to {_suggest(stores)}.")


def _suggest(stores: set[tuple[str, str]]) -> str:
    if not stores:
        return "<s3-service>.<namespace>.svc.cluster.local:9000"
    name, ns = sorted(stores)[0]
    return f"{name}.{ns}.svc.cluster.local:9000"


@rule("argo-artifact-repo-insecure", "argo", "Argo artifact repository: plain http without insecure")
def artifact_repo_insecure(snap: Snapshot) -> Iterator[Finding]:
    http = _http_endpoints(snap)
    for cm, key, repo in _repos(snap):
        s3 = repo["s3"]
        endpoint = str(s3.get("endpoint") or "")
        if endpoint and endpoint in http and s3.get("insecure") is not True:
            yield Finding("argo-artifact-repo-insecure", Severity.ERROR, "argo",
                          f"{_where(cm, key)}: {endpoint} speaks plain http but insecure is not true",
                          (ref(cm),), f"s3.endpoint={endpoint}, s3.insecure={s3.get('insecure', 'unset')}; "
                                      f"other clients use http://{endpoint}",
                          "Argo connects to an S3 endpoint with TLS unless `insecure: true`: against a plain "
                          "http MinIO every artifact upload fails (\"server gave HTTP response to HTTPS client\").",
                          f"Add `insecure: true` under s3 in {_where(cm, key)} (or serve the store over TLS).")


@rule("argo-artifact-repo-secret", "argo", "Argo artifact repository credentials Secret")
def artifact_repo_secret(snap: Snapshot) -> Iterator[Finding]:
    for cm, key, repo in _repos(snap):
        s3 = repo["s3"]
        if s3.get("useSDKCreds"):
            continue
        for field in ("accessKeySecret", "secretKeySecret"):
            sel = s3.get(field) or {}
            name, skey = sel.get("name"), sel.get("key")
            if not name:
                continue
            for ns in _users(snap, cm):
                stub = _secret(snap, ns, name)
                if stub is None:
                    continue
                if stub.get("exists") is False:
                    yield Finding("argo-artifact-repo-secret", Severity.ERROR, "argo",
                                  f"{_where(cm, key)}: credentials Secret {name} does not exist in {ns}",
                                  (ref(cm),), f"s3.{field}: {{name: {name}, key: {skey}}}; no Secret {ns}/{name}",
                                  "Argo reads the artifact repository's credentials in the workflow's namespace: "
                                  "without the Secret every step that saves or loads an artifact fails.",
                                  f"Create Secret {name} in {ns} with key {skey}, or point s3.{field} at the "
                                  f"object store's credentials Secret there.")
                elif skey and stub.get("dataKeys") is not None and skey not in stub["dataKeys"]:
                    keys = ", ".join(stub["dataKeys"]) or "none"
                    yield Finding("argo-artifact-repo-secret", Severity.ERROR, "argo",
                                  f"{_where(cm, key)}: Secret {ns}/{name} has no key {skey}", (ref(cm),),
                                  f"s3.{field}.key={skey}; the Secret's keys: {keys}",
                                  "The step's executor cannot read the credential: artifact steps fail.",
                                  f"Use one of the Secret's keys ({keys}) in s3.{field}.key.")


@rule("argo-controller", "argo", "Argo workflow-controller health")
def controller_health(snap: Snapshot) -> Iterator[Finding]:
    wfs = [w for w in snap.of("Workflow") if ((w.get("status") or {}).get("phase") or "") not in
           ("Succeeded", "Failed", "Error")]
    controllers = [w for w in snap.of("Deployment") if (w.get("metadata") or {}).get("name") == "workflow-controller"
                   or ((w.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).get("app")
                   == "workflow-controller"]
    if wfs and not controllers:
        yield Finding("argo-controller", Severity.WARNING, "argo",
                      f"{len(wfs)} unfinished workflow(s) but no workflow-controller found",
                      tuple(ref(w) for w in wfs[:5]), "no Deployment workflow-controller in the namespaces read",
                      "Without the controller nothing runs a Workflow: it stays without status or Pending.",
                      "Install Argo Workflows' controller, or add its namespace to the namespaces mlopstui reads.")
    for d in controllers:
        want = int((d.get("spec") or {}).get("replicas", 1) or 0)
        ready = int((d.get("status") or {}).get("readyReplicas") or 0)
        if want == 0 or ready < 1:
            stuck = [w for w in wfs if (w.get("metadata") or {}).get("namespace")]
            yield Finding("argo-controller", Severity.ERROR, "argo",
                          f"{ref(d)}: workflow-controller not ready ({ready}/{want})", (ref(d),),
                          f"readyReplicas {ready} of {want}; {len(stuck)} unfinished workflow(s)",
                          "No workflow makes progress while the controller is down: new ones stay without "
                          "status, running ones do not start their next steps.",
                          f"Check the controller's pods and logs (kubectl -n {(d.get('metadata') or {}).get('namespace')}"
                          f" logs deploy/workflow-controller); scale it to 1 if it is at 0.")


def _pod_problem(pod: Mapping[str, Any]) -> str | None:
    st = pod.get("status") or {}
    if st.get("phase") != "Pending":
        return None
    for c in st.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return f"unschedulable: {c.get('message') or c.get('reason') or 'no node fits'}"
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        w = (cs.get("state") or {}).get("waiting") or {}
        if w.get("reason") in ("CreateContainerConfigError", "ImagePullBackOff", "ErrImagePull",
                               "CreateContainerError", "InvalidImageName"):
            return f"{w['reason']}: {w.get('message') or ''}".rstrip(": ")
    return None


@rule("argo-workflow-stuck-pending", "argo", "Workflows stuck on pods that cannot start")
def workflow_stuck_pending(snap: Snapshot) -> Iterator[Finding]:
    pods: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in snap.of("Pod"):
        m = p.get("metadata") or {}
        wf = (m.get("labels") or {}).get("workflows.argoproj.io/workflow")
        if wf:
            pods.setdefault((m.get("namespace", ""), wf), []).append(p)
    for w in snap.of("Workflow"):
        m = w.get("metadata") or {}
        if ((w.get("status") or {}).get("phase") or "") in ("Succeeded", "Failed", "Error") or not snap.watched(w):
            continue
        for p in pods.get((m.get("namespace", ""), m.get("name", "")), []):
            problem = _pod_problem(p)
            if problem:
                pm = p.get("metadata") or {}
                yield Finding("argo-workflow-stuck-pending", Severity.ERROR, "argo",
                              f"{ref(w)}: step pod {pm.get('name')} cannot start ({problem.split(':')[0]})",
                              (ref(w), ref(p)), problem,
                              "The workflow waits on this pod and makes no progress; Argo does not time it out "
                              "unless activeDeadlineSeconds is set.",
                              "Unschedulable: lower the template's resource requests or add capacity; a missing "
                              "Secret/ConfigMap: create it in the workflow's namespace; an image error: fix the "
                              "image reference or pull secret. Then the pod starts by itself.")
                break

"""Load a trimmed upstream install (tests/fixtures/upstream/installs/*.yaml) into an in-process Kubernetes API
emulator, in the state a healthy cluster shows once the install has settled: workloads report their replicas
ready, one Pod per workload runs with its init containers completed, Jobs completed, operator CRs ready.

The status written here is what the kubelet and the controllers would write; the objects themselves are the
upstream facts, unchanged. Plants (misconfigurations) edit the objects before they are loaded.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

INSTALLS = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "installs"

# custom resources the emulator does not know by itself: (group, version, kind, plural)
CRDS = {("minio.min.io", "Tenant"): ("v2", "tenants")}


def load_docs(*names: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        with open(INSTALLS / f"{name}.yaml", encoding="utf-8") as fh:
            out.extend(d for d in yaml.safe_load_all(fh) if d)
    return out


def header(name: str) -> dict[str, str]:
    """The fixture's header fields (repository, path, commit, render)."""
    out: dict[str, str] = {}
    for line in (INSTALLS / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, val = line[1:].strip().partition(":")
        if sep and key in ("repository", "path", "commit", "render", "upstream install"):
            out[key] = val.strip()
    return out


def _suffix(text: str, n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in hashlib.sha256(text.encode()).digest()[:n])


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def running_pod(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The Pod a settled workload runs: init containers terminated Completed, main containers ready."""
    meta = obj["metadata"]
    kind = obj["kind"]
    ps = copy.deepcopy(_pod_spec(obj))
    labels = dict((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    if kind == "StatefulSet":
        name, owner = f"{meta['name']}-{index}", {"kind": "StatefulSet", "name": meta["name"]}
        labels["statefulset.kubernetes.io/pod-name"] = name
    elif kind == "DaemonSet":
        name, owner = f"{meta['name']}-{_suffix(meta['name'])}", {"kind": "DaemonSet", "name": meta["name"]}
    else:
        rs = f"{meta['name']}-{_suffix(meta['name'], 9)}"
        name, owner = f"{rs}-{_suffix(rs + str(index))}", {"kind": "ReplicaSet", "name": rs}
    owner.update(apiVersion="apps/v1", uid=f"uid-{owner['name']}", controller=True)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels, "ownerReferences": [owner]},
        "spec": {**ps, "nodeName": "sandbox-node"},
        "status": {
            "phase": "Running",
            "initContainerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "ready": True, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                for c in ps.get("initContainers") or []],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "ready": True, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-11-30T10:00:00Z"}}}
                for c in ps.get("containers") or []],
        },
    }


def settle(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects plus the status and Pods a healthy cluster shows for them."""
    out: list[dict[str, Any]] = []
    for d in docs:
        d = copy.deepcopy(d)
        kind = d["kind"]
        spec = d.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            n = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
            d["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n,
                           "observedGeneration": 1}
            out.append(d)
            out.extend(running_pod(d, i) for i in range(min(n, 1)))
            continue
        if kind == "DaemonSet":
            d["status"] = {"desiredNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1}
            out.append(d)
            out.append(running_pod(d))
            continue
        if kind == "Job":
            d["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        elif kind == "Tenant":
            d["status"] = {"currentState": "Initialized", "healthStatus": "green"}
        elif kind == "FeatureStore":
            d["status"] = {"phase": "Ready"}
        out.append(d)
    return out


def _crd(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": version, "served": True, "storage": True,
                                   "subresources": {"status": {}}}]}}


def load_into(srv: Any, objects: Iterable[dict[str, Any]]) -> None:
    """Write the objects into the emulator's store (setup only; the code under test reads over HTTP)."""
    reg, store = srv.registry, srv.store
    objects = list(objects)
    crd_rt = reg.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    for (group, kind), (version, plural) in CRDS.items():
        if any(o["kind"] == kind for o in objects) and reg.get(group, version, plural) is None:
            store.create(crd_rt, "", _crd(group, version, kind, plural))
    ns_rt = reg.get("", "v1", "namespaces")
    for ns in sorted({o["metadata"].get("namespace") for o in objects} - {None}):
        if not store.namespace_exists(ns):
            store.create(ns_rt, "", {"metadata": {"name": ns}})
    for o in objects:
        api = o["apiVersion"]
        rt = reg.by_kind(api, o["kind"])
        if rt is None and o["kind"] == "FeatureStore":  # feast.dev/v1 and v1alpha1 are the same objects
            rt = reg.by_kind("feast.dev/v1alpha1", "FeatureStore")
        if rt is None and api.startswith("networking.istio.io/"):  # v1alpha3/v1beta1 are served as v1 too
            rt = reg.by_kind("networking.istio.io/v1", o["kind"])
        assert rt is not None, f"the emulator does not serve {api} {o['kind']}"
        store.create(rt, o["metadata"].get("namespace", ""), o)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    ps = _pod_spec(obj)
    return next(c for c in (ps.get("initContainers") or []) + (ps.get("containers") or []) if c["name"] == name)


Plant = Callable[[list[dict[str, Any]]], None]

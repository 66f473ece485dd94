"""Controllers playing the cluster's part: workloads → pods, Jobs (real `feast materialize`),
InferenceService revisions and canary traffic, LoadBalancer services, owner garbage collection.

They run in one background thread woken by every store change (and every 0.25 s), and write
through the store like any client, so watches see every step.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback

from . import errors
from .registry import Registry, ResourceType
from .store import Store, now_rfc3339, rand_suffix

FAULT = "sandbox.mlopstui.dev/fault"
LOG_ANNOTATION = "sandbox.mlopstui.dev/log"
URL_ANNOTATION = "sandbox.mlopstui.dev/url"
# where KServe records the model a Revision serves (pkg/constants StorageInitializerSourceUriInternalAnnotationKey)
STORAGE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
PREDICTOR_SPEC_ANNOTATION = "sandbox.mlopstui.dev/predictor-spec"
PREDICTOR_HASH_ANNOTATION = "sandbox.mlopstui.dev/predictor-hash"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
NODE = "sandbox-node"
ISVC_DELAY = 0.6  # seconds between an InferenceService write and its status update
JOB_RUN_SECONDS = 1.0
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def short_hash(obj, n: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:n])


def owner_ref(rt: ResourceType, obj: dict) -> dict:
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid for r in (obj.get("metadata") or {}).get("ownerReferences") or [])


def fault_of(*objs: dict | None) -> str:
    for o in objs:
        if o:
            f = ((o.get("metadata") or {}).get("annotations") or {}).get(FAULT)
            if f:
                return f
    return ""


def _cond(ctype: str, status: bool | str, reason: str = "", message: str = "", old: list | None = None,
          **extra) -> dict:
    st = status if isinstance(status, str) else ("True" if status else "False")
    prev = next((c for c in old or [] if c.get("type") == ctype), None)
    ts = prev["lastTransitionTime"] if prev and prev.get("status") == st and prev.get(
        "lastTransitionTime") else now_rfc3339()
    c = {"type": ctype, "status": st, "lastTransitionTime": ts}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    c.update(extra)
    return c


def storage_uri_of(predictor: dict) -> str:
    if predictor.get("storageUri"):
        return predictor["storageUri"]
    for v in predictor.values():
        if isinstance(v, dict) and v.get("storageUri"):
            return v["storageUri"]
    for c in predictor.get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == "STORAGE_URI" and e.get("value"):
                return e["value"]
    return ""


def image_of(predictor: dict) -> str:
    model = predictor.get("model") or {}
    fmt = ((model.get("modelFormat") or {}).get("name") or "").lower()
    if model.get("runtime"):
        return f"kserve/{model['runtime']}:sandbox"
    if fmt:
        return f"kserve/{fmt}server:v0.16.0"
    for c in predictor.get("containers") or []:
        if c.get("image"):
            return c["image"]
    for k, v in predictor.items():
        if isinstance(v, dict) and "storageUri" in v:
            return f"kserve/{k}server:v0.16.0"
    return "kserve/custom:sandbox"


class ControllerManager:
    def __init__(self, store: Store, registry: Registry, feast_repo: str | None = None) -> None:
        self.store = store
        self.registry = registry
        self.feast_repo = feast_repo
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs_running: set[str] = set()
        self._jobs_lock = threading.Lock()
        self._isvc_seen: dict[tuple[str, int], float] = {}
        self._gc_needed = True
        g = registry.get
        self.NS, self.POD, self.EVENT = g("", "v1", "namespaces"), g("", "v1", "pods"), g("", "v1", "events")
        self.SVC = g("", "v1", "services")
        self.DEPLOY, self.RS = g("apps", "v1", "deployments"), g("apps", "v1", "replicasets")
        self.STS, self.DS = g("apps", "v1", "statefulsets"), g("apps", "v1", "daemonsets")
        self.JOB, self.CJ = g("batch", "v1", "jobs"), g("batch", "v1", "cronjobs")
        self.ISVC = g("serving.kserve.io", "v1beta1", "inferenceservices")
        self.REV = g("serving.knative.dev", "v1", "revisions")
        from .argo import ArgoController

        self.argo = ArgoController(self)

    # ---- loop -------------------------------------------------------------------------------
    def start(self) -> None:
        self.store.listeners.append(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="kubeapi-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.argo.stop()
        self._stop.set()
        self._wake.set()
        if self._on_event in self.store.listeners:
            self.store.listeners.remove(self._on_event)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _on_event(self, ev) -> None:
        if ev.type == "DELETED":
            self._gc_needed = True
        if ev.key != ("", "events"):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.25)
            self._wake.clear()
            try:
                self.reconcile_all()
            except Exception:  # noqa: BLE001 - a controller bug must not kill the loop
                traceback.print_exc()

    def reconcile_all(self) -> None:
        if self._gc_needed:
            self._gc_needed = False
            self.garbage_collect()
        for isvc in self._list(self.ISVC):
            self._guard(self.reconcile_isvc, isvc)
        for d in self._list(self.DEPLOY):
            self._guard(self.reconcile_deployment, d)
        for kind_rt in (self.RS, self.STS, self.DS):
            for w in self._list(kind_rt):
                self._guard(self.reconcile_replicas, kind_rt, w)
        for d in self._list(self.DEPLOY):
            self._guard(self.deployment_status, d)
        for j in self._list(self.JOB):
            self._guard(self.reconcile_job, j)
        for p in self._list(self.POD):
            if not (p["metadata"].get("ownerReferences")) and (p.get("status") or {}).get("phase") == "Pending":
                self._guard(self.start_standalone_pod, p)
        for s in self._list(self.SVC):
            self._guard(self.reconcile_service, s)
        self.argo.reconcile_all()

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except errors.ApiError as e:
            if e.code not in (404, 409):
                traceback.print_exc()

    # ---- store helpers ----------------------------------------------------------------------
    def _list(self, rt: ResourceType, ns: str | None = None, match=None) -> list[dict]:
        return self.store.list(rt, ns, match)[0]

    def _owned(self, rt: ResourceType, owner: dict) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return self._list(rt, owner["metadata"].get("namespace"), lambda o: owned_by(o, uid))

    def _set_status(self, rt: ResourceType, obj: dict, status: dict) -> dict:
        if obj.get("status") == status:
            return obj
        new = copy.deepcopy(obj)
        new["status"] = status
        return self.store.update(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], new,
                                 subresource="status")

    def _mutate_status(self, rt: ResourceType, ns: str, name: str, fn) -> dict | None:
        for _ in range(20):
            obj = self.store.try_get(rt, ns, name)
            if obj is None:
                return None
            status = copy.deepcopy(obj.get("status") or {})
            fn(status)
            try:
                return self._set_status(rt, obj, status)
            except errors.ApiError as e:
                if e.code != 409:
                    raise
        return None

    def event(self, obj: dict, rt: ResourceType, reason: str, message: str, etype: str = "Normal",
              component: str = "kubelet") -> None:
        meta = obj["metadata"]
        ts = now_rfc3339()
        try:
            self.store.create(self.EVENT, meta.get("namespace") or "default", {
                "metadata": {"name": f"{meta['name']}.{rand_suffix(12)}"},
                "involvedObject": {"apiVersion": rt.api_version, "kind": rt.kind, "name": meta["name"],
                                   "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
                                   "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message, "type": etype, "count": 1,
                "source": {"component": component, "host": NODE} if component == "kubelet" else
                {"component": component},
                "firstTimestamp": ts, "lastTimestamp": ts, "reportingComponent": component,
                "reportingInstance": NODE if component == "kubelet" else "",
            })
        except errors.ApiError:
            pass

    # ---- pods -------------------------------------------------------------------------------
    def pod_status(self, pod: dict, fault: str, phase: str = "Running") -> dict:
        old = pod.get("status") or {}
        if fault == "pending":  # no node fits: never scheduled, so never ready
            conds = old.get("conditions")
            return {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                _cond("PodScheduled", False, "Unschedulable",
                      "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: "
                      "1 No preemption victims found for incoming pod.", old=conds)]}
        start = old.get("startTime") or now_rfc3339()
        uid = pod["metadata"].get("uid", "")
        ip_n = int(hashlib.sha1(uid.encode()).hexdigest()[:4], 16)
        statuses = []
        bad = fault in ("crashloop", "oomkilled")
        for i, c in enumerate((pod.get("spec") or {}).get("containers") or []):
            cs = {"name": c.get("name", f"c{i}"), "image": c.get("image", ""),
                  "imageID": f"docker.io/{c.get('image', '')}@sha256:{short_hash(c.get('image', ''), 16)}",
                  "containerID": f"containerd://{hashlib.sha1((uid + str(i)).encode()).hexdigest()}",
                  "started": True, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": start}}}
            if bad and i == 0:
                term = ({"exitCode": 137, "reason": "OOMKilled"} if fault == "oomkilled"
                        else {"exitCode": 1, "reason": "Error"})
                term.update(startedAt=start, finishedAt=start, containerID=cs["containerID"])
                cs.update(started=False, ready=False, restartCount=5, lastState={"terminated": term},
                          state={"waiting": {"reason": "CrashLoopBackOff",
                                             "message": f"back-off 5m0s restarting failed container={cs['name']} "
                                                        f"pod={pod['metadata']['name']}_"
                                                        f"{pod['metadata'].get('namespace', '')}({uid})"}})
            statuses.append(cs)
        ready = not bad
        conds = old.get("conditions")
        status = {"phase": phase, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                  "podIP": f"10.244.{ip_n % 250}.{ip_n // 250 % 250 + 2}", "startTime": start,
                  "qosClass": "BestEffort",
                  "conditions": [
                      _cond("PodReadyToStartContainers", True, old=conds),
                      _cond("Initialized", True, old=conds),
                      _cond("Ready", ready, "" if ready else "ContainersNotReady",
                            "" if ready else f"containers with unready status: [{statuses[0]['name']}]"
                            if statuses else "", old=conds),
                      _cond("ContainersReady", ready, "" if ready else "ContainersNotReady", old=conds),
                      _cond("PodScheduled", True, old=conds)],
                  "containerStatuses": statuses}
        status["podIPs"] = [{"ip": status["podIP"]}]
        return status

    def _pod_log_text(self, pod: dict, fault: str) -> str:
        ann = (pod["metadata"].get("annotations") or {}).get(LOG_ANNOTATION)
        if ann:
            return ann if ann.endswith("\n") else ann + "\n"
        ts = now_rfc3339()
        lines = []
        for c in (pod.get("spec") or {}).get("containers") or []:
            lines.append(f"{ts} INFO starting {c.get('name')} (image {c.get('image')})")
            for e in c.get("env") or []:
                if e.get("name") == "STORAGE_URI" and e.get("value"):
                    lines.append(f"{ts} INFO downloading model from {e['value']}")
        if fault == "crashloop":
            lines.append(f"{ts} ERROR fatal error during startup; exiting with code 1")
        elif fault == "oomkilled":
            lines.append(f"{ts} INFO loading model into memory ...")
            lines.append("Killed")
        else:
            lines.append(f"{ts} INFO ready")
        return "\n".join(lines) + "\n"

    def set_pod_logs(self, pod: dict, fault: str) -> None:
        """The pod's log, and for a container that restarted (crashloop, oomkilled: the first container, with
        restartCount 5) the log of its previous, terminated instance, read with `?previous=true`."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.store.set_log(ns, name, self._pod_log_text(pod, fault))
        containers = (pod.get("spec") or {}).get("containers") or []
        if fault in ("crashloop", "oomkilled") and containers:
            c0 = containers[0]
            ts = now_rfc3339()
            end = ("Killed" if fault == "oomkilled" else f"{ts} ERROR fatal error during startup; exiting with code 1")
            self.store.set_log(ns, f"{name}/{c0.get('name')}@previous",
                               f"{ts} INFO starting {c0.get('name')} (image {c0.get('image')}; restart 4 of 5)\n"
                               f"{ts} INFO loading configuration\n{end}\n")

    def create_pod(self, owner_rt: ResourceType, owner: dict, template: dict, name: str,
                   extra_labels: dict, fault: str, phase: str = "Running") -> dict:
        tmeta = template.get("metadata") or {}
        pod = {"metadata": {"name": name, "labels": {**(tmeta.get("labels") or {}), **extra_labels},
                            "ownerReferences": [owner_ref(owner_rt, owner)]},
               "spec": {**copy.deepcopy(template.get("spec") or {}), "nodeName": NODE}}
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = dict(tmeta["annotations"])
        spec = pod["spec"]
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("schedulerName", "default-scheduler")
        created = self.store.create(self.POD, owner["metadata"]["namespace"], pod)
        ns = owner["metadata"]["namespace"]
        self.event(created, self.POD, "Scheduled", f"Successfully assigned {ns}/{name} to {NODE}",
                   component="default-scheduler")
        for c in spec.get("containers") or []:
            self.event(created, self.POD, "Pulled", f'Container image "{c.get("image")}" already present on machine')
            self.event(created, self.POD, "Created", f"Created container: {c.get('name')}")
            self.event(created, self.POD, "Started", f"Started container {c.get('name')}")
        if fault in ("crashloop", "oomkilled"):
            c0 = (spec.get("containers") or [{}])[0].get("name", "")
            self.event(created, self.POD, "BackOff", f"Back-off restarting failed container {c0} in pod "
                       f"{name}_{ns}({created['metadata']['uid']})", "Warning")
        if phase == "Running":
            self.set_pod_logs(created, fault)
            created = self._set_status(self.POD, created, self.pod_status(created, fault))
        else:
            created = self._set_status(self.POD, created, {"phase": phase})
        return created

    def start_standalone_pod(self, pod: dict) -> None:
        fault = fault_of(pod)
        self.set_pod_logs(pod, fault)
        self._set_status(self.POD, pod, self.pod_status(pod, fault))

    # ---- workloads --------------------------------------------------------------------------
    def reconcile_deployment(self, d: dict) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        h = short_hash(template)
        desired = int(spec.get("replicas", 1))
        fault = fault_of(d)
        rss = self._owned(self.RS, d)
        current_name = f"{name}-{h}"
        current = next((r for r in rss if r["metadata"]["name"] == current_name), None)
        tlabels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": h}
        template.setdefault("metadata", {})["labels"] = tlabels
        sel = copy.deepcopy(spec.get("selector") or {"matchLabels": dict(tlabels)})
        sel.setdefault("matchLabels", {})["pod-template-hash"] = h
        anns = {"deployment.kubernetes.io/revision": str(len(rss) + 1 if current is None else
                                                           (current["metadata"].get("annotations") or {}).get(
                                                               "deployment.kubernetes.io/revision", "1"))}
        if fault:
            anns[FAULT] = fault
        if current is None:
            self.store.create(self.RS, ns, {
                "metadata": {"name": current_name, "labels": tlabels, "annotations": anns,
                             "ownerReferences": [owner_ref(self.DEPLOY, d)]},
                "spec": {"replicas": desired, "selector": sel, "template": template}})
            self.event(d, self.DEPLOY, "ScalingReplicaSet",
                       f"Scaled up replica set {current_name} from 0 to {desired}", component="deployment-controller")
        else:
            want = copy.deepcopy(current)
            want["spec"]["replicas"] = desired
            want["metadata"]["annotations"] = {**(current["metadata"].get("annotations") or {}), **anns}
            if not fault:
                want["metadata"]["annotations"].pop(FAULT, None)
            if want != current:
                self.store.update(self.RS, ns, current_name, want)
        for r in rss:
            if r["metadata"]["name"] != current_name and (r.get("spec") or {}).get("replicas", 1) != 0:
                old = copy.deepcopy(r)
                old["spec"]["replicas"] = 0
                self.store.update(self.RS, ns, r["metadata"]["name"], old)

    def deployment_status(self, d: dict) -> None:
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        h = short_hash(spec.get("template") or {})
        pods, updated = [], 0
        for r in self._owned(self.RS, d):
            owned = self._owned(self.POD, r)
            pods += owned
            if r["metadata"]["name"].endswith(f"-{h}"):
                updated += len(owned)
        ready = sum(1 for p in pods if _pod_ready(p))
        old = (d.get("status") or {}).get("conditions")
        avail = ready >= desired
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": len(pods),
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [
                      _cond("Available", avail, "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                            "Deployment has minimum availability." if avail else
                            "Deployment does not have minimum availability.", old=old),
                      _cond("Progressing", True, "NewReplicaSetAvailable",
                            f'ReplicaSet "{d["metadata"]["name"]}-{h}" has successfully progressed.', old=old)]}
        if ready < len(pods):
            status["unavailableReplicas"] = len(pods) - ready
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if status[k] == 0:
                del status[k]
        self._set_status(self.DEPLOY, d, status)

    def reconcile_replicas(self, rt: ResourceType, w: dict) -> None:
        ns, name = w["metadata"]["namespace"], w["metadata"]["name"]
        spec = w.get("spec") or {}
        template = spec.get("template") or {}
        desired = 1 if rt is self.DS else int(spec.get("replicas", 1))
        fault = fault_of(w, template)
        rev_hash = short_hash(template)
        pods = self._owned(self.POD, w)
        extra = {} if rt is self.RS else {"controller-revision-hash": f"{name}-{rev_hash}"}
        # replace pods of an outdated template (StatefulSet / DaemonSet rolling update)
        if rt is not self.RS:
            for p in list(pods):
                if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != extra[
                        "controller-revision-hash"]:
                    self.store.delete(self.POD, ns, p["metadata"]["name"])
                    pods.remove(p)
        if rt is self.STS:
            names = {p["metadata"]["name"] for p in pods}
            for i in range(desired):
                pn = f"{name}-{i}"
                if pn not in names:
                    pods.append(self.create_pod(rt, w, template, pn, {**extra,
                                                "statefulset.kubernetes.io/pod-name": pn,
                                                "apps.kubernetes.io/pod-index": str(i)}, fault))
            for p in list(pods):
                idx = p["metadata"]["name"].rsplit("-", 1)[-1]
                if not idx.isdigit() or int(idx) >= desired:
                    self.store.delete(self.POD, ns, p["metadata"]["name"])
                    pods.remove(p)
        else:
            while len(pods) < desired:
                pods.append(self.create_pod(rt, w, template, f"{name}-{rand_suffix()}", extra, fault))
            while len(pods) > desired:
                p = pods.pop()
                self.store.delete(self.POD, ns, p["metadata"]["name"])
        # fault annotation changes apply to running pods
        for i, p in enumerate(pods):
            if (p.get("status") or {}).get("phase") in ("Running", "Pending"):
                want = self.pod_status(p, fault)
                if _comparable(want) != _comparable(p.get("status") or {}):
                    pods[i] = self._set_status(self.POD, p, want)
                    self.set_pod_logs(p, fault)
        ready = sum(1 for p in pods if _pod_ready(p))
        gen = w["metadata"].get("generation", 1)
        if rt is self.RS:
            status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                      "availableReplicas": ready, "observedGeneration": gen}
        elif rt is self.STS:
            rev = f"{name}-{rev_hash}"
            status = {"replicas": len(pods), "readyReplicas": ready, "currentReplicas": len(pods),
                      "updatedReplicas": len(pods), "availableReplicas": ready, "currentRevision": rev,
                      "updateRevision": rev, "observedGeneration": gen, "collisionCount": 0}
        else:
            status = {"desiredNumberScheduled": 1, "currentNumberScheduled": len(pods), "numberReady": ready,
                      "numberAvailable": ready, "updatedNumberScheduled": len(pods), "numberMisscheduled": 0,
                      "observedGeneration": gen}
            if ready < 1:
                status["numberUnavailable"] = 1 - ready
        for k in ("readyReplicas", "availableReplicas", "replicas", "fullyLabeledReplicas"):
            if status.get(k) == 0 and rt is not self.DS:
                del status[k]
        self._set_status(rt, w, status)

    # ---- services ---------------------------------------------------------------------------
    def reconcile_service(self, s: dict) -> None:
        if (s.get("spec") or {}).get("type") == "LoadBalancer":
            want = {**(s.get("status") or {}), "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
            self._set_status(self.SVC, s, want)

    # ---- garbage collection -----------------------------------------------------------------
    def garbage_collect(self) -> None:
        everything = []
        for rt in self.registry.all():
            if rt.version != _preferred_version(self.registry, rt):
                continue
            for o in self._list(rt):
                everything.append((rt, o))
        uids = {o["metadata"].get("uid") for _, o in everything}
        for rt, o in everything:
            refs = o["metadata"].get("ownerReferences") or []
            if refs and not any(r.get("uid") in uids for r in refs):
                try:
                    self.store.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                except errors.ApiError:
                    pass
                self._gc_needed = True

    # ---- jobs -------------------------------------------------------------------------------
    def reconcile_job(self, job: dict) -> None:
        st = job.get("status") or {}
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in st.get("conditions") or []):
            return
        if (job.get("spec") or {}).get("suspend"):
            return
        uid = job["metadata"]["uid"]
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        pods = self._owned(self.POD, job)
        if not pods:
            template = (job.get("spec") or {}).get("template") or {}
            labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                      "controller-uid": uid, "job-name": name}
            pod = self.create_pod(self.JOB, job, template, f"{name}-{rand_suffix()}", labels, "")
            self.event(job, self.JOB, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                       component="job-controller")
            start = now_rfc3339()
            self._mutate_status(self.JOB, ns, name, lambda s: s.update(active=1, startTime=s.get("startTime") or start,
                                                                         ready=1, terminating=0))
            self._cronjob_started(job)
            pods = [pod]
        with self._jobs_lock:
            if uid in self._jobs_running:
                return
            self._jobs_running.add(uid)
        threading.Thread(target=self._run_job, args=(job, pods[0]), name=f"job-{name}", daemon=True).start()

    def _job_command(self, pod: dict) -> tuple[list[str], dict]:
        c = ((pod.get("spec") or {}).get("containers") or [{}])[0]
        argv = [str(x) for x in (c.get("command") or [])] + [str(x) for x in (c.get("args") or [])]
        env = {e["name"]: str(e.get("value", "")) for e in c.get("env") or [] if "value" in e and e.get("name")}
        return argv, env

    def _run_job(self, job: dict, pod: dict) -> None:
        ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        uid = job["metadata"]["uid"]
        try:
            argv, env = self._job_command(pod)
            joined = " ".join(argv)
            message = ""
            if "feast" in joined and "materialize" in joined:
                code, message = self._run_feast(ns, pod_name, argv, env)
            else:
                time.sleep(JOB_RUN_SECONDS)
                if fault_of(job) == "fail":
                    self.store.append_log(ns, pod_name, f"{now_rfc3339()} ERROR job failed "
                                                        f"(fault injected by {FAULT})\n")
                    code = 1
                else:
                    self.store.append_log(ns, pod_name, f"{now_rfc3339()} INFO job completed successfully\n")
                    code = 0
            if not self._stop.is_set():
                self._finish_job(job, pod, code, message)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        finally:
            with self._jobs_lock:
                self._jobs_running.discard(uid)

    def _run_feast(self, ns: str, pod_name: str, argv: list[str], env: dict) -> tuple[int, str]:
        if not self.feast_repo:
            msg = (f"sandbox: no Feast repository configured for the API emulator (--feast-repo); "
                   f"cannot run: {' '.join(argv)}")
            self.store.set_log(ns, pod_name, msg + "\n")
            return 1, msg
        bindir = os.path.dirname(sys.executable)
        feast = os.path.join(bindir, "feast")
        argv = list(argv)
        if argv and os.path.basename(argv[0]) == "feast":
            argv[0] = feast
        full_env = {**os.environ, **env}
        full_env["PATH"] = bindir + os.pathsep + full_env.get("PATH", "")
        self.store.set_log(ns, pod_name, "")
        try:
            proc = subprocess.Popen(argv, cwd=self.feast_repo, env=full_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            msg = f"sandbox: cannot start {argv[0]}: {e}"
            self.store.set_log(ns, pod_name, msg + "\n")
            return 1, msg
        assert proc.stdout is not None
        for line in proc.stdout:
            self.store.append_log(ns, pod_name, line)
        code = proc.wait()
        return code, "" if code == 0 else f"command exited with code {code}"

    def _finish_job(self, job: dict, pod: dict, code: int, message: str) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        done = now_rfc3339()
        pst = copy.deepcopy(self.store.try_get(self.POD, ns, pod["metadata"]["name"]) or pod)
        ps = copy.deepcopy(pst.get("status") or {})
        ps["phase"] = "Succeeded" if code == 0 else "Failed"
        for cs in ps.get("containerStatuses") or []:
            started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", done)
            cs.update(ready=False, started=False, state={"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                "finishedAt": done, "containerID": cs.get("containerID", "")}})
        for c in ps.get("conditions") or []:
            if c["type"] in ("Ready", "ContainersReady"):
                c.update(status="False", reason="PodCompleted", lastTransitionTime=done)
        try:
            self._set_status(self.POD, pst, ps)
        except errors.ApiError:
            pass

        def upd(s: dict) -> None:
            s.pop("active", None)
            s["ready"] = 0
            s["terminating"] = 0
            if code == 0:
                s["succeeded"] = 1
                s["completionTime"] = done
                s["conditions"] = [
                    _cond("SuccessCriteriaMet", True, "CompletionsReached", "Reached expected number of succeeded pods",
                          lastProbeTime=done),
                    _cond("Complete", True, "CompletionsReached", "Reached expected number of succeeded pods",
                          lastProbeTime=done)]
            else:
                s["failed"] = 1
                reason = "BackoffLimitExceeded"
                msg = message or "Job has reached the specified backoff limit"
                s["conditions"] = [_cond("FailureTarget", True, reason, msg, lastProbeTime=done),
                                   _cond("Failed", True, reason, msg, lastProbeTime=done)]

        if self._mutate_status(self.JOB, ns, name, upd) is None:
            return
        if code == 0:
            self.event(job, self.JOB, "Completed", "Job completed", component="job-controller")
        else:
            self.event(job, self.JOB, "BackoffLimitExceeded", message or "Job has reached the specified backoff limit",
                       "Warning", component="job-controller")
        self._cronjob_finished(job, code == 0, done)

    def _cron_owner(self, job: dict) -> str | None:
        for r in job["metadata"].get("ownerReferences") or []:
            if r.get("kind") == "CronJob":
                return r.get("name")
        return None

    def _cronjob_started(self, job: dict) -> None:
        cj = self._cron_owner(job)
        if not cj:
            return
        ref = {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
               "namespace": job["metadata"]["namespace"], "uid": job["metadata"]["uid"]}

        def upd(s: dict) -> None:
            s["active"] = [a for a in s.get("active") or [] if a.get("uid") != ref["uid"]] + [ref]
            s["lastScheduleTime"] = job["metadata"].get("creationTimestamp") or now_rfc3339()

        self._mutate_status(self.CJ, job["metadata"]["namespace"], cj, upd)

    def _cronjob_finished(self, job: dict, ok: bool, done: str) -> None:
        cj = self._cron_owner(job)
        if not cj:
            return

        def upd(s: dict) -> None:
            s["active"] = [a for a in s.get("active") or [] if a.get("uid") != job["metadata"]["uid"]]
            if not s["active"]:
                del s["active"]
            if ok:
                s["lastSuccessfulTime"] = done

        self._mutate_status(self.CJ, job["metadata"]["namespace"], cj, upd)

    # ---- InferenceService -------------------------------------------------------------------
    def reconcile_isvc(self, isvc: dict) -> None:
        meta = isvc["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], int(meta.get("generation", 1))
        key = (meta["uid"], gen)
        first = self._isvc_seen.setdefault(key, time.monotonic())
        if time.monotonic() - first < ISVC_DELAY:
            self._wake.set()  # come back soon
            time.sleep(0.05)
            return
        predictor = copy.deepcopy((isvc.get("spec") or {}).get("predictor") or {})
        canary = predictor.pop("canaryTrafficPercent", None)
        annotations = meta.get("annotations") or {}
        mode = str(annotations.get(DEPLOYMENT_MODE) or "")
        fault = fault_of(isvc)
        url = annotations.get(URL_ANNOTATION) or f"http://{name}.{ns}.example.com"
        old = isvc.get("status") or {}
        old_conds = old.get("conditions")
        ok = fault not in ("crashloop", "oomkilled")
        if mode == "ModelMesh":
            # KServe leaves it to the ModelMesh controller: no Knative objects, no Deployment of its own (the
            # shared runtime pods serve it), no traffic, no observedGeneration (kserve/modelmesh-serving#383)
            grpc = f"grpc://modelmesh-serving.{ns}:8033"
            conds = [_cond("PredictorReady", ok, old=old_conds), _cond("Ready", ok, old=old_conds)]
            status = {"url": grpc, "conditions": conds,
                      "components": {"predictor": {"grpcUrl": grpc, "restUrl": f"http://modelmesh-serving.{ns}:8008",
                                                   "url": grpc}},
                      "modelStatus": _model_status(ok)}
            self._set_status(self.ISVC, isvc, status)
            return
        if mode in ("RawDeployment", "Standard"):
            self._raw_predictor(isvc, predictor, fault)
            pred = {"url": f"http://{name}-predictor.{ns}.example.com",
                    "address": {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}}
            conds = [_cond("IngressReady", True, old=old_conds),
                     _cond("PredictorReady", ok, "" if ok else "MinimumReplicasUnavailable",
                           "" if ok else "Deployment does not have minimum availability.", old=old_conds),
                     _cond("Ready", ok, "" if ok else "MinimumReplicasUnavailable", old=old_conds)]
            dep = self.store.try_get(self.DEPLOY, ns, f"{name}-predictor") or {}
            # PropagateRawStatus copies the Deployment's observedGeneration (kserve/kserve#6081)
            observed = (dep.get("status") or {}).get("observedGeneration") or gen
            status = {"url": url, "address": {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"},
                      "components": {"predictor": pred}, "conditions": conds, "deploymentMode": mode,
                      "modelStatus": _model_status(ok), "observedGeneration": observed}
            self._set_status(self.ISVC, isvc, status)
            return
        revs = self._revisions(isvc)
        phash = short_hash(predictor)
        if not revs or (revs[-1]["metadata"].get("annotations") or {}).get(PREDICTOR_HASH_ANNOTATION) != phash:
            n = _rev_number(revs[-1]) + 1 if revs else 1
            revs.append(self._create_revision(isvc, predictor, phash, n))
        latest_created = revs[-1]["metadata"]["name"]
        failed = latest_created if not ok else None
        # fault revision-not-ready: the newest revision stays Deploying (Ready Unknown), as a slow model pull does
        pending = latest_created if fault == "revision-not-ready" else None
        revs[-1] = self._revision_readiness(revs[-1], pending is None)
        ready_revs = [r["metadata"]["name"] for r in revs if r["metadata"]["name"] not in (failed, pending)]
        latest_ready = ready_revs[-1] if ready_revs else None
        opred = (old.get("components") or {}).get("predictor") or {}
        lr, pr = opred.get("latestRolledoutRevision"), opred.get("previousRolledoutRevision")
        traffic = _knative_traffic(_kserve_targets(canary, lr, annotations, name, ns), latest_ready)
        lr, pr = _propagate_rollout(traffic, latest_ready, latest_created, lr, pr)
        pred = {"latestCreatedRevision": latest_created,
                "url": f"http://{name}-predictor.{ns}.example.com",
                "address": {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}, "traffic": traffic}
        if latest_ready:
            pred["latestReadyRevision"] = latest_ready
        if lr:
            pred["latestRolledoutRevision"] = lr
        if pr:
            pred["previousRolledoutRevision"] = pr
        fmsg = f'Revision "{failed}" failed with message: Container failed with: {fault}.' if failed else ""
        if pending:
            cfg = ("Unknown", "OutOfDate", "The Configuration is still working to reflect the latest desired "
                   "specification.")
        elif failed:
            cfg = (False, "RevisionFailed", fmsg)
        else:
            cfg = (True, "", "")
        served = latest_ready is not None
        conds = [_cond("IngressReady", True, old=old_conds),
                 _cond("LatestDeploymentReady", cfg[0], "" if cfg[0] is True else "PredictorConfigurationReady not ready",
                       old=old_conds),
                 _cond("PredictorConfigurationReady", *cfg, old=old_conds),
                 _cond("PredictorReady", cfg[0] if served else "Unknown", *cfg[1:], old=old_conds),
                 _cond("PredictorRouteReady", served, old=old_conds),
                 _cond("Ready", cfg[0] if served else "Unknown", *cfg[1:], old=old_conds)]
        status = {"url": url, "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
                  "components": {"predictor": pred}, "conditions": conds, "deploymentMode": "Serverless",
                  "modelStatus": _model_status(ok), "observedGeneration": gen}
        self._set_status(self.ISVC, isvc, status)
        serving = {t["revisionName"] for t in traffic if t.get("percent", 0) > 0} | {latest_created}
        for r in revs:
            self._revision_deployment(isvc, r, r["metadata"]["name"] in serving,
                                      fault if r["metadata"]["name"] == failed else "")

    def _revision_readiness(self, rev: dict, ready: bool) -> dict:
        """The Revision's Ready condition: True, or Unknown/Deploying (fault revision-not-ready)."""
        st = copy.deepcopy(rev.get("status") or {})
        old = st.get("conditions")
        want = [_cond("Active", ready, old=old), _cond("ContainerHealthy", ready, old=old) if ready else
                _cond("ContainerHealthy", "Unknown", "Deploying", old=old),
                _cond("Ready", True, old=old) if ready else _cond("Ready", "Unknown", "Deploying", old=old),
                _cond("ResourcesAvailable", True, old=old) if ready else
                _cond("ResourcesAvailable", "Unknown", "Deploying", old=old)]
        if st.get("conditions") == want:
            return rev
        st["conditions"] = want
        return self._set_status(self.REV, rev, st)

    def _revisions(self, isvc: dict) -> list[dict]:
        name = isvc["metadata"]["name"]
        revs = self._list(self.REV, isvc["metadata"]["namespace"],
                          lambda o: (o["metadata"].get("labels") or {}).get(ISVC_LABEL) == name
                          and owned_by(o, isvc["metadata"]["uid"]))
        return sorted(revs, key=_rev_number)

    def _create_revision(self, isvc: dict, predictor: dict, phash: str, n: int) -> dict:
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        rev = f"{name}-predictor-{n:05d}"
        uri = storage_uri_of(predictor)
        obj = {"metadata": {
            "name": rev,
            "labels": {ISVC_LABEL: name, "component": "predictor", "serving.kserve.io/component": "predictor",
                       "serving.knative.dev/configuration": f"{name}-predictor",
                       "serving.knative.dev/configurationGeneration": str(n),
                       "serving.knative.dev/service": f"{name}-predictor"},
            "annotations": {STORAGE_URI_ANNOTATION: uri, PREDICTOR_HASH_ANNOTATION: phash,
                            PREDICTOR_SPEC_ANNOTATION: json.dumps(predictor, sort_keys=True)},
            "ownerReferences": [owner_ref(self.ISVC, isvc)]},
            "spec": {"containerConcurrency": 0, "timeoutSeconds": 300, "containers": [
                {"name": "kserve-container", "image": image_of(predictor),
                 "env": [{"name": "STORAGE_URI", "value": uri}] if uri else []}]}}
        created = self.store.create(self.REV, ns, obj)
        status = {"observedGeneration": 1, "actualReplicas": 1, "desiredReplicas": 1,
                  "serviceName": rev, "containerStatuses": [{"name": "kserve-container",
                                                              "imageDigest": f"{image_of(predictor)}@sha256:"
                                                                             f"{short_hash(phash, 16)}"}],
                  "conditions": [_cond("Active", True), _cond("ContainerHealthy", True),
                                 _cond("Ready", True), _cond("ResourcesAvailable", True)]}
        return self._set_status(self.REV, created, status)

    def _pod_template(self, isvc: dict, predictor: dict, labels: dict, fault: str) -> dict:
        uri = storage_uri_of(predictor)
        c = {"name": "kserve-container", "image": image_of(predictor),
             "ports": [{"containerPort": 8080, "name": "user-port", "protocol": "TCP"}],
             "env": [{"name": "STORAGE_URI", "value": uri}] if uri else []}
        for pc in predictor.get("containers") or []:
            if pc.get("env"):
                c["env"] = c["env"] + [e for e in pc["env"] if e.get("name") != "STORAGE_URI"]
        meta = {"labels": labels}
        if fault:
            meta["annotations"] = {FAULT: fault}
        return {"metadata": meta, "spec": {"containers": [c]}}

    def _ensure_deployment(self, owner_rt: ResourceType, owner: dict, name: str, replicas: int, template: dict,
                           fault: str) -> None:
        ns = owner["metadata"]["namespace"]
        want_spec = {"replicas": replicas, "selector": {"matchLabels": dict(template["metadata"]["labels"])},
                     "template": template}
        cur = self.store.try_get(self.DEPLOY, ns, name)
        anns = {FAULT: fault} if fault else {}
        if cur is None:
            self.store.create(self.DEPLOY, ns, {"metadata": {
                "name": name, "labels": dict(template["metadata"]["labels"]), "annotations": anns,
                "ownerReferences": [owner_ref(owner_rt, owner)]}, "spec": want_spec})
            return
        new = copy.deepcopy(cur)
        new["spec"] = want_spec
        a = {k: v for k, v in (cur["metadata"].get("annotations") or {}).items() if k != FAULT}
        new["metadata"]["annotations"] = {**a, **anns}
        if new != cur:
            self.store.update(self.DEPLOY, ns, name, new)

    def _revision_deployment(self, isvc: dict, rev: dict, active: bool, fault: str) -> None:
        rname = rev["metadata"]["name"]
        predictor = json.loads((rev["metadata"].get("annotations") or {}).get(PREDICTOR_SPEC_ANNOTATION) or "{}")
        labels = {ISVC_LABEL: isvc["metadata"]["name"], "component": "predictor",
                  "serving.knative.dev/revision": rname, "app": rname}
        self._ensure_deployment(self.REV, rev, f"{rname}-deployment", 1 if active else 0,
                                self._pod_template(isvc, predictor, labels, fault), fault)

    def _raw_predictor(self, isvc: dict, predictor: dict, fault: str) -> None:
        name = isvc["metadata"]["name"]
        labels = {ISVC_LABEL: name, "component": "predictor", "app": f"isvc.{name}-predictor"}
        replicas = int(predictor.get("minReplicas") or 1)
        self._ensure_deployment(self.ISVC, isvc, f"{name}-predictor", replicas,
                                self._pod_template(isvc, predictor, labels, fault), fault)
        if self.store.try_get(self.SVC, isvc["metadata"]["namespace"], f"{name}-predictor") is None:
            self.store.create(self.SVC, isvc["metadata"]["namespace"], {
                "metadata": {"name": f"{name}-predictor", "labels": labels,
                             "ownerReferences": [owner_ref(self.ISVC, isvc)]},
                "spec": {"selector": {"app": labels["app"]},
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})


def _kserve_targets(canary, lr: str | None, annotations: dict, name: str, ns: str) -> list[dict]:
    """The Knative Service traffic KServe asks for (reconcilers/knative/ksvc_reconciler.go): with a canary
    percent and a rolled-out revision, {latestRevision: true, canary %} + {lastRolledout, tag prev, rest};
    otherwise {latestRevision: true, 100 %}. The "latest" tag only with serving.kserve.io/enable-tag-routing."""
    tagged = annotations.get("serving.kserve.io/enable-tag-routing") == "true"
    latest: dict = {"latestRevision": True}
    if tagged:
        latest.update(tag="latest", url=f"http://latest-{name}-predictor.{ns}.example.com")
    if canary is not None and lr:
        c = max(0, min(100, int(canary)))
        out = [{**latest, "percent": c}]
        if c < 100:
            out.append({"tag": "prev", "revisionName": lr, "percent": 100 - c, "latestRevision": False,
                        "url": f"http://prev-{name}-predictor.{ns}.example.com"})
        return out
    return [{**latest, "percent": 100}]


def _knative_traffic(targets: list[dict], latest_ready: str | None) -> list[dict]:
    """Knative's status.traffic: `latestRevision: true` resolves to the latest READY revision."""
    if latest_ready is None:
        return []
    return [{**t, "revisionName": latest_ready} if t.get("latestRevision") else dict(t) for t in targets]


def _propagate_rollout(traffic: list[dict], latest_ready: str | None, latest_created: str, lr: str | None,
                       pr: str | None) -> tuple[str | None, str | None]:
    """latestRolledoutRevision / previousRolledoutRevision as KServe's PropagateStatus moves them."""
    per_rev: dict[str, int] = {}
    for t in traffic:
        per_rev[t["revisionName"]] = per_rev.get(t["revisionName"], 0) + int(t.get("percent", 0))
    for t in traffic:
        if t["revisionName"] != latest_ready or not t.get("latestRevision"):
            continue
        if lr != latest_ready:
            if t.get("percent") == 100:
                pr, lr = lr, latest_ready
        elif latest_ready == latest_created and int(t.get("percent", 0)) < 100:
            if per_rev.get(t["revisionName"]) == 100 and pr:
                lr = pr  # rolled back after a full rollout: the previous rolled-out revision is the stable one
    return lr, pr


def _rev_number(rev: dict) -> int:
    try:
        return int((rev["metadata"].get("labels") or {}).get("serving.knative.dev/configurationGeneration", 0))
    except ValueError:
        return 0


def _model_status(ok: bool) -> dict:
    if ok:
        return {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "transitionStatus": "UpToDate", "copies": {"failedCopies": 0, "totalCopies": 1}}
    return {"states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
            "transitionStatus": "BlockedByFailedLoad", "copies": {"failedCopies": 1, "totalCopies": 1}}


def _pod_ready(p: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (p.get("status") or {}).get("conditions") or [])


def _comparable(status: dict) -> str:
    """Status without timestamps, to decide whether a pod needs a status write."""
    s = json.dumps(status, sort_keys=True)
    for key in ("lastTransitionTime", "startedAt", "finishedAt", "startTime"):
        s = re.sub(rf'"{key}": "[^"]*"', "", s)
    return s


def _preferred_version(registry: Registry, rt: ResourceType) -> str:
    from .registry import preferred_version

    versions = [t.version for t in registry.all() if t.group == rt.group and t.plural == rt.plural]
    return preferred_version(versions) if versions else rt.version

"""Deployments (a ReplicaSet per pod template, the old ones scaled to 0), ReplicaSets, StatefulSets and
DaemonSets (their pods, rolling onto a new template), and their status."""

from __future__ import annotations

import copy
import json
import re

from ..registry import ResourceType
from ..store import rand_suffix
from .base import FAULT, Controller, cond, fault_of, owner_ref, pod_ready, short_hash


class WorkloadController(Controller):
    RECONCILES = ("DEPLOY", "RS", "STS", "DS")
    OWNER_DEPTH = 2  # a pod's ReplicaSet's Deployment

    def run(self) -> None:
        # as a full pass did: Deployments (their ReplicaSets), then what makes pods, then the Deployments'
        # status from the pods just made; each step sees the changes of the one before (mgr.dispatch)
        deployments = self.take(self.DEPLOY)
        for key in deployments:
            self.reconcile_key(self.DEPLOY, key, self.reconcile_deployment)
        self.mgr.dispatch()
        for kind_rt in (self.RS, self.STS, self.DS):
            for key in self.take(kind_rt):
                self.reconcile_key(kind_rt, key, self.reconcile_replicas, kind_rt)
        self.mgr.dispatch()
        # the Deployments queued since stay queued (their next run reconciles them in full)
        bkey = self.mgr.bucket(self.DEPLOY)
        for key in sorted(set(deployments) | {k for k in self.queue if k[0] == bkey}):
            self.reconcile_key(self.DEPLOY, key, self.deployment_status)

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
        ready = sum(1 for p in pods if pod_ready(p))
        old = (d.get("status") or {}).get("conditions")
        avail = ready >= desired
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": len(pods),
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [
                      cond("Available", avail, "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                            "Deployment has minimum availability." if avail else
                            "Deployment does not have minimum availability.", old=old),
                      cond("Progressing", True, "NewReplicaSetAvailable",
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
                    pods.append(self.mgr.pods.create_pod(rt, w, template, pn, {**extra,
                                                "statefulset.kubernetes.io/pod-name": pn,
                                                "apps.kubernetes.io/pod-index": str(i)}, fault))
            for p in list(pods):
                idx = p["metadata"]["name"].rsplit("-", 1)[-1]
                if not idx.isdigit() or int(idx) >= desired:
                    self.store.delete(self.POD, ns, p["metadata"]["name"])
                    pods.remove(p)
        else:
            while len(pods) < desired:
                pods.append(self.mgr.pods.create_pod(rt, w, template, f"{name}-{rand_suffix()}", extra, fault))
            while len(pods) > desired:
                p = pods.pop()
                self.store.delete(self.POD, ns, p["metadata"]["name"])
        # fault annotation changes apply to running pods
        for i, p in enumerate(pods):
            if (p.get("status") or {}).get("phase") in ("Running", "Pending"):
                want = self.mgr.pods.pod_status(p, fault)
                if _comparable(want) != _comparable(p.get("status") or {}):
                    pods[i] = self._set_status(self.POD, p, want)
                    self.mgr.pods.set_pod_logs(p, fault)
        ready = sum(1 for p in pods if pod_ready(p))
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


def _comparable(status: dict) -> str:
    """Status without timestamps, to decide whether a pod needs a status write."""
    s = json.dumps(status, sort_keys=True)
    for key in ("lastTransitionTime", "startedAt", "finishedAt", "startTime"):
        s = re.sub(rf'"{key}": "[^"]*"', "", s)
    return s

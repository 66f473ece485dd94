"""Pods: their status as the kubelet reports it (faults: crashloop, oomkilled, pending), their log text,
and the events of their start; standalone pods (no owner) are started here, owned ones by their owner's
controller through `create_pod`."""

from __future__ import annotations

import copy
import hashlib

from ..registry import ResourceType
from ..store import now_rfc3339
from .base import LOG_ANNOTATION, NODE, Controller, cond, fault_of, owner_ref, short_hash


class PodController(Controller):
    RECONCILES = ("POD",)

    def wants(self, rt, p: dict) -> bool:  # a standalone pod not started yet
        return not (p["metadata"].get("ownerReferences")) and (p.get("status") or {}).get("phase") == "Pending"

    def reconcile(self, rt, p: dict) -> None:
        if self.wants(rt, p):
            self.start_standalone_pod(p)

    def pod_status(self, pod: dict, fault: str, phase: str = "Running") -> dict:
        old = pod.get("status") or {}
        if fault == "pending":  # no node fits: never scheduled, so never ready
            conds = old.get("conditions")
            return {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                cond("PodScheduled", False, "Unschedulable",
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
                      cond("PodReadyToStartContainers", True, old=conds),
                      cond("Initialized", True, old=conds),
                      cond("Ready", ready, "" if ready else "ContainersNotReady",
                            "" if ready else f"containers with unready status: [{statuses[0]['name']}]"
                            if statuses else "", old=conds),
                      cond("ContainersReady", ready, "" if ready else "ContainersNotReady", old=conds),
                      cond("PodScheduled", True, old=conds)],
                  "containerStatuses": statuses}
        status["podIPs"] = [{"ip": status["podIP"]}]
        return status

    def pod_log_text(self, pod: dict, fault: str) -> str:
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
        self.store.set_log(ns, name, self.pod_log_text(pod, fault))
        containers = (pod.get("spec") or {}).get("containers") or []
        if fault in ("crashloop", "oomkilled") and containers:
            c0 = containers[0]
            ts = now_rfc3339()
            end = "Killed" if fault == "oomkilled" else f"{ts} ERROR fatal error during startup; exiting with code 1"
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

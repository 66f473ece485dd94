"""InferenceServices, playing KServe and Knative: Serverless ones get a Revision per predictor spec, canary
traffic and KServe's PropagateStatus; RawDeployment/Standard a Deployment and a Service; ModelMesh nothing
of its own. Faults: crashloop/oomkilled (the newest revision fails), revision-not-ready (it stays Deploying)."""

from __future__ import annotations

import copy
import json
import time

from ..registry import ResourceType
from .base import FAULT, Controller, cond, fault_of, owner_ref, short_hash

URL_ANNOTATION = "sandbox.mlopstui.dev/url"
# where KServe records the model a Revision serves (pkg/constants StorageInitializerSourceUriInternalAnnotationKey)
STORAGE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
PREDICTOR_SPEC_ANNOTATION = "sandbox.mlopstui.dev/predictor-spec"
PREDICTOR_HASH_ANNOTATION = "sandbox.mlopstui.dev/predictor-hash"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
ISVC_DELAY = 0.6  # seconds between an InferenceService write and its status update


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


class InferenceServiceController(Controller):
    def __init__(self, mgr) -> None:
        super().__init__(mgr)
        self._isvc_seen: dict[tuple[str, int], float] = {}

    RECONCILES = ("ISVC",)
    OWNER_DEPTH = 2  # its Revisions, Deployment and Service; a Revision's Deployment

    def reconcile(self, rt, isvc: dict) -> None:
        self.reconcile_isvc(isvc)

    def reconcile_isvc(self, isvc: dict) -> None:
        meta = isvc["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], int(meta.get("generation", 1))
        key = (meta["uid"], gen)
        first = self._isvc_seen.setdefault(key, time.monotonic())
        waited = time.monotonic() - first
        if waited < ISVC_DELAY:  # come back when the delay is over
            self.mgr.requeue_after(self, (self.mgr.bucket(self.ISVC), ns, name), ISVC_DELAY - waited)
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
            conds = [cond("PredictorReady", ok, old=old_conds), cond("Ready", ok, old=old_conds)]
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
            conds = [cond("IngressReady", True, old=old_conds),
                     cond("PredictorReady", ok, "" if ok else "MinimumReplicasUnavailable",
                           "" if ok else "Deployment does not have minimum availability.", old=old_conds),
                     cond("Ready", ok, "" if ok else "MinimumReplicasUnavailable", old=old_conds)]
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
        conds = [cond("IngressReady", True, old=old_conds),
                 cond("LatestDeploymentReady", cfg[0], "" if cfg[0] is True else "PredictorConfigurationReady not ready",
                       old=old_conds),
                 cond("PredictorConfigurationReady", *cfg, old=old_conds),
                 cond("PredictorReady", cfg[0] if served else "Unknown", *cfg[1:], old=old_conds),
                 cond("PredictorRouteReady", served, old=old_conds),
                 cond("Ready", cfg[0] if served else "Unknown", *cfg[1:], old=old_conds)]
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
        want = [cond("Active", ready, old=old), cond("ContainerHealthy", ready, old=old) if ready else
                cond("ContainerHealthy", "Unknown", "Deploying", old=old),
                cond("Ready", True, old=old) if ready else cond("Ready", "Unknown", "Deploying", old=old),
                cond("ResourcesAvailable", True, old=old) if ready else
                cond("ResourcesAvailable", "Unknown", "Deploying", old=old)]
        if st.get("conditions") == want:
            return rev
        st["conditions"] = want
        return self._set_status(self.REV, rev, st)

    def _revisions(self, isvc: dict) -> list[dict]:
        name = isvc["metadata"]["name"]
        revs = [o for o in self._owned(self.REV, isvc)
                if (o["metadata"].get("labels") or {}).get(ISVC_LABEL) == name]
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
                  "conditions": [cond("Active", True), cond("ContainerHealthy", True),
                                 cond("Ready", True), cond("ResourcesAvailable", True)]}
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

"""The emulator's controllers run from a change-driven work queue (issue 20: the scale sandbox's steady
state costs nothing): over HTTP, a change to one Deployment reconciles that Deployment and what it owns
only (the controllers' reconcile log at GET /debug/controllers, and the resourceVersions of the other
objects); a CronWorkflow fires on its schedule with no change to wake it (its own timer); a state changed
behind the queue's back (a deletion the controllers never saw) is repaired by a full resync
(POST /debug/controllers/resync)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from mlopstui.sandbox.kubeapi import KubeApiServer
from support.stack_env import wait_for

NS = "queue"
APPS = "/apis/apps/v1/namespaces/" + NS


def _wait(pred, timeout: float = 30.0, what: str = ""):
    return wait_for(pred, timeout, what, interval=0.05)


class Api:
    def __init__(self, srv: KubeApiServer) -> None:
        self.srv = srv
        self.ctx = ssl.create_default_context(cafile=srv.ca_cert_path)

    def call(self, method: str, path: str, body: dict | None = None, user: str = "admin",
             content_type: str = "application/json") -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.srv.url + path, method=method, data=data)
        if data is not None:
            req.add_header("Content-Type", content_type)
        req.add_header("Authorization", f"Bearer {self.srv.token(user)}")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def req(self, method: str, path: str, body: dict | None = None, **kw) -> dict:
        code, doc = self.call(method, path, body, **kw)
        assert code < 300, (method, path, code, doc)
        return doc

    def get(self, path: str, **params) -> dict:
        return self.req("GET", path + ("?" + urllib.parse.urlencode(params) if params else ""))

    def settled(self) -> dict:
        """The controllers' state once nothing is queued, no delay or schedule is due within a second, no Job runs."""
        def idle():
            d = self.get("/debug/controllers")
            return d["idle"] and not d["jobs_running"] and (
                d["next_scheduled_s"] is None or d["next_scheduled_s"] > 1) and d
        return _wait(idle, 30, "controllers idle")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv = KubeApiServer(str(tmp_path_factory.mktemp("ctl-queue")), port=0, run_controllers=True).start()
    srv.controllers.resync_s = 3600.0  # no periodic resync in the middle of a test's "nothing reconciled"
    a = Api(srv)
    a.req("POST", "/api/v1/namespaces", body={"metadata": {"name": NS}})
    yield a
    srv.stop()


def _deployment(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}}


def _pods(api: Api, owner_prefix: str) -> list[dict]:
    return [p for p in api.get(f"/api/v1/namespaces/{NS}/pods")["items"]
            if p["metadata"]["name"].startswith(owner_prefix)]


def _ready(api: Api, name: str, n: int):
    d = api.get(f"{APPS}/deployments/{name}")
    return (d.get("status") or {}).get("readyReplicas") == n and len(_pods(api, name + "-")) == n and d


def test_a_change_to_one_deployment_reconciles_that_deployment_and_its_pods_only(api):
    for name in ("alpha", "beta"):
        api.req("POST", f"{APPS}/deployments", body=_deployment(name, 2))
    for name in ("alpha", "beta"):
        _wait(lambda name=name: _ready(api, name, 2), what=name)
    seq = api.settled()["seq"]
    others = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in _pods(api, "beta-")}
    beta = api.get(f"{APPS}/deployments/beta")["metadata"]["resourceVersion"]
    api.req("PATCH", f"{APPS}/deployments/alpha", {"spec": {"replicas": 3}},
            content_type="application/merge-patch+json")
    _wait(lambda: _ready(api, "alpha", 3), what="alpha scaled")
    log = api.get("/debug/controllers", since=str(seq))["log"]
    reconciled = {(e["kind"], e["name"]) for e in log}
    rs = {r["metadata"]["name"] for r in api.get(f"{APPS}/replicasets")["items"]
          if r["metadata"]["name"].startswith("alpha-")}
    assert ("Deployment", "alpha") in reconciled and {("ReplicaSet", n) for n in rs} <= reconciled
    assert reconciled <= {("Deployment", "alpha")} | {("ReplicaSet", n) for n in rs}, reconciled
    # nothing of beta was written: its Deployment and pods keep their resourceVersions
    assert api.get(f"{APPS}/deployments/beta")["metadata"]["resourceVersion"] == beta
    assert {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in _pods(api, "beta-")} == others
    # settled again: a pass with nothing changed reconciles nothing
    seq = api.settled()["seq"]
    time.sleep(0.5)
    assert api.get("/debug/controllers", since=str(seq))["log"] == []


def test_a_full_resync_repairs_a_state_changed_behind_the_queues_back(api):
    api.req("POST", f"{APPS}/deployments", body=_deployment("gamma", 2))
    _wait(lambda: _ready(api, "gamma", 2), what="gamma")
    api.settled()
    mgr = api.srv.controllers
    victim = _pods(api, "gamma-")[0]["metadata"]["name"]
    # a deletion the controllers never hear of (as a missed watch event would be)
    api.srv.store.listeners.remove(mgr._on_event)
    try:
        api.req("DELETE", f"/api/v1/namespaces/{NS}/pods/{victim}")
    finally:
        api.srv.store.listeners.append(mgr._on_event)
    seq = api.settled()["seq"]
    assert len(_pods(api, "gamma-")) == 1  # the queue never saw it: nothing reconciled, nothing repaired
    assert api.get("/debug/controllers", since=str(seq))["log"] == []
    resyncs = api.get("/debug/controllers")["resyncs"]
    assert api.req("POST", "/debug/controllers/resync")["resyncRequested"] is True
    _wait(lambda: api.get("/debug/controllers")["resyncs"] > resyncs, what="resync ran")
    pods = _wait(lambda: len(_pods(api, "gamma-")) == 2 and _pods(api, "gamma-"), what="pod replaced")
    assert victim not in {p["metadata"]["name"] for p in pods}


def test_the_debug_endpoint_is_the_admins(api):
    assert api.call("GET", "/debug/controllers", user="viewer")[0] == 403
    assert api.call("GET", "/debug/controllers/resync")[0] == 405


def test_a_cron_workflow_fires_on_its_schedule_with_no_change_to_wake_it(api):
    if datetime.now(UTC).second >= 57:  # room before the minute to check it has not fired early
        time.sleep(61 - datetime.now(UTC).second)
    now = datetime.now(UTC)
    nxt = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    # fires at the next minute only; nothing missed before it (lastScheduledTime: now)
    api.req("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/cronworkflows", body={
        "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {"name": "next-minute"},
        "spec": {"schedule": f"{nxt.minute} {nxt.hour} * * *", "workflowSpec": {
            "entrypoint": "main", "templates": [
                {"name": "main", "container": {"image": "python", "command": ["python", "-c", "print(1)"]}}]}},
        "status": {"lastScheduledTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}})

    def runs():
        return [w for w in api.get(f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows")["items"]
                if (w["metadata"].get("labels") or {}).get("workflows.argoproj.io/cron-workflow") == "next-minute"]

    api.settled()
    assert runs() == [] and datetime.now(UTC) < nxt  # not before its minute
    fired = _wait(runs, (nxt - datetime.now(UTC)).total_seconds() + 15, "the next minute's run")
    assert len(fired) == 1
    assert fired[0]["metadata"]["annotations"]["workflows.argoproj.io/scheduled-time"] == nxt.strftime(
        "%Y-%m-%dT%H:%M:%SZ")

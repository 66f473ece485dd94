"""The emulator's Argo workflow-controller: Workflows (steps, DAG, container/script templates,
parameters, input/output artifacts in S3, retryStrategy, suspend, shutdown, workflowTemplateRef) and
CronWorkflows (fired on their schedule, status kept), as argoproj/argo-workflows v4 records them.

Each container step runs as a local process (as the Job controller runs `feast materialize`): the
container's command and args with `python` mapped to this interpreter, its env (values and
`secretKeyRef`s resolved from the Secrets, as the kubelet does), cluster Service addresses rewritten to
the sandbox's local ones (`SANDBOX_SERVICE_ROUTES`, the sandbox's DNS), `/feature_repo` mapped to the
sandbox's Feast repository, and the paths of its parameters and artifacts under a work directory.
Status is written as the real controller writes it (`status.nodes` keyed by node id =
`<workflow>-<fnv32a(node name)>`, pods `<workflow>-<template>-<fnv32a(node name)>`, phase, progress,
startedAt/finishedAt, message, outputs with S3 keys `<workflow>/<pod>/<artifact>.tgz`), on the object
itself (the Workflow CRD has no status subresource). Pod logs: main, init and wait containers.

One reconcile pass per controller wake-up; all Workflow writes happen in it (with the read
resourceVersion: a user's concurrent patch wins, the pass is redone). Step processes run in threads
that only record their result.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from datetime import UTC, datetime

from .. import errors
from ..store import now_rfc3339
from .base import Controller

L_WORKFLOW = "workflows.argoproj.io/workflow"
L_PHASE = "workflows.argoproj.io/phase"
L_COMPLETED = "workflows.argoproj.io/completed"
L_CRON = "workflows.argoproj.io/cron-workflow"
A_NODE_NAME = "workflows.argoproj.io/node-name"
A_NODE_ID = "workflows.argoproj.io/node-id"
A_DEFAULT_REPO = "workflows.argoproj.io/default-artifact-repository"
DONE = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
WF_DONE = ("Succeeded", "Failed", "Error")
EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v4.0.0"
MAX_STEP_SECONDS = 600
_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(wf: str, name: str) -> str:
    return wf if name == wf else f"{wf}-{fnv32a(name)}"


def pod_name(wf: str, name: str, template: str) -> str:
    return f"{wf}-{template}-{fnv32a(name)}"[:253] if name != wf else wf


class _Step:
    """A running step process (thread) and, once done, its result."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.done = False
        self.code: int | None = None
        self.message = ""
        self.outputs: dict = {}
        self.finished = ""


class ArgoController(Controller):
    def __init__(self, mgr) -> None:
        super().__init__(mgr)
        g = mgr.registry.get
        self.g = g
        self.POD, self.SECRET, self.CM = mgr.POD, g("", "v1", "secrets"), g("", "v1", "configmaps")
        self.steps: dict[str, _Step] = {}
        self.active: set[tuple] = set()  # the keys of the Workflows running
        self.lock = threading.Lock()
        try:
            self.routes: dict[str, str] = json.loads(os.environ.get("SANDBOX_SERVICE_ROUTES") or "{}")
        except ValueError:
            self.routes = {}
        self.workdir = os.path.join(getattr(self.store, "state_dir", None) or tempfile.gettempdir(), "argo-pods")

    def rt(self, plural: str):
        return self.g("argoproj.io", "v1alpha1", plural)

    # ---- loop ------------------------------------------------------------------------------
    # Queued: a Workflow on its changes (and its pods'), a CronWorkflow on its own and its Workflows', and at
    # every minute (its schedule's resolution). A running Workflow is also reconciled at every pass (every
    # POLL_S): its steps are processes whose end is no change of an object.
    OWNER_DEPTH = 1

    def reconciled_types(self) -> list:
        g = self.mgr.registry.get
        return [rt for rt in (g("argoproj.io", "v1alpha1", "workflows"), g("argoproj.io", "v1alpha1", "cronworkflows"))
                if rt is not None]

    @property
    def polling(self) -> bool:
        return bool(self.active)

    def on_change(self, ev, ancestors) -> None:
        super().on_change(ev, ancestors)
        if ev.key == ("argoproj.io", "workflows"):
            key = (ev.key, ev.namespace, ev.obj["metadata"]["name"])
            if ev.type != "DELETED" and ((ev.obj.get("status") or {}).get("phase") or "") not in WF_DONE:
                self.active.add(key)
            else:
                self.active.discard(key)

    def run(self) -> None:
        wf_rt, cw_rt = self.rt("workflows"), self.rt("cronworkflows")
        if wf_rt is None:
            return
        for key in sorted(set(self.take(wf_rt)) | self.active):
            if self.reconcile_key(wf_rt, key, self.reconcile, wf_rt) is None:
                self.active.discard(key)
        if cw_rt is None:
            return
        for key in self.take(cw_rt):
            if self.reconcile_key(cw_rt, key, self.reconcile_cron, cw_rt, wf_rt) is not None:
                self.mgr.requeue_after(self, key, 60.05 - time.time() % 60)  # the next minute

    def stop(self) -> None:
        with self.lock:
            steps = list(self.steps.values())
        for s in steps:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()

    # ---- one workflow ----------------------------------------------------------------------
    def reconcile(self, wf_rt, wf: dict) -> None:
        st = wf.get("status") or {}
        key = ((wf_rt.group, wf_rt.plural), wf["metadata"]["namespace"], wf["metadata"]["name"])
        if st.get("phase") in WF_DONE:
            self.active.discard(key)
            return
        self.active.add(key)
        op = _Operation(self, wf)
        new = op.run()
        if new is not None and new != wf:
            self.store.update(wf_rt, wf["metadata"]["namespace"], wf["metadata"]["name"], new)
        with self.lock:
            for key in op.consumed:
                self.steps.pop(key, None)

    # ---- CronWorkflows ---------------------------------------------------------------------
    def reconcile_cron(self, cw_rt, wf_rt, cw: dict) -> None:
        meta, spec = cw["metadata"], cw.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        mine = [w for w in self.store.list(wf_rt, ns, None)[0]
                if (w["metadata"].get("labels") or {}).get(L_CRON) == name]
        old = cw.get("status") or {}
        status = copy.deepcopy(old)
        now = time.time()
        schedules = spec.get("schedules") or ([spec["schedule"]] if spec.get("schedule") else [])
        last = _ts(old.get("lastScheduledTime")) or _ts(meta.get("creationTimestamp")) or now
        due = None
        if not spec.get("suspend"):
            for sch in schedules:
                t = _cron_due(sch, last, now)
                if t is not None:
                    due = t if due is None else max(due, t)
        running = [w for w in mine if ((w.get("status") or {}).get("phase") or "") not in WF_DONE]
        if due is not None and not (spec.get("concurrencyPolicy") == "Forbid" and running):
            wspec = copy.deepcopy(spec.get("workflowSpec") or {})
            wmeta = copy.deepcopy(spec.get("workflowMetadata") or {})
            labels = {**(wmeta.get("labels") or {}), L_CRON: name}
            ann = {**(wmeta.get("annotations") or {}),
                   "workflows.argoproj.io/scheduled-time": datetime.fromtimestamp(due, UTC).strftime(
                       "%Y-%m-%dT%H:%M:%SZ")}
            created = self.store.create(wf_rt, ns, {
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "metadata": {"name": f"{name}-{int(due)}", "labels": labels, "annotations": ann,
                             "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                                                  "name": name, "uid": meta["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": wspec})
            mine.append(created)
            status["lastScheduledTime"] = datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status["active"] = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": w["metadata"]["name"],
                             "namespace": ns, "uid": w["metadata"].get("uid", "")}
                            for w in mine if ((w.get("status") or {}).get("phase") or "") not in WF_DONE]
        if not status["active"]:
            status.pop("active")
        status["succeeded"] = sum(1 for w in mine if (w.get("status") or {}).get("phase") == "Succeeded")
        status["failed"] = sum(1 for w in mine if (w.get("status") or {}).get("phase") in ("Failed", "Error"))
        status.setdefault("conditions", [])
        if status != old:
            new = copy.deepcopy(cw)
            new["status"] = status
            self.store.update(cw_rt, ns, name, new)

    # ---- pods and processes ----------------------------------------------------------------
    def secret_value(self, ns: str, name: str, key: str) -> str | None:
        s = self.store.try_get(self.SECRET, ns, name)
        if s is None:
            return None
        if key in (s.get("stringData") or {}):
            return str(s["stringData"][key])
        raw = (s.get("data") or {}).get(key)
        if raw is None:
            return None
        try:
            return base64.b64decode(raw).decode()
        except ValueError:
            return None

    def route(self, text: str) -> str:
        for k in sorted(self.routes, key=len, reverse=True):
            text = text.replace(k, self.routes[k])
        if self.mgr.feast_repo:
            text = re.sub(r"(?<![\w/])/feature_repo(?=$|/|\s)", self.mgr.feast_repo, text)
        return text

    def start_step(self, key: str, argv: list[str], env: dict[str, str], cwd: str, ns: str, pod: str,
                   outputs: dict, after) -> None:
        step = _Step()
        with self.lock:
            self.steps[key] = step
        threading.Thread(target=self._run, args=(step, argv, env, cwd, ns, pod, outputs, after),
                         name=f"argo-{pod}", daemon=True).start()

    def _run(self, step: _Step, argv, env, cwd, ns, pod, outputs, after) -> None:
        ts = now_rfc3339()
        self.store.set_log(ns, f"{pod}/init", f'time="{ts}" level=info msg="Starting Workflow Executor" '
                                              f'version=v4.0.0\ntime="{ts}" level=info msg="Start loading input '
                                              f'artifacts..."\n')
        self.store.set_log(ns, f"{pod}/wait", f'time="{ts}" level=info msg="Starting Workflow Executor" '
                                              f'version=v4.0.0\n')
        self.store.set_log(ns, pod, "")
        try:
            step.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
            assert step.proc.stdout is not None
            deadline = time.monotonic() + MAX_STEP_SECONDS
            for line in step.proc.stdout:
                self.store.append_log(ns, pod, line)
                self.store.append_log(ns, f"{pod}/main", line)
                if time.monotonic() > deadline:
                    step.proc.kill()
            step.code = step.proc.wait()
            step.message = "" if step.code == 0 else f"Error (exit code {step.code})"
        except OSError as exc:
            step.code = 1
            step.message = f"failed to start: {exc}"
            self.store.append_log(ns, pod, f"{step.message}\n")
        try:
            if step.code == 0:
                step.outputs = after()
        except Exception as exc:  # noqa: BLE001 - an artifact upload failure fails the step, as in Argo
            step.code = 1
            step.message = f"failed to save outputs: {exc}"
        end = now_rfc3339()
        self.store.append_log(ns, f"{pod}/wait", f'time="{end}" level=info msg="Main container completed" '
                                                 f'error="<nil>"\ntime="{end}" level=info msg="Saving output '
                                                 f'parameters and artifacts"\n')
        step.finished = end
        step.done = True
        self.mgr._wake.set()

    # ---- S3 (the artifact repository) -------------------------------------------------------
    def s3_client(self, repo: dict, ns: str):
        import boto3
        from botocore.config import Config

        s3 = repo.get("s3") or {}
        endpoint = self.route(str(s3.get("endpoint") or ""))
        scheme = "http" if s3.get("insecure") else "https"
        ak = self._secret_ref(ns, s3.get("accessKeySecret"))
        sk = self._secret_ref(ns, s3.get("secretKeySecret"))
        return boto3.client("s3", endpoint_url=f"{scheme}://{endpoint}", aws_access_key_id=ak,
                            aws_secret_access_key=sk, region_name=s3.get("region") or "us-east-1",
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                          connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))

    def _secret_ref(self, ns: str, ref: dict | None) -> str | None:
        if not ref:
            return None
        return self.secret_value(ns, ref.get("name", ""), ref.get("key", ""))

    def artifact_repository(self, ns: str) -> tuple[dict | None, dict | None]:
        """(repository, artifactRepositoryRef) as Argo picks it: the namespace's `artifact-repositories`
        ConfigMap (its default key), else the controller's `workflow-controller-configmap`."""
        cm = self.store.try_get(self.CM, ns, "artifact-repositories")
        if cm is not None:
            data = cm.get("data") or {}
            key = ((cm["metadata"].get("annotations") or {}).get(A_DEFAULT_REPO) or next(iter(data), ""))
            if key in data:
                import yaml

                return yaml.safe_load(data[key]) or {}, {"configMap": "artifact-repositories", "key": key,
                                                          "namespace": ns}
        for cns in ("argo", ns):
            wcm = self.store.try_get(self.CM, cns, "workflow-controller-configmap")
            if wcm is not None and (wcm.get("data") or {}).get("artifactRepository"):
                import yaml

                return yaml.safe_load(wcm["data"]["artifactRepository"]) or {}, {"default": True}
        return None, None


def _ts(v) -> float | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _cron_match(field: str, value: int, lo: int, hi: int) -> bool:
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, _, s = part.partition("/")
            step = int(s) if s.isdigit() and int(s) > 0 else 1
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            x, _, y = part.partition("-")
            if not (x.isdigit() and y.isdigit()):
                return False
            a, b = int(x), int(y)
        elif part.isdigit():
            a = int(part)
            b = hi if step > 1 else a
        else:
            return False
        if a <= value <= b and (value - a) % step == 0:
            return True
    return False


def _cron_due(schedule: str, last: float, now: float) -> float | None:
    """The latest minute in (last, now] a 5-field schedule fires; looks back at most an hour."""
    parts = schedule.split()
    if len(parts) != 5:
        return None
    t = int(now) // 60 * 60
    floor = max(int(last) // 60 * 60 + 60, t - 3600)
    while t >= floor:
        d = datetime.fromtimestamp(t, UTC)
        if (_cron_match(parts[0], d.minute, 0, 59) and _cron_match(parts[1], d.hour, 0, 23)
                and _cron_match(parts[2], d.day, 1, 31) and _cron_match(parts[3], d.month, 1, 12)
                and _cron_match(parts[4], (d.weekday() + 1) % 7, 0, 6)):
            return float(t)
        t -= 60
    return None


class _Operation:
    """One reconcile pass over one Workflow (the operator's `woc`)."""

    def __init__(self, ctl: ArgoController, wf: dict) -> None:
        self.ctl = ctl
        self.wf = copy.deepcopy(wf)
        self.meta = self.wf["metadata"]
        self.ns, self.name = self.meta["namespace"], self.meta["name"]
        self.uid = self.meta.get("uid", "")
        self.status = self.wf.setdefault("status", {})
        self.nodes: dict[str, dict] = self.status.setdefault("nodes", {})
        self.spec = self.wf.get("spec") or {}
        self.templates: dict[str, dict] = {}
        self.wf_params: dict[str, str] = {}
        self.now = now_rfc3339()
        self.error = ""
        self.consumed: list[str] = []  # finished steps taken into this pass (dropped once it is written)

    # -- spec resolution (workflowTemplateRef) --
    def resolve(self) -> bool:
        spec = copy.deepcopy(self.spec)
        ref = spec.get("workflowTemplateRef")
        if ref:
            rt = self.ctl.rt("clusterworkflowtemplates" if ref.get("clusterScope") else "workflowtemplates")
            tmpl = self.ctl.store.try_get(rt, "" if ref.get("clusterScope") else self.ns, ref.get("name", ""))
            if tmpl is None:
                self.error = f"workflow template \"{ref.get('name')}\" not found"
                return False
            base = copy.deepcopy(tmpl.get("spec") or {})
            base_params = {p["name"]: p for p in (base.get("arguments") or {}).get("parameters") or []}
            for p in (spec.get("arguments") or {}).get("parameters") or []:
                base_params[p["name"]] = {**base_params.get(p["name"], {}), **p}
            base.update({k: v for k, v in spec.items() if k not in ("workflowTemplateRef", "arguments")})
            base["arguments"] = {"parameters": list(base_params.values())}
            spec = base
        self.templates = {t["name"]: t for t in spec.get("templates") or [] if t.get("name")}
        for p in (spec.get("arguments") or {}).get("parameters") or []:
            v = p.get("value", p.get("default"))
            self.wf_params[p["name"]] = "" if v is None else str(v)
        self.entry = spec.get("entrypoint") or ""
        self.resolved = spec
        if self.entry not in self.templates:
            self.error = f"spec.entrypoint {self.entry!r}: template not found"
            return False
        return True

    # -- the pass --
    def run(self) -> dict | None:
        labels = self.meta.setdefault("labels", {})
        if not self.status.get("startedAt"):
            self.status["startedAt"] = self.now
        if not self.resolve():
            return self.finish("Error", self.error)
        repo, ref = self.ctl.artifact_repository(self.ns)
        self.repo = repo
        if ref and "artifactRepositoryRef" not in self.status:
            self.status["artifactRepositoryRef"] = {**ref, "artifactRepository": repo}
        shutdown = self.spec.get("shutdown")
        if shutdown in ("Stop", "Terminate"):
            return self.shutdown(shutdown)
        self.suspended = bool(self.spec.get("suspend"))
        root = self.execute(self.name, self.entry, dict(self.wf_params), "", self.name)
        self.status["phase"] = "Running"
        labels[L_PHASE] = "Running"
        self.progress()
        if root.get("phase") in DONE:
            failed = root.get("phase") != "Succeeded"
            msg = root.get("message") or ""
            if failed and not msg:
                msg = f"child '{root['id']}' failed"
            return self.finish("Failed" if failed else "Succeeded", msg if failed else "")
        self.status["conditions"] = [{"type": "PodRunning", "status": "True" if self._running_pods() else "False"}]
        return self.wf

    def finish(self, phase: str, message: str) -> dict:
        labels = self.meta.setdefault("labels", {})
        labels[L_PHASE] = phase
        labels[L_COMPLETED] = "true"
        self.status["phase"] = phase
        if message:
            self.status["message"] = message
        else:
            self.status.pop("message", None)
        self.status["finishedAt"] = self.now
        self.status["conditions"] = [{"type": "PodRunning", "status": "False"},
                                     {"type": "Completed", "status": "True"}]
        self.progress()
        return self.wf

    def shutdown(self, strategy: str) -> dict:
        msg = f"Stopped with strategy '{strategy}'"
        for n in self.nodes.values():
            if n.get("phase") not in DONE:
                if n.get("type") == "Pod":
                    key = f"{self.ns}/{pod_name(self.name, n['name'], n.get('templateName', ''))}"
                    with self.ctl.lock:
                        step = self.ctl.steps.get(key)
                    if step is not None and step.proc is not None and step.proc.poll() is None:
                        step.proc.kill()
                n["phase"] = "Failed"
                n["message"] = f"workflow shutdown with strategy:  {strategy}"
                n["finishedAt"] = self.now
        return self.finish("Failed", msg)

    def progress(self) -> None:
        a = b = 0
        for n in self.nodes.values():
            if n.get("type") == "Pod":
                n["progress"] = "1/1" if n.get("phase") in ("Succeeded", "Skipped", "Omitted") else "0/1"
                a += int(n["progress"][0])
                b += 1
        self.status["progress"] = f"{a}/{b}"
        for n in self.nodes.values():  # non-executable nodes: the sum of their descendants
            if n.get("type") != "Pod":
                x = y = 0
                for c in self._descendants(n):
                    if c.get("type") == "Pod":
                        x += 1 if c.get("phase") in ("Succeeded", "Skipped", "Omitted") else 0
                        y += 1
                n["progress"] = f"{x}/{y}"

    def _descendants(self, n: dict) -> list[dict]:
        out, seen, queue = [], set(), list(n.get("children") or [])
        while queue and len(seen) < 10000:
            c = queue.pop()
            if c in seen or c not in self.nodes:
                continue
            seen.add(c)
            out.append(self.nodes[c])
            queue.extend(self.nodes[c].get("children") or [])
        return out

    def _running_pods(self) -> bool:
        return any(n.get("type") == "Pod" and n.get("phase") == "Running" for n in self.nodes.values())

    # -- nodes --
    def node(self, name: str, ntype: str, template: str | None, boundary: str, display: str) -> dict:
        nid = node_id(self.name, name)
        n = self.nodes.get(nid)
        if n is None:
            n = {"id": nid, "name": name, "displayName": display, "type": ntype, "phase": "Pending",
                 "startedAt": self.now}
            if template:
                n["templateName"] = template
            if boundary:
                n["boundaryID"] = boundary
            self.nodes[nid] = n
        return n

    def child(self, parent: dict, cid: str) -> None:
        kids = parent.setdefault("children", [])
        if cid not in kids:
            kids.append(cid)

    def done(self, n: dict, phase: str, message: str = "") -> dict:
        n["phase"] = phase
        n["finishedAt"] = n.get("finishedAt") or self.now
        if message:
            n["message"] = message
        return n

    # -- variable substitution --
    def subst(self, text: str, scope: dict) -> str:
        def repl(mo: re.Match) -> str:
            key = mo.group(1)
            if key in scope:
                return str(scope[key])
            if key == "workflow.name":
                return self.name
            if key == "workflow.uid":
                return self.uid
            if key == "workflow.namespace":
                return self.ns
            if key.startswith("workflow.parameters."):
                return self.wf_params.get(key[len("workflow.parameters."):], mo.group(0))
            return mo.group(0)

        return _VAR.sub(repl, text)

    def subst_obj(self, obj, scope: dict):
        if isinstance(obj, str):
            return self.subst(obj, scope)
        if isinstance(obj, list):
            return [self.subst_obj(x, scope) for x in obj]
        if isinstance(obj, dict):
            return {k: self.subst_obj(v, scope) for k, v in obj.items()}
        return obj

    def outputs_scope(self, prefix: str, stepname: str, n: dict, scope: dict) -> None:
        outs = n.get("outputs") or {}
        for p in outs.get("parameters") or []:
            scope[f"{prefix}.{stepname}.outputs.parameters.{p['name']}"] = p.get("value", "")
        for a in outs.get("artifacts") or []:
            scope[f"{prefix}.{stepname}.outputs.artifacts.{a['name']}"] = json.dumps(a)
        if "result" in outs:
            scope[f"{prefix}.{stepname}.outputs.result"] = outs["result"]

    # -- templates --
    def execute(self, name: str, tmpl_name: str, args: dict, boundary: str, display: str,
                arg_artifacts: dict | None = None) -> dict:
        t = self.templates.get(tmpl_name)
        if t is None:
            n = self.node(name, "Pod", tmpl_name, boundary, display)
            return self.done(n, "Error", f"template {tmpl_name!r} not found")
        inputs = {}
        for p in (t.get("inputs") or {}).get("parameters") or []:
            v = args.get(p["name"], p.get("value", p.get("default")))
            inputs[p["name"]] = "" if v is None else str(v)
        if "steps" in t:
            return self.exec_steps(name, t, inputs, boundary, display)
        if "dag" in t:
            return self.exec_dag(name, t, inputs, boundary, display)
        if t.get("retryStrategy"):
            return self.exec_retry(name, t, inputs, boundary, display, arg_artifacts or {})
        return self.exec_pod(name, t, inputs, boundary, display, arg_artifacts or {})

    def _args(self, item: dict, scope: dict) -> tuple[dict, dict]:
        a = item.get("arguments") or {}
        params = {p["name"]: self.subst(str(p.get("value", "")), scope) for p in a.get("parameters") or []}
        arts = {}
        for art in a.get("artifacts") or []:
            src = self.subst(str(art.get("from", "")), scope)
            try:
                arts[art["name"]] = json.loads(src)
            except ValueError:
                arts[art["name"]] = {"missing": src}
        return params, arts

    def exec_steps(self, name: str, t: dict, inputs: dict, boundary: str, display: str) -> dict:
        node = self.node(name, "Steps", t["name"], boundary, display)
        if node["phase"] in DONE:
            return node
        node["phase"] = "Running"
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        prev = [node]
        for i, group in enumerate(t.get("steps") or []):
            sg = self.node(f"{name}[{i}]", "StepGroup", None, node["id"], f"[{i}]")
            if sg["phase"] == "Pending":
                sg["phase"] = "Running"
            for p in prev:
                self.child(p, sg["id"])
            kids = []
            for step in group or []:
                params, arts = self._args(step, scope)
                c = self.execute(f"{name}[{i}].{step['name']}", step["template"], params, node["id"],
                                 step["name"], arts)
                self.child(sg, c["id"])
                kids.append((step, c))
                self.outputs_scope("steps", step["name"], c, scope)
            if any(c["phase"] not in DONE for _, c in kids):
                return node
            bad = [c for s, c in kids if c["phase"] in ("Failed", "Error") and not (s.get("continueOn") or {})]
            if bad:
                self.done(sg, "Failed", f"child '{bad[0]['id']}' failed")
                return self.done(node, "Failed", f"child '{bad[0]['id']}' failed")
            self.done(sg, "Succeeded")
            prev = [o for _, c in kids for o in self.outbound(c)]
        node["outboundNodes"] = [c["id"] for c in prev if c is not node]
        self.template_outputs(node, t, scope)
        return self.done(node, "Succeeded")

    def exec_dag(self, name: str, t: dict, inputs: dict, boundary: str, display: str) -> dict:
        node = self.node(name, "DAG", t["name"], boundary, display)
        if node["phase"] in DONE:
            return node
        node["phase"] = "Running"
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        tasks = {x["name"]: x for x in (t.get("dag") or {}).get("tasks") or []}
        deps = {k: list(v.get("dependencies") or re.findall(r"[A-Za-z0-9_-]+(?=\s*(?:&&|\|\||$|\.))",
                                                             v.get("depends") or "")) for k, v in tasks.items()}
        state: dict[str, dict] = {}
        failed = False
        for _ in range(len(tasks) + 1):
            progressed = False
            for tname, task in tasks.items():
                if tname in state:
                    continue
                if any(d not in state or state[d]["phase"] not in DONE for d in deps[tname]):
                    continue
                if any(state[d]["phase"] != "Succeeded" for d in deps[tname]):
                    state[tname] = {"phase": "Omitted"}
                    progressed = True
                    continue
                tid = node_id(self.name, f"{name}.{tname}")
                if failed and tid not in self.nodes:  # failFast: nothing new after a failure
                    continue
                params, arts = self._args(task, scope)
                c = self.execute(f"{name}.{tname}", task["template"], params, node["id"], tname, arts)
                for d in deps[tname]:
                    for o in self.outbound(self.nodes[state[d]["id"]]):
                        self.child(o, c["id"])
                if not deps[tname]:
                    self.child(node, c["id"])
                state[tname] = c
                self.outputs_scope("tasks", tname, c, scope)
                failed = failed or c["phase"] in ("Failed", "Error")
                progressed = True
            if not progressed:
                break
        real = [c for c in state.values() if "id" in c]
        if len(state) < len(tasks) and not failed or any(c["phase"] not in DONE for c in real):
            return node
        bad = [c for c in real if c["phase"] in ("Failed", "Error")]
        leaves = [c["id"] for k, c in state.items() if "id" in c and not any(k in deps[o] for o in tasks)]
        node["outboundNodes"] = leaves
        if bad:
            return self.done(node, "Failed", f"child '{bad[0]['id']}' failed")
        self.template_outputs(node, t, scope)
        return self.done(node, "Succeeded")

    def outbound(self, n: dict) -> list[dict]:
        """Where the next step group hangs: a pod itself, a Retry's last attempt, a Steps/DAG's outbound nodes."""
        if n.get("type") == "Retry" and n.get("children"):
            last = self.nodes.get(n["children"][-1])
            return [last] if last else [n]
        if n.get("type") in ("Steps", "DAG") and n.get("outboundNodes"):
            return [self.nodes[i] for i in n["outboundNodes"] if i in self.nodes] or [n]
        return [n]

    def template_outputs(self, node: dict, t: dict, scope: dict) -> None:
        params = []
        for p in (t.get("outputs") or {}).get("parameters") or []:
            src = ((p.get("valueFrom") or {}).get("parameter")) or ""
            if src:
                params.append({"name": p["name"], "value": self.subst(src, scope)})
        if params:
            node["outputs"] = {"parameters": params}

    def exec_retry(self, name: str, t: dict, inputs: dict, boundary: str, display: str, arts: dict) -> dict:
        rnode = self.node(name, "Retry", t["name"], boundary, display)
        if rnode["phase"] in DONE:
            return rnode
        rnode["phase"] = "Running"
        rnode["inputs"] = {"parameters": [{"name": k, "value": v} for k, v in inputs.items()]} if inputs else {}
        if not rnode["inputs"]:
            rnode.pop("inputs")
        limit = int(str((t.get("retryStrategy") or {}).get("limit", 0)) or 0)
        attempts = [self.nodes[c] for c in rnode.get("children") or [] if c in self.nodes]
        last = attempts[-1] if attempts else None
        if last is not None and last["phase"] not in DONE:  # the current attempt: poll it
            i = len(attempts) - 1
            last = self.exec_pod(f"{name}({i})", t, inputs, boundary, f"{display}({i})", arts)
        if last is None or (last["phase"] in ("Failed", "Error") and len(attempts) <= limit):
            if self.suspended and last is not None:
                return rnode
            i = len(attempts)
            c = self.exec_pod(f"{name}({i})", t, inputs, boundary, f"{display}({i})", arts)
            self.child(rnode, c["id"])
            last = c
        if last["phase"] not in DONE:
            return rnode
        if last["phase"] == "Succeeded":
            if last.get("outputs"):
                rnode["outputs"] = copy.deepcopy(last["outputs"])
            return self.done(rnode, "Succeeded")
        return self.done(rnode, "Failed", "No more retries left")

    # -- a pod --
    def exec_pod(self, name: str, t: dict, inputs: dict, boundary: str, display: str, arts: dict) -> dict:
        n = self.node(name, "Pod", t["name"], boundary, display)
        if n["phase"] in DONE:
            return n
        pod = pod_name(self.name, name, t["name"])
        key = f"{self.ns}/{pod}"
        with self.ctl.lock:
            step = self.ctl.steps.get(key)
        if inputs:
            n.setdefault("inputs", {})["parameters"] = [{"name": k, "value": v} for k, v in inputs.items()]
        if step is None:
            if n["phase"] == "Running":  # started by an emulator that is gone: the pod is lost
                return self.done(n, "Error", "pod deleted")
            if self.suspended:
                return n
            return self.start_pod(n, t, inputs, pod, arts)
        if not step.done:
            n["phase"] = "Running"
            return n
        ctl_pod = self.ctl.store.try_get(self.ctl.POD, self.ns, pod)
        if ctl_pod is not None:
            self._pod_finished(ctl_pod, step)
        self.consumed.append(key)
        n["finishedAt"] = step.finished or self.now
        if step.outputs or step.code is not None:
            outs = dict(step.outputs)
            outs["exitCode"] = str(step.code)
            n["outputs"] = outs
        n["hostNodeName"] = "sandbox-node"
        return self.done(n, "Succeeded" if step.code == 0 else "Failed", step.message)

    def start_pod(self, n: dict, t: dict, inputs: dict, pod: str, arts: dict) -> dict:
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        scope["pod.name"] = pod
        c = self.subst_obj(copy.deepcopy(t.get("container") or {}), scope)
        script = t.get("script")
        if script:
            c = self.subst_obj(copy.deepcopy(script), scope)
        env: dict[str, str] = {}
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = self.ctl.route(str(e["value"]))
            elif (e.get("valueFrom") or {}).get("secretKeyRef"):
                ref = e["valueFrom"]["secretKeyRef"]
                v = self.ctl.secret_value(self.ns, ref.get("name", ""), ref.get("key", ""))
                if v is None:
                    n["message"] = f"CreateContainerConfigError: secret \"{ref.get('name')}\" not found"
                    self._ensure_pod(pod, n, c, "Pending", n["message"])
                    return n
                env[e["name"]] = v
        workdir = os.path.join(self.ctl.workdir, self.ns, pod)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir, exist_ok=True)

        def local(path: str) -> str:
            return os.path.join(workdir, path.lstrip("/"))

        mapping: dict[str, str] = {}
        for a in (t.get("inputs") or {}).get("artifacts") or []:
            src = arts.get(a["name"]) or {}
            if "s3" not in src:
                n["message"] = f"input artifact {a['name']!r} not found: {src.get('missing', '')}"
                return self.done(n, "Error", n["message"])
            try:
                self._download(src, local(a["path"]))
            except Exception as exc:  # noqa: BLE001
                return self.done(n, "Error", f"failed to load artifact {a['name']}: {exc}")
            mapping[a["path"]] = local(a["path"])
            n.setdefault("inputs", {}).setdefault("artifacts", []).append(
                {"name": a["name"], "path": a["path"], "s3": copy.deepcopy(src["s3"])})
        out_params = (t.get("outputs") or {}).get("parameters") or []
        out_arts = (t.get("outputs") or {}).get("artifacts") or []
        for p in out_params:
            path = (p.get("valueFrom") or {}).get("path")
            if path:
                mapping[path] = local(path)
                os.makedirs(os.path.dirname(local(path)), exist_ok=True)
        for a in out_arts:
            if a.get("path"):
                mapping[a["path"]] = local(a["path"])
                os.makedirs(os.path.dirname(local(a["path"])), exist_ok=True)

        def fix(s: str) -> str:
            for k in sorted(mapping, key=len, reverse=True):
                s = s.replace(k, mapping[k])
            return self.ctl.route(s)

        argv = [fix(str(x)) for x in (c.get("command") or [])] + [fix(str(x)) for x in (c.get("args") or [])]
        if script:
            src_path = local("/argo/staging/script")
            os.makedirs(os.path.dirname(src_path), exist_ok=True)
            with open(src_path, "w") as f:
                f.write(str(script.get("source") or ""))
            argv = argv + [src_path]
        if argv and os.path.basename(argv[0]) in ("python", "python3"):
            argv[0] = sys.executable
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE",
                                           "MLOPSTUI_SANDBOX_OWNER", "VIRTUAL_ENV", "TMPDIR") if k in os.environ}
        base["PATH"] = os.path.dirname(sys.executable) + os.pathsep + base.get("PATH", "/usr/bin:/bin")
        env = {**base, **{k: fix(v) for k, v in env.items()}, "ARGO_POD_NAME": pod}
        self._ensure_pod(pod, n, c, "Running", "")
        n["phase"] = "Running"
        n.pop("message", None)
        repo = self.repo
        wf_name, ns = self.name, self.ns

        def after() -> dict:
            outs: dict = {}
            params = []
            for p in out_params:
                path = (p.get("valueFrom") or {}).get("path")
                if path:
                    with open(local(path)) as f:
                        params.append({"name": p["name"], "value": f.read().strip(),
                                       "valueFrom": {"path": path}})
            if params:
                outs["parameters"] = params
            saved = []
            for a in out_arts:
                if not a.get("path"):
                    continue
                if repo is None:
                    raise RuntimeError("You need to configure artifact storage. More information on how to do "
                                       "this can be found in the docs: https://argo-workflows.readthedocs.io/en/"
                                       "latest/configure-artifact-repository/")
                key = f"{wf_name}/{pod}/{a['name']}.tgz"
                self._upload(repo, ns, local(a["path"]), key)
                saved.append({"name": a["name"], "path": a["path"], "s3": {"key": key}})
            if saved:
                outs["artifacts"] = saved
            return outs

        cwd = fix(str(c["workingDir"])) if c.get("workingDir") else workdir
        if not os.path.isdir(cwd):
            cwd = workdir
        self.ctl.start_step(f"{self.ns}/{pod}", argv, env, cwd, self.ns, pod, {}, after)
        return n

    def _ensure_pod(self, pod: str, n: dict, c: dict, phase: str, message: str) -> None:
        store, rt = self.ctl.store, self.ctl.POD
        main = {"name": "main", "image": c.get("image", ""), "command": c.get("command") or [],
                "args": [str(a) for a in c.get("args") or []], "env": c.get("env") or []}
        obj = {"metadata": {"name": pod, "labels": {L_WORKFLOW: self.name, "workflows.argoproj.io/completed": "false"},
                            "annotations": {A_NODE_NAME: n["name"], A_NODE_ID: n["id"],
                                            "kubectl.kubernetes.io/default-container": "main",
                                            "workflows.argoproj.io/node-type": "Pod"},
                            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                 "name": self.name, "uid": self.uid, "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": {"nodeName": "sandbox-node", "restartPolicy": "Never", "serviceAccountName": "default",
                        "initContainers": [{"name": "init", "image": EXECUTOR_IMAGE, "command": ["argoexec", "init"]}],
                        "containers": [{"name": "wait", "image": EXECUTOR_IMAGE, "command": ["argoexec", "wait"]},
                                       main]}}
        try:
            created = store.create(rt, self.ns, obj)
        except errors.ApiError as e:
            if e.code != 409:
                raise
            created = store.get(rt, self.ns, pod)
        if phase == "Pending":
            st = {"phase": "Pending", "containerStatuses": [
                {"name": "main", "ready": False, "restartCount": 0, "image": main["image"],
                 "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}}}],
                "conditions": [{"type": "PodScheduled", "status": "True"}]}
        else:
            ts = now_rfc3339()
            st = {"phase": "Running", "hostIP": "127.0.0.1", "startTime": ts, "qosClass": "BestEffort",
                  "initContainerStatuses": [{"name": "init", "ready": True, "restartCount": 0, "image": EXECUTOR_IMAGE,
                                             "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                                      "startedAt": ts, "finishedAt": ts}}}],
                  "containerStatuses": [{"name": x, "ready": True, "started": True, "restartCount": 0,
                                         "image": img, "state": {"running": {"startedAt": ts}}}
                                        for x, img in (("main", main["image"]), ("wait", EXECUTOR_IMAGE))],
                  "conditions": [{"type": t, "status": "True"} for t in
                                 ("Initialized", "Ready", "ContainersReady", "PodScheduled")]}
        self.ctl._set_status(rt, created, st)

    def _pod_finished(self, pod: dict, step: _Step) -> None:
        st = copy.deepcopy(pod.get("status") or {})
        ok = step.code == 0
        st["phase"] = "Succeeded" if ok else "Failed"
        for cs in st.get("containerStatuses") or []:
            started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", step.finished)
            code = (step.code or 0) if cs["name"] == "main" else 0
            cs.update(ready=False, started=False, state={"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                "finishedAt": step.finished}})
        for c in st.get("conditions") or []:
            if c["type"] in ("Ready", "ContainersReady"):
                c.update(status="False", reason="PodCompleted")
        try:
            self.ctl._set_status(self.ctl.POD, pod, st)
            new = copy.deepcopy(self.ctl.store.get(self.ctl.POD, self.ns, pod["metadata"]["name"]))
            new["metadata"].setdefault("labels", {})["workflows.argoproj.io/completed"] = "true"
            self.ctl.store.update(self.ctl.POD, self.ns, pod["metadata"]["name"], new)
        except errors.ApiError:
            pass

    # -- artifacts --
    def _upload(self, repo: dict, ns: str, path: str, key: str) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(path, arcname=os.path.basename(path))
        bucket = (repo.get("s3") or {}).get("bucket", "")
        self.ctl.s3_client(repo, ns).put_object(Bucket=bucket, Key=key, Body=buf.getvalue())

    def _download(self, art: dict, dest: str) -> None:
        repo = self.repo or {}
        bucket = (art.get("s3") or {}).get("bucket") or (repo.get("s3") or {}).get("bucket", "")
        body = self.ctl.s3_client(repo, self.ns).get_object(Bucket=bucket, Key=art["s3"]["key"])["Body"].read()
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            member = next(m for m in tar.getmembers() if m.isfile())
            f = tar.extractfile(member)
            assert f is not None
            with open(dest, "wb") as out:
                out.write(f.read())

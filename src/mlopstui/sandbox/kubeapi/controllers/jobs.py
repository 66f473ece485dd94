"""Jobs (one pod; `feast materialize` runs for real in the Feast repository, anything else sleeps and
succeeds, or fails with the fault `fail`) and the status of the CronJob that owns one."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
import traceback

from .. import errors
from ..store import now_rfc3339, rand_suffix
from .base import FAULT, Controller, cond, fault_of

JOB_RUN_SECONDS = 1.0


class JobController(Controller):
    def __init__(self, mgr) -> None:
        super().__init__(mgr)
        self._jobs_running: set[str] = set()
        self._jobs_lock = threading.Lock()

    RECONCILES = ("JOB",)
    OWNER_DEPTH = 1  # its pod

    @property
    def running(self) -> int:
        """How many Jobs' processes are running (their end writes the Job's status)."""
        with self._jobs_lock:
            return len(self._jobs_running)

    def reconcile(self, rt, job: dict) -> None:
        self.reconcile_job(job)

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
            pod = self.mgr.pods.create_pod(self.JOB, job, template, f"{name}-{rand_suffix()}", labels, "")
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
            if not self.mgr._stop.is_set():
                self._finish_job(job, pod, code, message)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        finally:
            with self._jobs_lock:
                self._jobs_running.discard(uid)

    def _run_feast(self, ns: str, pod_name: str, argv: list[str], env: dict) -> tuple[int, str]:
        if not self.mgr.feast_repo:
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
            proc = subprocess.Popen(argv, cwd=self.mgr.feast_repo, env=full_env, stdout=subprocess.PIPE,
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
                    cond("SuccessCriteriaMet", True, "CompletionsReached", "Reached expected number of succeeded pods",
                          lastProbeTime=done),
                    cond("Complete", True, "CompletionsReached", "Reached expected number of succeeded pods",
                          lastProbeTime=done)]
            else:
                s["failed"] = 1
                reason = "BackoffLimitExceeded"
                msg = message or "Job has reached the specified backoff limit"
                s["conditions"] = [cond("FailureTarget", True, reason, msg, lastProbeTime=done),
                                   cond("Failed", True, reason, msg, lastProbeTime=done)]

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

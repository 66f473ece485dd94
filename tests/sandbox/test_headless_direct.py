"""The headless verbs talk to the API server without the kubernetes SDK (backends/kubehttp.py), keeping
the verbs' contracts: a write carries the resourceVersion it was planned on (409 when someone changed the
object meanwhile), is audited with the kubeconfig identity, and bad names are refused before any request.
Each verb runs in a fresh interpreter, as a one-shot process does (issue 20: the SDK import was most of a
verb's time)."""

from __future__ import annotations

import json
import subprocess
import sys

from support.serving import NS, serving_cluster

CHECK = ("import sys, json\nfrom mlopstui import cli\nrc = cli.main(sys.argv[1:])\n"
         "print(json.dumps({'rc': rc, 'sdk': sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')}),"
         " file=sys.stderr)\n")


def verb(c, tmp_path, *args: str) -> tuple[dict, str]:
    env = {"KUBECONFIG": str(c.kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "MLOPSTUI_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "PYTHONPATH": ":".join(sys.path)}
    p = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, env=env, timeout=60)
    return json.loads(p.stderr.strip().splitlines()[-1]), p.stdout + p.stderr


def test_isvc_and_canary_without_the_sdk(tmp_path):
    with serving_cluster(tmp_path) as c:
        out, text = verb(c, tmp_path, "isvc", "-n", NS)
        assert out == {"rc": 0, "sdk": []}, text
        assert "fraud-detection" in text and "churn-model" in text
        mark = c.mark()
        out, text = verb(c, tmp_path, "canary", "fraud-detection", "35", "-n", NS, "--yes", "--wait", "0")
        assert out == {"rc": 0, "sdk": []}, text
        assert c.status_of("fraud-detection")["spec"]["predictor"]["canaryTrafficPercent"] == 35
        patch = c.writes(mark)
        assert len(patch) == 1 and patch[0]["path"].endswith("/inferenceservices/fraud-detection")
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert audit[-1]["kube_identity"]["context"] == "mlopstui-sandbox", audit[-1]
        # the write carried the resourceVersion it was planned on, and the server's answer is recorded
        assert audit[-1]["patch"]["metadata"]["resourceVersion"] and audit[-1]["server"]["resourceVersion"]
        # a bad name: refused before any request (exit 2)
        mark = c.mark()
        out, text = verb(c, tmp_path, "canary", "Bad_Name", "10", "-n", NS, "--yes")
        assert out["rc"] == 2 and "not valid" in text and c.mark() == mark
        # an HTTP error answer still becomes the API server's message (kind not-found, exit 1)
        out, text = verb(c, tmp_path, "isvc", "no-such-model", "-n", NS)
        assert out["rc"] == 1 and "no InferenceService no-such-model" in text, text

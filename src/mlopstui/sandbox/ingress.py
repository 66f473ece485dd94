"""Sandbox stand-in for the Istio ingress gateway (+ Knative routing).

A small HTTP reverse proxy. For a request whose Host is ``<isvc>.<ns>.example.com``
(or ``<isvc>-predictor.<ns>.example.com``, any domain suffix, optional port) it:
1. reads the InferenceService from the Kubernetes API (the sandbox emulator, with
   the admin credentials of the kubeconfig), as the real gateway's config follows it;
2. picks a revision by weight from ``status.components.predictor.traffic`` (or the
   ``latestReadyRevision`` when there is no traffic list);
3. maps the revision to its ``storageUri`` (annotation
   ``internal.serving.kserve.io/storage-initializer-sourceuri`` on the Knative Revision object, as KServe
   writes it) and the
   storageUri to a local model server (``SANDBOX_MODEL_ROUTES``, a JSON object
   ``{storageUri: base URL}``);
4. forwards the request and adds ``x-mlopstui-revision: <revision>`` to the answer.

Unknown host -> 404 with a plain explanation; no model server for the storageUri
-> 503 naming it. ``GET /_sandbox/healthz`` answers 200 for readiness checks.

``GET /stats/prometheus`` (the path of Istio's merged Envoy/Istio metrics) exports what Istio's telemetry
records per request, for the sandbox's Prometheus: ``istio_requests_total`` and the
``istio_request_duration_milliseconds`` histogram, labelled as the destination's sidecar reports them
(``reporter="destination"``, ``destination_workload`` = the revision's Deployment ``<revision>-deployment``,
``destination_workload_namespace``, ``destination_canonical_service`` = the pod's ``app`` label, which Knative
sets to the revision, ``response_code``).

Run: ``python -m mlopstui.sandbox.ingress --port P --kubeconfig K`` (env SANDBOX_MODEL_ROUTES).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from mlopstui.sandbox.httpd import SandboxHTTPServer

REVISION_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"  # as KServe writes it
FAULT_ANNOTATION = "sandbox.mlopstui.dev/fault"
# played by the canary's model server (model_server.py), told by the header FAULT_HEADER
CANARY_FAULTS = ("canary-errors", "canary-slow")
FAULT_HEADER = "x-sandbox-fault"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "content-length", "host",
}


# Istio's default buckets for istio_request_duration_milliseconds (ms)
DURATION_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                       600000, 1800000, 3600000)
METRICS_PATH = "/stats/prometheus"


class IstioMetrics:
    """Per (namespace, isvc, revision, code): request count and duration buckets, Istio's names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str, str], list[float]] = {}  # -> [count, sum, bucket counts...]

    def record(self, ns: str, isvc: str, revision: str, code: int, ms: float) -> None:
        key = (ns, isvc, revision, str(code))
        with self._lock:
            s = self._series.setdefault(key, [0.0, 0.0] + [0.0] * len(DURATION_BUCKETS_MS))
            s[0] += 1
            s[1] += ms
            for i, le in enumerate(DURATION_BUCKETS_MS):
                if ms <= le:
                    s[2 + i] += 1

    def text(self) -> str:
        out = ["# HELP istio_requests_total requests (sandbox ingress, as Istio's destination reporter)",
               "# TYPE istio_requests_total counter"]
        hist = ["# HELP istio_request_duration_milliseconds request duration (sandbox ingress)",
                "# TYPE istio_request_duration_milliseconds histogram"]
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        for (ns, isvc, rev, code), s in items:
            labels = (f'reporter="destination",source_workload="istio-ingressgateway",'
                      f'source_workload_namespace="istio-system",destination_workload="{rev}-deployment",'
                      f'destination_workload_namespace="{ns}",destination_canonical_service="{rev}",'
                      f'destination_canonical_revision="latest",destination_service_name="{isvc}-predictor",'
                      f'destination_service_namespace="{ns}",request_protocol="http",response_code="{code}",'
                      f'response_flags="-"')
            out.append(f"istio_requests_total{{{labels}}} {s[0]:g}")
            for i, le in enumerate(DURATION_BUCKETS_MS):
                hist.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="{le:g}"}} {s[2 + i]:g}')
            hist.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} {s[0]:g}')
            hist.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {s[1]:g}")
            hist.append(f"istio_request_duration_milliseconds_count{{{labels}}} {s[0]:g}")
        return "\n".join(out + hist) + "\n"


class RouteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_host(host: str) -> tuple[str, str] | None:
    """``fraud-detection.mlops.example.com:8080`` -> (``fraud-detection``, ``mlops``)."""
    host = (host or "").split(":", 1)[0].strip().lower()
    parts = host.split(".")
    if len(parts) < 3:
        return None
    name, ns = parts[0], parts[1]
    for suffix in ("-predictor-default", "-predictor"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name, ns


def pick_revision(isvc: dict, rnd: random.Random | None = None) -> str | None:
    """Choose a revision by the weights in the predictor's traffic status."""
    rnd = rnd or random
    comp = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    traffic = [t for t in comp.get("traffic") or [] if t.get("revisionName") and (t.get("percent") or 0) > 0]
    if traffic:
        total = sum(int(t.get("percent") or 0) for t in traffic)
        x = rnd.uniform(0, total)
        acc = 0.0
        for t in traffic:
            acc += int(t.get("percent") or 0)
            if x <= acc:
                return t["revisionName"]
        return traffic[-1]["revisionName"]
    return comp.get("latestReadyRevision") or comp.get("latestCreatedRevision")


class KubeReader:
    """Minimal authenticated GETs against the Kubernetes API from a kubeconfig."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._client = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict | None]] = {}

    def _build(self):
        import httpx
        import yaml

        cfg = yaml.safe_load(self.kubeconfig.read_text())
        ctx_name = self.context or cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {}) or {}
        headers = {}
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        elif user.get("username"):
            raw = f"{user['username']}:{user.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        verify: bool | ssl.SSLContext | str = True
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        elif cluster.get("certificate-authority-data"):
            f = tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False)
            f.write(base64.b64decode(cluster["certificate-authority-data"]))
            f.close()
            verify = ssl.create_default_context(cafile=f.name)
        elif cluster.get("certificate-authority"):
            verify = ssl.create_default_context(cafile=cluster["certificate-authority"])
        return httpx.Client(base_url=cluster["server"], headers=headers, verify=verify, timeout=5.0)

    def get(self, path: str, ttl: float = 1.0) -> dict | None:
        now = time.monotonic()
        hit = self._cache.get(path)
        if hit and now - hit[0] < ttl:
            return hit[1]
        with self._lock:
            if self._client is None:
                if not self.kubeconfig.exists():
                    raise RouteError(503, f"kubeconfig {self.kubeconfig} does not exist yet")
                self._client = self._build()
            client = self._client
        try:
            r = client.get(path)
        except Exception as exc:
            with self._lock:  # the emulator may have restarted on another port: re-read the kubeconfig
                self._client = None
            raise RouteError(503, f"cannot reach the Kubernetes API: {exc}") from exc
        if r.status_code == 404:
            obj = None
        elif r.status_code >= 400:
            raise RouteError(503, f"Kubernetes API answered {r.status_code} for {path}")
        else:
            obj = r.json()
        self._cache[path] = (now, obj)
        return obj


class Router:
    def __init__(self, kube: KubeReader, routes: dict[str, str]) -> None:
        self.kube = kube
        self.routes = {k.rstrip("/"): v.rstrip("/") for k, v in routes.items()}

    def storage_uri_of(self, ns: str, isvc: dict, revision: str) -> str | None:
        rev = self.kube.get(f"/apis/serving.knative.dev/v1/namespaces/{ns}/revisions/{revision}")
        if rev:
            uri = ((rev.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
            if uri:
                return uri
        # fall back to the spec when the revision object is missing (latest revision only)
        return self.spec_storage_uri(isvc)

    @staticmethod
    def spec_storage_uri(isvc: dict) -> str | None:
        pred = (isvc.get("spec") or {}).get("predictor") or {}
        model = pred.get("model") or next((v for v in pred.values() if isinstance(v, dict) and "storageUri" in v), {})
        return model.get("storageUri")

    def resolve(self, host: str) -> tuple[str, str, str]:
        """Host -> (revision, storageUri, backend base URL); raises RouteError."""
        parsed = parse_host(host)
        if parsed is None:
            raise RouteError(404, f"no route for host '{host}': expected <inferenceservice>.<namespace>.<domain>")
        name, ns = parsed
        isvc = self.kube.get(f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}")
        if not isvc:
            raise RouteError(404, f"no InferenceService '{name}' in namespace '{ns}' (host '{host}')")
        mode = ((isvc.get("metadata") or {}).get("annotations") or {}).get("serving.kserve.io/deploymentMode") \
            or (isvc.get("status") or {}).get("deploymentMode")
        if mode == "RawDeployment":
            # no Knative revisions: one Deployment serving the current spec
            revision = f"{name}-predictor"
            uri = self.spec_storage_uri(isvc)
        else:
            revision = pick_revision(isvc)
            if not revision:
                raise RouteError(503, f"InferenceService {ns}/{name} has no ready revision yet")
            uri = self.storage_uri_of(ns, isvc, revision)
        if not uri:
            raise RouteError(503, f"revision {revision} of {ns}/{name} has no storageUri")
        backend = self.routes.get(uri.rstrip("/"))
        if not backend:
            raise RouteError(503, f"no model server for storageUri {uri} (revision {revision} of {ns}/{name})")
        return revision, uri, backend


    def canary_fault(self, host: str, revision: str) -> str | None:
        """The fault to play on this request: the InferenceService's ``sandbox.mlopstui.dev/fault``
        ``canary-errors`` / ``canary-slow`` applies to its latestCreatedRevision (the canary) only."""
        parsed = parse_host(host)
        if parsed is None:
            return None
        name, ns = parsed
        isvc = self.kube.get(f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}") or {}
        fault = ((isvc.get("metadata") or {}).get("annotations") or {}).get(FAULT_ANNOTATION)
        if fault not in CANARY_FAULTS:
            return None
        pred = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
        return fault if pred.get("latestCreatedRevision") == revision else None


def make_handler(router: Router, metrics: IstioMetrics | None = None):
    import httpx

    client = httpx.Client(timeout=30.0)
    metrics = metrics or IstioMetrics()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlopstui-sandbox-ingress"

        def log_message(self, fmt, *args):  # noqa: A002
            sys.stderr.write(f"ingress {self.address_string()} - {fmt % args}\n")

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _proxy(self) -> None:
            if self.path == "/_sandbox/healthz":
                self._send(200, b"ok\n", {"Content-Type": "text/plain"})
                return
            if self.path == METRICS_PATH and self.command == "GET":
                self._send(200, metrics.text().encode(), {"Content-Type": "text/plain; version=0.0.4"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host", "")
            try:
                revision, _uri, backend = router.resolve(host)
            except RouteError as e:
                msg = json.dumps({"error": str(e), "status": e.status}).encode()
                self._send(e.status, msg, {"Content-Type": "application/json"})
                return
            fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {FAULT_HEADER}}
            fwd["X-Forwarded-Host"] = host
            try:
                fault = router.canary_fault(host, revision)
            except RouteError:
                fault = None
            if fault:
                fwd[FAULT_HEADER] = fault
            name, ns = parse_host(host) or ("", "")
            t0 = time.monotonic()
            try:
                r = client.request(self.command, backend + self.path, content=body, headers=fwd)
            except Exception as exc:
                metrics.record(ns, name, revision, 502, (time.monotonic() - t0) * 1000.0)
                msg = json.dumps({"error": f"model server {backend} for revision {revision} unreachable: {exc}",
                                  "status": 502}).encode()
                self._send(502, msg, {"Content-Type": "application/json", "x-mlopstui-revision": revision})
                return
            metrics.record(ns, name, revision, r.status_code, (time.monotonic() - t0) * 1000.0)
            headers = {k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP | {"content-encoding"}}
            headers["x-mlopstui-revision"] = revision
            self._send(r.status_code, r.content, headers)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mlopstui.sandbox.ingress")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--context", default="mlopstui-sandbox")
    a = ap.parse_args(argv)
    routes = json.loads(os.environ.get("SANDBOX_MODEL_ROUTES", "{}"))
    router = Router(KubeReader(Path(a.kubeconfig), a.context), routes)
    srv = SandboxHTTPServer((a.host, a.port), make_handler(router))
    import signal

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start())
    print(f"ingress listening on http://{a.host}:{a.port}, routes: {routes}", flush=True)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

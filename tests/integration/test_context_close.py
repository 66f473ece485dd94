"""An AppContext closes what it opened: its KubeClient's pools, the loopback forwards and relays routes
made through the API server (services/proxy, pods/portforward), and the clients it owns. Opened and
closed N times, threads and open file descriptors come back to where they were; a CLI verb leaves no
client open; `:ctx`-like retargeting closes the old target's client.

Against the Kubernetes API emulator in this process (so its handler threads count too: a client that is
never closed keeps one waiting per keep-alive connection), with a small HTTP server and a TCP echo
server behind two Services.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mlopstui import cli, config
from mlopstui.backends import kube as k
from mlopstui.backends import routes
from mlopstui.context import AppContext
from mlopstui.sandbox.kubeapi import KubeApiServer
from mlopstui.sandbox.kubeapi.tunnel import BACKENDS_FILE
from support import leaks

NS = "leaks"
N = 8


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    sock = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return

            def one(c=conn):
                with c:
                    while data := c.recv(4096):
                        c.sendall(data)

            threading.Thread(target=one, daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return sock, t


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import json

    web = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    web.daemon_threads = True
    threading.Thread(target=web.serve_forever, daemon=True).start()
    echo, _ = _echo_server()
    d = tmp_path_factory.mktemp("leaks")
    srv = KubeApiServer(str(d), port=0, run_controllers=False).start()
    with AppContext.create(config.load(None, kubeconfig=srv.kubeconfig_path, context="mlopstui-sandbox")) as ctx:
        kc = ctx.kube
        kc.create(k.NAMESPACES, {"metadata": {"name": NS}})
        for name, port in (("web", 5000), ("echo", 7000)):
            kc.create(k.SERVICES, {"metadata": {"name": name}, "spec": {
                "selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]}}, NS)
            kc.create(k.PODS, {"metadata": {"name": f"{name}-0", "labels": {"app": name}}, "spec": {
                "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": port}]}]}}, NS)
            kc.request("PATCH", k.PODS.path(NS, f"{name}-0", "status"), content_type="application/merge-patch+json",
                       body={"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    (d / BACKENDS_FILE).write_text(json.dumps({
        f"{NS}/web": {"5000": f"127.0.0.1:{web.server_address[1]}"},
        f"{NS}/echo": {"7000": f"127.0.0.1:{echo.getsockname()[1]}"}}))
    yield srv
    srv.stop()
    web.shutdown()
    web.server_close()
    echo.close()


def _settings(srv, **flags):
    return config.load(None, kubeconfig=srv.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                       route="api", **flags)


def _use_forwards(ctx: AppContext) -> None:
    """Open a services/proxy relay and a pods/portforward listener and send something through each."""
    kc = ctx.kube
    web = kc.get(k.SERVICES, "web", NS)
    ep = routes.route("mlflow", web, web["spec"]["ports"][0], "http", ctx.settings, kc)
    assert ep.via == "api-proxy", ep
    with httpx.Client(trust_env=False) as c:  # a keep-alive connection to the relay
        assert c.get(ep.url + "/").text == "ok"
    echo = kc.get(k.SERVICES, "echo", NS)
    ep = routes.route("redis", echo, echo["spec"]["ports"][0], "redis", ctx.settings, kc)
    assert ep.via == "port-forward", ep
    host, port = ep.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"


def _no_connection_threads(timeout: float = 15.0) -> None:
    """Wait until no forward, relay or per-connection handler thread runs (closed ones end within 0.5 s)."""
    import time

    names = ("port-forward", "api-proxy")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [t for t in threading.enumerate() if t.name.startswith(names) or "process_request" in t.name]
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"still running: {left}")


def test_contexts_with_forwards_opened_and_closed_leave_no_threads_or_fds(cluster):
    with AppContext.create(_settings(cluster)) as warm:  # first use: imports, the emulator's own threads
        _use_forwards(warm)
    _no_connection_threads()  # the warm-up's connections have ended
    baseline = leaks.counts()
    for _ in range(N):
        ctx = AppContext.create(_settings(cluster))
        _use_forwards(ctx)
        ctx.close()
    _no_connection_threads()
    threads, fds = leaks.settle(baseline)
    assert threads <= baseline[0], (baseline, threads, leaks.thread_names())
    assert fds <= baseline[1], (baseline, fds)


def test_retarget_closes_the_old_targets_client_and_owned_clients(cluster):
    ctx = AppContext.create(_settings(cluster))
    _use_forwards(ctx)
    old = ctx.kube
    owned = ctx.own(httpx.Client())
    ctx.retarget("mlopstui-sandbox", "default")  # what :ctx / :ns do
    assert not old.is_open and owned.is_closed
    assert ctx.kube is not old and ctx.namespace == "default"
    ctx.close()
    assert id(old) not in leaks.open_kube_ids()


def test_a_cli_verb_closes_its_context(cluster, capsys):
    before = leaks.open_kube_ids()
    for _ in range(3):
        assert cli.main(["isvc", "--kubeconfig", cluster.kubeconfig_path, "--context", "mlopstui-sandbox",
                         "-n", NS]) == 0
    assert leaks.open_kube_ids() - before == set()


def test_a_context_made_outside_a_verb_leaves_no_deadline(cluster):
    """make_context outside cli.main (a test, a helper) set the process's verb deadline and nobody cleared
    it: a minute later every call of every later test in the process (the TUI's too) was "deadline passed"."""
    from mlopstui import deadline
    from mlopstui.cli import build_parser
    from mlopstui.commands._common import make_context

    args = build_parser().parse_args(["isvc", "--kubeconfig", cluster.kubeconfig_path, "--deadline", "0.01"])
    with make_context(args) as ctx:
        assert ctx.namespace
    assert deadline.remaining() is None


def test_a_worker_woken_by_retarget_gets_the_new_targets_client(cluster, tmp_path):
    """`:ctx` closes the old target's watches, which wakes a worker waiting for a first list. When that worker
    then asks the context for its client, it must get the new target's: the swap of target and clients is one
    step. (Before, retarget closed first and set the target after: a worker asking in between made a client
    for the old target, and the context kept it for every later worker: after `:ctx` back to a good context,
    the areas showed the broken one's "unreachable".)"""
    import time

    import yaml

    from support.fault_servers import HungServer

    hung = HungServer()
    doc = yaml.safe_load(open(cluster.kubeconfig_path))
    doc["clusters"].append({"name": "hung", "cluster": {"server": f"http://127.0.0.1:{hung.port}"}})
    doc["users"].append({"name": "hung-user", "user": {"token": "t"}})
    doc["contexts"].append({"name": "hung", "context": {"cluster": "hung", "user": "hung-user", "namespace": NS}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    ctx = AppContext.create(config.load(None, kubeconfig=str(kubeconfig), context="hung", kube_timeout=30.0))
    got: dict = {}

    def worker() -> None:
        inf = ctx.informers.informer(k.CONFIGMAPS, NS)
        got["synced"] = inf.wait_synced(30.0)  # no answer from the hung server: woken by the retarget
        got["context"] = ctx.kube.target.context

    t = threading.Thread(target=worker, daemon=True)
    try:
        t.start()
        time.sleep(0.5)
        assert t.is_alive()
        ctx.retarget("mlopstui-sandbox", NS)
        t.join(10)
        assert not t.is_alive() and got == {"synced": False, "context": "mlopstui-sandbox"}, got
        assert ctx.kube.target.context == "mlopstui-sandbox" and ctx.kube.list(k.NAMESPACES)
    finally:
        ctx.close(final=True)
        hung.close()

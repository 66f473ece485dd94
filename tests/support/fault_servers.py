"""Small fault servers on loopback, for the fault matrix (no tests here).

Each is a real listening socket (or a port nothing listens on), as a bad network or a lying server
would present itself:

- ``refuse``: a port that was bound then closed (connection refused);
- ``hang``: accepts the connection, reads nothing, never answers;
- ``garbage``: a TCP server that answers whatever it is sent with an HTML page and closes (another
  server on a database's port: not PostgreSQL's or Redis' protocol);
- ``500``: HTTP 500 with a short text body;
- ``html``: HTTP 200 with an HTML page (a proxy, a login page);
- ``badjson``: HTTP 200, ``application/json``, a truncated document;
- ``pageloop``: MLflow-shaped pages that always carry the same ``next_page_token``;
- ``ansi``: well-formed answers (Kubernetes and MLflow shapes) whose strings carry OSC/CSI sequences;
- ``hostile``: the same answers whose strings carry Textual/Rich markup as well (MARKUP: a stray closing
  tag, a style, an action link) besides an OSC: a UI must show them literally;
- ``slow`` / ``late-write`` / ``lost-write``: a proxy in front of the real emulator that delays every
  answer a little, holds the answer of a write (PATCH/POST) after forwarding it (applied, answered
  late), or never forwards a write and never answers it (not applied).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from mlopstui.sandbox.procs import free_port

OSC_TITLE = "\x1b]0;pwned\x07"
CSI_CLEAR = "\x1b[2J\x1b[H"
EVIL = f"fraud{OSC_TITLE}-exp{CSI_CLEAR}"
MARKUP = "[/x][bold]x[@click=app.quit]"
HOSTILE = f"fraud-exp{MARKUP}{OSC_TITLE}"
HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>proxy login</body></html>"


class HungServer:
    """Accepts TCP connections and never answers (until close)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


class _Garbage(HungServer):
    """Answers the first bytes of every connection with an HTML page, then closes it."""

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(c,), daemon=True).start()

    @staticmethod
    def _answer(c: socket.socket) -> None:
        with c:
            try:
                c.settimeout(5)
                c.recv(4096)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + HTML)
            except OSError:
                pass


def refused_port() -> int:
    """A port nothing listens on: connecting is refused."""
    return free_port()


def _ansi_kube(path: str) -> dict:
    """A Kubernetes answer whose server-provided strings carry escape sequences."""
    meta = {"name": "fraud-detection", "namespace": "mlops", "resourceVersion": "7",
            "annotations": {"note": EVIL}, "labels": {"app": "fraud-detection"}}
    if path.endswith("/log"):
        return {}
    if "inferenceservices" in path:
        isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": meta,
                "spec": {"predictor": {"canaryTrafficPercent": 20, "model": {
                    "modelFormat": {"name": "sklearn"}, "storageUri": f"s3://models/{EVIL}"}}},
                "status": {"url": f"http://{EVIL}", "conditions": [
                    {"type": "Ready", "status": "False", "reason": EVIL, "message": f"boom {EVIL}"}]}}
        return isvc if path.rstrip("/").endswith("fraud-detection") else {"kind": "List", "items": [isvc]}
    if path.endswith("/events"):
        return {"kind": "EventList", "items": [{"metadata": {"name": "e1", "namespace": "mlops"},
                                                "reason": EVIL, "message": EVIL, "type": "Warning",
                                                "involvedObject": {"kind": "Pod", "name": "p"}}]}
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": f"v1.31.0{OSC_TITLE}"}
    if "/workflows" in path:
        wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
              "metadata": {**meta, "name": "wf-1", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
              "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "x"}}]},
              "status": {"phase": "Failed", "message": EVIL, "startedAt": "2026-01-01T00:00:00Z",
                         "finishedAt": "2026-01-01T00:01:00Z", "progress": "0/1", "nodes": {"wf-1": {
                             "id": "wf-1", "name": "wf-1", "displayName": "wf-1", "type": "Pod",
                             "templateName": "main", "phase": "Failed", "message": EVIL,
                             "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"}}}}
        return wf if path.rstrip("/").endswith("/wf-1") else {"kind": "List", "items": [wf]}
    return {"kind": "List", "items": []}


def _ansi_mlflow(path: str) -> dict:
    exp = {"experiment_id": "1", "name": EVIL, "lifecycle_stage": "active",
           "tags": [{"key": "team", "value": EVIL}], "artifact_location": "s3://mlflow/1"}
    run = {"info": {"run_id": "r1", "run_name": EVIL, "experiment_id": "1", "status": "FINISHED",
                    "start_time": 1, "end_time": 2, "user_id": EVIL, "artifact_uri": "s3://mlflow/1/r1"},
           "data": {"metrics": [{"key": "accuracy", "value": 0.9}], "params": [{"key": "p", "value": EVIL}],
                    "tags": [{"key": "mlflow.runName", "value": EVIL}, {"key": "team", "value": EVIL}]}}
    if "experiments/search" in path:
        return {"experiments": [exp]}
    if "experiments/get" in path:
        return {"experiment": exp}
    if "runs/search" in path:
        return {"runs": [run]}
    if "runs/get" in path:
        return {"run": run}
    if "artifacts/list" in path:
        return {"files": [{"path": EVIL, "is_dir": False, "file_size": 3}]}
    if "registered-models/search" in path:
        return {"registered_models": [{"name": EVIL, "latest_versions": [{"version": "1"}]}]}
    if "model-versions/search" in path:
        return {"model_versions": [{"name": "m", "version": "1", "status": "READY", "source": EVIL,
                                    "run_id": "r1"}]}
    return {}


def _page(path: str) -> dict:
    """Pages that never end: one row each and the same next_page_token every time."""
    page = json.loads(json.dumps(_ansi_mlflow(path)).replace(json.dumps(EVIL)[1:-1], "looping"))
    page["next_page_token"] = "same-token-forever"
    return page


class FaultServer:
    """One fault on one loopback port. ``url`` for clients; ``stop()`` to end it.

    ``upstream`` (a base URL, for slow/late-write/lost-write) is the real server to forward to; the
    proxy passes the Authorization header through and does not verify the upstream's certificate.
    """

    def __init__(self, fault: str, *, protocol: str = "kube", upstream: str | None = None,
                 hold: float = 3.0, delay: float = 0.2):
        self.fault = fault
        self.protocol = protocol
        self.upstream = upstream
        self.hold = hold
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        self._hang: HungServer | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._release = threading.Event()
        if fault == "refuse":
            self.port = refused_port()
        elif fault in ("hang", "garbage"):
            self._hang = HungServer() if fault == "hang" else _Garbage()
            self.port = self._hang.port
        else:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
            self._httpd.daemon_threads = True
            self.port = self._httpd.server_address[1]
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._release.set()
        if self._hang:
            self._hang.close()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- HTTP faults ---------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                server.requests.append((self.command, self.path))
                f = server.fault
                if f in ("slow", "late-write", "lost-write"):
                    return self._proxy(body)
                if f == "500":
                    return self._send(500, b"upstream exploded", "text/plain")
                if f == "html":
                    return self._send(200, HTML, "text/html; charset=utf-8")
                if f == "badjson":
                    return self._send(200, b'{"items": [{"metadata": {"name": "x"', "application/json")
                parts = urlsplit(self.path)
                if f == "pageloop":
                    return self._send(200, json.dumps(_page(parts.path)).encode(), "application/json")
                if f in ("ansi", "hostile"):
                    evil = EVIL if f == "ansi" else HOSTILE

                    def doc(d: dict) -> bytes:
                        return json.dumps(d).replace(json.dumps(EVIL)[1:-1], json.dumps(evil)[1:-1]).encode()

                    if server.protocol == "mlflow":
                        if parts.path == "/version":
                            return self._send(200, f"2.11.0{OSC_TITLE}{CSI_CLEAR}".encode(), "text/plain")
                        if parts.path == "/health":
                            return self._send(200, b"OK", "text/plain")
                        return self._send(200, doc(_ansi_mlflow(parts.path)), "application/json")
                    if parts.path.endswith("/log"):
                        return self._send(200, f"started\n{evil}\n\x1b[31mred\x1b[0m\n".encode(), "text/plain")
                    return self._send(200, doc(_ansi_kube(parts.path)), "application/json")
                return self._send(200, b"{}", "application/json")

            def _proxy(self, body: bytes) -> None:
                # a server-side dry run (a plan's) persists nothing: it is answered as any read
                write = self.command in ("POST", "PUT", "PATCH", "DELETE") and "dryRun=All" not in self.path
                if server.fault == "lost-write" and write:
                    server._release.wait(server.hold)  # never forwarded, never answered in time
                    self.close_connection = True
                    return
                if server.fault == "slow":
                    time.sleep(server.delay)
                up = urlsplit(server.upstream or "")
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = (http.client.HTTPSConnection(up.hostname, up.port, context=ctx, timeout=10)
                        if up.scheme == "https" else http.client.HTTPConnection(up.hostname, up.port, timeout=10))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                ctype = resp.getheader("Content-Type") or "application/json"
                conn.close()
                if server.fault == "late-write" and write:
                    server._release.wait(server.hold)  # applied upstream; the answer comes too late
                    self.close_connection = True
                    return
                self._send(resp.status, data, ctype)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        return Handler


def kubeconfig_for(url: str, path, token: str = "fault-token", namespace: str = "mlops") -> str:
    """A kubeconfig whose only context talks to url (plain HTTP: the fault servers speak no TLS)."""
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: fault
clusters:
- name: fault
  cluster: {{server: "{url}"}}
contexts:
- name: fault
  context: {{cluster: fault, user: fault-user, namespace: {namespace}}}
users:
- name: fault-user
  user: {{token: {token}}}
""")
    return str(path)

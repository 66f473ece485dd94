"""The emulator as the cluster's network: `services/proxy` and `pods/proxy` (HTTP), `pods/portforward`
(WebSocket). A Knative revision's pod (label serving.knative.dev/revision) is played by the sandbox model
server of the revision's storageUri (backends.json "models").

A real API server reaches a Service's endpoints (pod IP : targetPort); the emulator reaches the sandbox's
real local service playing that Service, named in `DIR/backends.json`:

    {"mlops/mlflow-server": {"5000": "127.0.0.1:43121"}, "mlops/feast-redis-master": {"6379": "127.0.0.1:6379"}}

(written by `sandbox up`; keyed by Service and service port). A pod's port is reached through the
Service that selects the pod and targets that port, as kube-proxy would.

services/proxy follows kubernetes/kubernetes pkg/registry/core/service/storage/storage.go
(ResourceLocation: "name", "name:port", "scheme:name:port"; a numeric port becomes the port's name; no
ready endpoint is 503) and kubernetes/apimachinery pkg/util/proxy (upgradeaware.go: the request's Host
header is passed on, a bare `.../proxy` redirects to `.../proxy/`; transport.go: Location headers and
absolute links in text/html answers are rewritten under the proxy prefix). Authorization and
Impersonate-* headers are not forwarded (the API server's authentication filters remove them).

pods/portforward speaks `v4.channel.k8s.io` over WebSocket (kubelet's
pkg/kubelet/cri/streaming/portforward/websocket.go): two channels per requested port (data 2i,
error 2i+1), each opened by a frame carrying the port as two little-endian bytes; then each binary
frame is one channel byte plus payload. kubectl's SPDY/3.1 (tunnelled in WebSocket, or a plain upgrade)
is spdy.py's.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import select
import socket
import ssl
import struct
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import errors, spdy
from .errors import ApiError

if TYPE_CHECKING:
    from .server import _Handler

BACKENDS_FILE = "backends.json"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io",)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length", "host"}
_HTML_ATTRS = ("href", "src", "action", "formaction", "poster", "cite", "data", "background", "codebase",
               "longdesc", "usemap", "icon", "manifest", "profile", "classid")
_ATTR_RE = re.compile(r"""(\s(?:""" + "|".join(_HTML_ATTRS) + r""")\s*=\s*)(["'])(/[^"']*)\2""", re.IGNORECASE)


class Backends:
    """`DIR/backends.json`, re-read when it changes (the sandbox writes it after the parts are up)."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, BACKENDS_FILE)
        self._mtime = -1.0
        self._map: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict:
        with self._lock:
            try:
                mtime = os.stat(self.path).st_mtime
            except OSError:
                return {}
            if mtime != self._mtime:
                try:
                    with open(self.path) as f:
                        self._map = json.load(f)
                    self._mtime = mtime
                except (OSError, ValueError):
                    return {}
            return self._map

    def address(self, namespace: str, service: str, port: int) -> tuple[str, int] | None:
        return _hostport((self._load().get(f"{namespace}/{service}") or {}).get(str(port)))

    def model_address(self, storage_uri: str) -> tuple[str, int] | None:
        """The model server playing a Knative revision's pods, by the revision's storageUri
        (backends.json "models": {storageUri: "host:port"})."""
        models = self._load().get("models") or {}
        return _hostport(models.get(storage_uri.rstrip("/")) if isinstance(models, dict) else None)


def _hostport(addr) -> tuple[str, int] | None:
    if not addr or not isinstance(addr, str):
        return None
    host, _, p = addr.rpartition(":")
    return host, int(p)


# -- resolving ------------------------------------------------------------------------------------
def _selects(svc: dict, pod: dict) -> bool:
    sel = (svc.get("spec") or {}).get("selector") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _container_port(pod: dict, target) -> int | None:
    """targetPort (a number, or a container port's name) as a number."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p.get("containerPort"))
    return None


def split_service_id(sid: str) -> tuple[str, str, str]:
    """"name", "name:port", "scheme:name:port" -> (scheme, name, port) as utilnet.SplitSchemeNamePort."""
    parts = sid.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("http", "https", ""):
        return parts[0], parts[1], parts[2]
    raise errors.bad_request(f'invalid service request "{sid}"')


def service_location(api, namespace: str, sid: str) -> tuple[str, tuple[str, int]]:
    """(scheme, backend address) for services/NAME/proxy, or the API server's error."""
    scheme, name, port_str = split_service_id(sid)
    if not name:
        raise errors.bad_request(f'invalid service request "{sid}"')
    svc_rt = api.registry.get("", "v1", "services")
    svc = api.store.get(svc_rt, namespace, name)
    ports = (svc.get("spec") or {}).get("ports") or []
    if port_str.isdigit():  # a port number names the service port that has it
        match = [p for p in ports if int(p.get("port") or 0) == int(port_str)]
        if not match:
            raise ApiError(503, "ServiceUnavailable", f'no service port {port_str} found for service "{name}"')
        port = match[0]
    else:
        match = [p for p in ports if (p.get("name") or "") == port_str]
        if not match:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{sid}"')
        port = match[0]
    pod_rt = api.registry.get("", "v1", "pods")
    pods, _ = api.store.list(pod_rt, namespace, lambda o: _selects(svc, o) and _ready(o))
    if not pods:
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    addr = api.backends.address(namespace, name, int(port["port"]))
    if addr is None:
        raise ApiError(503, "ServiceUnavailable", f'error trying to reach service: dial tcp '
                       f'{name}.{namespace}:{port["port"]}: connect: connection refused')
    return scheme or "http", addr


def pod_port_address(api, namespace: str, pod_name: str, port: int) -> tuple[str, int] | None:
    """The local address playing `pod:port`: through a Service selecting the pod that targets the port."""
    pod = api.store.get(api.registry.get("", "v1", "pods"), namespace, pod_name)
    svcs, _ = api.store.list(api.registry.get("", "v1", "services"), namespace, lambda s: _selects(s, pod))
    for svc in svcs:
        for p in (svc.get("spec") or {}).get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            if _container_port(pod, target) == port:
                addr = api.backends.address(namespace, svc["metadata"]["name"], int(p["port"]))
                if addr:
                    return addr
    return None


REVISION_LABEL = "serving.knative.dev/revision"
STORAGE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"


def pod_location(api, namespace: str, pid: str) -> tuple[str, tuple[str, int]]:
    """(scheme, backend address) for pods/NAME[:PORT]/proxy: through a Service selecting the pod
    (as pods/portforward), else for a Knative revision's pod the model server of its storageUri."""
    scheme, name, port_str = split_service_id(pid)
    pod = api.store.get(api.registry.get("", "v1", "pods"), namespace, name)
    if not _ready(pod):
        raise ApiError(503, "ServiceUnavailable", f'pod "{name}" is not ready')
    port = int(port_str) if port_str.isdigit() else _container_port(pod, port_str) if port_str else None
    if port is None:
        port = next((int(p["containerPort"]) for c in (pod.get("spec") or {}).get("containers") or []
                     for p in c.get("ports") or [] if p.get("containerPort")), 80)
    addr = pod_port_address(api, namespace, name, port)
    rev = ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
    if addr is None and rev:
        robj = api.store.try_get(api.registry.get("serving.knative.dev", "v1", "revisions"), namespace, rev) or {}
        uri = ((robj.get("metadata") or {}).get("annotations") or {}).get(STORAGE_URI_ANNOTATION)
        addr = api.backends.model_address(uri) if uri else None
    if addr is None:
        raise ApiError(503, "ServiceUnavailable", f"error trying to reach pod {name}:{port}: connection refused")
    return scheme or "http", addr


# -- services/proxy -------------------------------------------------------------------------------
def rewrite_location(value: str, prefix: str, backend_host: str, request_host: str) -> str:
    """transport.go rewriteURL: same-host absolute paths go under the proxy prefix."""
    parts = urlsplit(value)
    if (parts.netloc and parts.netloc not in (backend_host, request_host)) or not parts.path.startswith("/"):
        return value
    if parts.path.startswith(prefix):
        return value
    path = prefix.rstrip("/") + parts.path
    return path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def rewrite_html(body: bytes, prefix: str) -> bytes:
    text = body.decode("utf-8", errors="surrogateescape")

    def sub(m: re.Match) -> str:
        path = m.group(3)
        if path.startswith("//") or path.startswith(prefix):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{prefix.rstrip('/')}{path}{m.group(2)}"

    return _ATTR_RE.sub(sub, text).encode("utf-8", errors="surrogateescape")


def proxy_http(h: _Handler, namespace: str, sid: str, rest: str, raw_query: str, body: bytes,
               kind: str = "services") -> None:
    """services/NAME/proxy (kind "services") or pods/NAME/proxy (kind "pods")."""
    prefix = f"/api/v1/namespaces/{namespace}/{kind}/{sid}/proxy"
    if rest == "" and h.command == "GET":  # proxyRedirectsforRootPath
        location = prefix + "/" + (f"?{raw_query}" if raw_query else "")
        h._status = 301
        h._log_once()
        h.send_response(301)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
        return
    locate = pod_location if kind == "pods" else service_location
    scheme, (host, port) = locate(h.api, namespace, sid)
    headers = {k: v for k, v in h.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"
               and not k.lower().startswith("impersonate-")}
    headers["Host"] = h.headers.get("Host") or f"{host}:{port}"  # passed on as the client sent it
    forwarded = h.client_address[0]
    headers["X-Forwarded-For"] = (headers.pop("X-Forwarded-For") + ", " + forwarded
                                  if "X-Forwarded-For" in headers else forwarded)
    if body:
        headers["Content-Length"] = str(len(body))
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    kwargs = {"context": ssl._create_unverified_context()} if scheme == "https" else {}
    conn = conn_cls(host, port, timeout=60, **kwargs)
    try:
        conn.request(h.command, (rest or "/") + (f"?{raw_query}" if raw_query else ""), body=body or None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    except OSError as e:
        raise ApiError(503, "ServiceUnavailable",
                       f"error trying to reach service: dial tcp {host}:{port}: {e.strerror or e}") from e
    finally:
        conn.close()
    out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
    ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "text/html" and not resp.getheader("Content-Encoding"):
        data = rewrite_html(data, prefix)
    h._status = resp.status
    h._log_once()
    h.send_response(resp.status, resp.reason)
    for k, v in out_headers:
        if k.lower() == "location":
            v = rewrite_location(v, prefix + "/", f"{host}:{port}", h.headers.get("Host") or "")
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)


# -- WebSocket ------------------------------------------------------------------------------------
def _recv_exact(sock, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("websocket closed")
        buf += chunk
    return buf


def read_frame(rfile) -> tuple[int, bytes]:
    """One (opcode, payload) from a client (masked) frame; fragments are joined."""
    payload = b""
    opcode = 0
    while True:
        b0, b1 = _recv_exact(rfile, 2)
        fin, op = b0 & 0x80, b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", _recv_exact(rfile, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", _recv_exact(rfile, 8))[0]
        mask = _recv_exact(rfile, 4) if b1 & 0x80 else b""
        data = _recv_exact(rfile, n) if n else b""
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if op >= 0x8:  # control frames may arrive between fragments
            return op, data
        if op:
            opcode = op
        payload += data
        if fin:
            return opcode, payload


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class _Reader:
    """recv() over the handler's buffered rfile (bytes already read past the HTTP head stay there)."""

    def __init__(self, rfile) -> None:
        self.rfile = rfile

    def recv(self, n: int) -> bytes:
        return self.rfile.read1(n) if hasattr(self.rfile, "read1") else self.rfile.read(n)


def portforward(h: _Handler, namespace: str, pod_name: str, query: dict[str, list[str]]) -> None:
    api = h.api
    pod = api.store.get(api.registry.get("", "v1", "pods"), namespace, pod_name)  # 404 first
    upgrade = (h.headers.get("Upgrade") or "").lower()
    offered = [p.strip() for p in (h.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
    if upgrade.startswith("spdy/3.1") or (upgrade == "websocket" and spdy.TUNNEL_PROTOCOL in offered):
        if not _ready(pod):
            raise ApiError(400, "BadRequest", f"pod {pod_name} is not running")
        return _spdy_portforward(h, namespace, pod_name, tunnelled=upgrade == "websocket")
    if upgrade != "websocket":
        raise errors.bad_request("Upgrade request required")
    ports: list[int] = []
    for v in query.get("ports", []):
        for p in v.split(","):
            if not p.strip().isdigit() or not 0 < int(p) < 65536:
                raise errors.bad_request(f'invalid port "{p}"')
            ports.append(int(p))
    if not ports:
        raise errors.bad_request("at least one port must be specified")
    chosen = next((p for p in offered if p in PORTFORWARD_PROTOCOLS), None)
    if chosen is None:
        raise ApiError(400, "BadRequest", "none of the offered subprotocols "
                       f"{offered} is served (this server speaks {', '.join(PORTFORWARD_PROTOCOLS)})")
    if not _ready(pod):
        raise ApiError(400, "BadRequest", f"pod {pod_name} is not running")
    _accept_websocket(h, chosen)
    _pump(h, namespace, pod_name, ports)


def _switch(h: _Handler, headers: dict[str, str]) -> None:
    h._status = 101
    h._log_once()
    h.send_response(101, "Switching Protocols")
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.flush()
    h.close_connection = True


def _accept_websocket(h: _Handler, protocol: str) -> None:
    key = h.headers.get("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    _switch(h, {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept,
                "Sec-WebSocket-Protocol": protocol})


def _spdy_portforward(h: _Handler, namespace: str, pod_name: str, tunnelled: bool) -> None:
    """kubectl's SPDY/3.1 port forwarding, in WebSocket binary messages or on the upgraded connection."""
    sock = h.connection
    if tunnelled:
        _accept_websocket(h, spdy.TUNNEL_PROTOCOL)
        reader, lock = _Reader(h.rfile), threading.Lock()

        def recv(_n: int) -> bytes:
            while True:
                op, data = read_frame(reader)
                if op == 0x8:
                    return b""
                if op == 0x9:
                    with lock:
                        sock.sendall(frame(0xA, data))
                    continue
                if op in (0x1, 0x2) and data:
                    return data

        def send(data: bytes) -> None:
            with lock:
                sock.sendall(frame(0x2, data))
    else:
        _switch(h, {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                    "X-Stream-Protocol-Version": "portforward.k8s.io"})
        reader = _Reader(h.rfile)

        def recv(n: int) -> bytes:
            return reader.recv(n)

        def send(data: bytes) -> None:
            sock.sendall(data)

    session = spdy.Session(recv, send)
    spdy.serve_portforward(session, lambda port: pod_port_address(h.api, namespace, pod_name, port), pod_name)


def _pump(h: _Handler, namespace: str, pod_name: str, ports: list[int]) -> None:
    sock = h.connection
    lock = threading.Lock()

    def send(opcode: int, payload: bytes) -> None:
        with lock:
            sock.sendall(frame(opcode, payload))

    backends: dict[int, socket.socket] = {}
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        send(0x2, bytes([2 * i]) + prefix)
        send(0x2, bytes([2 * i + 1]) + prefix)
        addr = pod_port_address(h.api, namespace, pod_name, port)
        try:
            if addr is None:
                raise OSError(f"connect: connection refused (nothing listens on port {port} of {pod_name})")
            backends[i] = socket.create_connection(addr, timeout=10)
            backends[i].settimeout(None)
        except OSError as e:
            msg = (f"an error occurred forwarding {port} -> {port}: error forwarding port {port} to pod "
                   f"{pod_name}: {e.strerror or e}")
            send(0x2, bytes([2 * i + 1]) + msg.encode())
    stop = threading.Event()

    def upstream(i: int, b: socket.socket) -> None:  # pod -> client
        try:
            while not stop.is_set():
                r, _, _ = select.select([b], [], [], 1.0)
                if not r:
                    continue
                data = b.recv(65536)
                if not data:
                    break
                send(0x2, bytes([2 * i]) + data)
        except OSError:
            pass
        finally:
            stop.set()

    for i, b in backends.items():
        threading.Thread(target=upstream, args=(i, b), daemon=True, name=f"portforward-{ports[i]}").start()
    reader = _Reader(h.rfile)
    try:
        while not stop.is_set():
            op, data = read_frame(reader)
            if op == 0x8:
                break
            if op == 0x9:
                send(0xA, data)
                continue
            if op not in (0x1, 0x2) or not data:
                continue
            ch = data[0]
            i = ch // 2
            if ch % 2 == 0 and i in backends and len(data) > 1:
                backends[i].sendall(data[1:])
    except (OSError, ConnectionError, ValueError):
        pass
    finally:
        stop.set()
        for b in backends.values():
            try:
                b.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            b.close()
        try:
            send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass

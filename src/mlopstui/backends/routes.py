"""Routes to the endpoints behind cluster Services: direct when one answers, else through the API server.

For a Service the catalog or discovery found, in order (first that answers wins, unless the `route`
setting or `--route direct|api` forces one):

1. direct: the LoadBalancer ingress, an external IP, a NodePort on a node's address, or the cluster DNS
   name when we run inside the cluster;
2. through the API server, with the kubeconfig's credentials (exec, certificates, oidc, impersonation:
   every request goes through `KubeClient`):
   - HTTP (MLflow REST, the ingress and model servers, the Feast feature server, LakeFS ...) via the
     Service proxy `/api/v1/namespaces/NS/services/[https:]NAME:PORT/proxy/`, relayed by a loopback-only
     local HTTP listener (as `kubectl proxy` does), so that every client (httpx, the MLflow SDK) uses a
     plain URL. A Host header the client sets (a model's host for the ingress) is passed on; otherwise
     the Service's cluster DNS name is sent, as an in-cluster client would (MLflow's --allowed-hosts);
   - TCP (PostgreSQL, PgBouncer, Redis, S3 whose SigV4 signature covers the Host and cannot pass the
     proxy) via `pods/portforward` (WebSocket, v4.channel.k8s.io) to a ready pod of the Service, the
     Service port mapped to the pod's targetPort, as `kubectl port-forward svc/NAME` does: one local
     listener per endpoint, each accepted connection one forwarded stream (a pod that went away is
     re-resolved on the next connection).

Local listeners bind 127.0.0.1 only, live as long as the KubeClient (closed by `KubeClient.close()` and
at exit), and are created once per (Service, port).
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import socket
import struct
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.endpoints import Endpoint

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.config import Settings

log = logging.getLogger("mlopstui.routes")

# endpoints spoken over TCP (port-forward); every other one is HTTP (Service proxy)
TCP_KEYS = frozenset({"s3", "postgresql", "pgbouncer", "redis", "feast_registry"})
URL_SCHEMES = {"postgresql": "postgresql", "pgbouncer": "postgresql", "feast_registry": "postgresql",
               "redis": "redis", "s3": "http"}
URL_PATHS = {"postgresql": "/postgres", "pgbouncer": "/postgres", "feast_registry": "/postgres"}
VIA_TEXT = {"api-proxy": "via API proxy", "port-forward": "via port-forward"}
PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
DIRECT_CHECK_TIMEOUT = 0.8
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}
MAX_BODY = 64 * 1024 * 1024


def via_text(ep: Endpoint) -> str:
    return VIA_TEXT.get(ep.via, "")


# -- choosing ----------------------------------------------------------------------------------------
def _answers(host: str, port: int, timeout: float = DIRECT_CHECK_TIMEOUT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def direct_candidates(svc: dict[str, Any], port: dict[str, Any],
                      nodes: list[dict[str, Any]] | None = None) -> list[tuple[str, int, str]]:
    """(host, port, how) a client outside the cluster may use, best first."""
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    number = int(port.get("port") or 0)
    out: list[tuple[str, int, str]] = []
    for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ing.get("ip") or ing.get("hostname")
        if host:
            out.append((host, number, "LoadBalancer"))
    out.extend((ip, number, "external IP") for ip in spec.get("externalIPs") or [])
    if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
        for node in nodes or []:
            addrs = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
            host = addrs.get("ExternalIP") or addrs.get("InternalIP")
            if host:
                out.append((host, int(port["nodePort"]), "NodePort"))
                break
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # inside the cluster: its DNS resolves
        out.append((f"{meta.get('name')}.{meta.get('namespace')}.svc.cluster.local", number, "cluster DNS"))
    return out


def cluster_service_of(host: str) -> tuple[str, str] | None:
    """(namespace, name) of a cluster DNS name (name.ns.svc[.cluster.local]) used from outside the cluster."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None  # inside the cluster it resolves
    parts = host.rstrip(".").split(".")
    if len(parts) in (3, 5) and parts[2] == "svc" and (len(parts) == 3 or parts[3:] == ["cluster", "local"]):
        return parts[1], parts[0]
    return None


def _url(key: str, scheme: str, host: str, port: int) -> str:
    scheme = URL_SCHEMES.get(key, scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}{URL_PATHS.get(key, '')}"


def _cache_key(key: str, svc: dict[str, Any], port: dict[str, Any], settings: Settings) -> tuple:
    meta = svc.get("metadata") or {}
    return (key, meta.get("namespace") or "default", meta.get("name") or "", port.get("port"), settings.route)


def known_route(key: str, svc: dict[str, Any], port: dict[str, Any], settings: Settings,
                kube: KubeClient) -> Endpoint | None:
    """The route chosen before for this endpoint, if any (no I/O: for showing a probe that is pending)."""
    return routes_of(kube).chosen.get(_cache_key(key, svc, port, settings))


def route(key: str, svc: dict[str, Any], port: dict[str, Any], scheme: str, settings: Settings,
          kube: KubeClient) -> Endpoint:
    """The Endpoint for `key` behind `svc`:`port` (the Service and port discovery chose; blocking: TCP
    checks, maybe a local forward)."""
    routes = routes_of(kube)
    meta = svc.get("metadata") or {}
    ns, name = meta.get("namespace") or "default", meta.get("name") or ""
    if not port.get("port"):
        return Endpoint(key, None, f"service {ns}/{name} has no ports", via="dark")
    cache_key = _cache_key(key, svc, port, settings)
    cached = routes.chosen.get(cache_key)
    if cached is not None and (cached.via != "direct" or _answers(*_host_port(cached.url))):
        return cached
    where = f"service {ns}/{name}"
    if settings.route != "api":
        nodes = routes.nodes() if port.get("nodePort") else None
        candidates = direct_candidates(svc, port, nodes)
        for host, number, how in candidates:
            if settings.route == "direct" or _answers(host, number):
                ep = Endpoint(key, _url(key, scheme, host, number), f"{where} ({how})", via="direct")
                routes.chosen[cache_key] = ep
                return ep
        if settings.route == "direct":
            dns = f"{name}.{ns}.svc.cluster.local"
            return Endpoint(key, _url(key, scheme, dns, int(port["port"])), where, via="direct")
    try:
        if key in TCP_KEYS:
            host, number = routes.tcp(ns, name, port)
            ep = Endpoint(key, _url(key, scheme, host, number), f"{where}:{port['port']} via port-forward",
                          via="port-forward")
        else:
            url = routes.http(ns, name, port, scheme)
            ep = Endpoint(key, url, f"{where}:{port['port']} via API proxy", via="api-proxy")
    except MlopsError as err:
        what = "pods/portforward" if key in TCP_KEYS else "services/proxy"
        return Endpoint(key, None, f"{where}: no route through the API server ({what}): {err.message}",
                        via="dark")
    routes.chosen[cache_key] = ep
    return ep


def route_named(found: Endpoint, settings: Settings, kube: KubeClient) -> Endpoint:
    """A configured or env URL that names a Service by cluster DNS (MLFLOW_TRACKING_URI copied from a pod:
    http://mlflow-server.mlops.svc.cluster.local:5000), used outside the cluster: reach that Service by its
    route, keeping the URL's credentials, path and query. Anything else is returned as it is."""
    from urllib.parse import urlsplit, urlunsplit

    from mlopstui.backends.kube import SERVICES

    parts = urlsplit(found.url or "")
    where = cluster_service_of(parts.hostname or "") if parts.hostname and settings.route != "direct" else None
    if where is None:
        return found
    try:
        svc = kube.get(SERVICES, where[1], where[0])
    except MlopsError as err:
        return Endpoint(found.key, None, f"{found.source}: service {where[0]}/{where[1]}: {err.message}", via="dark")
    ports = (svc.get("spec") or {}).get("ports") or []
    port = next((p for p in ports if parts.port and p.get("port") == parts.port), None) or (ports[:1] or [{}])[0]
    ep = route(found.key, svc, port, parts.scheme or "http", settings, kube)
    if not ep.url:
        return Endpoint(found.key, None, f"{found.source}: {ep.source}", via="dark")
    routed = urlsplit(ep.url)
    netloc = (parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else "") + routed.netloc
    url = urlunsplit((parts.scheme or routed.scheme, netloc, parts.path, parts.query, parts.fragment))
    return Endpoint(found.key, url, f"{found.source} ({ep.source})", via=ep.via)


def _host_port(url: str | None) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    return parts.hostname or "", parts.port or 80


# -- the local listeners ------------------------------------------------------------------------------
class ApiRoutes:
    """The local forwards of one KubeClient."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.chosen: dict[tuple, Endpoint] = {}
        self._lock = threading.Lock()
        self._http: dict[tuple, _HttpRelay] = {}
        self._tcp: dict[tuple, _TcpForward] = {}
        self._nodes: list[dict[str, Any]] | None = None
        _ALL.add(self)

    def nodes(self) -> list[dict[str, Any]]:
        if self._nodes is None:
            from mlopstui.backends.kube import NODES

            try:
                self._nodes = self.kube.list(NODES)
            except MlopsError:
                self._nodes = []
        return self._nodes

    def http(self, ns: str, name: str, port: dict[str, Any], scheme: str) -> str:
        sid = f"{'https:' if scheme == 'https' else ''}{name}:{port['port']}"
        k = (ns, sid)
        with self._lock:
            relay = self._http.get(k)
            if relay is None:
                prefix = f"/api/v1/namespaces/{ns}/services/{sid}/proxy"
                _preflight_proxy(self.kube, prefix)
                relay = _HttpRelay(self.kube, prefix, f"{name}.{ns}.svc.cluster.local:{port['port']}")
                self._http[k] = relay
        return relay.url

    def tcp(self, ns: str, name: str, port: dict[str, Any]) -> tuple[str, int]:
        k = (ns, name, int(port["port"]))
        with self._lock:
            fwd = self._tcp.get(k)
            if fwd is None:
                fwd = _TcpForward(self.kube, ns, name, port)
                fwd.check()  # forbidden, no ready pod ...: say so now, not on the first connection
                fwd.start()
                self._tcp[k] = fwd
        return fwd.address

    @property
    def is_open(self) -> bool:
        return bool(self._http or self._tcp)

    def close(self) -> None:
        with self._lock:
            for r in list(self._http.values()) + list(self._tcp.values()):
                r.close()
            self._http.clear()
            self._tcp.clear()
            self.chosen.clear()


_ALL: weakref.WeakSet[ApiRoutes] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for r in list(_ALL):
        r.close()


def routes_of(kube: KubeClient) -> ApiRoutes:
    routes = getattr(kube, "routes", None)
    if routes is None:
        routes = ApiRoutes(kube)
        kube.routes = routes
    return routes


# -- HTTP through services/proxy ----------------------------------------------------------------------
def _api_refusal(status: int, body: bytes) -> str | None:
    """The API server's own refusal (a Status object), as opposed to an answer of the backend."""
    import json

    if status < 400:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("apiVersion") == "v1":
        return str(doc.get("message") or doc.get("reason") or f"HTTP {status}")
    return None


def _preflight_proxy(kube: KubeClient, prefix: str) -> None:
    status, _, body = kube.raw("GET", prefix + "/", timeout=kube.timeout)
    why = _api_refusal(status, body)
    if why is None:
        return
    kind = {401: Kind.UNAUTHORIZED, 403: Kind.FORBIDDEN, 404: Kind.NOT_FOUND}.get(status, Kind.UNREACHABLE)
    raise MlopsError(kind, why, source="kubernetes")


class _HttpRelay:
    def __init__(self, kube: KubeClient, prefix: str, default_host: str) -> None:
        relay = self

        class Handler(_RelayHandler):
            pass

        Handler.relay = relay
        self.kube = kube
        self.prefix = prefix
        self.default_host = default_host
        self.server = _RelayServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"api-proxy {prefix}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for conn in list(self.server.conns):  # keep-alive clients' connections: their threads return
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conns: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.conns.discard(request)
        super().shutdown_request(request)


class _RelayHandler(BaseHTTPRequestHandler):
    relay: _HttpRelay
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = b""
            while len(out) <= MAX_BODY:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
            raise ValueError("request body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(n) if n else None

    def _relay(self) -> None:
        r = self.relay
        try:
            body = self._read_body()
        except ValueError as exc:
            return self._answer(413, [("Content-Type", "text/plain")], str(exc).encode())
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        own = {f"127.0.0.1:{r.port}", f"localhost:{r.port}"}
        if (self.headers.get("Host") or "") in own:
            headers["Host"] = r.default_host
        path = self.path if self.path.startswith("/") else "/" + self.path
        try:
            status, resp_headers, data = r.kube.raw(self.command, r.prefix + path, headers=headers, body=body,
                                                    timeout=max(r.kube.timeout, 60.0))
        except MlopsError as err:
            return self._answer(502, [("Content-Type", "text/plain")],
                                f"mlopstui: API server proxy failed: {err.message}".encode())
        out = []
        for k, v in resp_headers:
            if k.lower() in HOP_BY_HOP:
                continue
            if k.lower() == "location" and v.startswith(r.prefix):  # the API server put it under its prefix
                v = v[len(r.prefix):] or "/"
            out.append((k, v))
        self._answer(status, out, data)

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


# -- TCP through pods/portforward ---------------------------------------------------------------------
def _ready(pod: dict[str, Any]) -> bool:
    return ((pod.get("status") or {}).get("phase") == "Running" and not (pod.get("metadata") or {}).get(
        "deletionTimestamp") and any(c.get("type") == "Ready" and c.get("status") == "True"
                                     for c in (pod.get("status") or {}).get("conditions") or []))


def target_port(pod: dict[str, Any], port: dict[str, Any]) -> int:
    """The pod port a Service port forwards to (targetPort: a number, a container port's name, or absent)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("containerPort"):
                return int(p["containerPort"])
    raise MlopsError(Kind.NOT_FOUND, f"pod {pod['metadata']['name']} has no container port named {target!r}")


class _TcpForward:
    def __init__(self, kube: KubeClient, ns: str, name: str, port: dict[str, Any]) -> None:
        self.kube, self.ns, self.name, self.port = kube, ns, name, port
        self._pod: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.address = ("127.0.0.1", 0)
        self.last_error: str = ""

    def pod(self, refresh: bool = False) -> tuple[str, int]:
        """(pod name, pod port) as kubectl port-forward svc/NAME chooses: the Service's selector, a ready pod."""
        if self._pod is not None and not refresh:
            return self._pod
        from mlopstui.backends.kube import PODS, SERVICES

        svc = self.kube.get(SERVICES, self.name, self.ns)
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            raise MlopsError(Kind.UNSUPPORTED, f"service {self.ns}/{self.name} has no selector: no pod to forward to")
        pods = self.kube.list(PODS, self.ns, label_selector=",".join(f"{k}={v}" for k, v in selector.items()))
        ready = sorted((p for p in pods if _ready(p)), key=lambda p: p["metadata"]["name"])
        if not ready:
            raise MlopsError(Kind.UNREACHABLE, f"service {self.ns}/{self.name} has no ready pod")
        self._pod = (ready[0]["metadata"]["name"], target_port(ready[0], self.port))
        return self._pod

    def _open(self) -> tuple[Any, int]:
        try:
            name, pport = self.pod()
            ws = self.kube.websocket(f"/api/v1/namespaces/{self.ns}/pods/{name}/portforward?ports={pport}",
                                     [PORTFORWARD_PROTOCOL])
        except MlopsError as err:
            if err.kind in (Kind.FORBIDDEN, Kind.UNAUTHORIZED):
                raise
            name, pport = self.pod(refresh=True)  # the pod went away: the Service's next ready pod
            ws = self.kube.websocket(f"/api/v1/namespaces/{self.ns}/pods/{name}/portforward?ports={pport}",
                                     [PORTFORWARD_PROTOCOL])
        return ws, pport

    def check(self) -> None:
        ws, _ = self._open()
        ws.close()

    def start(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.address = self._sock.getsockname()[:2]
        threading.Thread(target=self._accept, daemon=True, name=f"port-forward {self.ns}/{self.name}").start()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"port-forward {self.ns}/{self.name} conn").start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        try:
            ws, pport = self._open()
        except MlopsError as err:
            self.last_error = err.message
            log.warning("port-forward %s/%s: %s", self.ns, self.name, err.message)
            with self._lock:
                self._conns.discard(conn)
            conn.close()
            return
        try:
            _pump(conn, ws, pport, self._closed)
        finally:
            with self._lock:
                self._conns.discard(conn)

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            try:  # wakes the thread blocked in accept(); close() alone leaves the port listening on Linux
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        with self._lock:
            for c in list(self._conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _pump(conn: socket.socket, ws: Any, port: int, closed: threading.Event) -> None:
    """Bytes both ways between a local connection and a v4.channel.k8s.io port-forward stream."""
    from websocket import ABNF, WebSocketException

    prefix = struct.pack("<H", port)
    done = threading.Event()

    def local_to_ws() -> None:
        try:
            while not done.is_set() and not closed.is_set():
                r, _, _ = select.select([conn], [], [], 0.5)
                if not r:
                    continue
                data = conn.recv(65536)
                if not data:
                    break
                ws.send(b"\x00" + data, opcode=ABNF.OPCODE_BINARY)
        except (OSError, WebSocketException):
            pass
        finally:
            done.set()

    t = threading.Thread(target=local_to_ws, daemon=True)
    t.start()
    initialized = [False, False]
    try:
        while not done.is_set() and not closed.is_set():
            r, _, _ = select.select([ws.sock], [], [], 0.5)
            if not r and not (hasattr(ws.sock, "pending") and ws.sock.pending()):
                continue
            opcode, frame = ws.recv_data_frame(True)
            if opcode == ABNF.OPCODE_CLOSE:
                break
            if opcode != ABNF.OPCODE_BINARY or not frame.data:
                continue
            ch, payload = frame.data[0], frame.data[1:]
            if ch > 1:
                continue
            if not initialized[ch]:
                if payload[:2] != prefix:
                    log.warning("port-forward: unexpected port prefix %r", payload[:2])
                    break
                initialized[ch] = True
                payload = payload[2:]
                if not payload:
                    continue
            if ch == 1:
                log.warning("port-forward to port %d: %s", port, payload.decode(errors="replace")[:300])
                break
            conn.sendall(payload)
    except (OSError, WebSocketException, ValueError):
        pass
    finally:
        done.set()
        try:
            ws.close(timeout=1)
        except Exception:  # noqa: BLE001 - closing a broken stream
            pass
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()
        t.join(timeout=2)

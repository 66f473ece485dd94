"""HTTP front of the emulator: authentication, routing, verbs, watch streaming, kubeconfig."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from mlopstui.sandbox.httpd import SandboxHTTPServer

from . import errors, openapi, patch, protobuf, tables, tunnel
from .errors import ApiError
from .rbac import Authenticator, access_review, authorize
from .registry import Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Store, now_rfc3339
from .tls import ensure_certificate

CONTEXT = "mlopstui-sandbox"
VIEWER_CONTEXT = "mlopstui-sandbox-viewer"
VERSION_INFO = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-mlopstui-sandbox", "gitCommit": "sandbox",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25",
                "compiler": "gc", "platform": "linux/amd64"}
PATCH_TYPES = {"application/merge-patch+json", "application/json-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
PUBLIC_PATHS = {"/version", "/healthz", "/readyz", "/livez"}
REQUEST_LOG_MAX = 20000
# writes (not GET/HEAD) are also appended to DIR/WRITES_LOG, one JSON line each, so a test or an operator
# of the sandbox (another process) can check e.g. that every PATCH carried metadata.resourceVersion
WRITES_LOG = "writes.jsonl"
WRITES_LOG_MAX_BYTES = 4 * 1024 * 1024
_PROXY_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$")
_POD_PROXY_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?$")
_PORTFORWARD_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward/?$")
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete", "OPTIONS": "get"}
TUNNEL_LOG_FILE = "tunnel-requests.jsonl"
CLIENT_CA_FILE = "client-ca.crt"  # present in the state dir: client certificates signed by it authenticate


class _Request:
    """A parsed resource request."""

    def __init__(self, rt: ResourceType, namespace: str, name: str, sub: str) -> None:
        self.rt = rt
        self.namespace = namespace
        self.name = name
        self.sub = sub


class KubeApiServer:
    """The Kubernetes API emulator. `start()` serves in a background thread."""

    def __init__(self, state_dir: str, host: str = "127.0.0.1", port: int = 0, feast_repo: str | None = None,
                 run_controllers: bool = True, verbose: bool = False) -> None:
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.host = host
        self.port = port
        self.feast_repo = feast_repo
        self.verbose = verbose
        self.registry = Registry()
        self.store = Store(self.registry, self.state_dir)
        self.auth = Authenticator(self.state_dir)
        self.request_log: list[dict] = []
        self.backends = tunnel.Backends(self.state_dir)
        self._tunnel_log_lock = threading.Lock()
        self._cert_path, self._key_path = ensure_certificate(self.state_dir, host)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # watch fidelity knobs: BOOKMARK period for allowWatchBookmarks=true (the API server sends about
        # one a minute), and, for tests of clients, dropping open watches / refusing new ones
        self.bookmark_interval = 60.0
        self._watch_generation = 0
        self._watch_hold = threading.Event()
        self.controllers = None
        if run_controllers:
            from .controllers import ControllerManager

            self.controllers = ControllerManager(self.store, self.registry, feast_repo=feast_repo)

    # ---- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_cert_path(self) -> str:
        return self._cert_path

    @property
    def kubeconfig_path(self) -> str:
        return os.path.join(self.state_dir, "kubeconfig")

    def load_fixture(self, source) -> list[dict]:
        """Objects from a YAML file (or a list of dicts) stored with their status unchanged (see fixtures.py)."""
        from .fixtures import documents, load_objects

        docs = source if isinstance(source, list) else documents(source)
        return load_objects(self.store, self.registry, docs)

    def token(self, user: str) -> str:
        return self.auth.tokens[user]

    def _bind(self) -> None:
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = _HTTPServer((self.host, self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._cert_path, self._key_path)
        client_ca = os.path.join(self.state_dir, CLIENT_CA_FILE)
        if os.path.exists(client_ca):  # x509 client certificates: the user is the certificate's CN
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(client_ca)
        self._httpd.ssl_context = ctx
        self.port = self._httpd.server_address[1]
        self.write_kubeconfig()

    def start(self) -> KubeApiServer:
        self._bind()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="kubeapi-http", daemon=True)
        self._thread.start()
        if self.controllers:
            self.controllers.start()
        return self

    def serve_forever(self, on_ready=None) -> None:
        """Foreground mode (used by `python -m mlopstui.sandbox.kubeapi`); returns after request_shutdown()."""
        self._bind()
        if self.controllers:
            self.controllers.start()
        if on_ready is not None:
            on_ready(self)
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._shutdown_rest()

    def request_shutdown(self) -> None:
        """Make serve_forever() return; safe to call from a signal handler."""
        if self._httpd is not None:
            threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._shutdown_rest()

    def _shutdown_rest(self) -> None:
        self._stopping.set()
        if self.controllers:
            self.controllers.stop()
        if self._httpd is not None:
            self._httpd.server_close()
            self._httpd.drop_connections()
        self.store.close()

    # ---- watch faults (tests of clients: informers must recover without the user) ---------------
    def drop_watches(self, hold: bool = False) -> None:
        """Cut every open watch stream as a broken connection would (no terminating chunk). With hold,
        new watch requests are answered 503 until release_watches(): an API server that is down."""
        if hold:
            self._watch_hold.set()
        with self.store.cond:
            self._watch_generation += 1
            self.store.cond.notify_all()

    def release_watches(self) -> None:
        self._watch_hold.clear()

    def write_kubeconfig(self) -> str:
        with open(self._cert_path, "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
        cfg = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url,
                                                       "certificate-authority-data": ca_data}}],
            "users": [{"name": u, "user": {"token": t}} for u, t in self.auth.tokens.items()],
            "contexts": [
                {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin", "namespace": "default"}},
                {"name": VIEWER_CONTEXT, "context": {"cluster": CONTEXT, "user": "viewer", "namespace": "default"}},
            ],
            "current-context": CONTEXT,
        }
        tmp = self.kubeconfig_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        os.replace(tmp, self.kubeconfig_path)
        return self.kubeconfig_path

    @property
    def tunnel_log_path(self) -> str:
        """services/proxy and pods/portforward requests, one JSON line each (readable from other processes)."""
        return os.path.join(self.state_dir, TUNNEL_LOG_FILE)

    def log_request(self, entry: dict) -> None:
        self.request_log.append(entry)
        if entry["path"].endswith("/portforward") or "/proxy" in entry["path"]:
            with self._tunnel_log_lock, open(self.tunnel_log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if len(self.request_log) > REQUEST_LOG_MAX:
            del self.request_log[: len(self.request_log) - REQUEST_LOG_MAX]
        if entry["method"] not in ("GET", "HEAD"):
            path = os.path.join(self.state_dir, WRITES_LOG)
            try:
                if os.path.exists(path) and os.path.getsize(path) > WRITES_LOG_MAX_BYTES:
                    os.replace(path, path + ".1")
                with open(path, "a") as f:
                    f.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
            except OSError:
                pass
        if self.verbose:
            print(f"{entry['user'] or '-'} {entry['method']} {entry['path']}?{entry['query']} {entry['status']}",
                  file=sys.stderr, flush=True)


class _HTTPServer(SandboxHTTPServer):
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()  # connections being served (keep-alive ones wait in recv)
        self._open_lock = threading.Lock()

    def finish_request(self, request, client_address):
        # HTTPS and plain HTTP on the same port: a TLS ClientHello starts with 0x16. The TLS
        # handshake runs in the per-connection thread, never in the accept loop.
        try:
            request.settimeout(30)
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = request.recv(1, socket.MSG_PEEK)
            if first == b"\x16" and self.ssl_context is not None:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            request.settimeout(None)
        except (ssl.SSLError, OSError):
            return
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def drop_connections(self) -> None:
        """End every connection still served (as a stopped API server does): their threads return, instead
        of waiting for clients that never close theirs."""
        with self._open_lock:
            conns = list(self._open)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


def _without_status(rt: ResourceType, obj):
    """Status is a subresource: a create of the main resource ignores any status sent (server defaults apply)."""
    if rt.has_status and isinstance(obj, dict):
        obj.pop("status", None)
    return obj


def _truthy(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")


class _Handler(BaseHTTPRequestHandler):
    api: KubeApiServer
    protocol_version = "HTTP/1.1"
    server_version = "mlopstui-kubeapi"

    def log_message(self, format, *args):  # noqa: A002 - silence default stderr logging
        pass

    # ---- plumbing ---------------------------------------------------------------------------
    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_OPTIONS(self):
        self._handle("OPTIONS")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self._status = code
        self._log_once()  # before answering: a client that got the answer finds it in the request log
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _log_once(self) -> None:
        if not self._logged:
            self._logged = True
            entry = {"method": self.command, "path": self._path, "query": self._query_raw,
                     "user": self._user, "status": self._status, "time": time.time(),
                     "peer": self.client_address[1] if isinstance(self.client_address, tuple) else None}
            if self.command in ("PATCH", "PUT"):
                entry["resourceVersion"] = getattr(self, "_body_rv", None)
            if self._impersonate:
                entry["impersonate"] = self._impersonate
            self.api.log_request(entry)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        self._path = parts.path.rstrip("/") or "/"
        self._query_raw = parts.query
        self._q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self._status = 0
        self._user = None
        self._logged = False
        self._impersonate = self._impersonation_headers()
        self._body_rv = None
        try:
            body = self._body()
            if self.command in ("PATCH", "PUT") and body[:1] == b"{":
                try:  # what the request log records of a write: the resourceVersion it was sent with
                    meta = json.loads(body).get("metadata")
                    self._body_rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
                except (ValueError, AttributeError):
                    pass
            if self._path not in PUBLIC_PATHS:
                self._user = (self.api.auth.user_for(self.headers.get("Authorization"))
                              or self._certificate_user())
                if self._user is None:
                    raise errors.unauthorized()
                if self._impersonate:
                    self._user = self._impersonated_user()
            self._route(method, body)
        except ApiError as e:
            self._send(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self._status = self._status or 499
        except Exception as e:  # noqa: BLE001 - report as a 500 Status like the real server
            import traceback

            traceback.print_exc()
            err = ApiError(500, "InternalError", f"Internal error occurred: {e}")
            try:
                self._send(500, err.status())
            except OSError:
                pass
        finally:
            self._log_once()  # streams (watch) and dropped connections

    def _impersonation_headers(self) -> dict | None:
        """Impersonate-User / -Group (one line per group) / -Uid / -Extra-*, as the request log keeps them."""
        user = self.headers.get("Impersonate-User")
        groups = self.headers.get_all("Impersonate-Group") or []
        uid = self.headers.get("Impersonate-Uid")
        extra = {k[len("Impersonate-Extra-"):].lower(): self.headers.get_all(k)
                 for k in dict.fromkeys(self.headers.keys()) if k.lower().startswith("impersonate-extra-")}
        if not (user or groups or uid or extra):
            return None
        out: dict = {"user": user, "groups": groups}
        if uid:
            out["uid"] = uid
        if extra:
            out["extra"] = extra
        return out

    def _impersonated_user(self) -> str:
        """Only admin may impersonate (RBAC verb `impersonate`); the request then runs as that user."""
        imp = self._impersonate or {}
        if not imp.get("user"):
            raise ApiError(400, "BadRequest", "requested impersonation of groups or uid without a user")
        if self._user != "admin":
            raise ApiError(403, "Forbidden", f'users "{imp["user"]}" is forbidden: User "{self._user}" cannot '
                           'impersonate resource "users" in API group "" at the cluster scope',
                           {"name": imp["user"], "kind": "users"})
        imp["by"] = self._user
        return imp["user"]

    def _certificate_user(self) -> str | None:
        conn = self.connection
        if not isinstance(conn, ssl.SSLSocket):
            return None
        try:
            cert = conn.getpeercert()
        except (ValueError, OSError):
            return None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    # ---- routing ----------------------------------------------------------------------------
    def _route(self, method: str, body: bytes) -> None:
        p = self._path
        reg = self.api.registry
        raw_path = urlsplit(self.path).path
        m = _PROXY_RE.match(raw_path)
        if m:  # services/proxy: the path after /proxy is the backend's, trailing slash and all
            ns, sid, rest = m.group(1), m.group(2), m.group(3) or ""
            self._path = raw_path
            _, name, _ = tunnel.split_service_id(sid)
            authorize(self._user, _METHOD_VERBS.get(method, "get"), reg.get("", "v1", "services"), ns, name,
                      "proxy")
            return tunnel.proxy_http(self, ns, sid, rest, self._query_raw, body)
        m = _POD_PROXY_RE.match(raw_path)
        if m:  # pods/proxy: authorized as <verb> pods/proxy, as kube-apiserver does
            ns, pid, rest = m.group(1), m.group(2), m.group(3) or ""
            self._path = raw_path
            _, name, _ = tunnel.split_service_id(pid)
            authorize(self._user, _METHOD_VERBS.get(method, "get"), reg.get("", "v1", "pods"), ns, name, "proxy")
            return tunnel.proxy_http(self, ns, pid, rest, self._query_raw, body, kind="pods")
        m = _PORTFORWARD_RE.match(raw_path)
        if m:
            # a WebSocket upgrade is a GET, authorized as `create pods/portforward` (as kube-apiserver does
            # since AuthorizePodWebsocketUpgradeCreatePermission, beta and on by default in 1.31)
            authorize(self._user, "create", reg.get("", "v1", "pods"), m.group(1), m.group(2), "portforward")
            return tunnel.portforward(self, m.group(1), m.group(2),
                                      parse_qs(self._query_raw, keep_blank_values=True))
        if p in ("/healthz", "/readyz", "/livez"):
            return self._send(200, b"ok", "text/plain")
        if p == "/version":
            return self._send(200, VERSION_INFO)
        if p == "/api":
            return self._send(200, reg.api_versions_doc())
        if p == "/apis":
            return self._send(200, reg.api_group_list_doc())
        if p == "/openapi/v3":
            return self._send(200, openapi.v3_root(reg))
        if p.startswith("/openapi/v3/"):
            doc = openapi.v3_group_version(reg, p[len("/openapi/v3/"):])
            if doc is None:
                raise errors.path_not_found()
            return self._send(200, doc)
        if p in ("/debug/controllers", "/debug/controllers/resync"):
            return self._debug_controllers(method, p)
        segs = [s for s in p.split("/") if s]
        if segs[0] == "api" and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 2:
            if len(segs) == 2:
                doc = reg.api_group_doc(segs[1])
                if doc is None:
                    raise errors.path_not_found()
                return self._send(200, doc)
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise errors.path_not_found()
        if not rest:
            doc = reg.resource_list_doc(group, version)
            if doc is None:
                raise errors.path_not_found()
            return self._send(200, doc)
        req = self._parse_resource_path(group, version, rest)
        self._dispatch(method, req, body)

    def _debug_controllers(self, method: str, p: str) -> None:
        """The controllers' work queue (not a Kubernetes API; admin only): GET /debug/controllers[?since=SEQ]
        its state and counters (with `since`, the reconciles after that seq: which objects a change made the
        controllers reconcile); POST /debug/controllers/resync asks for a full resync now."""
        mgr = self.api.controllers
        if mgr is None:
            raise errors.path_not_found()
        if self._user != "admin":
            raise ApiError(403, "Forbidden", f'User "{self._user}" cannot use the controllers\' debug endpoint')
        if p.endswith("/resync"):
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "POST to ask for a resync")
            resyncs = mgr.resyncs
            mgr.request_resync()
            return self._send(202, {"resyncRequested": True, "resyncs": resyncs})
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", "GET the controllers' state")
        since = self._q.get("since")
        try:
            since_n = int(since) if since not in (None, "") else None
        except ValueError:
            raise errors.bad_request(f"since: not a number: {since!r}") from None
        return self._send(200, mgr.debug(since_n))

    def _parse_resource_path(self, group: str, version: str, rest: list[str]) -> _Request:
        reg = self.api.registry
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = reg.get(group, version, rest[2])
            if rt is not None and rt.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = reg.get(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise errors.path_not_found()
        name = rest[1] if len(rest) >= 2 else ""
        sub = rest[2] if len(rest) == 3 else ""
        if sub and sub not in rt.subresources:
            raise errors.path_not_found()
        return _Request(rt, namespace, name, sub)

    def _verb(self, method: str, req: _Request) -> str:
        if method == "GET":
            if _truthy(self._q.get("watch")):
                return "watch"
            return "get" if req.name else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if req.name else "deletecollection"
        raise errors.method_not_allowed()

    def _dispatch(self, method: str, req: _Request, body: bytes) -> None:
        verb = self._verb(method, req)
        authorize(self._user, verb, req.rt, req.namespace, req.name, req.sub)
        dry = self._q.get("dryRun") == "All"
        store = self.api.store
        rt = req.rt
        if req.sub == "log":
            if verb != "get":
                raise errors.method_not_allowed()
            return self._pod_log(req)
        if req.sub == "scale":
            return self._scale(method, req, body, dry)
        if verb == "watch":
            return self._watch(req)
        if verb == "list":
            items, rv = store.list(rt, req.namespace or None, self._matcher())
            return self._send_list(rt, items, rv)
        if verb == "get":
            obj = store.get(rt, req.namespace, req.name)
            if self._wants_table():
                return self._send(200, tables.to_table(rt, [obj], store.rv, self._q.get("includeObject", "Metadata")))
            return self._send(200, obj)
        if (rt.group, rt.plural) == ("authorization.k8s.io", "selfsubjectaccessreviews"):
            if verb != "create" or req.name:
                raise errors.method_not_allowed()
            return self._send(201, access_review(self._user, self._parse_body(body) or {}))
        if verb == "create":
            if req.name:
                raise errors.method_not_allowed()
            obj = _without_status(rt, self._parse_body(body))
            return self._send(201, store.create(rt, req.namespace, obj, dry_run=dry))
        if verb == "update":
            obj = self._parse_body(body)
            return self._send(200, store.update(rt, req.namespace, req.name, obj, dry_run=dry, subresource=req.sub))
        if verb == "patch":
            return self._patch(req, body, dry)
        if verb == "delete":
            return self._send(200, store.delete(rt, req.namespace, req.name, dry_run=dry))
        if verb == "deletecollection":
            items, rv = store.list(rt, req.namespace or None, self._matcher())
            for o in items:
                store.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"], dry_run=dry)
            return self._send(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                                    "metadata": {"resourceVersion": str(store.rv)}, "items": items})
        raise errors.method_not_allowed()

    # ---- helpers ----------------------------------------------------------------------------
    def _parse_body(self, body: bytes):
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if "protobuf" in ctype:
            try:
                return self._complete_from_owner(protobuf.decode(body))
            except protobuf.ProtobufError as e:
                raise errors.unsupported_media(f"{ctype}: {e}") from e
        if "cbor" in ctype:
            raise errors.unsupported_media(ctype)
        try:
            if "yaml" in ctype:
                return yaml.safe_load(body.decode() or "{}")
            return json.loads(body.decode() or "{}")
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"error decoding request body: {e}") from e

    def _complete_from_owner(self, obj: dict) -> dict:
        """A protobuf-decoded Job made by `kubectl create job --from=cronjob/X` gets the CronJob's full
        jobTemplate spec as base (the protobuf decoder knows only a subset of the pod schema)."""
        if obj.get("kind") != "Job":
            return obj
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "CronJob":
                cj_rt = self.api.registry.get("batch", "v1", "cronjobs")
                ns = (obj.get("metadata") or {}).get("namespace") or self._path.split("/")[5]
                cj = self.api.store.try_get(cj_rt, ns, ref.get("name", ""))
                if cj:
                    base = ((cj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
                    obj["spec"] = patch.strategic_merge(base, obj.get("spec") or {})
        return obj

    def _matcher(self):
        lab = parse_label_selector(self._q.get("labelSelector"))
        fld = parse_field_selector(self._q.get("fieldSelector"))
        return lambda o: lab((o.get("metadata") or {}).get("labels") or {}) and fld(o)

    def _wants_table(self) -> bool:
        accept = self.headers.get("Accept") or ""
        return "as=Table" in accept

    def _send_list(self, rt: ResourceType, items: list[dict], rv: int) -> None:
        if self._wants_table():
            return self._send(200, tables.to_table(rt, items, rv, self._q.get("includeObject", "Metadata")))
        self._send(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                         "metadata": {"resourceVersion": str(rv)}, "items": items})

    def _pod_log(self, req: _Request) -> None:
        store = self.api.store
        pod = store.get(req.rt, req.namespace, req.name)  # 404 if the pod does not exist
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
        container = self._q.get("container") or (names[0] if names else "")
        if names and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {req.name}")
        tail = self._q.get("tailLines")
        try:
            n = int(tail) if tail else None
        except ValueError as e:
            raise errors.bad_request("tailLines must be an integer") from e
        if _truthy(self._q.get("previous")):
            # the kubelet's answer: the log of the container's last terminated instance, if it has one
            status = pod.get("status") or {}
            cs = next((c for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
                       if c.get("name") == container), {})
            if not (cs.get("lastState") or {}).get("terminated"):
                raise errors.bad_request(f'previous terminated container "{container}" in pod "{req.name}" not found')
            key = f"{req.name}/{container}@previous"
        else:
            # a multi-container pod (an Argo workflow pod: init, wait, main) keeps one log per container under
            # "<pod>/<container>"; the pod's own log is its first (main) container's
            key = f"{req.name}/{container}"
            if not self._q.get("container") or (not store.get_log(req.namespace, key)
                                                and container == (names[0] if names else container)):
                key = req.name
        text = store.get_log(req.namespace, key)
        if n is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-n:]) if n > 0 else ""
        if _truthy(self._q.get("follow")) and not _truthy(self._q.get("previous")):
            return self._pod_log_follow(req, key, text)
        data = text.encode()
        limit = self._q.get("limitBytes")
        if limit:  # as the kubelet: the first limitBytes of the (tailed) output, a last line maybe cut
            try:
                n = int(limit)
            except ValueError as e:
                raise errors.bad_request("limitBytes must be an integer") from e
            if n < 1:
                raise errors.bad_request("limitBytes: Invalid value: must be greater than 0")
            data = data[:n]
        self._send(200, data, "text/plain")

    FOLLOW_LIMIT = 1800.0  # a follow stream ends after this long, as the emulator's watches do
    FOLLOW_POLL = 0.2

    def _pod_log_follow(self, req: _Request, key: str, text: str) -> None:
        """`follow=true`: the tail, then whatever the log grows by, chunked, until the pod is gone or stops
        running, the client goes away, the server stops, or FOLLOW_LIMIT passes."""
        import select

        store = self.api.store
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._status = 200
        self._log_once()  # when the stream opens: a test can tell that a client follows

        def chunk(data: str) -> None:
            raw = data.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        sent = len(store.get_log(req.namespace, key))
        deadline = time.monotonic() + self.FOLLOW_LIMIT
        try:
            if text:
                chunk(text)
            while not self.api._stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], self.FOLLOW_POLL)
                if readable:  # a streaming client sends nothing: readable means it closed the connection
                    self.close_connection = True
                    return
                current = store.get_log(req.namespace, key)
                if len(current) > sent:
                    chunk(current[sent:])
                    sent = len(current)
                try:
                    pod = store.get(req.rt, req.namespace, req.name)
                except ApiError:
                    break
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _scale(self, method: str, req: _Request, body: bytes, dry: bool) -> None:
        store, rt = self.api.store, req.rt
        obj = store.get(rt, req.namespace, req.name)
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        meta = obj["metadata"]
        scale = {"kind": "Scale", "apiVersion": "autoscaling/v1",
                 "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                   "creationTimestamp") if k in meta},
                 "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
                 "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                            "selector": ",".join(f"{k}={v}" for k, v in labels.items())}}
        if method == "GET":
            return self._send(200, scale)
        if method == "PUT":
            new_scale = self._parse_body(body)
        elif method == "PATCH":
            new_scale = self._apply_patch_body(req, scale, body)
        else:
            raise errors.method_not_allowed()
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != meta["resourceVersion"]:
            raise errors.conflict(rt, req.name)
        obj.setdefault("spec", {})["replicas"] = int((new_scale.get("spec") or {}).get("replicas", 0))
        updated = store.update(rt, req.namespace, req.name, obj, dry_run=dry)
        scale["spec"]["replicas"] = updated["spec"]["replicas"]
        scale["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
        self._send(200, scale)

    def _apply_patch_body(self, req: _Request, current: dict, body: bytes) -> dict:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media(ctype)
        try:
            doc = yaml.safe_load(body.decode() or "{}") if ctype.endswith("yaml") else json.loads(body.decode())
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"error decoding patch: {e}") from e
        try:
            if ctype == "application/merge-patch+json":
                return patch.merge_patch(current, doc)
            if ctype == "application/json-patch+json":
                return patch.json_patch(current, doc)
            if ctype == "application/strategic-merge-patch+json":
                return patch.strategic_merge(current, doc)
            return patch.apply_patch(current, doc)
        except patch.PatchError as e:
            raise ApiError(422, "Invalid", str(e), {}) from e

    def _patch(self, req: _Request, body: bytes, dry: bool) -> None:
        store, rt = self.api.store, req.rt
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media(ctype)
        existing = store.try_get(rt, req.namespace, req.name)
        if ctype == "application/apply-patch+yaml":
            manager = self._q.get("fieldManager")
            if not manager:
                raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                               "value: is required for apply patch",
                               {"group": "meta.k8s.io", "kind": "PatchOptions",
                                "causes": [{"reason": "FieldValueRequired", "message": "Required value: is "
                                            "required for apply patch", "field": "fieldManager"}]})
            applied = self._parse_body(body)
            if not isinstance(applied, dict):
                raise errors.bad_request("apply patch must be an object")
            ameta = applied.setdefault("metadata", {})
            if ameta.get("name") and ameta["name"] != req.name:
                raise errors.bad_request(f"the name of the object ({ameta['name']}) does not match the name "
                                         f"on the URL ({req.name})")
            ameta["name"] = req.name
            entry = {"manager": manager, "operation": "Apply", "apiVersion": rt.api_version,
                     "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}}
            if existing is None:
                ameta["managedFields"] = [entry]
                return self._send(201, store.create(rt, req.namespace, _without_status(rt, applied), dry_run=dry))
            new = patch.apply_patch(existing, applied)
            mfs = [m for m in (existing["metadata"].get("managedFields") or [])]
            if not any(m.get("manager") == manager and m.get("operation") == "Apply" for m in mfs):
                mfs.append(entry)
            new["metadata"]["managedFields"] = mfs
            return self._send(200, store.update(rt, req.namespace, req.name, new, dry_run=dry,
                                                    subresource=req.sub))
        if existing is None:
            raise errors.not_found(rt, req.name)
        new = self._apply_patch_body(req, existing, body)
        if not isinstance(new, dict):
            raise errors.bad_request("patch result is not an object")
        self._send(200, store.update(rt, req.namespace, req.name, new, dry_run=dry, subresource=req.sub))

    def _watch(self, req: _Request) -> None:
        store, rt = self.api.store, req.rt
        rv_param = self._q.get("resourceVersion")
        initial = _truthy(self._q.get("sendInitialEvents"))
        since = int(rv_param) if rv_param and rv_param != "0" and not initial else None
        try:
            timeout = float(self._q.get("timeoutSeconds") or 1800)
        except ValueError as e:
            raise errors.bad_request("timeoutSeconds must be a number") from e
        if self.api._watch_hold.is_set():
            raise errors.ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        bookmarks = self.api.bookmark_interval if _truthy(self._q.get("allowWatchBookmarks")) else None
        table = self._wants_table()
        include = self._q.get("includeObject", "Metadata")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._status = 200
        self._log_once()  # when the stream opens: a test can tell that a client is watching
        generation = self.api._watch_generation

        def stopped() -> bool:
            return self.api._stopping.is_set() or self.api._watch_generation != generation

        try:
            for etype, obj in store.watch(rt, req.namespace or None, since, self._matcher(), timeout, stopped,
                                          initial_events_bookmark=initial, bookmark_interval=bookmarks):
                if table and etype not in ("ERROR", "BOOKMARK"):
                    obj = tables.to_table(rt, [obj], obj["metadata"].get("resourceVersion", ""), include)
                line = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            if self.api._watch_generation == generation:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
        except OSError:  # the client went away (TLS EOF, reset): nothing to answer
            self.close_connection = True
            return
        # dropped (drop_watches): end the connection without the last chunk, as a broken link would
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


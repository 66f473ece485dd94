"""Kubernetes access: one generic client over raw API paths, returning plain dicts.

The kubernetes package is imported inside KubeClient (never at app import time).
Every call has a timeout; every failure becomes an MlopsError with a kind.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mlopstui import deadline
from mlopstui.backends.kubeconfig import KubeTarget, load_target, run_exec_plugin
from mlopstui.errors import Kind, MlopsError, decode_json, from_exception
from mlopstui.models.objects import with_resource_version

# -- names: Kubernetes' own rules, checked before any request (k8s.io/apimachinery
# pkg/util/validation/validation.go: IsDNS1123Label, IsDNS1123Subdomain, IsDNS1035Label) ----------------
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "label": (re.compile(rf"{_LABEL}"), 63,
              "a DNS-1123 label: at most 63 lower-case letters, digits or '-', starting and ending with a "
              "letter or digit"),
    "subdomain": (re.compile(rf"{_LABEL}(\.{_LABEL})*"), 253,
                  "a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', starting and "
                  "ending with a letter or digit"),
    # Services, and KServe's InferenceService (IsvcNameFmt "[a-z]([-a-z0-9]*[a-z0-9])?")
    "dns1035": (re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"), 63,
                "a DNS-1035 label: at most 63 lower-case letters, digits or '-', starting with a letter and "
                "ending with a letter or digit"),
}


def check_name(value: Any, *, what: str = "name", rule: str = "subdomain") -> str:
    """value when it is a valid Kubernetes name under rule, else MlopsError(INVALID) (exit 2, nothing sent)."""
    pattern, limit, words = NAME_RULES[rule]
    if not isinstance(value, str) or value == "":
        raise MlopsError(Kind.INVALID, f"{what} is empty", hint=f"a {what} is {words}")
    if len(value) > limit or not pattern.fullmatch(value):
        shown = value if len(value) <= 70 else value[:60] + f"... ({len(value)} characters)"
        raise MlopsError(Kind.INVALID, f"{what} {shown!r} is not valid: a {what} must be {words}",
                         hint="nothing was sent")
    return value


def check_namespace(value: Any) -> str:
    return check_name(value, what="namespace", rule="label")


@dataclass(frozen=True)
class Res:
    """A resource type: group ("" for core), version, plural, and whether it is namespaced."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    name_rule: str = "subdomain"  # which of NAME_RULES this kind's names follow

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def full_name(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def check_name(self, name: Any) -> str:
        return check_name(name, what=f"{self.kind} name", rule=self.name_rule)

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        """The one place API paths are built: namespace and name validated, every segment percent-encoded.

        namespace None (a namespaced kind) is every namespace; name None is the collection. An empty
        string, '..', a '/', a '?' or anything else Kubernetes would not accept is refused before any
        request (MlopsError INVALID).
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += "/namespaces/" + quote(check_namespace(namespace), safe="")
        base += f"/{self.plural}"
        if name is not None:
            base += "/" + quote(self.check_name(name), safe="")
        if sub:
            base += "/" + quote(sub, safe="")
        return base


NAMESPACES = Res("", "v1", "namespaces", "Namespace", namespaced=False, name_rule="label")
NODES = Res("", "v1", "nodes", "Node", namespaced=False)
PODS = Res("", "v1", "pods", "Pod")
SERVICES = Res("", "v1", "services", "Service", name_rule="dns1035")
EVENTS = Res("", "v1", "events", "Event")
CONFIGMAPS = Res("", "v1", "configmaps", "ConfigMap")
SECRETS = Res("", "v1", "secrets", "Secret")
DEPLOYMENTS = Res("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Res("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Res("apps", "v1", "daemonsets", "DaemonSet")
REPLICASETS = Res("apps", "v1", "replicasets", "ReplicaSet")
JOBS = Res("batch", "v1", "jobs", "Job")
CRONJOBS = Res("batch", "v1", "cronjobs", "CronJob")
INFERENCESERVICES = Res("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService",
                        name_rule="dns1035")
KNATIVE_REVISIONS = Res("serving.knative.dev", "v1", "revisions", "Revision")
KNATIVE_SERVICES = Res("serving.knative.dev", "v1", "services", "Service", name_rule="dns1035")
ARGO_WORKFLOWS = Res("argoproj.io", "v1alpha1", "workflows", "Workflow")
ARGO_CRON_WORKFLOWS = Res("argoproj.io", "v1alpha1", "cronworkflows", "CronWorkflow")
ARGO_WORKFLOW_TEMPLATES = Res("argoproj.io", "v1alpha1", "workflowtemplates", "WorkflowTemplate")
ARGO_CLUSTER_WORKFLOW_TEMPLATES = Res("argoproj.io", "v1alpha1", "clusterworkflowtemplates",
                                      "ClusterWorkflowTemplate", namespaced=False)
FEATURESTORES = Res("feast.dev", "v1alpha1", "featurestores", "FeatureStore")
FEATURESTORES_V1 = Res("feast.dev", "v1", "featurestores", "FeatureStore")  # the operator's served v1 (v1alpha1 deprecated)
TENANTS = Res("minio.min.io", "v2", "tenants", "Tenant")  # the MinIO operator's object store

WORKLOADS = (DEPLOYMENTS, STATEFULSETS, DAEMONSETS)
LOG_LIMIT_BYTES = 2 * 1024 * 1024  # pod logs: at most this much of a log is read (limitBytes)

_REASONS = {
    400: Kind.INVALID, 401: Kind.UNAUTHORIZED, 403: Kind.FORBIDDEN, 404: Kind.NOT_FOUND,
    409: Kind.CONFLICT, 410: Kind.CONFLICT, 415: Kind.INVALID, 422: Kind.INVALID,
}


def _status_error(status: int, body: str | bytes | None, what: str) -> MlopsError:
    from mlopstui.text import clean_line, snippet

    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    message = ""
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            message = clean_line(doc.get("message") or doc.get("reason") or "")[:300]
    except ValueError:
        message = f"HTTP {status} on {what}: {snippet(text)!r}" if text.strip() else ""
    kind = _REASONS.get(status, Kind.UNREACHABLE if status in (502, 503, 504) else Kind.ERROR)
    message = message or f"HTTP {status} on {what}"
    hint = None
    if kind is Kind.FORBIDDEN:
        hint = "your kubeconfig user lacks this permission (RBAC); ask for it or use a context that has it"
    elif kind is Kind.UNAUTHORIZED:
        hint = "the credentials in the kubeconfig were rejected; refresh the token or pick another context"
    elif kind is Kind.CONFLICT and status == 409 and "modified" in message:
        hint = "someone else changed it since it was read; re-read and try again"
    return MlopsError(kind, message, hint=hint, source="kubernetes")


_CLIENTS: weakref.WeakSet[KubeClient] = weakref.WeakSet()


def open_clients() -> list[KubeClient]:
    """The KubeClients of this process holding connections or local forwards (a leak shows here)."""
    return [c for c in list(_CLIENTS) if c.is_open]


def _raw_answer(resp: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    # urllib3 decodes gzip/deflate bodies (Prometheus gzips its answers): the headers must say so too,
    # or a relay passes "Content-Encoding: gzip" with a plain body and its client fails to decompress
    hdrs_out = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-encoding"]
    return resp.status, hdrs_out, resp.data or b""


class KubeClient:
    """A thread-safe generic client bound to one kubeconfig context. close() ends its connections and
    local forwards; it stays usable (the next request connects anew).

    direct=True (the headless verbs and the TUI): request(), raw() and watch() go through backends/kubehttp.py
    (urllib3 alone, no kubernetes import) when it supports the kubeconfig user; follow_log() and websocket()
    build the SDK client on first use. Why the TUI too: its first Stack rows come from lists and watches,
    and `import kubernetes.client` (~0.3 CPU-s) before them held the UI thread's GIL (bench_startup.py)."""

    def __init__(self, target: KubeTarget, *, timeout: float = 5.0, direct: bool = False):
        self.target = target
        self.timeout = timeout
        # --dry-run=server: every write is sent with dryRun=All (admitted and validated, not persisted)
        self.dry_run_all = False
        self._lock = threading.Lock()
        self._api: Any = None
        self._direct: Any = None
        self._exec_status: dict[str, Any] | None = None  # an exec plugin runs once for both transports
        self.direct = direct
        if direct:
            from mlopstui.backends import kubehttp

            self.direct = kubehttp.supported(target)
        self._retired = False  # close(final=True): a request still in flight does not reconnect
        _CLIENTS.add(self)

    @classmethod
    def from_settings(cls, kubeconfig: str | None, context: str | None, namespace: str | None,
                      timeout: float = 5.0, direct: bool = False) -> KubeClient:
        return cls(load_target(kubeconfig, context, namespace), timeout=timeout, direct=direct)

    @property
    def namespace(self) -> str:
        return self.target.namespace

    def _exec(self) -> dict[str, Any] | None:
        """The exec plugin's ExecCredential status (run once per client), None without a plugin."""
        ex = self.target.user_entry().get("exec")
        if isinstance(ex, dict) and self._exec_status is None and self.target.source != "in-cluster":
            self._exec_status = run_exec_plugin(ex, self.target.cluster_entry())
        return self._exec_status

    def _transport(self) -> Any:
        """The direct transport (backends/kubehttp.py), built on first use."""
        with self._lock:
            if self._retired:
                raise MlopsError(Kind.ERROR, f"the client of context {self.target.context} was closed "
                                 "(context switched, or the verb or the app ended)", source="kubernetes")
            if self._direct is None:
                from mlopstui.backends.kubehttp import DirectTransport

                self._direct = DirectTransport(self.target, self._exec())
            return self._direct

    def _client(self) -> Any:
        with self._lock:
            if self._retired:
                raise MlopsError(Kind.ERROR, f"the client of context {self.target.context} was closed "
                                 "(context switched, or the verb or the app ended)", source="kubernetes")
            if self._api is None:
                from mlopstui.backends.kubehttp import build_api_client

                self._api = build_api_client(self.target, self._exec())
                # no hidden retries: urllib3 would retry a timed-out connect (of any verb, a PATCH too)
                # 3 times, turning one 5 s timeout into 20 s; the verb's deadline decides instead
                self._api.rest_client.pool_manager.connection_pool_kw["retries"] = False
                # one connection per open watch (backends/informer.py: a dozen kinds) besides the requests:
                # without room, urllib3 discards and reopens connections (and warns) on every request
                self._api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 32
            return self._api

    def _headers(self, hdrs: dict[str, str]) -> Any:
        """The request headers plus Impersonate-* (one header line per group, as client-go sends them)."""
        if not self.target.impersonate:
            return hdrs
        from urllib3 import HTTPHeaderDict

        out = HTTPHeaderDict(hdrs)
        for k, v in self.target.impersonate.headers():
            out.add(k, v)
        return out

    def _refresh_exec_credentials(self, retried: bool) -> bool:
        """An exec plugin's token expired (401): drop the client so the plugin runs again, once."""
        if retried or "exec" not in self.target.user_entry():
            return False
        self.close()
        self._exec_status = None
        return True

    # -- tunnels (services/proxy, pods/portforward): backends/routes.py builds on these ----------------
    def raw(self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout: float | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request with the kubeconfig's credentials, its answer as it is (status, headers, body, the body
        decoded from any Content-Encoding): for services/proxy, where the body is the backend's. Redirects
        are not followed."""
        try:
            if self.direct:
                resp = self._transport().send(method, path, dict(headers or {}), body, timeout or self.timeout,
                                              redirect=False)
            else:
                api = self._client()
                _, url, auth, _, _ = api.param_serialize(method, path, header_params={},
                                                         auth_settings=["BearerToken"])
                resp = api.rest_client.pool_manager.request(method, url, headers=self._headers({**(headers or {}),
                                                                                                **auth}),
                                                            body=body, redirect=False, retries=False,
                                                            timeout=timeout or self.timeout)
        except MlopsError:
            raise
        except Exception as exc:  # urllib3 timeouts, connection errors
            raise self._transport_error(exc) from None
        return _raw_answer(resp)

    def _transport_error(self, exc: BaseException, what: str | None = None, timeout: float = 0) -> MlopsError:
        err = from_exception(exc, source="kubernetes")
        if err.kind is Kind.UNREACHABLE:
            err.message = f"API server {self.target.server} is unreachable: {err.message}"
        elif err.kind is Kind.TIMEOUT and what:
            err.message = f"{what} on {self.target.server} got no answer within {timeout:g} s"
        return err

    def websocket(self, path: str, subprotocols: list[str], timeout: float | None = None) -> Any:
        """A connected websocket-client WebSocket to path (wss), with the kubeconfig's TLS settings,
        credentials and impersonation. The kubernetes client's own create_websocket forwards only the
        Authorization header (no Impersonate-*): this one sends them all."""
        import ssl

        import certifi
        from websocket import WebSocket, WebSocketBadStatusException

        api = self._client()
        cfg = api.configuration
        _, url, auth, _, _ = api.param_serialize("GET", path, header_params={}, auth_settings=["BearerToken"])
        url = "wss://" + url.split("://", 1)[1] if url.startswith("https://") else "ws://" + url.split("://", 1)[1]
        headers = [f"{k}: {v}" for k, v in auth.items()]
        headers += [f"{k}: {v}" for k, v in self.target.impersonate.headers()]
        if cfg.verify_ssl:
            sslopt: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": cfg.ssl_ca_cert or certifi.where()}
        else:
            sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        if cfg.cert_file:
            sslopt["certfile"] = cfg.cert_file
        if cfg.key_file:
            sslopt["keyfile"] = cfg.key_file
        if cfg.tls_server_name:
            sslopt["server_hostname"] = cfg.tls_server_name
        opts: dict[str, Any] = {"header": headers, "subprotocols": subprotocols,
                                "timeout": timeout or self.timeout}
        if cfg.proxy:
            from urllib.parse import urlsplit

            pu = urlsplit(cfg.proxy)
            opts.update(http_proxy_host=pu.hostname, http_proxy_port=pu.port, proxy_type="http")
        ws = WebSocket(sslopt=sslopt, skip_utf8_validation=True)
        try:
            ws.connect(url, **opts)
        except WebSocketBadStatusException as exc:
            body = getattr(exc, "resp_body", None) or b""
            raise _status_error(exc.status_code, body, f"GET {path}") from None
        except Exception as exc:
            raise self._transport_error(exc) from None
        ws.settimeout(None)
        return ws

    def _located(self, err: MlopsError, status: int) -> MlopsError:
        """A server-side failure (5xx, or a body that is not the API's Status) names the server."""
        if status >= 500 or status == 0:
            err.message += f" (API server {self.target.server})"
        return err

    @property
    def is_open(self) -> bool:
        routes = getattr(self, "routes", None)
        return self._api is not None or self._direct is not None or bool(routes is not None and routes.is_open)

    def close(self, *, final: bool = False) -> None:
        """Close its connections and local forwards; final: for good (its owner dropped it), else the
        next request connects anew."""
        with self._lock:
            self._retired = self._retired or final
        routes = getattr(self, "routes", None)
        if routes is not None:  # local forwards of backends/routes.py live as long as this client
            routes.close()
        with self._lock:
            for t in (self._api, self._direct):
                if t is not None:
                    try:
                        t.close()
                    except Exception:
                        pass
            self._api = self._direct = None

    # -- raw requests ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str | None = None, timeout: float | None = None,
                raw: bool = False, retried: bool = False) -> Any:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        if self.dry_run_all and method in ("POST", "PUT", "PATCH", "DELETE"):
            q["dryRun"] = "All"
        url_path = path + ("?" + urlencode(q) if q else "")
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {path}"
        call_timeout = deadline.timeout(timeout or self.timeout, what)
        try:
            send = self._send_direct if self.direct else self._send_sdk
            status, resp_headers, data = send(method, url_path, headers, body, call_timeout)
        except MlopsError:
            raise
        except Exception as exc:  # urllib3 timeouts, connection errors
            raise self._transport_error(exc, what, call_timeout) from None
        if status >= 400 or status == 0:
            if status == 401 and self._refresh_exec_credentials(retried):
                return self.request(method, path, query=query, body=body, content_type=content_type,
                                    timeout=timeout, raw=raw, retried=True)
            raise self._located(_status_error(status, data, what), status)
        text = data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
        if raw:
            return text
        return decode_json(text, f"the API server {self.target.server} ({what})",
                           content_type=resp_headers.get("Content-Type"), source="kubernetes",
                           allow_empty=method == "DELETE")

    def _send_direct(self, method: str, url_path: str, headers: dict[str, str], body: Any,
                     timeout: float) -> tuple[int, Any, Any]:
        data = body if body is None or isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())  # JSON is valid YAML
        resp = self._transport().send(method, url_path, headers, data, timeout)
        return resp.status, resp.headers, resp.data

    def _send_sdk(self, method: str, url_path: str, headers: dict[str, str], body: Any,
                  timeout: float) -> tuple[int, Any, Any]:
        api = self._client()
        from kubernetes.client.exceptions import ApiException

        _, url, hdrs, _, _ = api.param_serialize(method, url_path, header_params=headers,
                                                 auth_settings=["BearerToken"])
        # the kubernetes REST layer serializes dict/list bodies itself for JSON and YAML content
        # types; pre-serializing here would double-encode them
        data = body
        if isinstance(body, (str, bytes)) and "json" in headers["Content-Type"]:
            data = json.loads(body)
        try:
            resp = api.call_api(method, url, header_params=self._headers(hdrs), body=data,
                                _request_timeout=timeout)
            resp.read()
        except ApiException as exc:
            return exc.status or 0, exc.headers or {}, exc.body
        return resp.status, resp.headers, resp.data

    # -- typed helpers ---------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version")

    def list(self, res: Res, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None, all_namespaces: bool = False) -> list[dict[str, Any]]:
        return self.list_versioned(res, namespace, label_selector=label_selector, field_selector=field_selector,
                                   all_namespaces=all_namespaces)[0]

    def list_versioned(self, res: Res, namespace: str | None = None, *, label_selector: str | None = None,
                       field_selector: str | None = None,
                       all_namespaces: bool = False) -> tuple[list[dict[str, Any]], str | None]:
        """The items and the list's metadata.resourceVersion (where a watch resumes from)."""
        ns = None if (all_namespaces or not res.namespaced) else (namespace or self.namespace)
        doc = self.request("GET", res.path(ns), query={"labelSelector": label_selector,
                                                       "fieldSelector": field_selector})
        items = doc.get("items") or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MlopsError(Kind.INVALID, f"the API server (GET {res.path(ns)}) answered a list whose items "
                             "are not objects", source="kubernetes")
        for item in items:  # list items omit kind/apiVersion
            item.setdefault("kind", res.kind)
            item.setdefault("apiVersion", res.api_version)
        rv = (doc.get("metadata") or {}).get("resourceVersion")
        return items, (str(rv) if rv else None)

    def get(self, res: Res, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", res.path(namespace or self.namespace, name))

    def create(self, res: Res, body: dict[str, Any], namespace: str | None = None,
               dry_run: bool = False) -> dict[str, Any]:
        ns = namespace or body.get("metadata", {}).get("namespace") or self.namespace
        meta = body.get("metadata") or {}
        if "name" in meta or not meta.get("generateName"):
            res.check_name(meta.get("name"))
        return self.request("POST", res.path(ns), body=body, query={"dryRun": "All" if dry_run else None})

    def delete(self, res: Res, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("DELETE", res.path(namespace or self.namespace, name))

    def merge_patch(self, res: Res, name: str, patch: dict[str, Any], namespace: str | None = None, *,
                    resource_version: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """JSON merge patch. With resource_version the server rejects a stale write with 409."""
        body = with_resource_version(json.loads(json.dumps(patch)), resource_version)
        return self.request("PATCH", res.path(namespace or self.namespace, name), body=body,
                            content_type="application/merge-patch+json",
                            query={"dryRun": "All" if dry_run else None})

    def apply(self, res: Res, body: dict[str, Any], namespace: str | None = None, *,
              field_manager: str = "mlopstui", force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply."""
        name = body["metadata"]["name"]
        ns = namespace or body.get("metadata", {}).get("namespace") or self.namespace
        return self.request("PATCH", res.path(ns, name), body=body,
                            content_type="application/apply-patch+yaml",
                            query={"fieldManager": field_manager, "force": "true" if force else None,
                                   "dryRun": "All" if dry_run else None})

    def pod_log(self, name: str, namespace: str | None = None, *, tail_lines: int | None = 200,
                container: str | None = None, previous: bool = False,
                limit_bytes: int | None = LOG_LIMIT_BYTES) -> str:
        """The log (`kubectl logs`); previous=True: the container's last terminated instance (`--previous`).
        At most limit_bytes of it (the API server's limitBytes: a pod that logged gigabytes does not send
        them to the bastion)."""
        return self.request("GET", PODS.path(namespace or self.namespace, name, "log"), raw=True,
                            query={"tailLines": tail_lines, "container": container,
                                   "previous": "true" if previous else None, "limitBytes": limit_bytes})

    def follow_log(self, name: str, namespace: str | None = None, *, container: str | None = None,
                   tail_lines: int | None = 200, max_seconds: float = 1800.0,
                   on_open: Callable[[Any], None] | None = None) -> Iterator[str]:
        """`kubectl logs -f`: the tail, then text as the container writes it (decoded chunks, not lines),
        until the server ends the stream or max_seconds pass. on_open receives the open response: another
        thread may `shutdown()` it to end the stream (as for watch)."""
        api = self._client()
        q = {"follow": "true", "tailLines": tail_lines, "container": container}
        path = PODS.path(namespace or self.namespace, name, "log")
        what = f"GET {path} (follow)"
        _, url, hdrs, _, _ = api.param_serialize("GET", path + "?" + urlencode({k: v for k, v in q.items()
                                                                                 if v is not None}),
                                                 header_params={"Accept": "*/*"}, auth_settings=["BearerToken"])
        import urllib3

        try:
            resp = api.rest_client.pool_manager.request(
                "GET", url, headers=self._headers(hdrs), preload_content=False, retries=False,
                timeout=urllib3.Timeout(connect=self.timeout, read=max_seconds))
        except Exception as exc:
            raise from_exception(exc, source="kubernetes") from None
        if on_open is not None:
            on_open(resp)
        ends = time.monotonic() + max_seconds
        try:
            if resp.status >= 400:
                raise self._located(_status_error(resp.status, resp.read(), what), resp.status)
            import codecs

            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            try:
                for chunk in resp.stream(4096, decode_content=True):
                    text = decoder.decode(chunk)
                    if text:
                        yield text
                    if time.monotonic() > ends:
                        return
            except MlopsError:
                raise
            except Exception as exc:  # the stream broke, or was shut down by on_open's holder
                raise MlopsError(Kind.UNREACHABLE, f"the log stream of {name} on {self.target.server} "
                                 f"ended: {exc}", source="kubernetes") from None
        finally:
            # closed, not pooled: the server learns the follower left (shutdown() alone only stops our reads)
            resp.close()
            resp.release_conn()

    def watch(self, res: Res, namespace: str | None = None, *, resource_version: str | None = None,
              timeout_seconds: int = 30, label_selector: str | None = None, allow_bookmarks: bool = False,
              on_open: Callable[[Any], None] | None = None) -> Iterator[dict[str, Any]]:
        """Stream watch events (dicts with type and object) until the server closes.

        on_open receives the open response: another thread may `shutdown()` it to end the stream. A
        connection that breaks mid-stream raises MlopsError (UNREACHABLE), as opening it would."""
        q = {"watch": "1", "resourceVersion": resource_version, "timeoutSeconds": timeout_seconds,
             "labelSelector": label_selector, "allowWatchBookmarks": "true" if allow_bookmarks else None}
        q = {k: v for k, v in q.items() if v is not None}
        path = res.path(namespace) + "?" + urlencode(q)
        try:
            if self.direct:  # the same urllib3 response either way (stream, shutdown, release_conn)
                resp = self._transport().send("GET", path, {"Accept": "application/json"}, None,
                                              timeout_seconds + self.timeout, stream=True)
            else:
                api = self._client()
                _, url, hdrs, _, _ = api.param_serialize("GET", path, header_params={"Accept": "application/json"},
                                                         auth_settings=["BearerToken"])
                resp = api.rest_client.pool_manager.request("GET", url, headers=self._headers(hdrs),
                                                            preload_content=False,
                                                            timeout=timeout_seconds + self.timeout, retries=False)
        except MlopsError:
            raise
        except Exception as exc:
            raise from_exception(exc, source="kubernetes") from None
        if on_open is not None:
            on_open(resp)
        try:
            if resp.status >= 400:
                raise _status_error(resp.status, resp.read(), f"WATCH {res.full_name}")
            buf = b""
            try:
                for chunk in resp.stream(4096):
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if line.strip():
                            yield decode_json(line, f"the API server (WATCH {res.full_name})", source="kubernetes")
            except MlopsError:
                raise
            except Exception as exc:  # urllib3 ProtocolError/ReadTimeoutError: the stream broke
                raise MlopsError(Kind.UNREACHABLE, f"the watch of {res.full_name} on {self.target.server} "
                                 f"broke: {exc}", source="kubernetes") from None
        finally:
            resp.release_conn()

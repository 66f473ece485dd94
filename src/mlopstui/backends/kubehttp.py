"""The two transports of KubeClient: the kubernetes SDK's ApiClient (`build_api_client`, the TUI) and the direct
one: the API server's requests over urllib3 alone, without the kubernetes SDK.

Why: a one-shot headless verb (`isvc`, `canary --yes`) paid ~0.3 CPU-s for `import kubernetes.client`
(google-auth, oauthlib, requests, cryptography, the generated models) to send one or two requests;
bench/bench_headless.py measures it beside kubectl. urllib3 is the library the SDK's REST layer sends
with, so the TLS and proxy behaviour is the same one: this module builds the same PoolManager/ProxyManager
arguments from the same kubeconfig document that `build_api_client` (below) gives the SDK's KubeConfigLoader
(read once by backends/kubeconfig.py: kubectl's merge rules, absolute paths, impersonation).

What it reads, in the SDK's order: a token (`token`, else `tokenFile`), an exec plugin (run by
`kubeconfig.run_exec_plugin`: token or client certificate), `username`/`password`; client certificates
(files or `-data`), `certificate-authority` (file or `-data`), `insecure-skip-tls-verify`,
`tls-server-name`, `proxy-url` (else the environment's proxy unless NO_PROXY covers the host). What it
does not (`DirectTransport.supported` is False and the SDK is used): `auth-provider` users (oidc, gcp,
azure: the SDK refreshes those), SOCKS proxies, in-cluster configuration.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import urlsplit

from mlopstui.backends.kubeconfig import KubeTarget, exec_user, run_exec_plugin
from mlopstui.errors import Kind, MlopsError

_SOCKS = ("socks5", "socks5h", "socks4", "socks4a")


def supported(target: KubeTarget) -> bool:
    """True when this transport can do what the SDK would with this kubeconfig user and cluster."""
    if target.source == "in-cluster" or not target.server:
        return False
    user = target.user_entry()
    if "auth-provider" in user:
        return False
    proxy = _proxy_for(target.cluster_entry(), target.server)
    return not (proxy and proxy.split("://", 1)[0].lower() in _SOCKS)


def _proxy_for(cluster: dict[str, Any], server: str) -> str | None:
    """proxy-url, else the environment's proxy for the server's scheme (the SDK's Configuration reads
    HTTPS_PROXY/ALL_PROXY too), unless NO_PROXY names the host."""
    if cluster.get("proxy-url"):
        return str(cluster["proxy-url"])
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None  # (urllib.request is not imported for nothing: a one-shot verb pays for each import)
    from urllib.request import getproxies, proxy_bypass_environment

    proxies = getproxies()
    proxy = proxies.get(urlsplit(server).scheme) or proxies.get("all")
    if proxy and proxy_bypass_environment(urlsplit(server).hostname or "", proxies):
        return None
    return proxy


class DirectTransport:
    """One urllib3 pool manager with the kubeconfig's TLS, proxy and credentials (see the module doc)."""

    def __init__(self, target: KubeTarget, exec_status: dict[str, Any] | None = None):
        import urllib3

        self.target = target
        self._tmp: str | None = None
        cluster, user = target.cluster_entry(), target.user_entry()
        if isinstance(user.get("exec"), dict):  # as build_api_client: the plugin's answer is the user
            user = exec_user(user, exec_status or run_exec_plugin(user["exec"], cluster))
        self.server = str(target.server).rstrip("/")
        self.authorization = self._authorization(user)
        # room for the TUI's open watches (backends/informer.py: a dozen kinds) besides its requests: a full pool
        # discards and reopens connections (and warns) on every request; a verb opens one or two
        pool: dict[str, Any] = {"retries": False, "maxsize": 32}
        if self.server.startswith("https"):
            import ssl

            from urllib3.util.ssl_ import create_urllib3_context

            verify = not cluster.get("insecure-skip-tls-verify")
            pool["cert_reqs"] = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
            # ONE SSL context for every connection of the pool, its CA and client certificate loaded once: given
            # only ca_cert_data / cert_file, urllib3 builds a context per connection and loads them again (with
            # no CA, the system store: ~20 ms of CPU per connection here). The TUI opens a connection per watch
            # (a dozen kinds at start, in parallel, before the first Stack rows): measured 14 new connections
            # 28 ms of CPU with the kubeconfig's CA, 300-560 ms with the system store (bench/bench_startup.py)
            context = create_urllib3_context(cert_reqs=pool["cert_reqs"])
            try:
                if verify and cluster.get("certificate-authority-data"):
                    context.load_verify_locations(
                        cadata=_b64(cluster["certificate-authority-data"], "certificate-authority-data"))
                elif verify and cluster.get("certificate-authority"):
                    context.load_verify_locations(cafile=_existing(cluster["certificate-authority"]))
                elif verify:
                    context.load_default_certs()
                if user.get("client-certificate-data") or user.get("client-certificate"):
                    context.load_cert_chain(self._file(user, "client-certificate"), self._file(user, "client-key"))
            except (ssl.SSLError, ValueError) as exc:  # a CA or key that is no PEM: the kubeconfig's fault
                raise MlopsError(Kind.CONFIG, f"the kubeconfig's TLS material is not usable: {exc}",
                                 source="kubeconfig") from None
            pool["ssl_context"] = context
            if cluster.get("tls-server-name"):
                pool["server_hostname"] = str(cluster["tls-server-name"])
            if not verify:
                pool["assert_hostname"] = False
        proxy = _proxy_for(cluster, self.server)
        if proxy:
            self.pool: Any = urllib3.ProxyManager(proxy, **pool)
        else:
            self.pool = urllib3.PoolManager(**pool)

    @staticmethod
    def _authorization(user: dict[str, Any]) -> str | None:
        token = user.get("token")
        if not token and user.get("tokenFile"):
            try:
                with open(_existing(user["tokenFile"])) as f:
                    token = f.read().strip()
            except OSError as exc:
                raise MlopsError(Kind.CONFIG, f"cannot read tokenFile {user['tokenFile']}: {exc.strerror}",
                                 source="kubeconfig") from None
        if token:
            return f"Bearer {token}"
        if user.get("username") and user.get("password"):
            pair = f"{user['username']}:{user['password']}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    def _file(self, user: dict[str, Any], key: str) -> str:
        """A file path for a certificate or key: the kubeconfig's file, else its -data written to a private
        temporary file (ssl loads client certificates from files only; the SDK does the same), removed
        on close() and at exit."""
        if user.get(f"{key}-data"):
            import atexit
            import shutil
            import tempfile

            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="mlopstui-kube-")  # mode 0700
                atexit.register(shutil.rmtree, self._tmp, True)
            path = os.path.join(self._tmp, key)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(_b64(user[f"{key}-data"], f"{key}-data"))
            return path
        if not user.get(key):
            raise MlopsError(Kind.CONFIG, f"the kubeconfig user sets a client certificate but no {key}",
                             source="kubeconfig")
        return _existing(user[key])

    def send(self, method: str, path_and_query: str, headers: dict[str, str], body: bytes | None,
             timeout: float, *, redirect: bool = True, stream: bool = False) -> Any:
        """One request; the urllib3 response (body read unless stream). Transport errors propagate."""
        import urllib3

        hdrs = urllib3.HTTPHeaderDict(headers)
        if self.authorization:
            hdrs["Authorization"] = self.authorization
        for k, v in self.target.impersonate.headers():
            hdrs.add(k, v)
        return self.pool.request(method, self.server + path_and_query, headers=hdrs, body=body,
                                 timeout=urllib3.Timeout(total=timeout), retries=False, redirect=redirect,
                                 preload_content=not stream)

    def close(self) -> None:
        self.pool.clear()
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _b64(value: Any, what: str) -> str:
    try:
        return base64.b64decode(str(value), validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        raise MlopsError(Kind.CONFIG, f"the kubeconfig's {what} is not base64 PEM", source="kubeconfig") from None


def _existing(path: Any) -> str:
    p = os.path.expanduser(str(path))
    if not os.path.isfile(p):
        raise MlopsError(Kind.CONFIG, f"cannot use kubeconfig: file does not exist: {p}", source="kubeconfig")
    return p


def build_api_client(target: KubeTarget, exec_status: dict[str, Any] | None = None) -> Any:
    """A kubernetes ApiClient from the target's merged kubeconfig document (one reading of the files: see
    backends/kubeconfig.py). The client's own KubeConfigLoader does TLS (CA file/data, client certificates,
    insecure-skip-tls-verify, tls-server-name), proxy-url, tokens and the oidc auth-provider; exec plugins
    are run first by kubeconfig.run_exec_plugin so that their failures reach the user."""
    try:
        from kubernetes import client
        from kubernetes import config as kconfig
        from kubernetes.config.kube_config import KubeConfigLoader

        cfg = client.Configuration()
        if target.source == "in-cluster":
            kconfig.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        doc = json.loads(json.dumps(target.config))
        user = target.user_entry()
        if isinstance(user.get("exec"), dict):
            status = exec_status or run_exec_plugin(user["exec"], target.cluster_entry())
            for u in doc.get("users") or []:
                if u.get("name") == target.user:
                    u["user"] = exec_user(user, status)
        loader = KubeConfigLoader(config_dict=doc, active_context=target.context,
                                  config_base_path=os.path.dirname(target.source.split(os.pathsep)[0]))
        loader.load_and_set(cfg)
        return client.ApiClient(cfg)
    except MlopsError:
        raise
    except Exception as exc:  # kubernetes.config.ConfigException and friends
        raise MlopsError(Kind.CONFIG, f"cannot use kubeconfig {target.source}: {exc}",
                         hint="check the file, or pass --kubeconfig/--context") from exc

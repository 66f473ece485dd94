"""Every kubeconfig form kubectl reads, against the emulator over TLS: KUBECONFIG=a:b merged by kubectl's
rules, exec plugins (success and each failure), impersonation headers seen by the server, the oidc
auth-provider, client certificates (file and data), CA file, insecure-skip-tls-verify, tls-server-name
and proxy-url (through a real CONNECT proxy).

Expected behaviour from upstream docs: kubernetes.io/docs/concepts/configuration/organize-cluster-access-
kubeconfig/ (merging rules: first file to set a value or map key wins), .../reference/access-authn-authz/
authentication/ (exec ExecCredential, x509 CN = user name, Impersonate-* headers, one per group).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlopstui.backends.kube import NAMESPACES, PODS, KubeClient
from mlopstui.backends.kubeconfig import load_target
from mlopstui.errors import Kind, MlopsError
from mlopstui.sandbox.kubeapi import KubeApiServer
from mlopstui.sandbox.kubeapi.server import CLIENT_CA_FILE

NOW = datetime.datetime.now(datetime.UTC)


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(claims)}.c2lnbmF0dXJl"


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: str, key, issuer_name: str, issuer_key, ca: bool) -> x509.Certificate:
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("kubeauth")
    state = d / "kube"
    state.mkdir()
    # a client CA the API server trusts, and a client certificate for "admin" signed by it
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-client-ca", ca_key, "test-client-ca", ca_key, ca=True)
    (state / CLIENT_CA_FILE).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cl_key = ec.generate_private_key(ec.SECP256R1())
    cl = _cert("admin", cl_key, "test-client-ca", ca_key, ca=False)
    (d / "admin.crt").write_bytes(cl.public_bytes(serialization.Encoding.PEM))
    (d / "admin.key").write_bytes(_pem_key(cl_key))
    # the admin's bearer token is an OIDC id-token (a JWT that has not expired)
    id_token = _jwt({"iss": "https://issuer.example", "sub": "admin", "exp": int(time.time()) + 3600})
    (state / "tokens.json").write_text(json.dumps({"admin": id_token}))
    srv = KubeApiServer(str(state), port=0, run_controllers=False).start()
    base = yaml.safe_load(Path(srv.kubeconfig_path).read_text())
    (d / "ca.crt").write_bytes(base64.b64decode(base["clusters"][0]["cluster"]["certificate-authority-data"]))
    yield {"dir": d, "srv": srv, "base": base, "id_token": id_token}
    srv.stop()


def _write(env, name: str, user: dict, cluster: dict | None = None, *, context: str = "t",
           namespace: str = "default") -> Path:
    base = env["base"]["clusters"][0]["cluster"]
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": context,
           "clusters": [{"name": "c", "cluster": cluster if cluster is not None else dict(base)}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": context, "context": {"cluster": "c", "user": "u", "namespace": namespace}}]}
    p = env["dir"] / name
    p.write_text(yaml.safe_dump(doc))
    return p


def _tok(env, user: str) -> str:
    return env["srv"].token(user)


def _last(env, path_end: str) -> dict:
    return next(e for e in reversed(env["srv"].request_log) if e["path"].endswith(path_end))


# every test runs over both transports of KubeClient: the kubernetes SDK (the TUI) and the direct one
# (backends/kubehttp.py, the headless verbs); `direct` is the one the test runs with
TRANSPORT = {"direct": False}


@pytest.fixture(autouse=True, params=["sdk", "direct"])
def transport(request):
    from mlopstui.backends.kube import open_clients

    TRANSPORT["direct"] = request.param == "direct"
    yield request.param
    TRANSPORT["direct"] = False
    for c in open_clients():  # the clients these tests made (one per kubeconfig form)
        c.close(final=True)


def _client(path: Path, context: str | None = None, **kw) -> KubeClient:
    kube = KubeClient(load_target(str(path), context, **kw), timeout=5, direct=TRANSPORT["direct"])
    if TRANSPORT["direct"] and "auth-provider" not in kube.target.user_entry():
        assert kube.direct  # the kubeconfig forms below are all the direct transport's
    return kube


# -- KUBECONFIG=a:b ----------------------------------------------------------------------------------
def test_kubeconfig_env_merges_files_by_kubectl_rules(env, monkeypatch):
    cluster = env["base"]["clusters"][0]["cluster"]
    a = {"apiVersion": "v1", "kind": "Config", "current-context": "from-a",
         "clusters": [{"name": "c", "cluster": cluster}],
         "users": [{"name": "shared", "user": {"token": _tok(env, "viewer")}}],
         "contexts": [{"name": "from-a", "context": {"cluster": "c", "user": "shared", "namespace": "ns-a"}}]}
    sub = env["dir"] / "second"
    sub.mkdir(exist_ok=True)
    (sub / "ca.crt").write_bytes((env["dir"] / "ca.crt").read_bytes())
    b = {"apiVersion": "v1", "kind": "Config", "current-context": "from-b",
         # a relative CA path is relative to the file that names it
         "clusters": [{"name": "c", "cluster": {"server": "https://10.255.0.1:6443"}},
                      {"name": "c-b", "cluster": {"server": cluster["server"], "certificate-authority": "ca.crt"}}],
         "users": [{"name": "shared", "user": {"token": "not-used: the first file set this user"}},
                   {"name": "adm", "user": {"token": _tok(env, "admin")}}],
         "contexts": [{"name": "from-a", "context": {"cluster": "c", "user": "adm", "namespace": "ignored"}},
                      {"name": "from-b", "context": {"cluster": "c-b", "user": "adm"}}]}
    (env["dir"] / "a.yaml").write_text(yaml.safe_dump(a))
    (sub / "b.yaml").write_text(yaml.safe_dump(b))
    monkeypatch.setenv("KUBECONFIG", f"{env['dir'] / 'a.yaml'}{os.pathsep}{env['dir'] / 'missing'}"
                                     f"{os.pathsep}{sub / 'b.yaml'}")
    t = load_target()
    assert t.contexts == ("from-a", "from-b")
    assert t.context == "from-a" and t.namespace == "ns-a" and t.user == "shared"  # first file wins
    KubeClient(t, direct=TRANSPORT["direct"]).list(NAMESPACES)
    assert _last(env, "/api/v1/namespaces")["user"] == "viewer"  # the first file's "shared" user
    # a context only the second file defines, with a CA path relative to that file
    KubeClient(load_target(None, "from-b"), direct=TRANSPORT["direct"]).list(NAMESPACES)
    assert _last(env, "/api/v1/namespaces")["user"] == "admin"


# -- exec plugins ------------------------------------------------------------------------------------
def _plugin(env, name: str, body: str) -> str:
    p = env["dir"] / name
    p.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}\n")
    p.chmod(0o755)
    return str(p)


def _exec_user(command: str, api_version: str = "client.authentication.k8s.io/v1") -> dict:
    return {"exec": {"apiVersion": api_version, "command": command, "args": ["--cluster", "sandbox"],
                     "interactiveMode": "Never"}}


def test_exec_plugin_success_sends_its_token(env):
    tok = _tok(env, "admin")
    cmd = _plugin(env, "good-plugin", f"""
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert sys.argv[1:] == ["--cluster", "sandbox"], sys.argv
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": {{"token": {tok!r}}}}}))""")
    kc = _write(env, "exec-ok", _exec_user(cmd))
    _client(kc).list(PODS, "default")
    assert _last(env, "/api/v1/namespaces/default/pods")["user"] == "admin"


@pytest.mark.parametrize("case", ["missing", "failing", "version", "garbage"])
def test_exec_plugin_failures_name_the_plugin_and_its_message(env, case):
    if case == "missing":
        cmd, kind, needle = "corp-kube-login-not-installed", Kind.CONFIG, "corp-kube-login-not-installed not found"
    elif case == "failing":
        cmd = _plugin(env, "failing-plugin", 'print("error: refresh token expired, run corp-login", '
                                            'file=sys.stderr); sys.exit(1)')
        kind, needle = Kind.UNAUTHORIZED, "failing-plugin failed (exit 1): error: refresh token expired"
    elif case == "version":
        cmd = _plugin(env, "old-plugin", 'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",'
                                         ' "kind": "ExecCredential", "status": {"token": "x"}}))')
        kind, needle = Kind.UNAUTHORIZED, "old-plugin answered apiVersion 'client.authentication.k8s.io/v1beta1'"
    else:
        cmd = _plugin(env, "chatty-plugin", 'print("Opening browser..."); print("boom", file=sys.stderr)')
        kind, needle = Kind.UNAUTHORIZED, "chatty-plugin did not print an ExecCredential: boom"
    kc = _write(env, f"exec-{case}", _exec_user(cmd))
    n = len(env["srv"].request_log)
    with pytest.raises(MlopsError) as exc:
        _client(kc).list(PODS, "default")
    assert exc.value.kind is kind and needle in exc.value.message, exc.value
    assert len(env["srv"].request_log) == n  # no anonymous request went out


# -- impersonation -----------------------------------------------------------------------------------
def test_impersonation_from_kubeconfig_sends_headers(env):
    kc = _write(env, "imp", {"token": _tok(env, "admin"), "as": "viewer", "as-groups": ["ml-ops", "readers"],
                             "as-uid": "1234", "as-user-extra": {"team": ["fraud"]}})
    kube = _client(kc)
    kube.list(PODS, "default")
    entry = _last(env, "/api/v1/namespaces/default/pods")
    assert entry["impersonate"] == {"user": "viewer", "groups": ["ml-ops", "readers"], "uid": "1234",
                                    "extra": {"team": ["fraud"]}, "by": "admin"}
    assert entry["user"] == "viewer"
    with pytest.raises(MlopsError) as exc:  # the request really runs as the viewer
        kube.create(NAMESPACES, {"metadata": {"name": "imp-test"}})
    assert exc.value.kind is Kind.FORBIDDEN and 'User "viewer" cannot create' in exc.value.message


def test_impersonation_flags_override_the_kubeconfig(env):
    from mlopstui.cli import build_parser
    from mlopstui.commands._common import make_context

    kc = _write(env, "imp-flags", {"token": _tok(env, "admin"), "as": "someone-else"})
    args = build_parser().parse_args(["--kubeconfig", str(kc), "--as", "viewer", "--as-group", "g1",
                                      "--as-group", "g2", "version"])
    with make_context(args) as ctx:  # outside cli.main: no verb deadline is left to later tests
        ctx.kube.list(NAMESPACES)
    assert _last(env, "/api/v1/namespaces")["impersonate"]["user"] == "viewer"
    assert _last(env, "/api/v1/namespaces")["impersonate"]["groups"] == ["g1", "g2"]


def test_impersonation_by_a_user_who_may_not(env):
    kc = _write(env, "imp-viewer", {"token": _tok(env, "viewer"), "as": "admin"})
    with pytest.raises(MlopsError) as exc:
        _client(kc).list(NAMESPACES)
    assert exc.value.kind is Kind.FORBIDDEN and "cannot impersonate" in exc.value.message


# -- oidc, client certificates -------------------------------------------------------------------------
def test_oidc_auth_provider(env):
    kc = _write(env, "oidc", {"auth-provider": {"name": "oidc", "config": {
        "client-id": "kubernetes", "idp-issuer-url": "https://issuer.example", "id-token": env["id_token"]}}})
    kube = _client(kc)
    assert not kube.direct  # auth providers (oidc, gcp, azure) stay with the SDK, which refreshes them
    kube.list(NAMESPACES)
    assert _last(env, "/api/v1/namespaces")["user"] == "admin"


@pytest.mark.parametrize("form", ["files", "data"])
def test_client_certificate(env, form):
    d = env["dir"]
    if form == "files":  # relative to the kubeconfig's directory
        user = {"client-certificate": "admin.crt", "client-key": "admin.key"}
    else:
        user = {"client-certificate-data": base64.b64encode((d / "admin.crt").read_bytes()).decode(),
                "client-key-data": base64.b64encode((d / "admin.key").read_bytes()).decode()}
    _client(_write(env, f"cert-{form}", user)).list(NAMESPACES)
    assert _last(env, "/api/v1/namespaces")["user"] == "admin"


# -- CA, insecure, tls-server-name, proxy-url ----------------------------------------------------------
def test_ca_file_insecure_and_tls_server_name(env):
    server = env["base"]["clusters"][0]["cluster"]["server"]
    user = {"token": _tok(env, "admin")}
    _client(_write(env, "ca-file", user, {"server": server, "certificate-authority": str(env["dir"] / "ca.crt")})
            ).list(NAMESPACES)
    _client(_write(env, "insecure", user, {"server": server, "insecure-skip-tls-verify": True})).list(NAMESPACES)
    with pytest.raises(MlopsError):  # no CA: the self-signed certificate is refused
        _client(_write(env, "no-ca", user, {"server": server})).list(NAMESPACES)
    ca = str(env["dir"] / "ca.crt")
    # the certificate names kubernetes.default.svc: verified against tls-server-name, not the URL's IP
    _client(_write(env, "sni-ok", user, {"server": server, "certificate-authority": ca,
                                         "tls-server-name": "kubernetes.default.svc"})).list(NAMESPACES)
    with pytest.raises(MlopsError):
        _client(_write(env, "sni-bad", user, {"server": server, "certificate-authority": ca,
                                              "tls-server-name": "not-in-the-cert.example"})).list(NAMESPACES)


def test_a_ca_that_is_no_certificate_is_a_kubeconfig_error(env):
    """certificate-authority-data that decodes to no PEM certificate: a clear error before any request (the
    direct transport loads the CA once, into the one SSL context its connections share)."""
    server = env["base"]["clusters"][0]["cluster"]["server"]
    garbage = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    before = len(env["srv"].request_log)
    with pytest.raises(MlopsError) as err:
        _client(_write(env, "bad-ca", {"token": _tok(env, "admin")},
                       {"server": server, "certificate-authority-data": garbage.decode()})).list(NAMESPACES)
    if TRANSPORT["direct"]:
        assert err.value.kind is Kind.CONFIG and "kubeconfig" in str(err.value), err.value
        assert len(env["srv"].request_log) == before  # refused before a connection was made


class ConnectProxy:
    """A real HTTP CONNECT proxy that records the tunnels it opened."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tunnels: list[str] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = c.recv(1024)
            if not chunk:
                return c.close()
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            return c.close()
        host, port = target.rsplit(":", 1)
        up = socket.create_connection((host, int(port)), timeout=5)
        self.tunnels.append(target)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [c, up]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select(socks, [], [], 1.0)
            for s in r:
                data = s.recv(65536)
                if not data:
                    return (c.close(), up.close())[0]
                (up if s is c else c).sendall(data)
        c.close()
        up.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def test_proxy_url(env):
    proxy = ConnectProxy()
    try:
        cluster = dict(env["base"]["clusters"][0]["cluster"], **{"proxy-url": f"http://127.0.0.1:{proxy.port}"})
        _client(_write(env, "proxied", {"token": _tok(env, "admin")}, cluster)).list(NAMESPACES)
        host_port = cluster["server"].split("://", 1)[1]
        assert proxy.tunnels and proxy.tunnels[-1] == host_port
    finally:
        proxy.close()

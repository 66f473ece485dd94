"""MLflow's client environment variables, honoured as MLflow's own client does (mlflow.utils.rest_utils):
the sandbox's tracking server behind a TLS terminator that requires a client certificate."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlopstui.backends.mlflow import MlflowBackend  # noqa: E402
from mlopstui.errors import Kind, MlopsError  # noqa: E402
from support.tcp_forward import Forwarder  # noqa: E402

pytestmark = pytest.mark.integration


def _cert(subject: str, issuer_key, issuer_name, key, *, ca: bool = False, san_ip: bool = False):
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san_ip:
        import ipaddress

        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert, key) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def tls_mlflow(sandbox, tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow-tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = _cert("test-ca", ca_key, ca_name, ca_key, ca=True)
    srv_key, cli_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(_pem(_cert("127.0.0.1", ca_key, ca_name, srv_key, san_ip=True), srv_key))
    (d / "client.pem").write_bytes(_pem(_cert("mlopstui", ca_key, ca_name, cli_key), cli_key))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(d / "ca.pem"))
    ctx.load_cert_chain(str(d / "server.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no handshake
    port = int(sandbox.env["MLFLOW_TRACKING_URI"].rsplit(":", 1)[1])
    fwd = Forwarder("127.0.0.1", port, tls=ctx).start()
    yield fwd.url, d
    fwd.stop()


def names(url: str, env: dict[str, str]) -> set[str]:
    b = MlflowBackend(url, "test", timeout=10, env=env)
    try:
        return {e.name for e in b.search_experiments("ACTIVE_ONLY")}
    finally:
        b.close()


def test_server_ca_and_client_certificate(tls_mlflow):
    url, d = tls_mlflow
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(d / "ca.pem"),
           "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(d / "client.pem")}
    assert "fraud-detection" in names(url, env)
    # without the client certificate the TLS handshake is refused
    with pytest.raises(MlopsError) as e:
        names(url, {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(d / "ca.pem")})
    assert e.value.kind in (Kind.UNREACHABLE, Kind.ERROR)
    # without the CA the server's certificate is not trusted
    with pytest.raises(MlopsError):
        names(url, {"MLFLOW_TRACKING_CLIENT_CERT_PATH": str(d / "client.pem")})


def test_insecure_tls_skips_verification_only(tls_mlflow):
    url, d = tls_mlflow
    env = {"MLFLOW_TRACKING_INSECURE_TLS": "TRUE", "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(d / "client.pem")}
    assert "fraud-detection" in names(url, env)


@pytest.mark.parametrize("env,words", [
    ({"MLFLOW_TRACKING_INSECURE_TLS": "true", "MLFLOW_TRACKING_SERVER_CERT_PATH": "/x/ca.pem"}, "only one"),
    ({"MLFLOW_TRACKING_INSECURE_TLS": "yes"}, "true, false, 1 or 0"),
    ({"MLFLOW_TRACKING_CLIENT_CERT_PATH": "/nonexistent/client.pem"}, "cannot load"),
])
def test_bad_tls_settings_are_config_errors(env, words):
    with pytest.raises(MlopsError) as e:
        MlflowBackend("https://127.0.0.1:1", "test", env=env)
    assert e.value.kind is Kind.CONFIG and words in e.value.message


def test_tracking_auth_names_an_mlflow_auth_provider(sandbox):
    # no plugin of that name is installed: MLflow's own registry says so, before any request
    b = MlflowBackend(sandbox.env["MLFLOW_TRACKING_URI"], "test", env={"MLFLOW_TRACKING_AUTH": "no-such-provider"})
    try:
        with pytest.raises(MlopsError) as e:
            b.search_experiments("ACTIVE_ONLY")
        assert e.value.kind is Kind.CONFIG and "no-such-provider" in e.value.message
    finally:
        b.close()


def test_run_count_pages_with_the_servers_tokens_and_reports_at_least(sandbox):
    from mlflow.tracking import MlflowClient

    url = sandbox.env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(url)
    exp = client.get_experiment_by_name("fraud-detection")
    expected = len(client.search_runs([exp.experiment_id], max_results=1000))
    assert expected >= 3
    b = MlflowBackend(url, "test", env={})
    try:
        seen: list[int] = []
        n, capped, last = b.experiment_stats(exp.experiment_id, page_size=1, progress=seen.append)
        assert (n, capped) == (expected, False) and last
        assert seen == list(range(1, expected))  # "≥ 1", "≥ 2", ... until the last page
        # given up between pages: an "at least" count, marked capped
        n, capped, _ = b.experiment_stats(exp.experiment_id, page_size=1, between_pages=lambda: False)
        assert (n, capped) == (1, True)
    finally:
        b.close()

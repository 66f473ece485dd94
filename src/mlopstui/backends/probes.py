"""Live probes of the stack's endpoints: HTTP health, S3 ListBuckets, Redis PING + INFO, PostgreSQL.

Each probe takes a URL and a timeout, never raises, and returns a ProbeResult (models.stack) with the
endpoint masked. SDKs (httpx, boto3, redis, psycopg) are imported inside the functions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from mlopstui.errors import Kind, from_exception
from mlopstui.memory import freeze_once
from mlopstui.models.stack import ProbeResult, ProbeState
from mlopstui.secrets import mask_text, mask_uri
from mlopstui.units import human_bytes

INVALID_HOST = "Invalid Host header"


def _ms(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000.0, 1)


def _failure(component: str, kind: str, url: str, source: str, exc: BaseException, t0: float) -> ProbeResult:
    err = from_exception(exc, source=kind)
    state = ProbeState.TIMEOUT if err.kind is Kind.TIMEOUT else ProbeState.FAILED
    short = {Kind.TIMEOUT: "timeout", Kind.UNREACHABLE: "unreachable"}.get(err.kind, "error")
    return ProbeResult(component, kind, mask_uri(url), source, state, short, _ms(t0),
                       detail=mask_text(err.message)[:300])


# -- HTTP ----------------------------------------------------------------------------------------------
def probe_http(component: str, url: str, *, timeout: float, source: str = "", health_path: str = "/health",
               version_path: str | None = None, accept_any: bool = False,
               host_headers: Sequence[str] = ()) -> ProbeResult:
    """GET url+health_path (2xx = ok; with accept_any any answer below 500 is ok). Optional GET of
    version_path for the version, and an API request with each in-cluster Host header to catch MLflow's
    403 'Invalid Host header'."""
    import httpx

    t0 = time.monotonic()  # after the import: latency is the network's
    base = url.rstrip("/")
    target = mask_uri(base)
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, verify=False) as client:
            r = client.get(base + health_path)
            latency = _ms(t0)
            data: dict = {"http_status": r.status_code}
            text = r.text[:200] if r.status_code >= 400 else ""
            if r.status_code == 403 and INVALID_HOST in r.text:
                data["host_rejected"] = urlsplit(base).netloc
                data["host_rejected_body"] = INVALID_HOST
            ok = (200 <= r.status_code < 300) or (accept_any and r.status_code < 500)
            version = None
            if ok and version_path:
                try:
                    vr = client.get(base + version_path, timeout=max(0.2, timeout - (time.monotonic() - t0)))
                    if vr.status_code == 200:
                        from mlopstui.text import version_or_none

                        version = version_or_none(vr.text)
                        if version is None and vr.text.strip():
                            data["version_body_invalid"] = True
                except Exception:  # noqa: BLE001 - the version is a nice-to-have
                    pass
            for host in host_headers:
                if time.monotonic() - t0 > timeout:
                    break
                try:
                    hr = client.get(base + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                                    headers={"Host": host}, timeout=max(0.2, timeout - (time.monotonic() - t0)))
                except Exception:  # noqa: BLE001
                    break
                if hr.status_code == 403 and INVALID_HOST in hr.text:
                    data["host_rejected"] = host
                    data["host_rejected_body"] = INVALID_HOST
                    break
                data["host_checked"] = host
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        return _failure(component, "http", base, source, exc, t0)
    summary = f"HTTP {r.status_code} {latency:.0f}ms"
    if data.get("host_rejected"):
        return ProbeResult(component, "http", target, source, ProbeState.DEGRADED,
                           f"403 Host {data['host_rejected']}", latency, version,
                           f"{INVALID_HOST} for Host {data['host_rejected']}", data)
    state = ProbeState.OK if ok else ProbeState.FAILED
    ctype = r.headers.get("content-type", "")
    if ok and "html" in ctype.lower():  # a proxy's or a login page, not the component's health answer
        return ProbeResult(component, "http", target, source, ProbeState.FAILED, f"HTML page {latency:.0f}ms",
                           latency, None, f"GET {target}{health_path} answered HTTP {r.status_code} with an HTML "
                           f"page ({ctype}), not the component's health answer: is this the right endpoint?",
                           data)
    return ProbeResult(component, "http", target, source, state, summary, latency, version,
                       mask_text(text), data)


# -- S3 ------------------------------------------------------------------------------------------------
def probe_s3(component: str, url: str, *, timeout: float, source: str = "") -> ProbeResult:
    """ListBuckets with the credentials of the environment (AWS_* vars, profile)."""
    t0 = time.monotonic()
    try:
        s3 = _s3_client(url, timeout)
        t0 = time.monotonic()  # latency without the import and the client's construction
        resp = s3.list_buckets()
    except Exception as exc:  # noqa: BLE001
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return ProbeResult(component, "s3", mask_uri(url), source, ProbeState.DEGRADED,
                               "no credentials", _ms(t0),
                               detail="no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment")
        answer = getattr(exc, "response", None)
        answer = answer if isinstance(answer, dict) else {}
        code = (answer.get("Error") or {}).get("Code")
        status = (answer.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:  # the server failed: a finding, not a shrug
            return ProbeResult(component, "s3", mask_uri(url), source, ProbeState.FAILED,
                               f"S3 HTTP {status} {code or ''}".rstrip(), _ms(t0),
                               detail=f"ListBuckets on {mask_uri(url)}: HTTP {status}: " + mask_text(str(exc))[:200],
                               data={"error_code": code, "status": status})
        if code:
            return ProbeResult(component, "s3", mask_uri(url), source, ProbeState.DEGRADED, f"S3 {code}",
                               _ms(t0), detail=mask_text(str(exc))[:300], data={"error_code": code})
        return _failure(component, "s3", url, source, exc, t0)
    latency = _ms(t0)
    headers = (resp.get("ResponseMetadata") or {}).get("HTTPHeaders", {})
    ctype = headers.get("content-type", "")
    if "xml" not in ctype.lower() or "Owner" not in resp:
        # botocore parses an HTML page (a proxy, a login page, the MinIO console) into an empty listing:
        # an S3 ListBuckets answer is XML and names an Owner
        return ProbeResult(component, "s3", mask_uri(url), source, ProbeState.FAILED,
                           "not an S3 answer", latency,
                           detail=f"ListBuckets on {mask_uri(url)} answered HTTP 200 with "
                                  f"{ctype or 'no content type'}, not S3's XML: is this the S3 API port?",
                           data={"content_type": ctype})
    buckets = [b.get("Name") for b in resp.get("Buckets") or []]
    server = headers.get("server")
    return ProbeResult(component, "s3", mask_uri(url), source, ProbeState.OK,
                       f"{len(buckets)} buckets {latency:.0f}ms", latency, None, "",
                       {"buckets": buckets[:50], "server": server})


# The S3 clients of earlier sweeps, by endpoint, timeout and the credentials' environment. Measured
# (bench/bench_stack.py --diagnose, py-spy in the stalls): building a boto3 client is 50-100 ms of CPU that
# holds the GIL in long C calls (json.loads of botocore's endpoint and service data, then the client
# class), so every sweep's S3 probe stopped the UI thread for 100-700 ms on 2 busy cores, and its 35,000
# objects made the collector's full passes frequent and long. A client is thread-safe and keeps no
# answer; credentials are read from the environment when it is built, so the variables that name them
# are in the key (a changed key builds a new client, as before, on the data files already parsed).
_S3_CLIENTS: dict[tuple, object] = {}
_S3_LOCK = threading.Lock()
_S3_KEEP = 8
_S3_LOADER = None  # botocore's Loader of the first client (its cache holds the parsed JSON data files)
_S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
           "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _s3_client(url: str, timeout: float):
    global _S3_LOADER
    import os

    key = (url, timeout, tuple(os.environ.get(k) for k in _S3_ENV))
    with _S3_LOCK:  # one build per key, even when two sweeps overlap
        client = _S3_CLIENTS.pop(key, None)
        if client is None:
            import boto3
            import botocore.session
            from botocore.config import Config

            session = botocore.session.Session()
            if _S3_LOADER is None:
                _S3_LOADER = session.get_component("data_loader")
            else:  # botocore's parsed data files, shared: a new client is ~11 ms and 3,600 objects, not 60 and 35,000
                session.register_component("data_loader", _S3_LOADER)
            cfg = Config(connect_timeout=timeout, read_timeout=timeout,
                         retries={"total_max_attempts": 1, "mode": "standard"},
                         signature_version="s3v4", s3={"addressing_style": "path"})
            client = boto3.session.Session(botocore_session=session).client("s3", endpoint_url=url, config=cfg,
                                                                            region_name="us-east-1")
            freeze_once("s3 data")  # the loaded data (~35,000 objects) lives as long as the process
        _S3_CLIENTS[key] = client  # most recently used last
        while len(_S3_CLIENTS) > _S3_KEEP:
            _S3_CLIENTS.pop(next(iter(_S3_CLIENTS)))
        return client


# -- Redis ---------------------------------------------------------------------------------------------
def _redis_url(url: str) -> str:
    return url if "://" in url else f"redis://{url}"


def probe_redis(component: str, url: str, *, timeout: float, source: str = "") -> ProbeResult:
    """PING, INFO memory/server/stats: used/maxmemory/policy, version, evicted keys."""
    t0 = time.monotonic()
    url = _redis_url(url)
    try:
        import redis

        t0 = time.monotonic()
        r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                 retry_on_timeout=False)
        try:
            r.ping()
            info = r.info("memory") | r.info("server") | r.info("stats")
        finally:
            r.close()
    except Exception as exc:  # noqa: BLE001
        return _failure(component, "redis", url, source, exc, t0)
    latency = _ms(t0)
    used, maxmem = int(info.get("used_memory") or 0), int(info.get("maxmemory") or 0)
    policy = str(info.get("maxmemory_policy") or "")
    data = {"used_memory": used, "maxmemory": maxmem, "maxmemory_policy": policy,
            "evicted_keys": int(info.get("evicted_keys") or 0),
            "used_memory_human": info.get("used_memory_human")}
    mem = f"{_h(used)}/{_h(maxmem) if maxmem else 'no max'}"
    state = ProbeState.DEGRADED if maxmem and used / maxmem >= 0.9 else ProbeState.OK
    return ProbeResult(component, "redis", mask_uri(url), source, state, f"PONG {mem} {policy}",
                       latency, str(info.get("redis_version") or "") or None, "", data)


def _h(n: int) -> str:
    return human_bytes(n, sep="", short=True)


# -- PostgreSQL ----------------------------------------------------------------------------------------
def probe_postgres(component: str, url: str, *, timeout: float, source: str = "") -> ProbeResult:
    """Connect; server version, connections in use vs max_connections. Works against PgBouncer too
    (then only the connect is checked)."""
    t0 = time.monotonic()
    try:
        import psycopg

        t0 = time.monotonic()
        conninfo = _pg_conninfo(url)
        with psycopg.connect(conninfo, connect_timeout=max(1, math.ceil(timeout)), autocommit=True,
                             options=f"-c statement_timeout={int(timeout * 1000)}") as conn:
            version = conn.info.parameter_status("server_version") or None
            data: dict = {}
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_activity")
                    data["connections"] = int(cur.fetchone()[0])
                    cur.execute("SHOW max_connections")
                    data["max_connections"] = int(cur.fetchone()[0])
                    cur.execute("SHOW superuser_reserved_connections")
                    data["reserved_connections"] = int(cur.fetchone()[0])
            except Exception:  # noqa: BLE001 - PgBouncer or a restricted role: the connect is the probe
                pass
    except Exception as exc:  # noqa: BLE001
        return _failure(component, "postgres", url, source, exc, t0)
    latency = _ms(t0)
    if "max_connections" in data:
        used, limit = data["connections"], data["max_connections"]
        state = ProbeState.DEGRADED if used / max(1, limit) >= 0.8 else ProbeState.OK
        summary = f"conn {used}/{limit} {latency:.0f}ms"
    else:
        state, summary = ProbeState.OK, f"connected {latency:.0f}ms"
    return ProbeResult(component, "postgres", mask_uri(url), source, state, summary, latency,
                       (version or "").split(" ")[0] or None, "", data)


def _pg_conninfo(url: str) -> str:
    """postgresql+psycopg2://... (SQLAlchemy style) -> postgresql://..."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


PROBES = {"http": probe_http, "s3": probe_s3, "redis": probe_redis, "postgres": probe_postgres}


def warm_up() -> None:
    """Import the probe SDKs once (in a worker) so the first sweep's timeouts measure the network; then
    move everything imported so far (the app, Textual, the SDKs: ~200,000 objects that live as long as
    the process) out of the garbage collector's view (mlopstui/memory.py)."""
    import boto3  # noqa: F401
    import httpx  # noqa: F401
    import psycopg  # noqa: F401
    import redis  # noqa: F401

    freeze_once("imports")

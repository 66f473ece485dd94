"""The MLflow tracking server over its REST API (httpx; no mlflow import for listing).

Everything here blocks: call it from a worker. Every call has a timeout and raises MlopsError
with a kind and a message a person can act on. The mlflow SDK (4 s to import) is used only to
download artifacts straight from S3 when the server cannot serve them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from mlopstui import deadline as verb_deadline

# the topics' methods live beside this module (artifacts, model registry); MlflowBackend has them all.
# Pager, the page sizes and PREVIEW_BYTES are imported from here too.
from mlopstui.backends.mlflow_artifacts import PREVIEW_BYTES, ArtifactsMixin  # noqa: F401
from mlopstui.backends.mlflow_common import (  # noqa: F401
    API,
    DEFAULT_PAGE,
    HISTORY_CONCURRENCY,
    MAX_PAGES,
    SEARCH_MAX,
    Pager,
    _items,
    _page_loop,
)
from mlopstui.backends.mlflow_registry import RegistryMixin
from mlopstui.errors import Kind, MlopsError, decode_json
from mlopstui.models.experiments import (
    Experiment,
    MetricSeries,
    RunDetail,
    RunRow,
)
from mlopstui.secrets import mask_text, mask_uri
from mlopstui.text import version_or_none

if TYPE_CHECKING:
    from mlopstui.context import AppContext

ALLOWED_HOSTS_HINT = (
    "MLflow 3.5+ rejects requests whose Host header is not in its --allowed-hosts list "
    "(DNS-rebinding protection), answering 403 'Invalid Host header'. Start the tracking server with "
    "--allowed-hosts listing every name clients use, with and without the port, e.g. "
    "`--allowed-hosts 'mlflow-server,mlflow-server:5000,mlflow-server.mlops.svc.cluster.local,"
    "mlflow-server.mlops.svc.cluster.local:5000,<ingress host>'` (or the env var MLFLOW_SERVER_ALLOWED_HOSTS)"
)


def allowed_hosts_for(url: str) -> list[str]:
    """The --allowed-hosts entries that would let a client using `url` through."""
    u = httpx.URL(url)
    host = u.host
    out = [host]
    if u.port:
        out.append(f"{host}:{u.port}")
    if host.endswith(".svc.cluster.local"):
        short = host.split(".")
        for n in (1, 2, 3):
            out.append(".".join(short[:n]))
            if u.port:
                out.append(f"{'.'.join(short[:n])}:{u.port}")
    seen: list[str] = []
    for h in out:
        if h not in seen:
            seen.append(h)
    return seen


def _mlflow_bool(env: Mapping[str, str], name: str) -> bool:
    """A boolean MLflow environment variable as MLflow reads it: true/1, false/0 (any case), else an error."""
    raw = env.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise MlopsError(Kind.CONFIG, f"{name}={raw!r}: MLflow accepts true, false, 1 or 0", source="mlflow")
    return raw.lower() in ("true", "1")


def tls_context(env: Mapping[str, str]) -> Any:
    """verify= for httpx from MLflow's client variables, with MLflow's rules (mlflow.utils.rest_utils
    MlflowHostCreds): MLFLOW_TRACKING_INSECURE_TLS (no verification) and MLFLOW_TRACKING_SERVER_CERT_PATH
    (a CA bundle) are exclusive; MLFLOW_TRACKING_CLIENT_CERT_PATH is a PEM with the client certificate
    and its key (requests' cert=)."""
    import ssl

    insecure = _mlflow_bool(env, "MLFLOW_TRACKING_INSECURE_TLS")
    ca = env.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
    client = env.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
    if insecure and ca:
        raise MlopsError(Kind.CONFIG, "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both "
                         "set: only one of them may be (as MLflow's client requires)", source="mlflow")
    if not (insecure or ca or client):
        return True
    try:
        ctx = ssl.create_default_context(cafile=ca)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client:
            ctx.load_cert_chain(client)
    except (OSError, ssl.SSLError) as exc:
        which = "MLFLOW_TRACKING_CLIENT_CERT_PATH" if client and ca is None else \
            "MLFLOW_TRACKING_SERVER_CERT_PATH / MLFLOW_TRACKING_CLIENT_CERT_PATH"
        raise MlopsError(Kind.CONFIG, f"{which}: cannot load the certificate: {exc}", source="mlflow") from None
    return ctx


class _PluginAuth(httpx.Auth):
    """MLFLOW_TRACKING_AUTH: MLflow's request auth provider of that name (entry point group
    mlflow.request_auth_provider) gives a requests auth object; its headers go on each request."""

    def __init__(self, name: str):
        self.name = name
        self._auth: Any = None

    def auth_flow(self, request: httpx.Request):
        import requests

        if self._auth is None:
            from mlflow.tracking.request_auth.registry import fetch_auth

            try:
                self._auth = fetch_auth(self.name)
            except Exception as exc:  # noqa: BLE001 - a provider that fails to build its auth
                raise MlopsError(Kind.CONFIG, f"MLFLOW_TRACKING_AUTH={self.name}: {exc}", source="mlflow") from None
            if self._auth is None:  # MLflow's client would go on unauthenticated: say so instead
                raise MlopsError(Kind.CONFIG, f"MLFLOW_TRACKING_AUTH={self.name}: no MLflow request auth provider "
                                 "of that name is installed (entry point group mlflow.request_auth_provider)",
                                 source="mlflow")
        prepared = requests.Request(request.method, str(request.url), headers=dict(request.headers),
                                    data=request.content or None).prepare()
        prepared = self._auth(prepared) or prepared
        for k, v in prepared.headers.items():
            if request.headers.get(k) != v:
                request.headers[k] = v
        yield request


# MLflow's own order of runs when runs/search is given no order_by ("naturally ordered first by start time
# descending, then by run id", sqlalchemy_store._get_orderby_clauses). Said explicitly, each clause also gets a
# CASE (nulls last) ahead of it in ORDER BY, which no index can serve and which costs more to sort: on 100,000
# runs (SQLite) 0.31 s instead of 0.52 s for a 30-run page at load 20. These orders are sent as no order_by.
# (They differ only for a run without a start time, which MLflow's create_run never makes.)
NATURAL_ORDERS = (("attributes.start_time DESC",), ("attributes.start_time DESC", "attributes.run_id ASC"))


class MlflowBackend(ArtifactsMixin, RegistryMixin):
    """A client of one tracking server."""

    def __init__(self, url: str, source: str = "", *, timeout: float = 10.0,
                 env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        if not url:
            raise MlopsError(Kind.CONFIG, "no MLflow tracking server configured or discovered",
                             hint="set MLFLOW_TRACKING_URI, or endpoints.mlflow in the config file, "
                                  "or make sure the cluster has an mlflow-server Service")
        if not url.startswith(("http://", "https://")):
            raise MlopsError(Kind.UNSUPPORTED, f"tracking URI {mask_uri(url)} is not an HTTP tracking server",
                             hint="mlopstui talks to an MLflow tracking server (mlflow server ...); "
                                  "set MLFLOW_TRACKING_URI=http://host:5000")
        self.url = url.rstrip("/")
        self.source = source or "given"
        self.timeout = timeout
        self.auth_mode = "none"
        headers = {"User-Agent": "mlopstui"}
        auth: httpx.Auth | None = None
        if env.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"
            self.auth_mode = "token"
        elif env.get("MLFLOW_TRACKING_USERNAME") or env.get("MLFLOW_TRACKING_PASSWORD"):
            auth = httpx.BasicAuth(env.get("MLFLOW_TRACKING_USERNAME", ""), env.get("MLFLOW_TRACKING_PASSWORD", ""))
            self.auth_mode = "basic"
        if env.get("MLFLOW_TRACKING_AUTH"):  # a request auth provider plugin, by name, as MLflow's client
            auth = _PluginAuth(env["MLFLOW_TRACKING_AUTH"])
            self.auth_mode = f"plugin {env['MLFLOW_TRACKING_AUTH']}"
        verify = tls_context(env)
        self._client = httpx.Client(base_url=self.url, headers=headers, auth=auth, verify=verify,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                    follow_redirects=True)

    @classmethod
    def from_context(cls, ctx: AppContext, timeout: float | None = None) -> MlflowBackend:
        """Resolve the tracking URI (config, MLFLOW_TRACKING_URI, cluster Service). Blocking."""
        ep = ctx.endpoint("mlflow")
        if not ep.url:
            raise MlopsError(Kind.CONFIG, f"no MLflow tracking server: {ep.source}",
                             hint="set MLFLOW_TRACKING_URI, or endpoints.mlflow in the config file")
        return ctx.own(cls(ep.url, ep.source, timeout=timeout or max(ctx.settings.probe_timeout * 3, 10.0)))

    @property
    def display(self) -> str:
        return f"{mask_uri(self.url)} ({self.source})"

    def close(self) -> None:
        self._client.close()

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    # -- transport --------------------------------------------------------------------------------
    def _error(self, exc: BaseException, what: str, timeout: float | None = None) -> MlopsError:
        where = f"MLflow at {self.display}"
        if isinstance(exc, httpx.TimeoutException):
            return MlopsError(Kind.TIMEOUT, f"{what}: {where} did not answer within {timeout or self.timeout:.1f}s",
                              hint="the server may be overloaded (many runs?) or the network slow",
                              source="mlflow")
        if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError |
                      httpx.WriteError | httpx.NetworkError):
            reason = mask_text(str(exc)) or type(exc).__name__
            return MlopsError(Kind.UNREACHABLE, f"{what}: cannot reach {where}: {reason}",
                              hint="is the tracking server running? check the mlflow-server Deployment and "
                                   "Service (`mlopstui status`), or MLFLOW_TRACKING_URI",
                              source="mlflow")
        return MlopsError(Kind.ERROR, f"{what}: {type(exc).__name__}: {mask_text(str(exc))}", source="mlflow")

    def _status_error(self, resp: httpx.Response, what: str) -> MlopsError:
        code = resp.status_code
        try:
            body = resp.json()
        except Exception:  # noqa: BLE001 - not JSON
            body = None
        text = resp.text[:500] if body is None else ""
        message = (body or {}).get("message") if isinstance(body, dict) else None
        error_code = (body or {}).get("error_code", "") if isinstance(body, dict) else ""
        msg = mask_text(message or text.strip() or resp.reason_phrase)
        if code == 403 and "invalid host header" in (text or msg).lower():
            hosts = ",".join(allowed_hosts_for(self.url))
            return MlopsError(
                Kind.FORBIDDEN,
                f"{what}: MLflow at {self.display} refused the request: HTTP 403 Invalid Host header "
                f"(its --allowed-hosts protection does not list '{httpx.URL(self.url).host}')",
                hint=ALLOWED_HOSTS_HINT + f"; for this URL: --allowed-hosts '{hosts}'",
                source="mlflow")
        if code == 401:
            return MlopsError(Kind.UNAUTHORIZED, f"{what}: MLflow at {self.display} wants credentials ({msg})",
                              hint="set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                                   "MLFLOW_TRACKING_TOKEN", source="mlflow")
        if code == 403:
            return MlopsError(Kind.FORBIDDEN, f"{what}: MLflow at {self.display} forbids it ({msg})",
                              hint="your MLflow user lacks the permission (MLflow auth app)", source="mlflow")
        if code == 404 or error_code == "RESOURCE_DOES_NOT_EXIST":
            if body is None:
                return MlopsError(Kind.NOT_FOUND, f"{what}: no MLflow REST API at {self.display} (HTTP 404)",
                                  hint="is this the tracking server's address (not the UI behind a path "
                                       "prefix)?", source="mlflow")
            return MlopsError(Kind.NOT_FOUND, f"{what}: {msg}", source="mlflow")
        if code == 400 or error_code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
            return MlopsError(Kind.INVALID, f"{what}: {msg}",
                              hint="MLflow search syntax: metrics.accuracy > 0.9 and params.learning_rate = '0.01'"
                              if "filter" in msg.lower() or "search" in what.lower() else None,
                              source="mlflow")
        if code in (502, 503, 504):
            return MlopsError(Kind.UNREACHABLE, f"{what}: HTTP {code} from {self.display}: {msg}",
                              hint="a proxy answered but the tracking server behind it did not", source="mlflow")
        return MlopsError(Kind.ERROR, f"{what}: HTTP {code} from {self.display}: {msg}", source="mlflow")

    def _call(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
              json: Any = None) -> dict[str, Any]:
        t = verb_deadline.timeout(self.timeout, what)
        if self._client.is_closed:  # its context was closed (TUI :ctx / :ns): its route may be gone too
            raise MlopsError(Kind.CONFIG, f"{what}: the MLflow client of the previous context or namespace "
                             "is closed", hint="go back to Experiments, which connects anew", source="mlflow")
        try:
            resp = self._client.request(method, path, params=params, json=json, timeout=t)
        except httpx.HTTPError as exc:
            raise self._error(exc, what, t) from None
        if resp.status_code >= 400:
            raise self._status_error(resp, what)
        data = decode_json(resp.content, f"MLflow at {self.display} ({method} {path}, {what})",
                           content_type=resp.headers.get("content-type"), source="mlflow")
        return data

    def ping(self) -> str:
        """Reachability and API check; returns the server version when it tells."""
        try:
            resp = self._client.get("/version", timeout=verb_deadline.timeout(self.timeout, "ping"))
            version = (version_or_none(resp.text) or "") if resp.status_code == 200 else ""
        except httpx.HTTPError as exc:
            raise self._error(exc, "ping") from None
        self._call("POST", f"{API}/experiments/search", "list experiments", json={"max_results": 1})
        return version

    # -- experiments ------------------------------------------------------------------------------
    def _paged(self, method: str, endpoint: str, what: str, key: str, args: dict[str, Any], *,
               max_total: int | None = None) -> list[dict[str, Any]]:
        """Every page of a listing (the page-token loop bounded by Pager): args go as the JSON body of a
        POST or the query of a GET, page_token added per page; stops at max_total rows."""
        out: list[dict[str, Any]] = []
        token = None
        pages = Pager(f"MLflow at {self.display} ({endpoint})")
        while True:
            a = {**args, **({"page_token": token} if token else {})}
            data = self._call(method, f"{API}/{endpoint}", what, **({"json": a} if method == "POST" else {"params": a}))
            rows = _items(data, key)
            out.extend(rows)
            token = pages.next(data, len(rows))
            if not token or (max_total is not None and len(out) >= max_total):
                return out

    def search_experiments(self, view: str = "ACTIVE_ONLY", *, filter: str = "",
                           max_total: int = 10000) -> list[Experiment]:
        """view: ACTIVE_ONLY | DELETED_ONLY | ALL."""
        body: dict[str, Any] = {"max_results": 1000, "view_type": view, **({"filter": filter} if filter else {})}
        return [Experiment.from_api(e) for e in self._paged("POST", "experiments/search", "list experiments",
                                                            "experiments", body, max_total=max_total)]

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._call("GET", f"{API}/experiments/get", f"experiment {experiment_id}",
                          params={"experiment_id": experiment_id})
        return Experiment.from_api(data.get("experiment", {}))

    def experiment_by_name_or_id(self, name_or_id: str) -> Experiment:
        try:
            data = self._call("GET", f"{API}/experiments/get-by-name", f"experiment '{name_or_id}'",
                              params={"experiment_name": name_or_id})
            return Experiment.from_api(data.get("experiment", {}))
        except MlopsError as exc:
            if exc.kind != Kind.NOT_FOUND or not name_or_id.isdigit():
                if exc.kind == Kind.NOT_FOUND:
                    raise MlopsError(Kind.NOT_FOUND, f"no experiment named '{name_or_id}'",
                                     hint="`mlopstui experiments` lists them", source="mlflow") from None
                raise
        return self.get_experiment(name_or_id)

    def experiment_stats(self, experiment_id: str, cap: int = 100_000, page_size: int = 1000,
                         between_pages: Callable[[], bool] | None = None,
                         progress: Callable[[int], None] | None = None) -> tuple[int, bool, int | None]:
        """(run count, count capped?, last run start ms). MLflow has no count API: the runs are paged
        through with the server's own next_page_token (opaque: never built or decoded here), so run
        it in the background. between_pages() may block to yield the server, and returns False to
        give up (the count is then reported as capped, "at least N"); progress(n) gets the count so
        far after every page that has a next one."""
        first, token = self.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        last = first[0].start_time if first else None
        if not first or not token:
            return len(first), False, last
        count, token = 0, None
        pages = Pager(f"MLflow at {self.display} (runs/search)")
        while True:
            body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": page_size,
                                    "run_view_type": "ACTIVE_ONLY"}
            if token:
                body["page_token"] = token
            data = self._call("POST", f"{API}/runs/search", "count runs", json=body)
            n = len(_items(data, "runs"))
            count += n
            token = pages.next(data, n)
            if not token:
                return count, False, last
            if progress is not None:
                progress(count)
            if count >= cap or (between_pages is not None and not between_pages()):
                return count, True, last

    def last_run_time(self, experiment_id: str) -> int | None:
        page, _ = self.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        return page[0].start_time if page else None

    # -- runs -------------------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str], *, filter: str = "", order_by: Sequence[str] = (),
                    max_results: int = DEFAULT_PAGE, page_token: str | None = None,
                    view: str = "ACTIVE_ONLY") -> tuple[list[RunRow], str | None]:
        """One page of runs, filtered and ordered on the server; returns (rows, next page token)."""
        body: dict[str, Any] = {"experiment_ids": list(experiment_ids), "max_results": min(max_results, SEARCH_MAX),
                                "run_view_type": view}
        if filter.strip():
            body["filter"] = filter.strip()
        if order_by and tuple(order_by) not in NATURAL_ORDERS:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", f"{API}/runs/search", "search runs", json=body)
        rows = _items(data, "runs")
        token = data.get("next_page_token") or None
        if token is not None and (not isinstance(token, str) or token == page_token):
            raise _page_loop(f"MLflow at {self.display} (runs/search)", "the page token it was given again")
        return [RunRow.from_api(r) for r in rows], token

    def iter_runs(self, experiment_ids: Sequence[str], *, filter: str = "", order_by: Sequence[str] = (),
                  max_total: int | None = None, page_size: int = 1000) -> Iterator[RunRow]:
        token, n = None, 0
        pages = Pager(f"MLflow at {self.display} (runs/search)")
        while True:
            size = page_size if max_total is None else min(page_size, max_total - n)
            if size <= 0:
                return
            rows, token = self.search_runs(experiment_ids, filter=filter, order_by=order_by,
                                           max_results=size, page_token=token)
            for r in rows:
                yield r
                n += 1
            if not pages.next({"next_page_token": token}, len(rows)):
                return

    def get_run(self, run_id: str) -> RunRow:
        data = self._call("GET", f"{API}/runs/get", f"run {run_id}", params={"run_id": run_id})
        return RunRow.from_api(data.get("run", {}))

    def run_detail(self, run_id: str) -> RunDetail:
        run = self.get_run(run_id)
        name = ""
        try:
            name = self.get_experiment(run.experiment_id).name
        except MlopsError:
            pass
        return RunDetail(run=run, experiment_name=name, tracking_uri=self.url)

    def metric_history(self, run_id: str, key: str, max_points: int = 100_000) -> MetricSeries:
        items: list[dict[str, Any]] = []
        token = None
        pages = Pager(f"MLflow at {self.display} (metrics/get-history)")
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            data = self._call("GET", f"{API}/metrics/get-history", f"history of {key}", params=params)
            rows = _items(data, "metrics")
            items.extend(rows)
            token = pages.next(data, len(rows))
            if not token or len(items) >= max_points:
                return MetricSeries.from_api(key, items)

    def metric_histories(self, run_id: str, keys: Sequence[str]) -> dict[str, MetricSeries]:
        return self.metric_histories_of({run_id: keys})[run_id]

    def metric_histories_of(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, MetricSeries]]:
        """{run_id: keys} -> {run_id: {key: series}}. MLflow serves one metric of one run per request, so
        the requests run concurrently (bounded): over a slow link N metrics cost about one round trip, not N."""
        pairs = [(rid, k) for rid, keys in wanted.items() for k in keys]
        out: dict[str, dict[str, MetricSeries]] = {rid: {} for rid in wanted}
        if len(pairs) <= 1:
            for rid, k in pairs:
                out[rid][k] = self.metric_history(rid, k)
            return out
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(HISTORY_CONCURRENCY, len(pairs)),
                                thread_name_prefix="mlflow-history") as pool:
            futures = [(rid, k, pool.submit(self.metric_history, rid, k)) for rid, k in pairs]
            for rid, k, fut in futures:
                out[rid][k] = fut.result()  # the first failure is raised, as a sequential loop would
        return out

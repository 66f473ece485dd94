"""Feast: the registry of a feature repository, its online store, and materialization on Kubernetes.

The feast SDK takes seconds to import: it is imported only inside these functions, which the TUI
runs in workers. The repository is ``ctx.endpoint("feast_repo")`` (config ``endpoints.feast_repo``,
else env ``FEAST_REPO_PATH``, else Feast's ``FEATURE_REPO_DIR_ENV_VAR`` or the directory of Feast's
``FEAST_FS_YAML_FILE_PATH``): the directory holding ``feature_store.yaml`` -- or, as Feast reads it, the
file ``FEAST_FS_YAML_FILE_PATH`` names, wherever it is.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopstui.errors import Kind, MlopsError, from_exception
from mlopstui.models import features as m
from mlopstui.secrets import mask_text, mask_uri

if TYPE_CHECKING:
    from mlopstui.backends.kube import KubeClient
    from mlopstui.context import AppContext

CONFIGURE_HINT = ("set endpoints.feast_repo in the config file (mlopstui.yaml) or export "
                  "FEAST_REPO_PATH=/path/to/feature_repo (the directory with feature_store.yaml); without the "
                  "repository, endpoints.feast_registry (postgresql://user@host:5432/db or a registry file) "
                  "shows the registry read-only")

_stores: dict[str, Any] = {}
_stores_lock = threading.Lock()


@dataclass
class OnlineStoreStatus:
    kind: str  # redis | sqlite | ...
    address: str  # masked
    ok: bool | None  # None: not checked (unknown kind)
    message: str
    memory: str = ""  # redis used_memory_human / maxmemory, when known

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "ok": self.ok, "message": self.message,
                "memory": self.memory}


@dataclass
class FeastRegistry:
    project: str
    repo: str
    repo_source: str
    registry: str  # masked registry path / URI
    entities: list[dict[str, Any]]
    views: list[m.FeatureViewRow]
    services: list[dict[str, Any]]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def view(self, name: str) -> m.FeatureViewRow | None:
        return next((v for v in self.views if v.name == name), None)


# -- the repository -------------------------------------------------------------------------------
def repo_path(ctx: AppContext) -> tuple[Path, str]:
    """The configured feature repository and where that setting came from."""
    ep = ctx.endpoint("feast_repo")
    if not ep.url:
        if ctx.settings.endpoints.feast_registry:
            raise MlopsError(Kind.UNSUPPORTED, "only the Feast registry is configured (endpoints.feast_registry): "
                                               "this needs the feature repository, whose feature_store.yaml names "
                                               "the online store",
                             hint="set endpoints.feast_repo or FEAST_REPO_PATH to the repository's directory",
                             source="feast")
        raise MlopsError(Kind.CONFIG, "no Feast feature repository configured", hint=CONFIGURE_HINT,
                         source="feast")
    path = Path(ep.url.removeprefix("file://")).expanduser()
    if path.is_file() and path.name.endswith((".yaml", ".yml")):
        path = path.parent
    yaml_file = fs_yaml_file(path)
    if not yaml_file.is_file():
        raise MlopsError(Kind.NOT_FOUND, f"no {yaml_file.name} at {yaml_file} (repository from {ep.source})",
                         hint=CONFIGURE_HINT, source="feast")
    return path, ep.source


def fs_yaml_file(repo: Path) -> Path:
    """The repository's feature_store.yaml as Feast finds it (feast.utils.get_default_yaml_file_path):
    FEAST_FS_YAML_FILE_PATH when set, else repo/feature_store.yaml."""
    env = os.environ.get("FEAST_FS_YAML_FILE_PATH")
    return Path(env).expanduser() if env else repo / "feature_store.yaml"


def open_store(path: Path, *, fresh: bool = False) -> Any:
    """A FeatureStore for the repository (cached per path; imports feast)."""
    key = str(path.resolve())
    with _stores_lock:
        store = None if fresh else _stores.get(key)
        if store is None:
            try:
                from feast import FeatureStore

                store = FeatureStore(repo_path=key, fs_yaml_file=fs_yaml_file(Path(key)))
            except MlopsError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken yaml, a missing plugin ...
                raise MlopsError(Kind.INVALID, f"cannot open the Feast repository {key}: "
                                               f"{mask_text(str(exc))[:300]}",
                                 hint="check feature_store.yaml (feast validates it on load)", source="feast") \
                    from None
            _stores[key] = store
        return store


def store_for(ctx: AppContext) -> Any:
    path, _ = repo_path(ctx)
    store = open_store(path)
    _route_online_store(ctx, store)
    return store


# online stores reached through a route (backends/routes.py), by repository: (what the repo says, Endpoint)
_online_routes: dict[str, tuple[str, Any]] = {}


def _route_online_store(ctx: AppContext, store: Any) -> None:
    """A repository written for in-cluster use names its Redis by cluster DNS (feast-redis-master.mlops.svc
    .cluster.local:6379), which does not resolve on a bastion: reach that Service by its route (direct or
    port-forward) and point the store there, once per repository."""
    from mlopstui.backends.routes import cluster_service_of, route

    cfg = store.config.online_store
    key = str(Path(store.repo_path).resolve())
    known = _online_routes.get(key)
    if known is not None:
        if known[1].url and _local_answers(known[1].url):
            return
        cfg.connection_string = known[0]  # dark before, or the forward closed (another context): again
    conn = str(getattr(cfg, "connection_string", "") or "")
    if "redis" not in str(getattr(cfg, "type", "")).lower() or not conn:
        return
    first, _, rest = conn.partition(",")
    where = cluster_service_of(first.rpartition(":")[0] if ":" in first else first)
    kube = ctx.kube_or_none if where else None
    if kube is None:
        return
    from mlopstui.backends.kube import SERVICES

    try:
        svc = kube.get(SERVICES, where[1], where[0])
    except MlopsError:
        return
    from mlopstui.models.endpoints import pick_port

    port = next((p for p in (svc.get("spec") or {}).get("ports") or [] if str(p.get("port")) == first.rpartition(":")[2]),
                None) or pick_port(svc, "redis") or {}
    ep = route("redis", svc, port, "redis", ctx.settings, kube)
    if not ep.url:
        _online_routes[key] = (conn, ep)
        return
    host_port = ep.url.split("://", 1)[1].split("/", 1)[0]
    cfg.connection_string = host_port + ("," + rest if rest else "")
    _online_routes[key] = (conn, ep)


def _registry_call(what: str, fn):
    try:
        return fn()
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001
        err = from_exception(exc, source="feast")
        if err.kind is Kind.ERROR:
            err.message = f"{what}: {err.message}"
        raise err from None


def _source_text(src: Any) -> str:
    if src is None:
        return "-"
    kind = type(src).__name__.replace("Source", "").lower() or "source"
    where = getattr(src, "path", None) or getattr(src, "table", None) or getattr(src, "query", None) or ""
    where = mask_uri(str(where)) if where else ""
    name = getattr(src, "name", "") or ""
    return f"{name} ({kind} {where})".replace(" )", ")") if where else f"{name} ({kind})"


def _ttl(fv: Any):
    ttl = getattr(fv, "ttl", None)
    return ttl if ttl and ttl.total_seconds() > 0 else None


def view_row(fv: Any, kind: str = "FeatureView") -> m.FeatureViewRow:
    intervals = [(m.as_utc(a), m.as_utc(b)) for a, b in (getattr(fv, "materialization_intervals", None) or [])]
    last_end = max((b for _, b in intervals), default=None)
    join_keys = [c.name for c in getattr(fv, "entity_columns", []) or []]
    return m.FeatureViewRow(
        name=fv.name, entities=list(getattr(fv, "entities", []) or []),
        features=[m.FieldRow(f.name, str(f.dtype)) for f in fv.features],
        ttl=_ttl(fv), online=bool(getattr(fv, "online", True)),
        source=_source_text(getattr(fv, "batch_source", None) or getattr(fv, "stream_source", None)),
        last_end=last_end, intervals=intervals, tags=dict(getattr(fv, "tags", {}) or {}),
        join_keys=join_keys, kind=kind)


def load_registry(ctx: AppContext) -> FeastRegistry:
    """Entities, feature views (with materialization intervals) and feature services, read fresh.

    From the feature repository when one is configured; otherwise, read-only, straight from the
    registry named by ``endpoints.feast_registry`` (a SQL registry such as the seed's PostgreSQL, or a
    registry file): what an operator on a bastion without the repository checked out has."""
    if not ctx.endpoint("feast_repo").url:
        reg_ep = ctx.endpoint("feast_registry")
        if reg_ep.url:
            return load_registry_direct(reg_ep.url, reg_ep.source, ctx.settings.feast_project)
    path, source = repo_path(ctx)
    store = open_store(path)

    def read() -> FeastRegistry:
        store.refresh_registry()
        views = [view_row(fv) for fv in store.list_feature_views()]
        try:
            views += [view_row(fv, "StreamFeatureView") for fv in store.list_stream_feature_views()]
        except Exception:  # noqa: BLE001 - older SDKs
            pass
        entities = [{"name": e.name, "join_key": e.join_key,
                     "value_type": str(getattr(e.value_type, "name", e.value_type)),
                     "description": e.description or ""} for e in store.list_entities()]
        services = [{"name": s.name,
                     "features": [f"{p.name}:{f.name}" for p in s.feature_view_projections for f in p.features]}
                    for s in store.list_feature_services()]
        reg = store.config.registry
        reg_path = getattr(reg, "path", reg) if not isinstance(reg, str) else reg
        return FeastRegistry(project=store.project, repo=str(path), repo_source=source,
                             registry=mask_uri(str(reg_path)), entities=entities,
                             views=sorted(views, key=lambda v: v.name), services=services)

    return _registry_call("reading the Feast registry", read)


# -- a registry without its repository -------------------------------------------------------------
SQL_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")


def sqlalchemy_url(uri: str) -> str:
    """A registry URI as SQLAlchemy opens it: plain ``postgresql://`` means psycopg (3), the driver we ship."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return uri


def _is_sql(uri: str) -> bool:
    return uri.partition("://")[0].split("+")[0] in SQL_SCHEMES and "://" in uri


def _named_failures(connect, where: str):
    """connect(), with a transport failure's message naming the endpoint (a bare psycopg error does not)."""
    try:
        return connect()
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001
        err = from_exception(exc, source="feast")
        err.message = f"{where}: {err.message}"
        raise err from None


def _registry_objects(uri: str, timeout: float) -> dict[str, dict[str, list[bytes]]]:
    """{project: {"entities"|"feature_views"|"stream_feature_views"|"feature_services": [proto bytes]}}.

    Only SELECTs (a SQL registry) or a file read: never feast's registry classes, whose constructors
    write (they create missing tables and sync project metadata)."""
    kinds = ("entities", "feature_views", "stream_feature_views", "feature_services")
    out: dict[str, dict[str, list[bytes]]] = {}
    if _is_sql(uri):
        import sqlalchemy as sa

        from mlopstui import deadline

        url = sqlalchemy_url(uri)
        timeout = deadline.timeout(timeout, f"the Feast registry {mask_uri(uri)}") or timeout
        args = {"connect_timeout": int(max(1, timeout))} if url.startswith("postgresql") else {}
        engine = sa.create_engine(url, connect_args=args, poolclass=sa.pool.NullPool)
        try:
            conn_cm = _named_failures(engine.connect, f"the Feast registry {mask_uri(uri)}")
            with conn_cm as conn:
                tables = set(sa.inspect(conn).get_table_names())
                if "feature_views" not in tables:
                    raise MlopsError(Kind.NOT_FOUND, f"no Feast registry tables in {mask_uri(uri)}",
                                     hint="point endpoints.feast_registry at the database that feature_store.yaml's "
                                          "registry (registry_type: sql) uses", source="feast")
                col = {"entities": "entity_proto", "feature_views": "feature_view_proto",
                       "stream_feature_views": "feature_view_proto", "feature_services": "feature_service_proto"}
                for kind in kinds:
                    if kind not in tables:
                        continue
                    for project_id, blob in conn.execute(sa.text(f"SELECT project_id, {col[kind]} FROM {kind}")):
                        out.setdefault(project_id, {k: [] for k in kinds})[kind].append(bytes(blob))
                if "projects" in tables:
                    for (project_id,) in conn.execute(sa.text("SELECT project_id FROM projects")):
                        out.setdefault(project_id, {k: [] for k in kinds})
        finally:
            engine.dispose()
        return out
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto

    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise MlopsError(Kind.NOT_FOUND, f"no Feast registry file at {path}",
                         hint="endpoints.feast_registry takes a registry file path or a SQL URI "
                              "(postgresql://user@host:5432/db)", source="feast")
    data = path.read_bytes()
    try:
        reg = RegistryProto.FromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError: not a Registry
        raise MlopsError(Kind.INVALID, f"{path} is not a Feast registry file (no Registry protobuf: {exc})",
                         source="feast") from None
    for kind in kinds:
        for proto in getattr(reg, kind):
            out.setdefault(proto.spec.project, {k: [] for k in kinds})[kind].append(proto.SerializeToString())
    for proj in getattr(reg, "projects", []):
        out.setdefault(proj.spec.name, {k: [] for k in kinds})
    return out


def load_registry_direct(uri: str, source: str, project: str | None, timeout: float = 5.0) -> FeastRegistry:
    """The registry read without a repository (read-only). ``project`` may be None when there is one."""

    def read() -> FeastRegistry:
        from feast import Entity, FeatureService, FeatureView
        from feast.feature_view import DUMMY_ENTITY_NAME
        from feast.protos.feast.core.Entity_pb2 import Entity as EntityProto
        from feast.protos.feast.core.FeatureService_pb2 import FeatureService as FeatureServiceProto
        from feast.protos.feast.core.FeatureView_pb2 import FeatureView as FeatureViewProto

        objs = _registry_objects(uri, timeout)
        projects = sorted(objs)
        name = project
        if name is None:
            if len(projects) != 1:
                raise MlopsError(Kind.CONFIG, f"the registry {mask_uri(uri)} holds "
                                              f"{'no projects' if not projects else 'projects ' + ', '.join(projects)}",
                                 hint="set feast_project in the config file (or MLOPSTUI_FEAST_PROJECT)",
                                 source="feast")
            name = projects[0]
        if name not in objs:
            raise MlopsError(Kind.NOT_FOUND, f"no Feast project {name!r} in the registry {mask_uri(uri)}",
                             hint=f"projects there: {', '.join(projects) or 'none'}", source="feast")
        o = objs[name]
        views = [view_row(FeatureView.from_proto(FeatureViewProto.FromString(b))) for b in o["feature_views"]]
        if o["stream_feature_views"]:
            from feast.protos.feast.core.StreamFeatureView_pb2 import StreamFeatureView as SFVProto
            from feast.stream_feature_view import StreamFeatureView

            views += [view_row(StreamFeatureView.from_proto(SFVProto.FromString(b)), "StreamFeatureView")
                      for b in o["stream_feature_views"]]
        entities = []
        for b in o["entities"]:
            e = Entity.from_proto(EntityProto.FromString(b))
            if e.name == DUMMY_ENTITY_NAME:  # feast's placeholder for entity-less views; its list hides it
                continue
            entities.append({"name": e.name, "join_key": e.join_key,
                             "value_type": str(getattr(e.value_type, "name", e.value_type)),
                             "description": e.description or ""})
        services = []
        for b in o["feature_services"]:
            fs = FeatureService.from_proto(FeatureServiceProto.FromString(b))
            services.append({"name": fs.name, "features": [f"{p.name}:{f.name}" for p in fs.feature_view_projections
                                                           for f in p.features]})
        return FeastRegistry(project=name, repo="-", repo_source=f"registry only, {source}",
                             registry=mask_uri(uri), entities=sorted(entities, key=lambda e: e["name"]),
                             views=sorted(views, key=lambda v: v.name),
                             services=sorted(services, key=lambda s: s["name"]))

    return _registry_call("reading the Feast registry", read)


# -- online store ---------------------------------------------------------------------------------
def _redis_target(conn: str) -> tuple[str, int, int, str | None, bool]:
    """host, port, db, password, ssl from a Feast redis connection_string ("host:port,db=7,password=x")."""
    parts = [p.strip() for p in conn.split(",") if p.strip()]
    host, port, db, password, ssl = "localhost", 6379, 0, None, False
    if parts:
        hp = parts[0]
        if ":" in hp:
            host, _, p = hp.rpartition(":")
            port = int(p) if p.isdigit() else 6379
        else:
            host = hp
    for opt in parts[1:]:
        k, _, v = opt.partition("=")
        k = k.strip().lower()
        if k == "db" and v.strip().isdigit():
            db = int(v)
        elif k == "password":
            password = v
        elif k == "ssl":
            ssl = v.strip().lower() in ("true", "1", "yes")
    return host, port, db, password, ssl


def _local_answers(url: str) -> bool:
    import socket

    host_port = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def online_store_status(ctx: AppContext, timeout: float = 3.0) -> OnlineStoreStatus:
    store = store_for(ctx)
    cfg = store.config.online_store
    kind = str(getattr(cfg, "type", "") or type(cfg).__name__).lower()
    if "redis" in kind:
        conn = getattr(cfg, "connection_string", "") or ""
        host, port, db, password, ssl = _redis_target(conn.split(";")[0] if ";" in conn else conn)
        address = f"{host}:{port} db {db}"
        routed = _online_routes.get(str(Path(store.repo_path).resolve()))
        if routed is not None:  # the repository's own address, and how we reach it
            named, ep = routed
            h, p, _, _, _ = _redis_target(named)
            address = f"{h}:{p} db {db} ({ep.source})"
            if not ep.url:
                return OnlineStoreStatus("redis", address, False, f"dark: {ep.source}")
        try:
            import redis

            r = redis.Redis(host=host, port=port, db=db, password=password, ssl=ssl, socket_timeout=timeout,
                            socket_connect_timeout=timeout)
            try:
                r.ping()
                memory = ""
                try:
                    info = r.info("memory")
                    maxm = int(info.get("maxmemory") or 0)
                    memory = f"used {info.get('used_memory_human', '?')}, maxmemory " + \
                             (info.get("maxmemory_human", str(maxm)) if maxm else "unset") + \
                             f", policy {info.get('maxmemory_policy', '?')}"
                except Exception:  # noqa: BLE001 - INFO may be disabled
                    pass
                keys = r.dbsize()
                return OnlineStoreStatus("redis", address, True, f"PONG, {keys} keys in db {db}", memory)
            finally:
                r.close()
        except Exception as exc:  # noqa: BLE001
            err = from_exception(exc, source="redis")
            return OnlineStoreStatus("redis", address, False, f"{err.kind.value}: {err.message}")
    if "sqlite" in kind:
        p = Path(getattr(cfg, "path", "") or "data/online_store.db")
        if not p.is_absolute():
            p = Path(store.repo_path) / p
        if p.is_file():
            return OnlineStoreStatus("sqlite", str(p), True, f"{p.stat().st_size // 1024} KiB")
        return OnlineStoreStatus("sqlite", str(p), False, "the SQLite file does not exist (never materialized?)")
    return OnlineStoreStatus(kind or "unknown", "-", None, "health check not supported for this store type")


def _sample_entity_row(store: Any, view: m.FeatureViewRow, fv: Any) -> dict[str, Any]:
    """One entity key that has data: the newest row of a file source, else an error."""
    src = getattr(fv, "batch_source", None)
    path = getattr(src, "path", None)
    if not path or not view.join_keys:
        raise MlopsError(Kind.UNSUPPORTED, f"cannot pick an entity key for {view.name} from its source",
                         hint="give an entity key (e.g. customer_id=1001)", source="feast")
    p = Path(path)
    if not p.is_absolute() and "://" not in path:
        p = Path(store.repo_path) / p
    import pyarrow.parquet as pq

    ts = getattr(src, "timestamp_field", None)
    cols = list(view.join_keys) + ([ts] if ts else [])
    # the last row group only (sources are written in time order): the key columns of a source with
    # billions of rows are not brought to this machine for one sample key
    pf = pq.ParquetFile(str(p))
    table = pf.read_row_group(pf.num_row_groups - 1, columns=cols) if pf.num_row_groups else pf.read(columns=cols)
    if table.num_rows == 0:
        raise MlopsError(Kind.NOT_FOUND, f"the source of {view.name} has no rows", source="feast")
    idx = table.num_rows - 1
    if ts:
        import pyarrow.compute as pc

        idx = int(pc.index(table[ts], pc.max(table[ts])).as_py())
    return {k: table[k][idx].as_py() for k in view.join_keys}


def sample_online(ctx: AppContext, view_name: str, entity: dict[str, Any] | None = None) -> dict[str, Any]:
    """get_online_features for one entity key of a view: {"entity": {...}, "values": {...}}."""
    store = store_for(ctx)

    def read() -> dict[str, Any]:
        fv = store.get_feature_view(view_name)
        row = view_row(fv)
        key = entity or _sample_entity_row(store, row, fv)
        refs = [f"{view_name}:{f.name}" for f in row.features]
        resp = store.get_online_features(features=refs, entity_rows=[key]).to_dict()
        values = {k: (v[0] if isinstance(v, list) and v else v) for k, v in resp.items() if k not in key}
        return {"view": view_name, "entity": key, "values": values,
                "all_null": all(v is None for v in values.values())}

    return _registry_call(f"online read of {view_name}", read)


# -- Kubernetes: CronJobs and Jobs that run feast materialize -------------------------------------
def materialization_cronjobs(kube: KubeClient, namespace: str | None = None,
                             items: list[dict[str, Any]] | None = None) -> list[m.MaterializationCronJob]:
    """items: the CronJobs already at hand (a watch cache), else listed."""
    from mlopstui.backends.kube import CRONJOBS

    items = kube.list(CRONJOBS, namespace) if items is None else items
    out = [m.MaterializationCronJob.from_k8s(o) for o in items]
    return sorted([c for c in out if m.is_materialization_command(c.command)], key=lambda c: c.name)


def materialization_jobs(kube: KubeClient, namespace: str | None = None,
                         cronjobs: list[m.MaterializationCronJob] | None = None,
                         items: list[dict[str, Any]] | None = None) -> list[m.MaterializationJob]:
    from mlopstui.backends.kube import JOBS

    names = {c.name for c in cronjobs or []}
    jobs = [m.MaterializationJob.from_k8s(o) for o in (kube.list(JOBS, namespace) if items is None else items)]
    return m.jobs_newest_first([j for j in jobs if (j.owner and j.owner in names)
                                or m.is_materialization_command(j.command)])


def get_job(kube: KubeClient, namespace: str, name: str) -> m.MaterializationJob:
    from mlopstui.backends.kube import JOBS

    return m.MaterializationJob.from_k8s(kube.get(JOBS, name, namespace))


def job_pod(kube: KubeClient, namespace: str, job: str) -> str | None:
    """The name of the Job's newest pod (None while it has none)."""
    from mlopstui.backends.kube import PODS

    pods = kube.list(PODS, namespace, label_selector=f"job-name={job}")
    if not pods:
        pods = kube.list(PODS, namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    if not pods:
        return None
    pods.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp", ""))
    return pods[-1]["metadata"]["name"]


def job_log(kube: KubeClient, namespace: str, job: str, tail_lines: int = 200) -> str:
    """The log of the Job's newest pod ("" while no pod exists yet)."""
    pod = job_pod(kube, namespace, job)
    if pod is None:
        return ""
    try:
        return mask_text(kube.pod_log(pod, namespace, tail_lines=tail_lines))
    except MlopsError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return ""
        raise


def wait_job(kube: KubeClient, namespace: str, name: str, timeout: float = 600.0, poll: float = 1.0,
             on_update=None) -> m.MaterializationJob:
    """Poll a Job until it Succeeds or Fails (or the timeout: MlopsError TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(kube, namespace, name)
        if on_update is not None:
            on_update(job)
        if job.done:
            return job
        if time.monotonic() > deadline:
            raise MlopsError(Kind.TIMEOUT, f"job {namespace}/{name} still {job.status} after {timeout:.0f}s",
                             hint=f"kubectl -n {namespace} logs job/{name}", source="kubernetes")
        time.sleep(poll)


def feast_argv() -> list[str]:
    """How to run the feast CLI from this environment."""
    import shutil
    import sys

    exe = Path(sys.executable).with_name("feast")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("feast")
    if found:
        return [found]
    return [sys.executable, "-m", "feast.cli.cli"]


def feast_env() -> dict[str, str]:
    import sys

    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env

"""LakeFS over its REST API (``/api/v1``, treeverse/lakeFS api/swagger.yml), with httpx.

Everything here blocks: call it from a worker. Every call has a timeout and raises MlopsError.

Credentials (an access key id and secret, HTTP basic auth), first found wins:
1. settings ``lakefs.access_key_id`` / ``lakefs.secret_access_key``;
2. lakectl's environment ``LAKECTL_CREDENTIALS_ACCESS_KEY_ID`` / ``LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY``;
3. the Secret the LakeFS Deployment takes its installation credentials from: the ``secretKeyRef`` of its
   ``LAKEFS_INSTALLATION_ACCESS_KEY_ID`` / ``LAKEFS_INSTALLATION_SECRET_ACCESS_KEY`` env (lakeFS's
   ``installation.access_key_id`` setting, pkg/config/config.go), or settings ``lakefs.secret``
   ("namespace/name", keys ``access_key_id`` / ``secret_access_key``).
The secret is never shown: ``Credentials.source`` says where it came from.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from mlopstui.errors import Kind, MlopsError, from_exception
from mlopstui.models import data as m

if TYPE_CHECKING:
    from mlopstui.context import AppContext

ENV_KEY = "LAKECTL_CREDENTIALS_ACCESS_KEY_ID"
ENV_SECRET = "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"
DEPLOY_ENV_KEY = "LAKEFS_INSTALLATION_ACCESS_KEY_ID"
DEPLOY_ENV_SECRET = "LAKEFS_INSTALLATION_SECRET_ACCESS_KEY"
PAGE = 1000
MAX_PAGES = 50


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    source: str

    def __repr__(self) -> str:  # never the secret
        return f"Credentials(access_key_id={self.access_key_id!r}, source={self.source!r})"


def _secret_values(kube, namespace: str, name: str) -> dict[str, str]:
    from mlopstui.backends.kube import SECRETS

    sec = kube.get(SECRETS, name, namespace)
    out = {}
    for k, v in (sec.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def credentials_from_deployment(kube, namespace: str | None = None) -> Credentials | None:
    """The installation credentials of a LakeFS Deployment (env values or secretKeyRefs)."""
    from mlopstui.backends.kube import DEPLOYMENTS

    try:
        deps = kube.list(DEPLOYMENTS, namespace, all_namespaces=namespace is None)
    except MlopsError:
        return None
    for dep in deps:
        for c in ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
            env = {e.get("name"): e for e in c.get("env") or []}
            if DEPLOY_ENV_KEY not in env or DEPLOY_ENV_SECRET not in env:
                continue
            ns = dep["metadata"].get("namespace") or namespace or "default"
            values = []
            for var in (DEPLOY_ENV_KEY, DEPLOY_ENV_SECRET):
                e = env[var]
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    try:
                        values.append(_secret_values(kube, ns, ref["name"]).get(ref["key"]))
                    except (MlopsError, KeyError):
                        values.append(None)
                else:
                    values.append(e.get("value"))
            if all(values):
                return Credentials(values[0], values[1], f"deployment {ns}/{dep['metadata']['name']}")
    return None


def resolve_credentials(ctx: AppContext) -> Credentials:
    s = ctx.settings.lakefs
    if s.access_key_id and s.secret_access_key:
        return Credentials(s.access_key_id, s.secret_access_key, "config")
    if os.environ.get(ENV_KEY) and os.environ.get(ENV_SECRET):
        return Credentials(os.environ[ENV_KEY], os.environ[ENV_SECRET], f"env {ENV_KEY}")
    kube = ctx.kube_or_none
    if kube is not None:
        if s.secret:
            ns, _, name = s.secret.rpartition("/")
            try:
                vals = _secret_values(kube, ns or ctx.namespace, name)
            except MlopsError as exc:
                raise MlopsError(exc.kind, f"LakeFS credentials Secret {s.secret}: {exc.message}") from exc
            if vals.get("access_key_id") and vals.get("secret_access_key"):
                return Credentials(vals["access_key_id"], vals["secret_access_key"], f"secret {s.secret}")
        found = credentials_from_deployment(kube, ctx.namespace) or credentials_from_deployment(kube)
        if found:
            return found
    raise MlopsError(Kind.CONFIG, "no LakeFS credentials",
                     hint=f"set lakefs.access_key_id/secret_access_key in the config, {ENV_KEY}/{ENV_SECRET}, "
                          f"or lakefs.secret: NAMESPACE/NAME")


def api_base(url: str) -> str:
    """lakectl's endpoint_url may or may not end in /api/v1."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v1") else url + "/api/v1"


def _q(s: str) -> str:
    return quote(s, safe="")


class LakeFSClient:
    def __init__(self, url: str, creds: Credentials, *, timeout: float = 10.0, source: str = "") -> None:
        self.base = api_base(url)
        self.source = source or url
        self.creds = creds
        self._http = httpx.Client(base_url=self.base, auth=(creds.access_key_id, creds.secret_access_key),
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                  headers={"Accept": "application/json"}, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    def __enter__(self) -> LakeFSClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- plumbing ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                headers: dict | None = None, raw: bool = False) -> Any:
        try:
            r = self._http.request(method, path, params={k: v for k, v in (params or {}).items() if v is not None},
                                   json=json, headers=headers)
        except httpx.HTTPError as exc:
            err = from_exception(exc, source=self.source)
            raise MlopsError(err.kind, f"LakeFS at {self.source}: {err.message}",
                             hint=err.hint or "check endpoints.lakefs (or LAKECTL_SERVER_ENDPOINT_URL); from a "
                                              "bastion the cluster DNS name of the lakefs Service may not resolve",
                             source=self.source) from exc
        if r.status_code >= 400:
            raise self._error(r, method, path)
        if raw:
            return r
        if r.status_code == 204 or not r.content:
            return None
        if "json" not in r.headers.get("content-type", ""):
            return r.text
        try:
            return r.json()
        except ValueError as exc:
            raise MlopsError(Kind.ERROR, f"LakeFS answered {method} {path} with invalid JSON",
                             source=self.source) from exc

    def _error(self, r: httpx.Response, method: str, path: str) -> MlopsError:
        try:
            body = r.json()
            msg = body.get("message") if isinstance(body, dict) else None
        except ValueError:
            msg = None
        msg = m.clean(msg or r.text[:200] or r.reason_phrase)
        kind = {400: Kind.INVALID, 401: Kind.UNAUTHORIZED, 403: Kind.FORBIDDEN, 404: Kind.NOT_FOUND,
                409: Kind.CONFLICT, 412: Kind.CONFLICT}.get(r.status_code, Kind.ERROR)
        hint = None
        if r.status_code == 401:
            hint = f"check the LakeFS access key ({self.creds.source})"
        err = MlopsError(kind, f"LakeFS {method} {path}: {r.status_code} {msg}", hint=hint, source=self.source)
        err.status = r.status_code  # type: ignore[attr-defined]
        return err

    def _pages(self, path: str, params: dict | None = None, limit: int | None = None) -> list[dict]:
        out: list[dict] = []
        after = ""
        for _ in range(MAX_PAGES):
            amount = PAGE if limit is None else min(PAGE, limit - len(out))
            doc = self.request("GET", path, params={**(params or {}), "after": after or None, "amount": amount})
            out.extend(doc.get("results") or [])
            pg = doc.get("pagination") or {}
            if not pg.get("has_more") or (limit is not None and len(out) >= limit):
                break
            after = pg.get("next_offset") or ""
            if not after:
                break
        return out if limit is None else out[:limit]

    # ---- reads ------------------------------------------------------------------------------
    def health(self) -> bool:
        self.request("GET", "/healthcheck")
        return True

    def repositories(self) -> list[m.Repository]:
        return [m.Repository.from_api(d) for d in self._pages("/repositories")]

    def repository(self, repo: str) -> m.Repository:
        return m.Repository.from_api(self.request("GET", f"/repositories/{_q(repo)}"))

    def branches(self, repo: str) -> list[m.Ref]:
        return [m.Ref.from_api(d) for d in self._pages(f"/repositories/{_q(repo)}/branches")]

    def branch(self, repo: str, branch: str) -> m.Ref:
        return m.Ref.from_api(self.request("GET", f"/repositories/{_q(repo)}/branches/{_q(branch)}"))

    def tags(self, repo: str) -> list[m.Ref]:
        return [m.Ref.from_api(d, "tag") for d in self._pages(f"/repositories/{_q(repo)}/tags")]

    def log(self, repo: str, ref: str, limit: int = 50) -> list[m.Commit]:
        return [m.Commit.from_api(d) for d in
                self._pages(f"/repositories/{_q(repo)}/refs/{_q(ref)}/commits", limit=limit)]

    def commit(self, repo: str, commit_id: str) -> m.Commit:
        return m.Commit.from_api(self.request("GET", f"/repositories/{_q(repo)}/commits/{_q(commit_id)}"))

    def diff(self, repo: str, left: str, right: str, *, two_dot: bool = False, prefix: str | None = None,
             limit: int = 10_000) -> list[m.DiffEntry]:
        """What `right` changed relative to `left` (three-dot: since their merge base, lakeFS's default)."""
        params = {"type": "two_dot" if two_dot else "three_dot", "prefix": prefix}
        return [m.DiffEntry.from_api(d) for d in
                self._pages(f"/repositories/{_q(repo)}/refs/{_q(left)}/diff/{_q(right)}", params, limit=limit)]

    def uncommitted(self, repo: str, branch: str) -> list[m.DiffEntry]:
        return [m.DiffEntry.from_api(d) for d in
                self._pages(f"/repositories/{_q(repo)}/branches/{_q(branch)}/diff", limit=10_000)]

    def objects(self, repo: str, ref: str, prefix: str = "", *, delimiter: str = "/",
                limit: int = 1000) -> list[m.ObjectEntry]:
        return [m.ObjectEntry.from_api(d) for d in
                self._pages(f"/repositories/{_q(repo)}/refs/{_q(ref)}/objects/ls",
                            {"prefix": prefix or None, "delimiter": delimiter or None}, limit=limit)]

    def stat(self, repo: str, ref: str, path: str) -> m.ObjectEntry:
        return m.ObjectEntry.from_api(self.request("GET", f"/repositories/{_q(repo)}/refs/{_q(ref)}/objects/stat",
                                                   params={"path": path}))

    def read(self, repo: str, ref: str, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """Bytes start..end of an object (a Range request). Streamed and cut at the range's length: a proxy or
        server that ignores Range does not bring the whole object to this machine."""
        rng = f"bytes={start}-{'' if end is None else end}" if (start or end is not None) else None
        cap = None if end is None else end - start + 1
        return self._read(f"/repositories/{_q(repo)}/refs/{_q(ref)}/objects", path, rng, cap)

    def read_tail(self, repo: str, ref: str, path: str, n: int) -> bytes:
        return self._read(f"/repositories/{_q(repo)}/refs/{_q(ref)}/objects", path, f"bytes=-{n}", n, tail=True)

    def _read(self, api_path: str, path: str, rng: str | None, cap: int | None, tail: bool = False) -> bytes:
        try:
            with self._http.stream("GET", api_path, params={"path": path},
                                   headers={"Range": rng} if rng else None) as r:
                if r.status_code >= 400:
                    r.read()
                    raise self._error(r, "GET", api_path)
                if tail and r.status_code == 200:  # the whole object came back: a suffix cannot be streamed
                    raise MlopsError(Kind.UNSUPPORTED, f"LakeFS at {self.source} ignored the Range of {path}; "
                                     "not reading the whole object", source=self.source)
                buf = bytearray()
                for chunk in r.iter_bytes():
                    buf.extend(chunk)
                    if cap is not None and len(buf) >= cap:
                        return bytes(buf[:cap])
                return bytes(buf)
        except httpx.HTTPError as exc:
            err = from_exception(exc, source=self.source)
            raise MlopsError(err.kind, f"LakeFS at {self.source}: {err.message}", source=self.source) from exc

    def merge_base(self, repo: str, source: str, dest: str) -> dict:
        return self.request("GET", f"/repositories/{_q(repo)}/refs/{_q(source)}/merge/{_q(dest)}")

    # ---- writes (one request each) ----------------------------------------------------------
    def create_branch(self, repo: str, name: str, source: str) -> str:
        out = self.request("POST", f"/repositories/{_q(repo)}/branches", json={"name": name, "source": source})
        return m.clean(out).strip() if isinstance(out, str) else ""

    def delete_branch(self, repo: str, name: str) -> None:
        self.request("DELETE", f"/repositories/{_q(repo)}/branches/{_q(name)}")

    def revert(self, repo: str, branch: str, ref: str, parent_number: int = 0) -> None:
        self.request("POST", f"/repositories/{_q(repo)}/branches/{_q(branch)}/revert",
                     json={"ref": ref, "parent_number": parent_number})

    def merge(self, repo: str, source: str, dest: str, message: str | None = None) -> str:
        body: dict[str, Any] = {}
        if message:
            body["message"] = message
        out = self.request("POST", f"/repositories/{_q(repo)}/refs/{_q(source)}/merge/{_q(dest)}", json=body)
        return m.clean((out or {}).get("reference", ""))


def client(ctx: AppContext, timeout: float | None = None) -> LakeFSClient:
    """A client on the configured or discovered LakeFS endpoint (blocking: a worker)."""
    ep = ctx.endpoint("lakefs")
    if not ep.url:
        raise MlopsError(Kind.CONFIG, f"no LakeFS endpoint ({ep.source})",
                         hint="set endpoints.lakefs (or LAKECTL_SERVER_ENDPOINT_URL), or run a Service named lakefs")
    return ctx.own(LakeFSClient(ep.url, resolve_credentials(ctx),
                                timeout=timeout or max(ctx.settings.probe_timeout * 3, 10.0),
                                source=f"{ep.display} ({ep.source})"))


def preview(c: LakeFSClient, repo: str, ref: str, path: str) -> m.Preview:
    """The first bytes of a text/CSV/JSON object, or a Parquet file's schema from its footer."""
    st = c.stat(repo, ref, path)
    kind = m.preview_kind(path, st.content_type)
    if kind == "parquet":
        return parquet_schema(c, repo, ref, path, st.size_bytes)
    if st.size_bytes == 0:
        return m.Preview(path, kind, [], False, 0, note="empty object")
    data = c.read(repo, ref, path, start=0, end=m.PREVIEW_BYTES - 1)
    return m.preview_from_bytes(path, data, size=st.size_bytes, content_type=st.content_type)


def parquet_schema(c: LakeFSClient, repo: str, ref: str, path: str, size: int | None) -> m.Preview:
    """Read only the footer (two range requests) and let pyarrow parse it."""
    import struct

    if not size or size < 12:
        return m.Preview(path, "parquet", [], False, size, note="not a Parquet file (too small)")
    tail = c.read_tail(repo, ref, path, 8)
    if len(tail) != 8 or tail[4:] != b"PAR1":
        return m.Preview(path, "parquet", [], False, size, note="not a Parquet file (no PAR1 footer)")
    (footer_len,) = struct.unpack("<I", tail[:4])
    if footer_len + 12 > size or footer_len > 64 * 1024 * 1024:
        return m.Preview(path, "parquet", [], False, size, note="Parquet footer length is invalid")
    footer = c.read_tail(repo, ref, path, footer_len + 8)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a corrupt footer
        return m.Preview(path, "parquet", [], False, size, note=f"unreadable Parquet footer: {m.clean(exc)}")
    schema = meta.schema.to_arrow_schema()
    return m.Preview(path, "parquet", [], False, size,
                     schema=[(m.clean(f.name), m.clean(f.type)) for f in schema], rows=meta.num_rows)


def repository_objects(ctx: AppContext, timeout: float = 3.0) -> list[dict[str, Any]]:
    """LakeFS repositories as snapshot objects (kind LakeFSRepository) for the doctor; [] when LakeFS is
    not configured, not discovered or not answering (the doctor then cannot tell managed buckets)."""
    try:
        with client(ctx, timeout=timeout) as c:
            repos = c.repositories()
    except MlopsError:
        return []
    return [{"kind": "LakeFSRepository", "metadata": {"name": r.id},
             "spec": {"storageNamespace": r.storage_namespace, "defaultBranch": r.default_branch}} for r in repos]

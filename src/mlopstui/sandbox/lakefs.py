"""The sandbox's LakeFS: the subset of the lakeFS REST API (``/api/v1``) the Data area uses.

No lakeFS server package reaches these machines, so this serves the API shapes of
treeverse/lakeFS ``api/swagger.yml`` (commit 71a45eeb1639d146d34b8effd7e86d077160ed7c) with the
semantics of its graveler (``pkg/graveler/graveler.go``, ``pkg/graveler/committed/manager.go``,
``pkg/api/controller.go`` at the same commit). The official ``lakefs-sdk`` client works against it
unchanged (tests/sandbox/test_lakefs_emulator.py), as kubectl works against the Kubernetes emulator.

Model (as lakeFS's):
- a repository has a storage namespace (``s3://bucket/prefix`` in the sandbox's S3, or ``local://``
  for a directory) and a default branch; creating it writes a dummy object there (lakeFS checks the
  namespace is writable) and an empty first commit "Repository created";
- a commit points at a tree (path -> entry: physical address, checksum, size, mtime, content type,
  user metadata), identified by its meta_range_id; commits are content-addressed (sha256);
- a branch is a pointer to a commit plus its staging area (uncommitted writes and tombstones):
  creating a branch copies no data (zero-copy); objects are written once to the storage namespace
  under ``data/`` and shared by every branch and commit that references them;
- reading a branch sees its staging area; diffs between refs, merges and reverts use commits only;
- diffRefs is three-dot by default (from the merge base to the right ref), two_dot on request;
- merge is three-way from the merge base: a path changed on both sides differently is a conflict
  (409) unless the strategy is dest-wins / source-wins; a source already contained in the
  destination is "no changes" (400); a destination with uncommitted changes is a dirty branch (400);
  the merge commit has parents [destination, source] and metadata ``.lakefs.merge.strategy``;
- revert of commit C on branch B merges C's parent into B with C as the merge base (a merge commit
  needs ``parent_number``); message "Revert <ref>"; answers 204;
- deleting the default branch is 403 "cannot delete repository default branch".

Authentication is HTTP basic with an access key id and secret (lakeFS's ``basic_auth``).
Every request goes to ``request_log`` (method, path, query, user, status; written before the
answer is sent), and, when the server has a state directory, to ``requests.jsonl`` in it.

Run: ``python -m mlopstui.sandbox.lakefs --dir DIR --port P --s3-endpoint URL``
(access key/secret from ``LAKEFS_INSTALLATION_ACCESS_KEY_ID`` / ``_SECRET_ACCESS_KEY``, the S3
blockstore's from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import heapq
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from mlopstui.sandbox.httpd import SandboxHTTPServer

VERSION = "1.70.0-mlopstui-sandbox"
REQUEST_LOG_MAX = 5000
RE_REPO = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")  # RepositoryCreation.name
RE_BRANCH = re.compile(r"^\w[-\w]*$")  # pkg/validator/validate.go ReValidBranchID
def valid_tag(t: str) -> bool:
    """pkg/graveler/validate.go ValidateTagID (git-check-ref-format, '~' allowed)."""
    return bool(t) and t != "@" and not t.endswith((".", ".lock")) and not any(x in t for x in ("..", "/", "@{")) \
        and not any(ch in t for ch in "^:?*[\\") and not any(ord(ch) < 32 or ch == " " for ch in t)


RE_NAMESPACE = re.compile(r"^(s3|gs|https?|mem|local|transient)://.*$")
FIRST_COMMIT_MSG = "Repository created"  # graveler.FirstCommitMsg
MERGE_STRATEGY_KEY = ".lakefs.merge.strategy"
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")


class ApiError(Exception):
    def __init__(self, code: int, message: str, body: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body if body is not None else {"message": message}


def _now() -> int:
    return int(time.time())


def _tree_id(tree: dict[str, dict]) -> str:
    h = hashlib.sha256()
    for path in sorted(tree):
        e = tree[path]
        h.update(f"{path}\0{e['checksum']}\0{e['physical_address']}\0".encode())
    return h.hexdigest()


def _same(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a["checksum"] == b["checksum"] and a["physical_address"] == b["physical_address"]


class Blockstore:
    """Where object bytes live: the sandbox's S3 (boto3, imported on first use) or a directory."""

    def __init__(self, s3_endpoint: str | None, local_root: Path | None) -> None:
        self.s3_endpoint = s3_endpoint
        self.local_root = local_root
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        with self._lock:
            if self._client is None:
                if not self.s3_endpoint:
                    raise ApiError(400, "s3 blockstore is not configured")
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "sandbox"),
                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
                    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                  connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))
            return self._client

    @staticmethod
    def _split(address: str) -> tuple[str, str, str]:
        scheme, _, rest = address.partition("://")
        bucket, _, key = rest.partition("/")
        return scheme, bucket, key

    def _local_path(self, address: str) -> Path:
        if self.local_root is None:
            raise ApiError(400, "local blockstore is not configured")
        _, _, rest = address.partition("://")
        p = (self.local_root / rest).resolve()
        if not str(p).startswith(str(self.local_root.resolve()) + os.sep):
            raise ApiError(400, f"invalid address {address}")
        return p

    def put(self, address: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        scheme, bucket, key = self._split(address)
        if scheme == "s3":
            try:
                self._s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
            except ApiError:
                raise
            except Exception as exc:  # a missing bucket, S3 down: lakeFS answers 500/400 likewise
                raise ApiError(400, f"write to storage namespace failed: {type(exc).__name__}: {exc}") from exc
        elif scheme == "local":
            p = self._local_path(address)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        else:
            raise ApiError(400, f"blockstore {scheme}:// is not supported by the sandbox")

    def get(self, address: str, start: int | None = None, end: int | None = None) -> bytes:
        scheme, bucket, key = self._split(address)
        if scheme == "s3":
            kw = {}
            if start is not None:
                kw["Range"] = f"bytes={start}-{'' if end is None else end}"
            try:
                return self._s3().get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
            except Exception as exc:
                raise ApiError(410, f"No data: {type(exc).__name__}") from exc
        p = self._local_path(address)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ApiError(410, "No data") from exc
        if start is not None:
            data = data[start: None if end is None else end + 1]
        return data


class LakeFSState:
    """Repositories, commits, branches (pointer + staging) and tags; persisted as one JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: dict = {"repositories": {}}
        if path is not None and path.exists():
            self.data = json.loads(path.read_text())

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + f".tmp{threading.get_ident()}")
        tmp.write_text(json.dumps(self.data, separators=(",", ":")))
        os.replace(tmp, self.path)

    def repo(self, name: str) -> dict:
        r = self.data["repositories"].get(name)
        if r is None:
            raise ApiError(404, "repository not found")
        return r


class LakeFSServer:
    """The emulator. ``start()`` serves in a background thread; ``stop()`` ends it."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, s3_endpoint: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None) -> None:
        self.state_dir = Path(state_dir).resolve() if state_dir else None
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.access_key_id = access_key_id or "AKIAIOSFOLQUICKSTART"
        self.secret_access_key = secret_access_key or secrets.token_urlsafe(30)
        self.state = LakeFSState(self.state_dir / "lakefs.json" if self.state_dir else None)
        self.blocks = Blockstore(s3_endpoint, (self.state_dir / "local") if self.state_dir else None)
        self.request_log: list[dict] = []
        self._log_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    def _bind(self) -> None:
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = _HTTPServer((self.host, self.port), Handler)
        self.port = self._httpd.server_address[1]

    def start(self) -> LakeFSServer:
        self._bind()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="lakefs-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, on_ready=None) -> None:
        self._bind()
        if on_ready is not None:
            on_ready(self)
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._httpd.server_close()
            self._httpd.drop_connections()

    def request_shutdown(self) -> None:
        if self._httpd is not None:
            threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.drop_connections()  # as the API emulator's stop: no handler waits on a keep-alive client
        if self._thread is not None:
            self._thread.join(timeout=5)

    def log_request(self, entry: dict) -> None:
        with self._log_lock:
            self.request_log.append(entry)
            if len(self.request_log) > REQUEST_LOG_MAX:
                del self.request_log[: len(self.request_log) - REQUEST_LOG_MAX]
            if self.state_dir:
                with open(self.state_dir / "requests.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")

    def writes(self) -> list[dict]:
        """The write requests seen so far (what tests count)."""
        return [e for e in self.request_log if e["method"] in WRITE_METHODS]

    def authenticate(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if secrets.compare_digest(key, self.access_key_id) and secrets.compare_digest(secret, self.secret_access_key):
            return "admin"
        return None

    # ================================================================ graveler
    def resolve(self, repo: dict, ref: str, *, staging: bool = False) -> tuple[str | None, dict]:
        """A ref (branch, tag, commit id or unique prefix; ``~N``/``^`` suffixes) -> (commit id, tree)."""
        base, mods = ref, ""
        m = re.match(r"^(.*?)((?:[~^]\d*)*)$", ref)
        if m:
            base, mods = m.group(1), m.group(2)
        branch = repo["branches"].get(base)
        if branch is not None:
            cid = branch["commit_id"]
        elif base in repo["tags"]:
            cid = repo["tags"][base]
        elif base in repo["commits"]:
            cid = base
        else:
            found = [c for c in repo["commits"] if len(base) >= 6 and c.startswith(base)]
            if len(found) != 1:
                raise ApiError(404, f"{ref}: not found")
            cid = found[0]
        for mod in re.findall(r"[~^]\d*", mods):
            n = int(mod[1:] or 1)
            for _ in range(n if mod[0] == "~" else 1):
                parents = repo["commits"][cid]["parents"]
                idx = 0 if mod[0] == "~" else n - 1
                if idx >= len(parents):
                    raise ApiError(404, f"{ref}: not found")
                cid = parents[idx]
            staging = False
        tree = dict(self.tree(repo, cid))
        if staging and branch is not None and not mods:
            for path, entry in branch["staging"].items():
                if entry is None:
                    tree.pop(path, None)
                else:
                    tree[path] = entry
        return cid, tree

    @staticmethod
    def tree(repo: dict, cid: str | None) -> dict:
        if cid is None:
            return {}
        return repo["ranges"][repo["commits"][cid]["meta_range_id"]]

    def add_commit(self, repo: dict, *, parents: list[str], tree: dict, committer: str, message: str,
                   metadata: dict | None = None, generation: int = 1, date: int | None = None) -> dict:
        mr = _tree_id(tree)
        repo["ranges"].setdefault(mr, tree)
        commit = {"parents": parents, "committer": committer, "message": message,
                  "creation_date": date or _now(), "meta_range_id": mr, "metadata": metadata or {},
                  "generation": generation, "version": 1}
        cid = hashlib.sha256(json.dumps(commit, sort_keys=True).encode() + uuid.uuid4().bytes).hexdigest()
        commit["id"] = cid
        repo["commits"][cid] = commit
        return commit

    def merge_base(self, repo: dict, a: str, b: str) -> str | None:
        def ancestors(c: str) -> dict[str, int]:
            seen: dict[str, int] = {}
            stack = [c]
            while stack:
                x = stack.pop()
                if x in seen:
                    continue
                seen[x] = repo["commits"][x]["generation"]
                stack.extend(repo["commits"][x]["parents"])
            return seen

        common = set(ancestors(a)) & set(ancestors(b))
        if not common:
            return None
        return max(common, key=lambda c: (repo["commits"][c]["generation"], repo["commits"][c]["creation_date"]))

    @staticmethod
    def three_way(dest: dict, source: dict, base: dict, strategy: str) -> tuple[dict, list[str]]:
        """lakeFS's committed merge, path by path; returns (tree, conflicting paths)."""
        out: dict = {}
        conflicts: list[str] = []
        for path in sorted(set(dest) | set(source) | set(base)):
            d, s, b = dest.get(path), source.get(path), base.get(path)
            if _same(s, b):
                pick = d
            elif _same(d, b) or _same(d, s):
                pick = s
            elif strategy == "dest-wins":
                pick = d
            elif strategy == "source-wins":
                pick = s
            else:
                conflicts.append(path)
                continue
            if pick is not None:
                out[path] = pick
        return out, conflicts

    @staticmethod
    def diff_trees(left: dict, right: dict) -> list[dict]:
        out = []
        for path in sorted(set(left) | set(right)):
            a, b = left.get(path), right.get(path)
            if _same(a, b):
                continue
            if a is None:
                kind, e = "added", b
            elif b is None:
                kind, e = "removed", a
            else:
                kind, e = "changed", b
            out.append({"type": kind, "path": path, "path_type": "object", "size_bytes": e["size_bytes"]})
        return out


class _HTTPServer(SandboxHTTPServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._served: set[socket.socket] = set()  # accepted and not yet shut down (keep-alive ones wait in recv)
        self._served_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._served_lock:
            self._served.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # socketserver's end of every connection
        with self._served_lock:
            self._served.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """End every connection still served, as a stopped lakeFS does: their handler threads return instead
        of waiting for a keep-alive client that never closes (an SDK's pool, a test's client)."""
        with self._served_lock:
            served = list(self._served)
        for request in served:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        pass


def _paginate(items: list, key, after: str, amount: int, prefix: str = "") -> tuple[list, dict]:
    items = [i for i in items if key(i).startswith(prefix) and key(i) > after]
    page = items[:amount]
    more = len(items) > amount
    return page, {"has_more": more, "next_offset": key(page[-1]) if more and page else "",
                  "results": len(page), "max_per_page": amount}


class _Handler(BaseHTTPRequestHandler):
    api: LakeFSServer
    protocol_version = "HTTP/1.1"
    server_version = "lakeFS-mlopstui-sandbox"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    # ---- plumbing ---------------------------------------------------------------------------
    def _send(self, code: int, body=None, content_type: str = "application/json", headers: dict | None = None) -> None:
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self._status = code
        self._log_once()
        self.send_response(code)
        if data or code not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _log_once(self) -> None:
        if not self._logged:
            self._logged = True
            self.api.log_request({"method": self.command, "path": self._path, "query": self._query_raw,
                                  "user": self._user, "status": self._status, "time": time.time()})

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        self._path = parts.path.rstrip("/") or "/"
        self._query_raw = parts.query
        self._qs = parse_qs(parts.query, keep_blank_values=True)
        self._q = {k: v[-1] for k, v in self._qs.items()}
        self._status = 0
        self._user = None
        self._logged = False
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if n > 512 * 1024 * 1024:
                raise ApiError(413, "request too large")
            body = self.rfile.read(n) if n else b""
            if self._path == "/_health":  # pkg/httputil/endpoints.go ServeHealth
                return self._send(200, b"alive!", "text/plain")
            if not self._path.startswith("/api/v1"):
                raise ApiError(404, "path not found")
            rel = self._path[len("/api/v1"):] or "/"
            if rel != "/healthcheck":
                self._user = self.api.authenticate(self.headers.get("Authorization"))
                if self._user is None:
                    raise ApiError(401, "error authenticating request")
            self._route(method, [unquote(s) for s in rel.split("/") if s], body)
        except ApiError as e:
            self._send(e.code, e.body)
        except (BrokenPipeError, ConnectionResetError):
            self._status = self._status or 499
        except Exception as e:  # noqa: BLE001 - a 500 with an Error body, as lakeFS's default response
            import traceback

            traceback.print_exc()
            try:
                self._send(500, {"message": f"internal error: {type(e).__name__}: {e}"})
            except OSError:
                pass
        finally:
            self._log_once()

    def _json(self, body: bytes) -> dict:
        if not body:
            return {}
        try:
            v = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from exc
        if not isinstance(v, dict):
            raise ApiError(400, "body must be a JSON object")
        return v

    def _int(self, name: str, default: int, lo: int = -1, hi: int = 1000) -> int:
        raw = self._q.get(name)
        if raw in (None, ""):
            return default
        try:
            v = int(raw)
        except ValueError as exc:
            raise ApiError(400, f"{name}: invalid integer") from exc
        if v < lo or v > hi:
            raise ApiError(400, f"{name}: out of range")
        return default if v < 0 else v

    def _bool(self, name: str) -> bool:
        return (self._q.get(name) or "").lower() in ("1", "true", "yes")

    # ---- routing ----------------------------------------------------------------------------
    def _route(self, method: str, s: list[str], body: bytes) -> None:
        api = self.api
        if s == ["healthcheck"]:
            return self._send(204)
        if s == ["config", "version"]:
            return self._send(200, {"version": VERSION})
        if s == ["user"]:
            return self._send(200, {"user": {"id": self._user, "creation_date": 0}})
        if s == ["config", "storage"]:
            return self._send(200, {"blockstore_type": "s3", "blockstore_namespace_example": "s3://example-bucket/",
                                    "blockstore_namespace_ValidityRegex": "^s3://", "pre_sign_support": False,
                                    "pre_sign_support_ui": False, "import_support": False,
                                    "import_validity_regex": "^s3://"})
        if not s or s[0] != "repositories":
            raise ApiError(404, "path not found")
        with api.state.lock:
            if len(s) == 1:
                return self._repositories(method, body)
            repo_name = s[1]
            if len(s) == 2:
                return self._repository(method, repo_name)
            repo = api.state.repo(repo_name)
            rest = s[2:]
            if rest[0] == "branches":
                return self._branches(method, repo, rest[1:], body)
            if rest[0] == "tags":
                return self._tags(method, repo, rest[1:], body)
            if rest[0] == "refs" and len(rest) >= 3:
                return self._refs(method, repo, rest[1], rest[2:], body)
            if rest[0] == "commits" and len(rest) == 2 and method == "GET":
                c = repo["commits"].get(rest[1])
                if c is None:
                    cid, _ = api.resolve(repo, rest[1])
                    c = repo["commits"][cid]
                return self._send(200, self._commit_doc(c))
        raise ApiError(404, "path not found")

    # ---- repositories -----------------------------------------------------------------------
    @staticmethod
    def _repo_doc(name: str, r: dict) -> dict:
        return {"id": name, "creation_date": r["creation_date"], "default_branch": r["default_branch"],
                "storage_namespace": r["storage_namespace"], "read_only": False}

    def _repositories(self, method: str, body: bytes) -> None:
        st = self.api.state
        if method == "GET":
            items = sorted(st.data["repositories"].items())
            page, pg = _paginate(items, lambda i: i[0], self._q.get("after", ""), self._int("amount", 100),
                                 self._q.get("prefix", ""))
            search = self._q.get("search", "")
            return self._send(200, {"pagination": pg,
                                    "results": [self._repo_doc(n, r) for n, r in page if search in n]})
        if method != "POST":
            raise ApiError(405, "method not allowed")
        b = self._json(body)
        name, ns = b.get("name") or "", b.get("storage_namespace") or ""
        default = b.get("default_branch") or "main"
        if not isinstance(name, str) or not RE_REPO.match(name):
            raise ApiError(400, "name: invalid repository name")
        if not isinstance(ns, str) or not RE_NAMESPACE.match(ns):
            raise ApiError(400, "storage_namespace: invalid value")
        if not RE_BRANCH.match(default):
            raise ApiError(400, "default_branch: invalid branch name")
        if name in st.data["repositories"]:
            raise ApiError(409, "repository already exists: not unique")
        for other in st.data["repositories"].values():
            if other["storage_namespace"].rstrip("/") == ns.rstrip("/"):
                raise ApiError(400, f"storage namespace already in use: {ns}")
        # lakeFS checks that it can write the namespace before creating the repository
        self.api.blocks.put(ns.rstrip("/") + "/dummy", b"", "text/plain")
        repo = {"creation_date": _now(), "default_branch": default, "storage_namespace": ns,
                "commits": {}, "ranges": {}, "branches": {}, "tags": {}}
        if not self._bool("bare"):
            c = self.api.add_commit(repo, parents=[], tree={}, committer="", message=FIRST_COMMIT_MSG,
                                    generation=1)
            repo["branches"][default] = {"commit_id": c["id"], "staging": {}}
        st.data["repositories"][name] = repo
        st.save()
        return self._send(201, self._repo_doc(name, repo))

    def _repository(self, method: str, name: str) -> None:
        st = self.api.state
        repo = st.repo(name)
        if method == "GET":
            return self._send(200, self._repo_doc(name, repo))
        if method == "DELETE":
            del st.data["repositories"][name]
            st.save()
            return self._send(204)
        raise ApiError(405, "method not allowed")

    # ---- branches ---------------------------------------------------------------------------
    def _branches(self, method: str, repo: dict, rest: list[str], body: bytes) -> None:
        api = self.api
        if not rest:
            if method == "GET":
                items = sorted(repo["branches"].items())
                page, pg = _paginate(items, lambda i: i[0], self._q.get("after", ""), self._int("amount", 100),
                                     self._q.get("prefix", ""))
                return self._send(200, {"pagination": pg,
                                        "results": [{"id": n, "commit_id": b["commit_id"]} for n, b in page]})
            if method == "POST":
                b = self._json(body)
                name, source = b.get("name") or "", b.get("source") or ""
                if not isinstance(name, str) or not RE_BRANCH.match(name):
                    raise ApiError(400, "name: invalid branch name")
                if not isinstance(source, str) or not source:
                    raise ApiError(400, "source: required")
                if name in repo["branches"] and not b.get("force"):
                    raise ApiError(409, "branch already exists: not unique")
                cid, _ = api.resolve(repo, source)
                repo["branches"][name] = {"commit_id": cid, "staging": {}}  # a pointer: zero-copy
                api.state.save()
                return self._send(201, cid, "text/html")
            raise ApiError(405, "method not allowed")
        name = rest[0]
        br = repo["branches"].get(name)
        if br is None:
            raise ApiError(404, "branch not found")
        sub = rest[1:]
        if not sub:
            if method == "GET":
                return self._send(200, {"id": name, "commit_id": br["commit_id"]})
            if method == "DELETE":
                if name == repo["default_branch"]:
                    raise ApiError(403, "cannot delete repository default branch")
                del repo["branches"][name]
                api.state.save()
                return self._send(204)
            raise ApiError(405, "method not allowed")
        op = sub[0]
        if op == "commits" and method == "POST":
            return self._commit(repo, name, br, self._json(body))
        if op == "diff" and method == "GET":
            base = api.tree(repo, br["commit_id"])
            _, staged = api.resolve(repo, name, staging=True)
            return self._diff_page(api.diff_trees(base, staged))
        if op == "revert" and method == "POST":
            return self._revert(repo, name, br, self._json(body))
        if op == "objects" and len(sub) == 1:
            path = self._q.get("path")
            if not path:
                raise ApiError(400, "path: required")
            if method == "POST":
                return self._upload(repo, name, br, path, body)
            if method == "DELETE":
                base = api.tree(repo, br["commit_id"])
                if path in base:
                    br["staging"][path] = None
                else:
                    br["staging"].pop(path, None)
                api.state.save()
                return self._send(204)
        raise ApiError(404, "path not found")

    def _commit(self, repo: dict, name: str, br: dict, b: dict) -> None:
        api = self.api
        msg = b.get("message")
        if not isinstance(msg, str):
            raise ApiError(400, "message: required")
        parent = br["commit_id"]
        _, tree = api.resolve(repo, name, staging=True)
        if not br["staging"] and not b.get("allow_empty"):
            raise ApiError(400, "commit: no changes")
        if _tree_id(tree) == repo["commits"][parent]["meta_range_id"] and not b.get("allow_empty"):
            br["staging"] = {}
            raise ApiError(400, "commit: no changes")
        meta = b.get("metadata") or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ApiError(400, "metadata: a map of strings")
        c = api.add_commit(repo, parents=[parent], tree=tree, committer=self._user or "", message=msg,
                           metadata=meta, generation=repo["commits"][parent]["generation"] + 1,
                           date=b.get("date") if isinstance(b.get("date"), int) else None)
        br["commit_id"], br["staging"] = c["id"], {}
        api.state.save()
        return self._send(201, self._commit_doc(c))

    def _revert(self, repo: dict, name: str, br: dict, b: dict) -> None:
        api = self.api
        ref = b.get("ref")
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "ref: required")
        if "parent_number" not in b:
            raise ApiError(400, "parent_number: required")
        pn = b.get("parent_number") or 0
        cid, _ = api.resolve(repo, ref)
        commit = repo["commits"][cid]
        if len(commit["parents"]) > 1 and pn <= 0:
            raise ApiError(409, "must specify 1-based parent number for reverting merge commit")
        if pn > len(commit["parents"]):
            raise ApiError(400, f"parent is out of range: parent {pn}")
        if br["staging"]:
            raise ApiError(400, f"{name}: uncommitted changes (dirty branch)")
        parent = commit["parents"][max(pn - 1, 0)] if commit["parents"] else None
        tip = br["commit_id"]
        tree, conflicts = api.three_way(api.tree(repo, tip), api.tree(repo, parent), api.tree(repo, cid), "")
        if conflicts:
            raise ApiError(409, "conflict found")
        if _tree_id(tree) == repo["commits"][tip]["meta_range_id"] and not b.get("allow_empty"):
            raise ApiError(400, "no changes")
        overrides = b.get("commit_overrides") or {}
        c = api.add_commit(repo, parents=[tip], tree=tree, committer=self._user or "",
                           message=overrides.get("message") or f"Revert {ref}",
                           metadata=overrides.get("metadata") or {},
                           generation=repo["commits"][tip]["generation"] + 1)
        br["commit_id"] = c["id"]
        api.state.save()
        return self._send(204)

    def _upload(self, repo: dict, name: str, br: dict, path: str, body: bytes) -> None:
        ctype = self.headers.get("Content-Type") or "application/octet-stream"
        data, content_type = body, "application/octet-stream"
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            part = None
            for p in msg.iter_parts():
                if p.get_param("name", header="content-disposition") == "content":
                    part = p
                    break
            if part is None:
                raise ApiError(400, "missing 'content' part in multipart upload")
            data = part.get_payload(decode=True) or b""
            content_type = part.get_content_type() or content_type
        if self.headers.get("If-None-Match") == "*":
            _, cur = self.api.resolve(repo, name, staging=True)
            if path in cur:
                raise ApiError(412, "precondition failed")
        ns = repo["storage_namespace"].rstrip("/")
        address = f"{ns}/data/g{uuid.uuid4().hex[:20]}/{uuid.uuid4().hex}"
        self.api.blocks.put(address, data, content_type)
        entry = {"physical_address": address, "checksum": hashlib.md5(data).hexdigest(),  # noqa: S324 - an ETag
                 "size_bytes": len(data), "mtime": _now(), "content_type": content_type, "metadata": {}}
        br["staging"][path] = entry
        self.api.state.save()
        return self._send(201, self._stat_doc(path, entry))

    # ---- tags -------------------------------------------------------------------------------
    def _tags(self, method: str, repo: dict, rest: list[str], body: bytes) -> None:
        api = self.api
        if not rest:
            if method == "GET":
                items = sorted(repo["tags"].items())
                page, pg = _paginate(items, lambda i: i[0], self._q.get("after", ""), self._int("amount", 100),
                                     self._q.get("prefix", ""))
                return self._send(200, {"pagination": pg, "results": [{"id": n, "commit_id": c} for n, c in page]})
            if method == "POST":
                b = self._json(body)
                tid, ref = b.get("id") or "", b.get("ref") or ""
                if not isinstance(tid, str) or not valid_tag(tid) or not ref:
                    raise ApiError(400, "id/ref: invalid")
                if tid in repo["tags"] and not b.get("force"):
                    raise ApiError(409, "tag already exists: not unique")
                cid, _ = api.resolve(repo, ref)
                repo["tags"][tid] = cid
                api.state.save()
                return self._send(201, {"id": tid, "commit_id": cid})
            raise ApiError(405, "method not allowed")
        tid = rest[0]
        if tid not in repo["tags"]:
            raise ApiError(404, "tag not found")
        if method == "GET":
            return self._send(200, {"id": tid, "commit_id": repo["tags"][tid]})
        if method == "DELETE":
            del repo["tags"][tid]
            api.state.save()
            return self._send(204)
        raise ApiError(405, "method not allowed")

    # ---- refs -------------------------------------------------------------------------------
    @staticmethod
    def _commit_doc(c: dict) -> dict:
        return {k: c[k] for k in ("id", "parents", "committer", "message", "creation_date", "meta_range_id",
                                  "metadata", "generation", "version")}

    @staticmethod
    def _stat_doc(path: str, e: dict) -> dict:
        return {"path": path, "path_type": "object", "physical_address": e["physical_address"],
                "checksum": e["checksum"], "size_bytes": e["size_bytes"], "mtime": e["mtime"],
                "metadata": e.get("metadata") or {}, "content_type": e.get("content_type")}

    def _diff_page(self, diffs: list[dict]) -> None:
        prefix, delim = self._q.get("prefix", ""), self._q.get("delimiter", "")
        diffs = [d for d in diffs if d["path"].startswith(prefix)]
        if delim:
            grouped: dict[str, dict] = {}
            for d in diffs:
                rest = d["path"][len(prefix):]
                if delim in rest:
                    p = prefix + rest.split(delim, 1)[0] + delim
                    grouped.setdefault(p, {"type": "prefix_changed", "path": p, "path_type": "common_prefix"})
                else:
                    grouped[d["path"]] = d
            diffs = [grouped[k] for k in sorted(grouped)]
        page, pg = _paginate(diffs, lambda d: d["path"], self._q.get("after", ""), self._int("amount", 100))
        return self._send(200, {"pagination": pg, "results": page})

    def _refs(self, method: str, repo: dict, ref: str, rest: list[str], body: bytes) -> None:
        api = self.api
        op = rest[0]
        if op == "commits" and len(rest) == 1 and method == "GET":
            return self._log(repo, ref)
        if op == "diff" and len(rest) == 2 and method == "GET":
            lcid, _ = api.resolve(repo, ref)
            rcid, rtree = api.resolve(repo, rest[1])
            if self._q.get("type") == "two_dot":
                left = api.tree(repo, lcid)
            else:  # three_dot, lakeFS's default: what the right ref changed since the merge base
                left = api.tree(repo, api.merge_base(repo, lcid, rcid))
            return self._diff_page(api.diff_trees(left, rtree))
        if op == "merge" and len(rest) == 2:
            return self._merge(method, repo, ref, rest[1], body)
        if op == "objects":
            path = self._q.get("path", "")
            _, tree = api.resolve(repo, ref, staging=True)
            if len(rest) == 1 and method in ("GET", "HEAD"):
                if not path:
                    raise ApiError(400, "path: required")
                e = tree.get(path)
                if e is None:
                    raise ApiError(404, "not found")
                return self._get_object(e, method)
            if rest[1:] == ["stat"] and method == "GET":
                e = tree.get(path)
                if e is None:
                    raise ApiError(404, "not found")
                return self._send(200, self._stat_doc(path, e))
            if rest[1:] == ["ls"] and method == "GET":
                return self._ls(tree)
        raise ApiError(404, "path not found")

    def _log(self, repo: dict, ref: str) -> None:
        api = self.api
        cid, _ = api.resolve(repo, ref)
        first_parent = self._bool("first_parent")
        stop_at = None
        if self._q.get("stop_at"):
            stop_at, _ = api.resolve(repo, self._q["stop_at"])
        out: list[dict] = []
        seen: set[str] = set()
        heap = [(-repo["commits"][cid]["generation"], -repo["commits"][cid]["creation_date"], cid)]
        while heap and len(out) < 100_000:
            _, _, c = heapq.heappop(heap)
            if c in seen:
                continue
            seen.add(c)
            commit = repo["commits"][c]
            out.append(commit)
            if c == stop_at:
                break
            parents = commit["parents"][:1] if first_parent else commit["parents"]
            for p in parents:
                pc = repo["commits"][p]
                heapq.heappush(heap, (-pc["generation"], -pc["creation_date"], p))
        objects, prefixes = self._qs.get("objects", []), self._qs.get("prefixes", [])
        if objects or prefixes:
            def touches(commit: dict) -> bool:
                parent = commit["parents"][0] if commit["parents"] else None
                for d in api.diff_trees(api.tree(repo, parent), api.tree(repo, commit["id"])):
                    if d["path"] in objects or any(d["path"].startswith(p) for p in prefixes):
                        return True
                return False

            out = [c for c in out if touches(c)]
        after = self._q.get("after", "")
        if after:
            ids = [c["id"] for c in out]
            out = out[ids.index(after) + 1:] if after in ids else []
        amount = self._int("amount", 100)
        page = out[:amount]
        more = len(out) > amount
        return self._send(200, {"pagination": {"has_more": more, "next_offset": page[-1]["id"] if more else "",
                                               "results": len(page), "max_per_page": amount},
                                "results": [self._commit_doc(c) for c in page]})

    def _merge(self, method: str, repo: dict, source_ref: str, dest: str, body: bytes) -> None:
        api = self.api
        br = repo["branches"].get(dest)
        if br is None:
            raise ApiError(404, "branch not found")
        scid, _ = api.resolve(repo, source_ref)
        dcid = br["commit_id"]
        base = api.merge_base(repo, scid, dcid)
        if method == "GET":
            if base is None:
                raise ApiError(404, "no merge base")
            return self._send(200, {"source_commit_id": scid, "destination_commit_id": dcid, "base_commit_id": base})
        if method != "POST":
            raise ApiError(405, "method not allowed")
        b = self._json(body)
        strategy = b.get("strategy") or ""
        if strategy not in ("", "dest-wins", "source-wins"):
            raise ApiError(400, "invalid merge strategy")
        if br["staging"]:
            raise ApiError(400, f"{dest}: uncommitted changes (dirty branch)")
        if base is None:
            raise ApiError(400, "no merge base")
        if source_ref == dest:
            raise ApiError(400, "same branch: invalid value")
        smr = repo["commits"][scid]["meta_range_id"]
        bmr = repo["commits"][base]["meta_range_id"]
        if smr == bmr and not (b.get("allow_empty") or b.get("force")):
            raise ApiError(400, "no changes")
        tree, conflicts = api.three_way(api.tree(repo, dcid), api.tree(repo, scid), api.tree(repo, base), strategy)
        if conflicts:
            # pkg/api/controller.go MergeIntoBranch: 409 with a MergeResult (an Error message too)
            raise ApiError(409, "conflict found", {"reference": "", "message": "conflict found"})
        meta = dict(b.get("metadata") or {})
        meta[MERGE_STRATEGY_KEY] = strategy or "default"
        sgen, dgen = repo["commits"][scid]["generation"], repo["commits"][dcid]["generation"]
        parents = [dcid] if b.get("squash_merge") else [dcid, scid]
        c = api.add_commit(repo, parents=parents, tree=tree, committer=self._user or "",
                           message=b.get("message") or f"Merge '{source_ref}' into '{dest}'",
                           metadata=meta, generation=max(sgen, dgen) + 1)
        br["commit_id"] = c["id"]
        api.state.save()
        return self._send(200, {"reference": c["id"]})

    def _get_object(self, e: dict, method: str) -> None:
        headers = {"ETag": f'"{e["checksum"]}"', "Last-Modified": time.strftime(
            "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(e["mtime"]))}
        size = e["size_bytes"]
        rng = self.headers.get("Range")
        if method == "HEAD":
            self._send(200, None, e.get("content_type") or "application/octet-stream", headers)
            return
        if rng:
            m = re.match(r"^bytes=(\d*)-(\d*)$", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise ApiError(416, "Requested Range Not Satisfiable")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(size - int(m.group(2)), 0), size - 1
            if start >= size or start > end:
                raise ApiError(416, "Requested Range Not Satisfiable")
            data = self.api.blocks.get(e["physical_address"], start, end)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(206, data, e.get("content_type") or "application/octet-stream", headers)
        data = self.api.blocks.get(e["physical_address"])
        return self._send(200, data, e.get("content_type") or "application/octet-stream", headers)

    def _ls(self, tree: dict) -> None:
        prefix, delim = self._q.get("prefix", ""), self._q.get("delimiter", "")
        rows: dict[str, dict] = {}
        for path in sorted(tree):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if delim and delim in rest:
                p = prefix + rest.split(delim, 1)[0] + delim
                rows.setdefault(p, {"path": p, "path_type": "common_prefix", "physical_address": "",
                                    "checksum": "", "mtime": 0})
            else:
                rows[path] = self._stat_doc(path, tree[path])
        items = [rows[k] for k in sorted(rows)]
        page, pg = _paginate(items, lambda r: r["path"], self._q.get("after", ""), self._int("amount", 100))
        return self._send(200, {"pagination": pg, "results": page})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlopstui.sandbox.lakefs",
                                 description="the lakeFS API emulator of the mlopstui sandbox")
    ap.add_argument("--dir", required=True, help="state directory (lakefs.json, requests.jsonl)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--s3-endpoint", default=None, help="the S3 endpoint of s3:// storage namespaces")
    a = ap.parse_args(argv)
    srv = LakeFSServer(a.dir, a.host, a.port, s3_endpoint=a.s3_endpoint,
                       access_key_id=os.environ.get("LAKEFS_INSTALLATION_ACCESS_KEY_ID"),
                       secret_access_key=os.environ.get("LAKEFS_INSTALLATION_SECRET_ACCESS_KEY"))
    signal.signal(signal.SIGTERM, lambda signum, frame: srv.request_shutdown())
    signal.signal(signal.SIGINT, lambda signum, frame: srv.request_shutdown())
    srv.serve_forever(on_ready=lambda s: print(f"lakefs emulator serving {s.api_url}", file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

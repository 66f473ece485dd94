"""The Data area's plain data and pure logic: LakeFS repositories, refs, commits, diffs, objects and
previews; DVC-tracked outputs and remotes. No I/O here.

LakeFS shapes are those of treeverse/lakeFS api/swagger.yml (commit 71a45eeb1639): Repository, Ref,
Commit, Diff, ObjectStats. Every string from a server is cleaned of terminal control characters when
a model is built from it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlopstui.errors import Kind, MlopsError
from mlopstui.text import clean as _clean_text
from mlopstui.text import clean_line

# pkg/validator/validate.go ReValidBranchID; RepositoryCreation.name
RE_BRANCH = re.compile(r"^\w[-\w]*$", re.ASCII)
RE_REPO = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
RE_COMMIT = re.compile(r"^[0-9a-f]{6,64}$")
RE_REF = re.compile(r"^[\w][-\w./]*(?:[~^]\d*)*$", re.ASCII)
PREVIEW_BYTES = 64 * 1024
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """One line of server text for the terminal (mlopstui.text.clean_line)."""
    return clean_line(value)


def _ts(epoch: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(epoch), UTC) if epoch else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# ---------------------------------------------------------------- validation of user input


def validate_repo(name: str) -> str:
    if not isinstance(name, str) or not RE_REPO.match(name):
        raise MlopsError(Kind.INVALID, f"invalid LakeFS repository name {name!r}",
                         hint="3-63 characters: lower-case letters, digits and '-', starting with a letter or digit")
    return name


def validate_branch(name: str) -> str:
    if not isinstance(name, str) or not RE_BRANCH.match(name) or len(name) > 256:
        raise MlopsError(Kind.INVALID, f"invalid LakeFS branch name {name!r}",
                         hint="letters, digits, '_' and '-', not starting with '-'")
    return name


def validate_ref(ref: str) -> str:
    if not isinstance(ref, str) or not RE_REF.match(ref) or len(ref) > 256 or ".." in ref:
        raise MlopsError(Kind.INVALID, f"invalid LakeFS ref {ref!r}",
                         hint="a branch, a tag or a commit id (optionally with ~N or ^N)")
    return ref


def validate_path(path: str) -> str:
    if not isinstance(path, str) or _CONTROLS.search(path) or len(path) > 1024:
        raise MlopsError(Kind.INVALID, f"invalid object path {path!r}")
    return path


# ---------------------------------------------------------------- LakeFS


def split_namespace(ns: str) -> tuple[str, str, str]:
    """``s3://bucket/prefix/`` -> ("s3", "bucket", "prefix")."""
    scheme, _, rest = (ns or "").partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme, bucket, prefix.strip("/")


@dataclass(frozen=True)
class Repository:
    id: str
    storage_namespace: str
    default_branch: str
    created: datetime | None = None
    read_only: bool = False

    @classmethod
    def from_api(cls, d: dict) -> Repository:
        return cls(clean(d.get("id")), clean(d.get("storage_namespace")), clean(d.get("default_branch")),
                   _ts(d.get("creation_date")), bool(d.get("read_only")))

    @property
    def bucket(self) -> str:
        return split_namespace(self.storage_namespace)[1]

    def to_dict(self) -> dict:
        return {"id": self.id, "storage_namespace": self.storage_namespace, "bucket": self.bucket,
                "default_branch": self.default_branch, "created": fmt_time(self.created),
                "read_only": self.read_only}


@dataclass(frozen=True)
class Ref:
    name: str
    commit_id: str
    kind: str = "branch"  # branch | tag

    @classmethod
    def from_api(cls, d: dict, kind: str = "branch") -> Ref:
        return cls(clean(d.get("id")), clean(d.get("commit_id")), kind)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Commit:
    id: str
    message: str
    committer: str
    created: datetime | None
    parents: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: dict) -> Commit:
        meta = d.get("metadata") or {}
        return cls(clean(d.get("id")), clean(d.get("message")), clean(d.get("committer")), _ts(d.get("creation_date")),
                   tuple(clean(p) for p in d.get("parents") or ()),
                   {clean(k): clean(v) for k, v in meta.items()} if isinstance(meta, dict) else {})

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    def to_dict(self) -> dict:
        return {"id": self.id, "message": self.message, "committer": self.committer,
                "created": fmt_time(self.created), "parents": list(self.parents), "metadata": self.metadata}


@dataclass(frozen=True)
class DiffEntry:
    type: str  # added | removed | changed | conflict | prefix_changed
    path: str
    path_type: str = "object"
    size_bytes: int | None = None

    @classmethod
    def from_api(cls, d: dict) -> DiffEntry:
        size = d.get("size_bytes")
        return cls(clean(d.get("type")), clean(d.get("path")), clean(d.get("path_type") or "object"),
                   size if isinstance(size, int) else None)

    def to_dict(self) -> dict:
        return asdict(self)


def diff_counts(entries: list[DiffEntry]) -> dict[str, int]:
    out = {"added": 0, "changed": 0, "removed": 0}
    for e in entries:
        out[e.type] = out.get(e.type, 0) + 1
    return out


def diff_summary(entries: list[DiffEntry]) -> str:
    if not entries:
        return "no differences"
    c = diff_counts(entries)
    parts = [f"{c[k]} {k}" for k in ("added", "changed", "removed") if c.get(k)]
    parts += [f"{v} {k}" for k, v in c.items() if k not in ("added", "changed", "removed") and v]
    return ", ".join(parts)


def merge_conflicts(source_changes: list[DiffEntry], dest_changes: list[DiffEntry]) -> list[str]:
    """Paths both sides changed since the merge base (the diffs dest...source and source...dest).

    lakeFS's merge conflicts on such a path unless both made the same change; its 409 does not list
    the paths, so this names the candidates (a path both sides set to identical content is listed
    too, and lakeFS would not conflict on it).
    """
    theirs = {e.path for e in source_changes if e.path_type == "object"}
    return sorted(p for p in {e.path for e in dest_changes if e.path_type == "object"} if p in theirs)


@dataclass(frozen=True)
class ObjectEntry:
    path: str
    path_type: str = "object"  # object | common_prefix
    size_bytes: int | None = None
    checksum: str = ""
    mtime: datetime | None = None
    content_type: str = ""
    physical_address: str = ""

    @classmethod
    def from_api(cls, d: dict) -> ObjectEntry:
        size = d.get("size_bytes")
        return cls(clean(d.get("path")), clean(d.get("path_type") or "object"), size if isinstance(size, int) else None,
                   clean(d.get("checksum")), _ts(d.get("mtime")), clean(d.get("content_type")),
                   clean(d.get("physical_address")))

    @property
    def is_prefix(self) -> bool:
        return self.path_type == "common_prefix"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mtime"] = fmt_time(self.mtime)
        return d


# ---------------------------------------------------------------- previews

PREVIEW_KINDS = ("text", "csv", "json", "parquet", "binary")


def preview_kind(path: str, content_type: str = "") -> str:
    p = path.lower()
    if p.endswith(".parquet") or p.endswith(".pq"):
        return "parquet"
    if p.endswith((".csv", ".tsv")):
        return "csv"
    if p.endswith((".json", ".jsonl", ".ndjson")) or "json" in content_type:
        return "json"
    if p.endswith((".txt", ".md", ".yaml", ".yml", ".log", ".dvc", ".lock", ".py", ".cfg", ".ini", ".toml")) \
            or content_type.startswith("text/"):
        return "text"
    return "binary"


@dataclass
class Preview:
    path: str
    kind: str
    lines: list[str] = field(default_factory=list)
    truncated: bool = False
    size_bytes: int | None = None
    schema: list[tuple[str, str]] = field(default_factory=list)  # parquet: (column, type)
    rows: int | None = None  # parquet: row count from the footer
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        head = f"{self.path}  ({self.kind}, {fmt_size(self.size_bytes)})"
        if self.schema:
            body = [f"{c}: {t}" for c, t in self.schema]
            if self.rows is not None:
                body.insert(0, f"{self.rows} rows, {len(self.schema)} columns")
        else:
            body = list(self.lines)
        if self.truncated:
            body.append(f"... (first {PREVIEW_BYTES // 1024} KiB shown)")
        if self.note:
            body.append(self.note)
        return "\n".join([head, *body])


def preview_from_bytes(path: str, data: bytes, *, size: int | None, content_type: str = "",
                       max_lines: int = 40) -> Preview:
    """A text/CSV/JSON preview of the first bytes of an object (Parquet: see the backend)."""
    kind = preview_kind(path, content_type)
    truncated = size is not None and size > len(data)
    if kind == "binary" or b"\x00" in data[:4096]:
        return Preview(path, "binary", [], False, size, note="binary object: no preview")
    text = _clean_text(data.decode("utf-8", errors="replace"))
    if truncated and "\n" in text:
        text = text[: text.rfind("\n")]  # do not show a cut line
    lines = text.splitlines()
    if kind == "csv":
        delim = "\t" if path.lower().endswith(".tsv") else ","
        rows = list(csv.reader(io.StringIO("\n".join(lines[: max_lines + 1])), delimiter=delim))
        widths = [max((len(r[i]) if i < len(r) else 0) for r in rows) for i in range(max((len(r) for r in rows),
                                                                                         default=0))]
        widths = [min(w, 24) for w in widths]
        out = ["  ".join(c[:24].ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
        return Preview(path, "csv", out[: max_lines], truncated or len(lines) > max_lines, size)
    if kind == "json" and not truncated:
        try:
            doc = json.loads(text)
        except ValueError:
            pass  # JSON lines, or not JSON after all: show as text
        else:
            out = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False).splitlines()
            return Preview(path, "json", [_clean_text(x) for x in out[:max_lines]], len(out) > max_lines, size)
    return Preview(path, kind if kind != "json" else "json", lines[:max_lines], truncated or len(lines) > max_lines,
                   size)


# ---------------------------------------------------------------- DVC


@dataclass
class DvcOut:
    """One DVC-tracked output (a .dvc file's out, or a dvc.lock stage's out)."""

    path: str  # relative to the repository root
    source: str  # the .dvc file or "dvc.lock:<stage>"
    md5: str | None = None
    size: int | None = None
    nfiles: int | None = None
    is_dir: bool = False
    remote: str | None = None  # out-level remote
    status: str = "unknown"  # in-remote | not-in-remote | missing | deleted | unknown
    last_commit: str | None = None  # short sha of the Git commit that last changed the source
    last_commit_date: str | None = None
    last_commit_subject: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# `dvc status -c` states (dvc/repo/status.py _cloud_status: "new", "deleted", "missing"; none: in sync)
CLOUD_STATUS_WORDS = {
    "new": "not-in-remote",  # in the local cache, not in the remote: needs `dvc push`
    "deleted": "not-in-remote",
    "missing": "missing",  # neither in the cache nor in the remote
}


def cloud_status_word(state: str | None) -> str:
    """The word for one out of `dvc status -c` (None: in sync with the remote)."""
    if state is None:
        return "in-remote"
    return CLOUD_STATUS_WORDS.get(state, state)


@dataclass
class DvcRemote:
    name: str
    url: str
    endpointurl: str | None = None
    is_default: bool = False
    has_credentials: bool = False  # access_key_id/secret_access_key, profile or credentialpath in the config
    signature_v2: bool = False  # a v2 signature setting
    options: dict[str, str] = field(default_factory=dict)  # the other options (no secret values)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def to_dict(self) -> dict:
        return asdict(self)


SECRET_REMOTE_KEYS = ("secret_access_key", "access_key_id", "session_token", "password", "token")


# botocore's names of Signature Version 2 for S3 (``signature_version = s3`` in an AWS config's s3 section)
SIGV2_VALUES = ("s3", "v2", "s3v2")


def remote_from_config(name: str, section: dict[str, Any], default: str | None,
                       aws_s3: dict[str, str] | None = None) -> DvcRemote:
    """A remote from DVC's merged config section (``['remote "x"']`` items).

    DVC has no signature option of its own: an S3 remote signs as its AWS config profile says
    (``configpath`` / AWS_CONFIG_FILE, the profile's ``s3`` section), passed here as aws_s3.
    """
    opts = {str(k): str(v) for k, v in section.items()}
    sig = (aws_s3 or {}).get("signature_version", "")
    return DvcRemote(
        name=name,
        url=opts.get("url", ""),
        endpointurl=opts.get("endpointurl") or None,
        is_default=name == default,
        has_credentials=any(opts.get(k) for k in ("access_key_id", "profile", "credentialpath")),
        signature_v2=sig.lower() in SIGV2_VALUES,
        options={k: ("***" if any(s in k for s in SECRET_REMOTE_KEYS) else v) for k, v in opts.items()
                 if k != "url"},
    )


@dataclass
class DvcProject:
    root: str
    git_commit: str | None
    remotes: list[DvcRemote] = field(default_factory=list)
    outs: list[DvcOut] = field(default_factory=list)
    default_remote: str | None = None
    remote_error: str | None = None  # why the remote status is unknown (unreachable, no credentials)
    env_credentials: bool = False  # AWS_ACCESS_KEY_ID / AWS_PROFILE in the environment that ran DVC

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outs:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"root": self.root, "git_commit": self.git_commit, "default_remote": self.default_remote,
                "remotes": [r.to_dict() for r in self.remotes], "outs": [o.to_dict() for o in self.outs],
                "counts": self.counts(), "remote_error": self.remote_error,
                "env_credentials": self.env_credentials}

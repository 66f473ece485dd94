"""MLflow artifacts: listing, bounded previews and downloads (a mixin of backends.mlflow.MlflowBackend).

Nothing bulk reaches the bastion unasked: a preview reads at most PREVIEW_BYTES of a file (streamed, the
rest never requested), and a download first sums the sizes MLflow lists and refuses above a cap unless the
caller allows that many bytes (the TUI asks, the CLI needs --yes or --max-bytes).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path

import httpx

from mlopstui.errors import Kind, MlopsError
from mlopstui.models.experiments import ArtifactEntry
from mlopstui.secrets import mask_text
from mlopstui.units import human_bytes

PREVIEW_BYTES = 256 * 1024
# a download above this asks first (the TUI) or needs --max-bytes / --yes (the CLI)
DOWNLOAD_CONFIRM_BYTES = 100 * 1024 * 1024


class ArtifactsMixin:
    """Needs the backend's _call, _client, _error, _status_error, display, timeout, get_run."""

    # -- artifacts --------------------------------------------------------------------------------
    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactEntry]:
        """One directory level (the tree loads per directory)."""
        rows = self._paged("GET", "artifacts/list", f"list artifacts {path or '/'}", "files",
                           {"run_id": run_id, **({"path": path} if path else {})})
        out = [ArtifactEntry.from_api(f) for f in rows]
        out.sort(key=lambda e: (not e.is_dir, e.path))
        return out

    def _artifact_stream(self, run_id: str, path: str):
        return self._client.stream("GET", "/get-artifact", params={"run_id": run_id, "path": path},
                                   timeout=httpx.Timeout(max(self.timeout, 30.0), connect=5.0))

    def read_artifact(self, run_id: str, path: str, limit: int = PREVIEW_BYTES) -> tuple[bytes, bool]:
        """The first `limit` bytes of an artifact file and whether it was cut."""
        what = f"read artifact {path}"
        try:
            with self._artifact_stream(run_id, path) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._status_error(resp, what)
                buf = bytearray()
                for chunk in resp.iter_bytes():
                    buf.extend(chunk)
                    if len(buf) > limit:
                        return bytes(buf[:limit]), True
                return bytes(buf), False
        except httpx.HTTPError as exc:
            raise self._error(exc, what) from None

    def artifact_files(self, run_id: str, path: str) -> list[ArtifactEntry]:
        """The files a download of `path` ('' = every artifact) would fetch, with the sizes MLflow lists,
        read before anything is fetched (sizes first: the caller decides whether that much comes here)."""
        path = path.strip("/")
        if path:
            siblings = self.list_artifacts(run_id, posixpath.dirname(path))
            entry = next((e for e in siblings if e.path.strip("/") == path), None)
            if entry is None:
                raise MlopsError(Kind.NOT_FOUND, f"no artifact '{path}' in run {run_id}", source="mlflow")
            if not entry.is_dir:
                return [entry]
        out: list[ArtifactEntry] = []
        stack = [path]
        while stack:
            for e in self.list_artifacts(run_id, stack.pop()):
                (stack.append(e.path) if e.is_dir else out.append(e))
        return out

    def download_artifacts(self, run_id: str, path: str, dest: str | os.PathLike[str],
                           progress: Callable[[str], None] | None = None, *,
                           max_bytes: int | None = DOWNLOAD_CONFIRM_BYTES) -> Path:
        """Download a file or directory under the run's artifacts to dest (a directory). Returns the local path.

        The files and their sizes are listed first: above max_bytes (None: no cap) nothing is fetched
        (MlopsError REFUSED, saying the size); while fetching, a server that sends more than that is cut off.
        Through the tracking server (its artifact proxy, or its own store access); when the server cannot
        serve it and the artifact root is s3://, straight from S3 with the mlflow SDK (MLFLOW_S3_ENDPOINT_URL).
        """
        files = self.artifact_files(run_id, path)
        total = sum(e.size or 0 for e in files)
        if max_bytes is not None and total > max_bytes:
            raise MlopsError(Kind.REFUSED, f"{path or 'the artifacts'} of run {run_id[:12]}: {len(files)} files, "
                             f"{human_bytes(total)}, more than the {human_bytes(max_bytes)} allowed; nothing "
                             "was downloaded", hint="allow it with --max-bytes N (or --yes), or pick one file")
        dest_dir = Path(dest).expanduser()
        dest_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._download_http(run_id, path, files, dest_dir, progress, max_bytes)
        except MlopsError as exc:
            if exc.kind in (Kind.UNREACHABLE, Kind.TIMEOUT, Kind.UNAUTHORIZED, Kind.NOT_FOUND, Kind.REFUSED):
                raise
            root = self.get_run(run_id).artifact_uri
            if not root.startswith("s3://"):
                raise
            return self._download_sdk(run_id, path, dest_dir)

    def _download_http(self, run_id: str, path: str, files: list[ArtifactEntry], dest_dir: Path,
                       progress: Callable[[str], None] | None, max_bytes: int | None) -> Path:
        path = path.strip("/")
        budget = [max_bytes]
        target = dest_dir / (posixpath.basename(path) if path else run_id)
        if len(files) == 1 and files[0].path.strip("/") == path and path:
            self._fetch_file(run_id, path, target, progress, budget)
            return target
        target.mkdir(parents=True, exist_ok=True)
        for e in files:
            rel = posixpath.relpath(e.path, path) if path else e.path
            self._fetch_file(run_id, e.path, target / rel, progress, budget)
        return target

    def _fetch_file(self, run_id: str, path: str, local: Path, progress: Callable[[str], None] | None,
                    budget: list[int | None]) -> None:
        what = f"download {path}"
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        try:
            with self._artifact_stream(run_id, path) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._status_error(resp, what)
                with open(tmp, "wb") as fh:
                    for chunk in resp.iter_bytes():
                        if budget[0] is not None:
                            budget[0] -= len(chunk)
                            if budget[0] < 0:
                                raise MlopsError(Kind.REFUSED, f"{what}: MLflow sent more than the sizes it listed "
                                                 "and the allowed bytes; stopped", source="mlflow")
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            raise self._error(exc, what) from None
        except MlopsError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, local)
        if progress:
            progress(path)

    def _download_sdk(self, run_id: str, path: str, dest_dir: Path) -> Path:
        try:
            from mlflow.tracking import MlflowClient  # 4 s import: only here, in a worker

            client = MlflowClient(tracking_uri=self.url)
            return Path(client.download_artifacts(run_id, path, str(dest_dir)))
        except MlopsError:
            raise
        except Exception as exc:  # noqa: BLE001
            text = mask_text(str(exc))
            hint = None
            if "endpoint" in text.lower() or "could not connect" in text.lower():
                hint = "set MLFLOW_S3_ENDPOINT_URL to the S3/MinIO endpoint (client pods do not inherit it)"
            elif "signature" in text.lower():
                hint = "set S3_SIGNATURE_VERSION=s3v4 (MinIO requires SigV4)"
            raise MlopsError(Kind.ERROR, f"download {path} from S3: {text}", hint=hint, source="s3") from None

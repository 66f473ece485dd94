"""What every MLflow backend module shares: the API prefix, page sizes, and the bounded page-token loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlopstui.errors import Kind, MlopsError

API = "/api/2.0/mlflow"
# concurrent metric-history requests (one metric of one run each); the server answers them in threads
HISTORY_CONCURRENCY = 8
SEARCH_MAX = 50000  # MLflow's own cap on max_results for runs/search
DEFAULT_PAGE = 200

MAX_PAGES = 1000  # no listing pages further than this (10^5..10^6 rows): a server that never ends is lying


def _page_loop(endpoint: str, what: str) -> MlopsError:
    return MlopsError(Kind.INVALID, f"{endpoint} answered {what}: the listing would never end; stopped",
                      hint="the server's pagination is broken (a proxy caching POST answers?); nothing more "
                           "was read", source="mlflow")


class Pager:
    """Bounds a page-token loop: stops on a repeated token, an empty page that still has a token, a token
    that is not a string, and after MAX_PAGES pages, each with a clear error instead of looping forever."""

    def __init__(self, endpoint: str, max_pages: int = MAX_PAGES):
        self.endpoint = endpoint
        self.max_pages = max_pages
        self.seen: set[str] = set()
        self.pages = 0

    def next(self, data: Mapping[str, Any], page_len: int) -> str | None:
        self.pages += 1
        token = data.get("next_page_token") or None
        if token is None:
            return None
        if not isinstance(token, str):
            raise _page_loop(self.endpoint, f"a next_page_token that is not a string ({type(token).__name__})")
        if token in self.seen:
            raise _page_loop(self.endpoint, f"a page token it had already given (after {self.pages} pages)")
        if page_len == 0:
            raise _page_loop(self.endpoint, f"an empty page with a next_page_token (page {self.pages})")
        if self.pages >= self.max_pages:
            raise _page_loop(self.endpoint, f"more than {self.max_pages} pages")
        self.seen.add(token)
        return token


def _items(data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """data[key] as a list of objects (MLflow omits empty lists), or an `invalid` error."""
    rows = data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise MlopsError(Kind.INVALID, f"MLflow answered '{key}' that is not a list of objects", source="mlflow")
    return rows

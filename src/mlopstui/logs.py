"""The app log lives in the XDG state dir; nothing but the TUI writes to the terminal."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mlopstui import locations
from mlopstui.secrets import mask_text

if TYPE_CHECKING:
    from mlopstui.config import Settings


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def setup_logging(settings: Settings | None) -> None:
    path = settings.app_log_path() if settings else locations.app_log_file()
    root = logging.getLogger("mlopstui")
    if any(getattr(h, "_mlopstui", False) for h in root.handlers):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path)
    except OSError:
        handler = logging.NullHandler()
    handler._mlopstui = True  # type: ignore[attr-defined]
    handler.setFormatter(_MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False

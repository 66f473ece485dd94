"""The app log lives in the XDG state dir; nothing but the TUI writes to the terminal.

Every logger writes there, the libraries' too (kubernetes, urllib3, httpx, MLflow, Feast, botocore):
the handler sits on the root logger, so no record falls through to logging's last-resort handler
(stderr), MLflow is told not to put its own stderr handler on the "mlflow" logger
(MLFLOW_CONFIGURE_LOGGING=false, read when mlflow is imported), and warnings.warn() goes to the log
as logger "py.warnings". Our own records at INFO, the libraries' from WARNING.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from mlopstui import locations
from mlopstui.secrets import mask_text

if TYPE_CHECKING:
    from mlopstui.config import Settings

# libraries that put their own handler on their logger at import (it would print to stderr)
_OWN_HANDLER_LOGGERS = ("mlflow",)


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def setup_logging(settings: Settings | None) -> None:
    path = settings.app_log_path() if settings else locations.app_log_file()
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    root = logging.getLogger()
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
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("mlopstui")
    ours.setLevel(logging.INFO)
    ours.propagate = True
    for name in _OWN_HANDLER_LOGGERS:  # already imported with its handler: take it off
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if type(h) is logging.StreamHandler:
                lg.removeHandler(h)
        lg.propagate = True
    logging.captureWarnings(True)

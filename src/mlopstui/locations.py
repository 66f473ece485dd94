"""XDG locations: config, state (app log, audit log) and data (the sandbox)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "mlopstui"


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return Path(base) if base else Path.home() / fallback


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def config_file() -> Path:
    return config_dir() / "config.yaml"


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def app_log_file() -> Path:
    return state_dir() / "mlopstui.log"


def audit_log_file() -> Path:
    return state_dir() / "audit.jsonl"


def sandbox_dir() -> Path:
    """Where `mlopstui sandbox` keeps its state; MLOPSTUI_SANDBOX_DIR overrides."""
    override = os.environ.get("MLOPSTUI_SANDBOX_DIR")
    return Path(override) if override else data_dir() / "sandbox"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path

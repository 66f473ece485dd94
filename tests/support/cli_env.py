"""A CLI test's environment: its own XDG directories (never the operator's config, state or audit log), no
$MLOPSTUI_CONFIG, and the audit log in the test's directory."""

from __future__ import annotations

from pathlib import Path


def isolate(tmp_path: Path, monkeypatch) -> Path:
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return tmp_path

"""Snapshot tests of key screens (SVG under tests/ui/__snapshots__; update with --snapshot-update)."""

import json
from pathlib import Path

from mlopstui import config
from mlopstui.app import MlopsApp

FIXED = Path("/tmp/mlopstui-snapshot-fixture")


def app_with_audit() -> MlopsApp:
    FIXED.mkdir(parents=True, exist_ok=True)
    log = FIXED / "audit.jsonl"
    entries = [
        {"ts": "2026-11-28T09:00:00Z", "user": "ops", "action": "canary", "ok": True,
         "target": "inferenceservices.serving.kserve.io/mlops/fraud-detection", "message": "canary 20 -> 30"},
        {"ts": "2026-11-28T09:05:00Z", "user": "ops", "action": "promote", "ok": False,
         "target": "inferenceservices.serving.kserve.io/mlops/fraud-detection",
         "message": "conflict: the object has been modified"},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return MlopsApp(config.load(None, kubeconfig="/nonexistent/kubeconfig", audit_log=str(log)))


def test_audit_area_80x24(snap_compare):
    assert snap_compare(app_with_audit(), press=["5"], terminal_size=(80, 24))


def test_help_screen_80x24(snap_compare):
    assert snap_compare(app_with_audit(), press=["5", "question_mark"], terminal_size=(80, 24))

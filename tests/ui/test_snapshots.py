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
    assert snap_compare(app_with_audit(), press=["7"], terminal_size=(80, 24))


def test_help_screen_80x24(snap_compare):
    assert snap_compare(app_with_audit(), press=["7", "question_mark"], terminal_size=(80, 24))


def app_with_broken_kubeconfig() -> MlopsApp:
    FIXED.mkdir(parents=True, exist_ok=True)
    kc = FIXED / "kubeconfig"
    kc.write_text("apiVersion: v1\nclusters: [\n")  # malformed YAML
    return MlopsApp(config.load(None, kubeconfig=str(kc), audit_log=str(FIXED / "audit.jsonl"),
                                refresh_interval=3600.0))


async def _cluster_settled(pilot) -> None:
    """Wait until the Stack screen's cluster read has failed and been shown."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_stack_with_a_malformed_kubeconfig_80x24(snap_compare):
    """The first screen an operator sees when the kubeconfig is broken: the catalog with installation
    unknown ('?'), the error inline with what to do, and every key still live."""
    assert snap_compare(app_with_broken_kubeconfig(), terminal_size=(80, 24), run_before=_cluster_settled)

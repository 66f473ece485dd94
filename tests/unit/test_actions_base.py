import json

import pytest

from mlopstui.actions.base import Action, AuditLog, Plan, Result
from mlopstui.errors import Kind, MlopsError


class Touch(Action):
    name = "touch"

    def __init__(self):
        self.applied = 0

    def plan(self) -> Plan:
        return Plan(action="touch", summary="set a password", target="secrets/mlops/db",
                    patch={"stringData": {"password": "hunter2"},
                           "uri": "postgresql://u:hunter2@db/x"})

    def _apply(self, plan: Plan) -> Result:
        self.applied += 1
        return Result(True, "done")


def test_readonly_refuses_and_changes_nothing(tmp_path):
    a, audit = Touch(), AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(MlopsError) as exc:
        a.apply(a.plan(), readonly=True, audit=audit)
    assert exc.value.kind is Kind.REFUSED and a.applied == 0
    assert audit.entries() == []


def test_apply_is_audited_without_secrets(tmp_path):
    a, audit = Touch(), AuditLog(tmp_path / "audit.jsonl")
    assert a.apply(a.plan(), readonly=False, audit=audit).ok
    assert a.applied == 1
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in raw
    entry = json.loads(raw)
    assert entry["action"] == "touch" and entry["ok"] is True and entry["target"] == "secrets/mlops/db"
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    assert "hunter2" not in a.plan().render()


def test_failed_apply_is_audited(tmp_path):
    class Boom(Touch):
        def _apply(self, plan):
            raise MlopsError(Kind.CONFLICT, "modified meanwhile")

    a, audit = Boom(), AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(MlopsError):
        a.apply(a.plan(), readonly=False, audit=audit)
    (entry,) = audit.entries()
    assert entry["ok"] is False and "modified" in entry["message"]

"""The doctor: pure rules over a Snapshot (cluster objects + probe results) that return Findings.

    from mlopstui.doctor import Snapshot, run
    findings = run(Snapshot.build(objects, probes))
"""

from mlopstui.doctor.finding import Finding, Severity, sort_findings
from mlopstui.doctor.registry import RULES, Rule, rules, run
from mlopstui.doctor.snapshot import Snapshot, ref

__all__ = ["Finding", "RULES", "Rule", "Severity", "Snapshot", "ref", "rules", "run", "sort_findings"]

"""A doctor finding: what is wrong, where, the evidence, why it matters and how to fix it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from mlopstui.secrets import mask_text


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]

    @property
    def symbol(self) -> str:
        return {"error": "✗", "warning": "!", "info": "i"}[self.value]


@dataclass(frozen=True)
class Finding:
    id: str  # the rule id, e.g. "mlflow-client-no-s3-endpoint"
    severity: Severity
    component: str  # catalog id ("mlflow", "redis", ...) or "cluster"
    summary: str  # one line for tables
    objects: tuple[str, ...]  # "Job mlops/train-fraud-model"
    evidence: str  # what was seen (masked)
    explanation: str  # why it matters, for a person
    fix: str  # what to do, as text

    def __post_init__(self) -> None:
        # evidence quotes commands and URIs: never let a secret through
        object.__setattr__(self, "evidence", mask_text(self.evidence))
        object.__setattr__(self, "summary", mask_text(self.summary))

    @property
    def key(self) -> str:
        return f"{self.id}|{'|'.join(self.objects)}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.value, "component": self.component,
                "summary": self.summary, "objects": list(self.objects), "evidence": self.evidence,
                "explanation": self.explanation, "fix": self.fix}

    def render_parts(self) -> list[tuple[str, str]]:
        """The one rendering of a finding, as (text, role) pieces: the CLI joins the texts (render), the TUI
        styles each role (severity, id, label, fix; "" plain)."""
        parts = [(f"{self.severity.symbol} {self.severity.value.upper()}", "severity"), (" ", ""), (self.id, "id"),
                 (f" [{self.component}]\n  {self.summary}\n", "")]
        if self.objects:
            parts += [("  objects:  ", "label"), (", ".join(self.objects) + "\n", "")]
        parts += [("  evidence: ", "label"), (self.evidence + "\n", ""), ("  why:      ", "label"),
                  (self.explanation + "\n", ""), ("  fix:      ", "label"), (self.fix, "fix")]
        return parts

    def render(self) -> str:
        return "".join(text for text, _role in self.render_parts())


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank, f.component, f.id, f.objects))

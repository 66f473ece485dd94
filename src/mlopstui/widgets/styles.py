"""The Rich styles of shared meanings (one table each; NO_COLOR strips the colours, the words stay)."""

from __future__ import annotations

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
HEALTH_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red", "absent": "dim", "unknown": "cyan"}
# the roles of doctor.Finding.render_parts other than "severity"
FINDING_ROLE_STYLE = {"id": "bold", "label": "dim", "fix": "bold"}

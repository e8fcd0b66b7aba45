"""Findings: what a rule says about a document, as plain values.

Kept apart from the rule engine so that reading cached findings (a no-op build, `idse status`)
loads neither the Markdown parser nor the rule set.
"""

from __future__ import annotations

from typing import Any, NamedTuple

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class Finding(NamedTuple):
    rule: str
    severity: str
    path: str
    line: int | None
    message: str
    column: int | None = None
    hint: str = ""
    session: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "session": self.session,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=str(data["rule"]),
            severity=str(data["severity"]),
            path=str(data["path"]),
            line=data.get("line"),
            message=str(data["message"]),
            column=data.get("column"),
            hint=str(data.get("hint", "")),
            session=data.get("session"),
        )

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.line or 0, self.column or 0, SEVERITY_ORDER.get(self.severity, 3), self.rule)


def summarize(findings: list[Finding], sessions: int) -> dict[str, int]:
    counts = {"errors": 0, "warnings": 0, "infos": 0, "sessions": sessions}
    for f in findings:
        counts[{"error": "errors", "warning": "warnings"}.get(f.severity, "infos")] += 1
    return counts

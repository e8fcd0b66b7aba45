"""`idse validate`: run the validation tasks (reusing up-to-date results) and judge the findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idse_orchestrator.governance.engine import Finding
from idse_orchestrator.governance.ruleset import RuleSet, effective_ruleset
from idse_orchestrator.workspace import Project, Workspace


@dataclass
class ValidationResult:
    findings: list[Finding]
    sessions: tuple[str, ...]
    ruleset: RuleSet
    strict: bool

    @property
    def failed(self) -> bool:
        worst = {"error"} | ({"warning"} if self.strict else set())
        return any(f.severity in worst for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def validate(
    ws: Workspace,
    project: Project,
    sessions: list[str] | None,
    *,
    rule_ids: list[str] | None = None,
    strict: bool = False,
    warn: Callable[[str], None] = lambda _msg: None,
) -> ValidationResult:
    """Validate ``sessions`` (all when None). Writes only the build cache, never a tracked file."""
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.engine.outcome import VALIDATION_FAMILIES

    ruleset = effective_ruleset(ws.config.rules)
    wanted = {ruleset.rule(r).id for r in rule_ids} if rule_ids else None
    report = build(ws, project, sessions, families=VALIDATION_FAMILIES, warn=warn, want_reasons=False)
    if report.failed:
        from idse_orchestrator.errors import Failed

        raise Failed(f"validation tasks failed: {', '.join(report.failed)}")
    findings = [f for f in report.findings if wanted is None or f.rule in wanted]
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, report.sessions, ruleset, strict)

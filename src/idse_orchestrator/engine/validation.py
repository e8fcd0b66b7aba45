"""`idse validate`: run the validation tasks (reusing up-to-date results) and judge the findings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from idse_orchestrator.governance.findings import Finding
from idse_orchestrator.workspace import Project, Workspace

if TYPE_CHECKING:
    from idse_orchestrator.governance.ruleset import RuleSet
    from idse_orchestrator.governance.summary import RuleSetSummary


class ValidationResult:
    def __init__(
        self,
        findings: list[Finding],
        sessions: tuple[str, ...],
        ruleset: RuleSet | RuleSetSummary,  # a summary only when the caller renders text
        strict: bool,
    ) -> None:
        self.findings = findings
        self.sessions = sessions
        self.ruleset = ruleset
        self.strict = strict

    @property
    def full_ruleset(self) -> RuleSet:
        """The rule set itself (JSON, SARIF and GitHub output describe every rule)."""
        from idse_orchestrator.governance.ruleset import RuleSet

        if not isinstance(self.ruleset, RuleSet):
            raise TypeError("validate() was asked for a summary only (summary_will_do=True)")
        return self.ruleset

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
    summary_will_do: bool = False,
) -> ValidationResult:
    """Validate ``sessions`` (all when None). Writes only the build cache, never a tracked file.

    ``summary_will_do``: the caller only needs the rule set's version, overrides and fix hints (the
    text report), so a cached summary may stand in for loading the rule set."""
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.engine.outcome import VALIDATION_FAMILIES
    from idse_orchestrator.governance.summary import load_summary, save_summary

    ruleset: RuleSet | RuleSetSummary | None = None
    if summary_will_do and not rule_ids:
        ruleset = load_summary(ws)
    wanted = None
    if ruleset is None:
        from idse_orchestrator.governance.ruleset import effective_ruleset

        full = effective_ruleset(ws.config.rules)
        save_summary(ws, full)
        wanted = {full.rule(r).id for r in rule_ids} if rule_ids else None
        ruleset = full
    report = build(ws, project, sessions, families=VALIDATION_FAMILIES, warn=warn, want_reasons=False)
    if report.failed:
        from idse_orchestrator.errors import Failed

        raise Failed(f"validation tasks failed: {', '.join(report.failed)}")
    findings = [f for f in report.findings if wanted is None or f.rule in wanted]
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, report.sessions, ruleset, strict)

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
    """Validate ``sessions`` (all when None) and record the outcome in ``session_state.json``."""
    from idse_orchestrator.engine.build import VALIDATION_FAMILIES, build

    ruleset = effective_ruleset(ws.config.rules)
    wanted = {ruleset.rule(r).id for r in rule_ids} if rule_ids else None
    report = build(ws, project, sessions, families=VALIDATION_FAMILIES, warn=warn, want_reasons=False)
    if report.failed:
        from idse_orchestrator.errors import Failed

        raise Failed(f"validation tasks failed: {', '.join(report.failed)}")
    findings = [f for f in report.findings if wanted is None or f.rule in wanted]
    findings.sort(key=Finding.sort_key)
    record_validation(ws, project, report.sessions, report.findings)
    return ValidationResult(findings, report.sessions, ruleset, strict)


def record_validation(
    ws: Workspace, project: Project, sessions: tuple[str, ...], findings: list[Finding]
) -> None:
    from idse_orchestrator.fsutil import dump_json, file_lock, write_if_changed
    from idse_orchestrator.sessions import load_state
    from idse_orchestrator.status import refresh_state

    failing = {f.session for f in findings if f.severity == "error"}
    project_errors = any(f.severity == "error" and f.session is None for f in findings)
    with file_lock(project.path / ".state.lock", what="state"):
        state = load_state(ws, project) or refresh_state(ws, project)
        for sid in sessions:
            state.validation[sid] = "failing" if (sid in failing or project_errors) else "passing"
        state.validation_status = state.validation_for(state.session)
        write_if_changed(project.state_path, dump_json(state.model_dump(mode="json")))

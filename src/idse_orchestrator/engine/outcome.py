"""What a build reports: its tasks, its findings, its failures; kept apart from running it.

Findings of an owner doit was not asked about come from the build index; the others are read from
the results of this run (for an owner that did not complete, from the tasks that did).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from idse_orchestrator import layout
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.graph import task_name
from idse_orchestrator.engine.index import PROJECT_OWNER, OwnerRow
from idse_orchestrator.engine.results import read_result
from idse_orchestrator.engine.types import TaskReport, TaskSpec
from idse_orchestrator.governance.findings import Finding, summarize

if TYPE_CHECKING:
    from idse_orchestrator.engine.doit_adapter import TaskOutcome

VALIDATION_FAMILIES = ("validate", "registry")


class BuildReport:
    def __init__(
        self,
        tasks: list[TaskReport],
        findings: list[Finding],
        sessions: tuple[str, ...],
        warnings: list[str] | None = None,
        failed: list[str] | None = None,
        cache: str = "",  # the cache folder the results are in ("" = the workspace's own)
    ) -> None:
        self.tasks = tasks
        self.findings = findings
        self.sessions = sessions
        self.warnings = [] if warnings is None else warnings
        self.failed = [] if failed is None else failed
        self.cache = cache

    @property
    def summary(self) -> dict[str, int]:
        counts = {"ran": 0, "up-to-date": 0, "failed": 0, "skipped": 0}
        for t in self.tasks:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        return {
            "tasks": len(self.tasks),
            "ran": counts["ran"],
            "up_to_date": counts["up-to-date"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
            **summarize(self.findings, len(self.sessions)),
        }

    @property
    def exit_code(self) -> int:
        errors = any(f.severity == "error" for f in self.findings)
        return 1 if errors or self.failed else 0


# Derived files that are tracked in git: a change to one of them by anyone but idse is worth a word.
_TRACKED_DERIVED = ("session_state.json", "baselines.json", ".profile.yaml")


def warn_regenerated(outcomes: dict[str, TaskOutcome], warn: Callable[[str], None]) -> None:
    for o in outcomes.values():
        for reason in o.reasons:
            kind, _, path = reason.partition(": ")
            if kind == "changed_target" and path.endswith(_TRACKED_DERIVED):
                warn(f"{path} was changed outside idse (it is derived); regenerated")


def owner_findings(ctx: BuildContext, owner: str) -> list[dict[str, Any]]:
    rel = ctx.project_result_rel() if owner == PROJECT_OWNER else ctx.session_result_rel(owner)
    data = read_result(ctx.abs(rel)) or {}
    return list(data.get("findings", []))


def report(
    base: BuildContext,
    families: tuple[str, ...],
    trusted: dict[str, OwnerRow],
    complete: dict[str, OwnerRow],
    outcomes: dict[str, TaskOutcome],
    tasks: list[TaskSpec],
) -> BuildReport:
    """Findings and task list: remembered for owners doit was not asked about, read from the results
    of this run for the others (for an owner that did not complete, from the tasks that did)."""
    from operator import itemgetter

    report_tasks: list[TaskReport] = []
    findings: list[Finding] = []
    generated = {task_name(t): t for t in tasks}
    wanted = set(families)
    for owner in [*base.sessions, PROJECT_OWNER]:
        row = complete.get(owner) or trusted.get(owner)
        if row is not None and owner in trusted and owner not in complete:
            if wanted.issuperset(row.families):  # the common case: no name to filter
                report_tasks.extend(cast("list[TaskReport]", row.uptodate_entries()))
            else:
                report_tasks.extend(
                    {"name": name, "status": "up-to-date", "reasons": ()}
                    for name in row.tasks
                    if name.split(":", 1)[0] in wanted
                )
        if row is not None:
            findings.extend(Finding.from_dict(f) for f in row.findings)
        else:
            findings.extend(_partial_findings(base, owner, outcomes, generated))
    for name in generated:
        o = outcomes.get(name)
        if o is None:
            entry: TaskReport = {"name": name, "status": "skipped", "reasons": [], "error": "not run"}
        else:
            entry = {"name": name, "status": o.status, "reasons": o.reasons}
            if o.error:
                entry["error"] = o.error
        report_tasks.append(entry)
    # Only tasks of this run can have failed (remembered owners completed), so look there alone.
    failed = sorted(n for n, o in outcomes.items() if n in generated and o.status == "failed")
    report_tasks.sort(key=itemgetter("name"))
    if not any(f in families for f in VALIDATION_FAMILIES):
        findings = []
    findings = sorted(set(findings), key=Finding.sort_key)
    return BuildReport(report_tasks, findings, base.sessions, failed=failed, cache=base.cache)


def _partial_findings(
    base: BuildContext, owner: str, outcomes: dict[str, TaskOutcome], generated: dict[str, TaskSpec]
) -> list[Finding]:
    done = {n for n, o in outcomes.items() if o.status in ("ran", "up-to-date")}
    if owner == PROJECT_OWNER:
        rels = [base.project_result_rel()] if "registry" in done else []
    else:
        rels = [base.session_result_rel(owner)] if f"validate:{owner}" in done else []
    out: list[Finding] = []
    for rel in rels:
        out.extend(Finding.from_dict(f) for f in (read_result(base.abs(rel)) or {}).get("findings", []))
    return out


def failures_path(ctx: BuildContext) -> Path:
    return ctx.abs(layout.failed_tasks(ctx.project, ctx.cache))


def record_failures(ctx: BuildContext, failed: list[str], ran: bool) -> None:
    """Remember which tasks failed last, for `idse graph --status` (doit itself only records successes)."""
    import json

    from idse_orchestrator.fsutil import write_if_changed

    path = failures_path(ctx)
    if not ran and not path.exists():
        return
    if failed or path.exists():
        write_if_changed(path, json.dumps(sorted(failed)) + "\n")


def last_failures(ctx: BuildContext) -> list[str]:
    import json

    try:
        data = json.loads(failures_path(ctx).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []

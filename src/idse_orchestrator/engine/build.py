"""`idse build`: run the task graph of a project under a lock, recover a damaged cache, gather results."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.results import read_result
from idse_orchestrator.errors import NotFound, UsageError
from idse_orchestrator.fsutil import file_lock
from idse_orchestrator.governance.engine import Finding, summarize
from idse_orchestrator.workspace import Project, Workspace

DEFAULT_FAMILIES = ("validate", "session", "registry", "state", "agents")
VALIDATION_FAMILIES = ("validate", "session", "registry")


@dataclass
class BuildReport:
    tasks: list[dict[str, Any]]
    findings: list[Finding]
    sessions: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"ran": 0, "up-to-date": 0, "failed": 0}
        for t in self.tasks:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        return {
            "tasks": len(self.tasks),
            "ran": counts["ran"],
            "up_to_date": counts["up-to-date"],
            "failed": counts["failed"],
            **{k: v for k, v in summarize(self.findings, len(self.sessions)).items()},
        }

    @property
    def exit_code(self) -> int:
        errors = any(f.severity == "error" for f in self.findings)
        return 1 if errors or self.failed else 0


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    # doit resolves the repo-relative paths of tasks against the cwd: keys stay portable.
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def dep_file(ctx: BuildContext) -> str:
    return f"{ctx.cache_rel}/{ctx.project}.doit.json"


def lock_path(ws: Workspace, project: Project) -> Path:
    return ws.cache_dir / f"{project.name}.lock"


def generator(ctx: BuildContext, families: tuple[str, ...]) -> Callable[[], Iterator[dict[str, Any]]]:
    def make() -> Iterator[dict[str, Any]]:
        from idse_orchestrator.tasks import families as all_families

        table = all_families()
        for name in families:
            yield from table[name](ctx)

    return make


def recover_cache(ws: Workspace, ctx: BuildContext, warn: Callable[[str], None]) -> None:
    """Move an unreadable dependency database aside so the build starts from scratch."""
    from idse_orchestrator.engine.doit_adapter import check_db

    path = ws.root / dep_file(ctx)
    problem = check_db(str(path))
    if problem is None:
        return
    aside = path.with_suffix(".corrupt")
    with contextlib.suppress(OSError):
        os.replace(path, aside)
    shutil.rmtree(ws.root / ctx.results_rel(), ignore_errors=True)
    warn(f"build cache {ws.rel(path)} was unreadable ({problem}); moved to {aside.name}, rebuilding from scratch")


def resolve_sessions(project: Project, sessions: list[str] | None) -> list[str] | None:
    if not sessions:
        return None
    for sid in sessions:
        project.require_session(sid)
    return list(dict.fromkeys(sessions))


def build(
    ws: Workspace,
    project: Project,
    sessions: list[str] | None = None,
    *,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
    jobs: int = 1,
    force: bool = False,
    keep_going: bool = False,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] = lambda _msg: None,
) -> BuildReport:
    from idse_orchestrator.engine.doit_adapter import run_tasks

    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    chosen = resolve_sessions(project, sessions)
    ctx = BuildContext.create(ws, project, chosen)
    ctx.ruleset_digest  # noqa: B018 - surfaces a malformed rule override as one clear error, before doit
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(ws, project), what="build"):
        recover_cache(ws, ctx, warn)
        make = generator(ctx, families)
        with working_directory(ws.root):
            result = run_tasks(make, dep_file(ctx), [], jobs=jobs, force=force, keep_going=keep_going,
                               progress=progress)
            outcomes = {o.name: o for o in result.outcomes}
            damaged = damaged_results(ctx)
            if damaged:
                # A result file was damaged after it was written: rebuild exactly those.
                for rel in damaged:
                    with contextlib.suppress(OSError):
                        os.unlink(ws.root / rel)
                again = run_tasks(make, dep_file(ctx), [], jobs=jobs, keep_going=keep_going, progress=progress)
                outcomes.update({o.name: o for o in again.outcomes if o.status != "up-to-date"})
                result.errors.extend(again.errors)
    tasks = [
        {"name": o.name, "status": o.status, "reasons": o.reasons, **({"error": o.error} if o.error else {})}
        for o in sorted(outcomes.values(), key=lambda o: o.name)
    ]
    failed = [t["name"] for t in tasks if t["status"] == "failed"]
    findings = collect_findings(ctx) if any(f in families for f in VALIDATION_FAMILIES) else []
    report = BuildReport(tasks, findings, ctx.sessions, failed=failed)
    if result.code not in (0, 1) and not failed:
        detail = "; ".join(result.errors) or result.output.strip().splitlines()[-1:] or ["unknown error"]
        raise UsageError(f"build could not start: {detail if isinstance(detail, str) else detail[0]}")
    return report


def damaged_results(ctx: BuildContext) -> list[str]:
    rels = [ctx.session_result_rel(s) for s in ctx.sessions] + [ctx.project_result_rel()]
    return [rel for rel in rels if (ctx.abs(rel)).exists() and read_result(ctx.abs(rel)) is None]


def collect_findings(ctx: BuildContext) -> list[Finding]:
    findings: list[Finding] = []
    for session in ctx.sessions:
        data = read_result(ctx.abs(ctx.session_result_rel(session))) or {}
        findings.extend(Finding.from_dict(f) for f in data.get("findings", []))
    data = read_result(ctx.abs(ctx.project_result_rel())) or {}
    findings.extend(Finding.from_dict(f) for f in data.get("findings", []))
    return findings


def session_results(ws: Workspace, project: Project, session: str) -> dict[str, Any]:
    ctx = BuildContext(str(ws.root), project.name, (session,), session)
    data = read_result(ctx.abs(ctx.session_result_rel(session)))
    if data is None:
        raise NotFound(f"no build results for session {session!r}; run 'idse build'")
    return data

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
    want_reasons: bool = True,
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
                               progress=progress, want_reasons=want_reasons)
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
    record_failures(ws, ctx, failed, any(t["status"] != "up-to-date" for t in tasks))
    findings = collect_findings(ctx) if any(f in families for f in VALIDATION_FAMILIES) else []
    report = BuildReport(tasks, findings, ctx.sessions, failed=failed)
    if result.code not in (0, 1) and not failed:
        detail = "; ".join(result.errors) or result.output.strip().splitlines()[-1:] or ["unknown error"]
        raise UsageError(f"build could not start: {detail if isinstance(detail, str) else detail[0]}")
    return report


def failures_path(ctx: BuildContext) -> Path:
    return ctx.abs(f"{ctx.cache_rel}/{ctx.project}.failed.json")


def record_failures(ws: Workspace, ctx: BuildContext, failed: list[str], changed: bool) -> None:
    """Remember which tasks failed last, for `idse graph --status` (doit itself only records successes)."""
    import json

    from idse_orchestrator.fsutil import write_if_changed

    path = failures_path(ctx)
    if not changed and not path.exists():
        return
    previous = set(last_failures(ctx))
    ran_ok = previous - set(failed)
    write_if_changed(path, json.dumps(sorted((previous - ran_ok) | set(failed))) + "\n")


def last_failures(ctx: BuildContext) -> list[str]:
    import json

    try:
        data = json.loads(failures_path(ctx).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def graph_statuses(ws: Workspace, project: Project, sessions: list[str] | None) -> dict[str, str]:
    from idse_orchestrator.engine.doit_adapter import task_statuses

    ctx = BuildContext.create(ws, project, resolve_sessions(project, sessions))
    with working_directory(ws.root):
        statuses = task_statuses(generator(ctx, DEFAULT_FAMILIES), dep_file(ctx))
    for name in last_failures(ctx):
        if name in statuses:
            statuses[name] = "failed"
    return statuses


def task_list(ws: Workspace, project: Project, sessions: list[str] | None,
              families: tuple[str, ...] = DEFAULT_FAMILIES) -> list[dict[str, Any]]:
    ctx = BuildContext.create(ws, project, resolve_sessions(project, sessions))
    return list(generator(ctx, families)())


def explain_task(ws: Workspace, project: Project, name: str) -> tuple[str, list[str]]:
    from idse_orchestrator.engine.doit_adapter import explain

    ctx = BuildContext.create(ws, project, None)
    with working_directory(ws.root):
        try:
            return explain(generator(ctx, DEFAULT_FAMILIES), dep_file(ctx), name)
        except KeyError:
            raise NotFound(f"no task {name!r}; 'idse graph --format json' lists the tasks") from None


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


def session_report(ws: Workspace, project: Project, session: str | None = None) -> dict[str, Any]:
    """`idse status`: bring the session's validation results up to date, then report from them."""
    from idse_orchestrator.sessions import load_state
    from idse_orchestrator.status import project_status

    sid = project.resolve_session(session)
    project.metadata(sid)  # a damaged session.json is an error naming the file, not a finding here
    load_state(ws, project)
    families = VALIDATION_FAMILIES + (("state",) if sid == project.current_session() else ())
    report = build(ws, project, [sid], families=families, want_reasons=False)
    if report.failed:
        from idse_orchestrator.errors import Failed

        raise Failed(f"status tasks failed: {', '.join(report.failed)}")
    results = dict(session_results(ws, project, sid))
    ctx = BuildContext(str(ws.root), project.name, (sid,), sid)
    results["findings"] = list(results.get("findings", [])) + list(
        (read_result(ctx.abs(ctx.project_result_rel())) or {}).get("findings", [])
    )
    return project_status(ws, project, sid, results=results)


def accept_stage(ws: Workspace, project: Project, session: str | None, stage_name: str) -> dict[str, str]:
    """Record that ``stage`` was reviewed against the current upstream documents (clears `stale`)."""
    import hashlib

    from idse_orchestrator.errors import Refused
    from idse_orchestrator.fsutil import save_model
    from idse_orchestrator.stages import BY_NAME, stage, upstream_of
    from idse_orchestrator.tasks.session import UPSTREAM_DOCS

    stage(stage_name)
    sid = project.resolve_session(session)
    meta = project.metadata(sid)
    current = session_report(ws, project, sid)["stages"][stage_name]["status"]
    if current not in ("complete", "stale"):
        raise Refused(f"{stage_name} is {current}; only a complete or stale stage can be accepted")
    upstream: dict[str, str] = {}
    for up in upstream_of(stage_name):
        if up in UPSTREAM_DOCS:
            path = project.document_path(sid, BY_NAME[up])
            upstream[up] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""
    meta.accepted[stage_name] = upstream
    save_model(project.metadata_path(sid), meta)
    return upstream

"""Read-side questions about the build: task list, plan, explanations, a session's report."""

from __future__ import annotations

from typing import Any

from idse_orchestrator.engine.build import (
    DEFAULT_FAMILIES,
    build,
    dep_file,
    generator,
    resolve_sessions,
    working_directory,
)
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.outcome import VALIDATION_FAMILIES, last_failures
from idse_orchestrator.engine.results import read_result
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.errors import NotFound
from idse_orchestrator.workspace import Project, Workspace


def build_plan(
    ws: Workspace,
    project: Project,
    sessions: list[str] | None,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
) -> dict[str, tuple[str, list[str]]]:
    """What the next ``idse build`` would do, task by task, running nothing (``--dry-run``)."""
    from idse_orchestrator.engine.doit_state import plan

    chosen = resolve_sessions(project, sessions)
    ctx = BuildContext.create(ws, project, chosen)
    if chosen is not None and set(chosen) != set(project.session_ids()):
        ctx = BuildContext(ctx.root, ctx.project, ctx.sessions, ctx.current, partial=True)
    from idse_orchestrator.engine.doit_state import check_db
    from idse_orchestrator.engine.graph import task_name
    from idse_orchestrator.fsutil import ensure_cache_dir

    ensure_cache_dir(ws.cache_dir)
    with working_directory(ws.root):
        problem = check_db(dep_file(ctx))
        if problem is not None:
            # The build moves a damaged database aside and starts over: everything runs.
            reason = f"damaged_cache: {dep_file(ctx)} ({problem})"
            return {task_name(t): ("run", [reason]) for t in generator(ctx, families)()}
        return plan(generator(ctx, families), dep_file(ctx))


def graph_statuses(ws: Workspace, project: Project, sessions: list[str] | None) -> dict[str, str]:
    names = {"run": "stale", "maybe": "stale", "up-to-date": "up-to-date"}
    statuses = {name: names[st] for name, (st, _) in build_plan(ws, project, sessions).items()}
    ctx = BuildContext.create(ws, project, None)
    for name in last_failures(ctx):
        if name in statuses:
            statuses[name] = "failed"
    return statuses


def task_list(
    ws: Workspace, project: Project, sessions: list[str] | None, families: tuple[str, ...] = DEFAULT_FAMILIES
) -> list[TaskSpec]:
    chosen = resolve_sessions(project, sessions)
    ctx = BuildContext.create(ws, project, chosen)
    if chosen is not None and set(chosen) != set(project.session_ids()):
        ctx = BuildContext(ctx.root, ctx.project, ctx.sessions, ctx.current, partial=True)
    return list(generator(ctx, families)())


def explain_task(ws: Workspace, project: Project, name: str) -> tuple[str, list[str]]:
    """Why task ``name`` would rerun in the next build: (status, reasons); status is ``run``,
    ``maybe`` or ``up-to-date`` exactly as ``idse build --dry-run`` says."""
    entry = build_plan(ws, project, None).get(name)
    if entry is None:
        raise NotFound(f"no task {name!r}; 'idse graph --format json' lists the tasks")
    return entry


def session_results(ws: Workspace, project: Project, session: str, cache: str = "") -> dict[str, Any]:
    ctx = BuildContext(str(ws.root), project.name, (session,), session, cache=cache)
    data = read_result(ctx.abs(ctx.session_result_rel(session)))
    if data is None:
        raise NotFound(f"no build results for session {session!r}; run 'idse build'")
    return data


def session_report(ws: Workspace, project: Project, session: str | None = None) -> dict[str, Any]:
    """`idse status`: bring the session's validation results up to date, then report from them.
    It writes no tracked file: session_state.json is the build's."""
    from idse_orchestrator.status import project_status

    sid = project.resolve_session(session)
    # A damaged session.json or registry is a finding of the build below (IDSE-M001, IDSE-R001):
    # the stages are still shown, an unknown agent as "?", and validation says "failing".
    report = build(ws, project, [sid], families=VALIDATION_FAMILIES, want_reasons=False)
    if report.failed:
        from idse_orchestrator.errors import Failed

        raise Failed(f"status tasks failed: {', '.join(report.failed)}")
    results = dict(session_results(ws, project, sid, report.cache))
    ctx = BuildContext(str(ws.root), project.name, (sid,), sid, cache=report.cache)
    results["findings"] = list(results.get("findings", [])) + list(
        (read_result(ctx.abs(ctx.project_result_rel())) or {}).get("findings", [])
    )
    return project_status(ws, project, sid, results=results)


def accept_stage(ws: Workspace, project: Project, session: str | None, stage_name: str) -> dict[str, str]:
    """Record that ``stage`` was reviewed against the current upstream documents (clears `stale`)."""
    from idse_orchestrator.errors import Refused
    from idse_orchestrator.stages import stage

    stage(stage_name)
    sid = project.resolve_session(session)
    current = session_report(ws, project, sid)["stages"][stage_name]["status"]
    if current not in ("complete", "stale"):
        raise Refused(f"{stage_name} is {current}; only a complete or stale stage can be accepted")
    return _accept(project, sid, [stage_name])[stage_name]


def accept_all(ws: Workspace, project: Project, session: str | None) -> dict[str, dict[str, str]]:
    """Accept every stale stage of the session; returns what each was accepted against."""
    sid = project.resolve_session(session)
    stages = session_report(ws, project, sid)["stages"]
    stale = [name for name, entry in stages.items() if entry["status"] == "stale"]
    return _accept(project, sid, stale) if stale else {}


def _accept(project: Project, sid: str, stage_names: list[str]) -> dict[str, dict[str, str]]:
    import hashlib

    from idse_orchestrator.fsutil import save_model
    from idse_orchestrator.stages import BY_NAME, UPSTREAM_DOCS, upstream_of

    meta = project.metadata(sid)
    out: dict[str, dict[str, str]] = {}
    for stage_name in stage_names:
        upstream: dict[str, str] = {}
        for up in upstream_of(stage_name):
            if up in UPSTREAM_DOCS:
                path = project.document_path(sid, BY_NAME[up])
                upstream[up] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""
        meta.accepted[stage_name] = upstream
        out[stage_name] = upstream
    save_model(project.metadata_path(sid), meta)
    return out

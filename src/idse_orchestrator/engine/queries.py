"""Read-side questions about the build: task list, statuses, explanations, a session's report."""

from __future__ import annotations

from typing import Any

from idse_orchestrator.engine.build import (
    DEFAULT_FAMILIES,
    VALIDATION_FAMILIES,
    build,
    dep_file,
    generator,
    last_failures,
    resolve_sessions,
    working_directory,
)
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.results import read_result
from idse_orchestrator.errors import NotFound
from idse_orchestrator.workspace import Project, Workspace


def graph_statuses(ws: Workspace, project: Project, sessions: list[str] | None) -> dict[str, str]:
    from idse_orchestrator.engine.doit_adapter import task_statuses

    ctx = BuildContext.create(ws, project, resolve_sessions(project, sessions))
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with working_directory(ws.root):
        statuses = task_statuses(generator(ctx, DEFAULT_FAMILIES), dep_file(ctx))
    for name in last_failures(ctx):
        if name in statuses:
            statuses[name] = "failed"
    return statuses


def task_list(
    ws: Workspace, project: Project, sessions: list[str] | None, families: tuple[str, ...] = DEFAULT_FAMILIES
) -> list[dict[str, Any]]:
    ctx = BuildContext.create(ws, project, resolve_sessions(project, sessions))
    return list(generator(ctx, families)())


def explain_task(ws: Workspace, project: Project, name: str) -> tuple[str, list[str]]:
    from idse_orchestrator.engine.doit_adapter import explain

    ctx = BuildContext.create(ws, project, None)
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with working_directory(ws.root):
        try:
            return explain(generator(ctx, DEFAULT_FAMILIES), dep_file(ctx), name)
        except KeyError:
            raise NotFound(f"no task {name!r}; 'idse graph --format json' lists the tasks") from None


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
    # Damaged inputs of the report are errors naming the file here, not findings.
    project.metadata(sid)
    project.registry()
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
    from idse_orchestrator.stages import BY_NAME, UPSTREAM_DOCS, stage, upstream_of

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

"""Stage status, derived deterministically from each document, and the project status report."""

from __future__ import annotations

from typing import Any

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import read_text, write_if_changed
from idse_orchestrator.models import SessionMetadata, SessionState, StageState, StageStatus
from idse_orchestrator.stages import STAGES, Stage
from idse_orchestrator.templating import sha256_text
from idse_orchestrator.workspace import Project, Workspace


def is_untouched(ws: Workspace, stage: Stage, meta: SessionMetadata, text: str) -> bool:
    """True when ``text`` is still the document as rendered from its template."""
    digest = sha256_text(text)
    if meta.template_sha256.get(stage.name) == digest:
        return True
    from idse_orchestrator.sessions import render_document

    try:
        return render_document(ws, stage, meta) == text
    except BadFile:
        return False


def document_status(ws: Workspace, stage: Stage, meta: SessionMetadata, text: str | None) -> StageStatus:
    """missing / pending (untouched template) / in_progress (markers remain) / complete."""
    from idse_orchestrator.markdown import has_marker

    if text is None:
        return "missing"
    if not has_marker(text):
        return "complete"
    if is_untouched(ws, stage, meta, text):
        return "pending"
    return "in_progress"


def read_document(project: Project, session: str, stage: Stage) -> str | None:
    """The document's text, ``None`` when it is absent. Unreadable documents raise ``BadFile``."""
    path = project.document_path(session, stage)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return read_text(path)
    except BadFile as exc:
        raise BadFile(project.workspace.rel(path), exc.message.split(": ", 1)[1]) from None


def session_stage_statuses(ws: Workspace, project: Project, session: str) -> dict[str, StageStatus]:
    meta = project.metadata(session)
    out: dict[str, StageStatus] = {}
    for stage in STAGES:
        try:
            text = read_document(project, session, stage)
        except BadFile:
            # An unreadable document is reported by `idse validate`; for status it is not usable yet.
            out[stage.name] = "in_progress"
            continue
        out[stage.name] = document_status(ws, stage, meta, text)
    return out


def project_status(
    ws: Workspace, project: Project, session: str | None = None, *, results: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The status report: every stage of the session with its status and routed agent.

    ``results`` are the session's cached build results (statuses including ``stale``, and why); without
    them the statuses are derived from the documents directly.
    """
    from idse_orchestrator.sessions import load_state

    sid = project.resolve_session(session)
    registry = project.registry()
    statuses = results["statuses"] if results else session_stage_statuses(ws, project, sid)
    why = results.get("why", {}) if results else {}
    state = load_state(ws, project)
    if results is not None:
        validation = (
            "failing" if any(f["severity"] == "error" for f in results.get("findings", [])) else "passing"
        )
    else:
        validation = state.validation_for(sid) if state else "unknown"
    stages: dict[str, Any] = {}
    for stage in STAGES:
        agent = registry.route(stage.name)
        entry: dict[str, Any] = {"status": statuses[stage.name], "agent": agent.id if agent else None}
        if why.get(stage.name):
            entry["why"] = why[stage.name]
        stages[stage.name] = entry
    return {
        "project": project.name,
        "session": sid,
        "stages": stages,
        "validation_status": validation,
        "last_sync": state.last_sync if state else None,
    }


def refresh_state(ws: Workspace, project: Project, *, results: dict[str, Any] | None = None) -> SessionState:
    """Rewrite ``session_state.json`` for the current session, keeping validation and sync results."""
    from idse_orchestrator.fsutil import dump_json
    from idse_orchestrator.sessions import load_state

    previous = load_state(ws, project)
    report = project_status(ws, project, results=results)
    validation = dict(previous.validation) if previous else {}
    if results is not None:
        validation[report["session"]] = report["validation_status"]
    state = SessionState(
        project=project.name,
        session=report["session"],
        stages={k: StageState(status=v["status"], agent=v["agent"]) for k, v in report["stages"].items()},
        validation_status=validation.get(report["session"], "unknown"),
        last_sync=report["last_sync"],
        validation=validation,
    )
    write_if_changed(project.state_path, dump_json(state.model_dump(mode="json")))
    return state

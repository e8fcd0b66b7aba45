"""Stage status, derived deterministically from each document, and the project status report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import read_text, write_if_changed
from idse_orchestrator.stages import STAGES, Stage
from idse_orchestrator.templating import sha256_text
from idse_orchestrator.workspace import Project, Workspace

if TYPE_CHECKING:
    from idse_orchestrator.models import AgentRegistry, SessionMetadata, SessionState, StageStatus

# The agent of a stage when agent_registry.json cannot be read.
UNKNOWN_AGENT = "?"


def is_untouched(ws: Workspace, stage: Stage, meta: SessionMetadata, text: str) -> bool:
    """True when ``text`` is still the document as rendered from its template."""
    from idse_orchestrator.governance.engine import is_untouched as matches_template

    def template() -> str:
        from idse_orchestrator.sessions import render_document

        try:
            return render_document(ws, stage, meta)
        except BadFile:
            return ""

    recorded = meta.template_sha256.get(stage.name)
    return matches_template(text, sha256_text(text), () if recorded is None else (recorded,), template)


def document_status(
    ws: Workspace, stage: Stage, meta: SessionMetadata, text: str | None, *, unreadable: bool = False
) -> StageStatus:
    """The stage's status from its document (``governance.engine.stage_status`` defines it)."""
    from idse_orchestrator.governance.engine import stage_status
    from idse_orchestrator.markdown import has_marker

    return stage_status(
        text,
        unreadable=unreadable,
        has_markers=has_marker,
        untouched=lambda t: is_untouched(ws, stage, meta, t),
    )


def read_document(project: Project, session: str, stage: Stage) -> str | None:
    """The document's text, ``None`` when it is absent. Unreadable documents raise ``BadFile``."""
    path = project.document_path(session, stage)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return read_text(path)
    except BadFile as exc:
        raise exc.relative_to(project.workspace) from None


def session_stage_statuses(ws: Workspace, project: Project, session: str) -> dict[str, StageStatus]:
    meta = project.metadata(session)
    out: dict[str, StageStatus] = {}
    for stage in STAGES:
        try:
            text, unreadable = read_document(project, session, stage), False
        except BadFile:
            # An unreadable document is reported by `idse validate`; for status it is not usable yet.
            text, unreadable = None, True
        out[stage.name] = document_status(ws, stage, meta, text, unreadable=unreadable)
    return out


def project_status(
    ws: Workspace, project: Project, session: str | None = None, *, results: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The status report: every stage of the session with its status and routed agent.

    ``results`` are the session's build results (statuses including ``stale``, why, findings);
    without them the statuses are derived from the documents directly.
    """
    from idse_orchestrator import light
    from idse_orchestrator.sync.last_sync import read_last_sync

    sid = project.resolve_session(session)
    registry: light.Registry | AgentRegistry | None = light.registry(project)
    if registry is None:
        try:
            registry = project.registry()
        except BadFile:
            registry = None  # a broken registry is the registry rule's finding: the agent is unknown
    statuses = results["statuses"] if results else session_stage_statuses(ws, project, sid)
    why = results.get("why", {}) if results else {}
    validation = "unknown"
    if results is not None:
        validation = (
            "failing" if any(f["severity"] == "error" for f in results.get("findings", [])) else "passing"
        )
    stages: dict[str, Any] = {}
    for stage in STAGES:
        agent = registry.route(stage.name) if registry is not None else None
        agent_id = (agent.id if agent else None) if registry is not None else UNKNOWN_AGENT
        entry: dict[str, Any] = {"status": statuses[stage.name], "agent": agent_id}
        if why.get(stage.name):
            entry["why"] = why[stage.name]
        stages[stage.name] = entry
    return {
        "project": project.name,
        "session": sid,
        "stages": stages,
        "validation_status": validation,
        "last_sync": read_last_sync(ws, project),
    }


def write_state(ws: Workspace, project: Project, session: str, results: dict[str, Any]) -> SessionState:
    """Write ``session_state.json`` from the current session's build results (the build's state task
    is its only writer). Nothing in it depends on time or on the previous file."""
    from idse_orchestrator.fsutil import dump_json
    from idse_orchestrator.models import SessionState, StageState

    try:
        registry = project.registry()
    except BadFile:
        registry = None  # a broken registry is the registry task's finding; no stage is routed here
    statuses = results["statuses"]
    errors = any(f["severity"] == "error" for f in results.get("findings", []))
    validation: Literal["passing", "failing"] = "failing" if errors else "passing"
    stages = {}
    for stage in STAGES:
        agent = registry.route(stage.name) if registry is not None else None
        stages[stage.name] = StageState(status=statuses[stage.name], agent=agent.id if agent else None)
    state = SessionState(project=project.name, session=session, stages=stages, validation_status=validation)
    write_if_changed(project.state_path, dump_json(state.model_dump(mode="json", exclude_none=True)))
    return state

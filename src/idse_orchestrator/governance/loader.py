"""Reading the workspace into engine inputs. All I/O of validation lives here."""

from __future__ import annotations

import hashlib

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import read_text
from idse_orchestrator.governance.engine import Document, ProjectInput, SessionInput
from idse_orchestrator.models import SessionMetadata, StageStatus
from idse_orchestrator.stages import STAGES, Stage
from idse_orchestrator.workspace import Project, Workspace


def session_metadata(project: Project, session: str) -> tuple[SessionMetadata, str | None]:
    """The session's metadata, or defaults plus the reason the file could not be used."""
    try:
        return project.metadata(session), None
    except BadFile as exc:
        problem = exc.message.split(": ", 1)[-1]
        kind = "blueprint" if session == "__blueprint__" else "feature"
        return SessionMetadata(id=session, project=project.name, type=kind), problem


def load_document(ws: Workspace, project: Project, session: str, stage: Stage, meta: SessionMetadata) -> Document:
    from idse_orchestrator.sessions import render_document

    path = project.document_path(session, stage)
    rel = ws.rel(path)
    try:
        template = render_document(ws, stage, meta)
    except BadFile:
        template = ""
    hashes = frozenset(v for k, v in meta.template_sha256.items() if k == stage.name)
    if not path.exists() and not path.is_symlink():
        return Document(session, stage.name, rel, None, None, template, hashes)
    try:
        text = read_text(path)
    except BadFile as exc:
        return Document(session, stage.name, rel, None, exc.message.split(": ", 1)[-1], template, hashes)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(session, stage.name, rel, text, None, template, hashes, digest)


def session_input(ws: Workspace, project: Project, session: str, statuses: dict[str, StageStatus],
                  metadata_problem: str | None) -> SessionInput:
    return SessionInput(
        session=session,
        statuses=statuses,
        paths={s.name: ws.rel(project.document_path(session, s)) for s in STAGES},
        metadata_path=ws.rel(project.metadata_path(session)),
        metadata_problem=metadata_problem,
    )


def project_input(ws: Workspace, project: Project) -> ProjectInput:
    from pydantic import ValidationError

    from idse_orchestrator.fsutil import pydantic_problem, read_json
    from idse_orchestrator.models import AgentRegistry

    rel = ws.rel(project.registry_path)
    if not project.registry_path.exists():
        return ProjectInput(project.name, rel, {"agents": []}, "is missing (no stage is routed)")
    try:
        data = read_json(project.registry_path)
    except BadFile as exc:
        return ProjectInput(project.name, rel, None, exc.message.split(": ", 1)[-1])
    try:
        AgentRegistry.model_validate(data)
    except ValidationError as exc:
        return ProjectInput(project.name, rel, data, f"does not match its schema: {pydantic_problem(exc)}")
    return ProjectInput(project.name, rel, data, None)

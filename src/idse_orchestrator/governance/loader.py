"""Reading the workspace into engine inputs. All I/O of validation lives here."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import read_text
from idse_orchestrator.governance.engine import Document, ProjectInput, SessionInput
from idse_orchestrator.models import SessionMetadata, StageStatus
from idse_orchestrator.stages import STAGES, Stage
from idse_orchestrator.workspace import Project, Workspace


def session_metadata(project: Project, session: str) -> tuple[SessionMetadata, str | None]:
    """The session's metadata, or defaults plus the reason the file could not be used."""
    return project.metadata_or_default(session)


@lru_cache(maxsize=64)
def _sections_of(source: str) -> tuple[str, ...] | None:
    """Level-2 headings of a template source, rendered once with a neutral context."""
    from idse_orchestrator.markdown import parse
    from idse_orchestrator.sessions import document_context
    from idse_orchestrator.templating import render_text

    try:
        rendered = render_text(source, document_context("project", "session", "stack", "parent"))
    except BadFile:
        return None
    return tuple(h.title for h in parse(rendered).headings if h.level == 2)


def required_sections(ws: Workspace, stage: Stage) -> tuple[str, ...] | None:
    from idse_orchestrator.templating import template_path

    try:
        return _sections_of(read_text(template_path(f"pipeline/{stage.template}", ws)))
    except BadFile:
        return None


def load_document(
    ws: Workspace, project: Project, session: str, stage: Stage, meta: SessionMetadata
) -> Document:
    from idse_orchestrator.sessions import render_document

    path = project.document_path(session, stage)
    rel = ws.rel(path)
    try:
        template = render_document(ws, stage, meta)
    except BadFile:
        template = ""
    sections = required_sections(ws, stage)
    hashes = frozenset(v for k, v in meta.template_sha256.items() if k == stage.name)
    if not path.exists() and not path.is_symlink():
        return Document(session, stage.name, rel, None, None, template, hashes, "", sections)
    try:
        text = read_text(path)
    except BadFile as exc:
        return Document(session, stage.name, rel, None, exc.detail, template, hashes, "", sections)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(session, stage.name, rel, text, None, template, hashes, digest, sections)


def session_input(
    ws: Workspace,
    project: Project,
    session: str,
    statuses: dict[str, StageStatus],
    metadata_problem: str | None,
    *,
    why: dict[str, list[str]] | None = None,
    profile_problem: tuple[str, int, str, bool] | None = None,
) -> SessionInput:
    return SessionInput(
        why=why or {},
        profile_problem=profile_problem,
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
        return ProjectInput(project.name, rel, None, exc.detail)
    try:
        AgentRegistry.model_validate(data)
    except ValidationError as exc:
        from idse_orchestrator import legacy

        problem = f"does not match its schema: {pydantic_problem(exc)}"
        if legacy.is_legacy_registry(data):
            problem += f" ({legacy.REGISTRY_HINT})"
        return ProjectInput(project.name, rel, data, problem)
    return ProjectInput(project.name, rel, data, None)

"""Reading the workspace into engine inputs. All I/O of validation lives here."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import read_text
from idse_orchestrator.governance.engine import Document, ProjectInput, SessionInput
from idse_orchestrator.models import SessionMetadata, StageStatus
from idse_orchestrator.stages import MARKER, STAGES, Stage
from idse_orchestrator.workspace import Project, Workspace


def session_metadata(project: Project, session: str) -> tuple[SessionMetadata, str | None]:
    """The session's metadata, or defaults plus the reason the file could not be used (read once per
    build: every task of a session reads it). Callers treat it as read-only."""
    from idse_orchestrator.memo import remembered

    return remembered(
        ("metadata", str(project.workspace.root), project.name, session),
        lambda: project.metadata_or_default(session),
    )


def _template_source(ws: Workspace, stage: Stage) -> str:
    """The text of the stage's template (an override, or the shipped one); read once per build."""
    from idse_orchestrator.memo import remembered
    from idse_orchestrator.templating import template_path

    def read() -> str:
        return read_text(template_path(f"pipeline/{stage.template}", ws))

    return remembered(("template", str(ws.root), stage.name), read)


def _always_marked(ws: Workspace, stage: Stage) -> bool:
    try:
        return always_marked(_template_source(ws, stage))
    except BadFile:
        return False


@lru_cache(maxsize=64)
def always_marked(source: str) -> bool:
    """True when every rendering of the template ``source`` contains the marker: it appears in
    literal text at the template's top level (not inside a condition, loop or comment). A document
    without the marker can then never equal the rendered template, which need not be rendered."""
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateError:
        return False
    for node in tree.body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData) and MARKER in child.data:
                    return True
    return False


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
    try:
        return _sections_of(_template_source(ws, stage))
    except BadFile:
        return None


def load_document(
    ws: Workspace, project: Project, session: str, stage: Stage, meta: SessionMetadata
) -> Document:
    from idse_orchestrator.sessions import render_document

    path = project.document_path(session, stage)
    rel = ws.rel(path)

    def template() -> str:
        try:
            return render_document(ws, stage, meta)
        except BadFile:
            return ""

    sections = required_sections(ws, stage)
    hashes = frozenset(v for k, v in meta.template_sha256.items() if k == stage.name)
    # An unusable template: what it renders to decides the required sections, so render it now.
    # Otherwise only an "untouched?" question the hashes cannot answer needs it, rendered on demand.
    eager = template() if sections is None else ""
    if not path.exists() and not path.is_symlink():
        return Document(session, stage.name, rel, None, None, eager, hashes, "", sections)
    try:
        text = read_text(path)
    except BadFile as exc:
        return Document(session, stage.name, rel, None, exc.detail, eager, hashes, "", sections)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if sections is None:
        return Document(session, stage.name, rel, text, None, eager, hashes, digest, sections)
    if MARKER not in text and _always_marked(ws, stage):
        # It cannot be the untouched template (see ``always_marked``): no need to render it.
        return Document(session, stage.name, rel, text, None, "", hashes, digest, sections)
    return Document(session, stage.name, rel, text, None, "", hashes, digest, sections, render=template)


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

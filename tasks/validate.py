"""Family ``validate``: one task per session. It checks the session's seven documents and then the
session as a whole (pipeline order, metadata, staleness, Agent Profile), and caches every finding and
status in one result file.

One task per session rather than one per document: a build of many sessions spends most of its time
on per-task bookkeeping and on creating small files, not on checking. Editing one document reruns
its session's task, whose other six checks cost well under a millisecond each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idse_orchestrator.engine.context import BuildContext, file_sha
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.stages import METADATA_RELPATH, STAGES, Stage

if TYPE_CHECKING:
    from idse_orchestrator.models import StageStatus
    from idse_orchestrator.workspace import Project, Workspace


def template_input(ctx: BuildContext, stage: Stage) -> tuple[list[str], str]:
    """The template a stage is rendered from: a file_dep when it lives in the repo (an override),
    otherwise (the shipped one, outside the repo) its content hash goes into the task's config."""
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.templating import template_path

    try:
        path = template_path(f"pipeline/{stage.template}", ctx.workspace)
    except BadFile as exc:
        return [], f"refused:{exc}"  # an override that escapes the repository: reported, never read
    try:
        rel = path.resolve().relative_to(Path(ctx.root).resolve()).as_posix()
    except ValueError:
        return [], file_sha(path)
    return [rel], "repo"


def templates(ctx: BuildContext) -> dict[str, tuple[list[str], str]]:
    """Every stage's template input, worked out once per generation (two families ask)."""
    return ctx.once("templates", lambda: {stage.name: template_input(ctx, stage) for stage in STAGES})


def session_sources(
    ctx: BuildContext, session: str, tpls: dict[str, tuple[list[str], str]]
) -> tuple[list[str], str]:
    """The source files every validation of ``session`` reads, and the config part of the shipped
    templates: downstream tasks declare these instead of the intermediate results, so whether they
    rerun depends only on sources, never on what an upstream task happened to write."""
    import hashlib

    base = ctx.session_rel(session)
    files = [f"{base}/{stage.relpath}" for stage in STAGES]
    files.append(f"{base}/{METADATA_RELPATH}")
    for deps, _ in tpls.values():
        files.extend(deps)
    present = [f for f in dict.fromkeys(files) if os.path.isfile(f"{ctx.root}/{f}")]
    from idse_orchestrator.engine.outputs import path_kind

    kinds = [path_kind(f"{ctx.root}/{f}") for f in files[: len(STAGES) + 1]]
    parts = [cfg for _, cfg in tpls.values()] + kinds
    config = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return present, config


def generate(ctx: BuildContext) -> Iterator[TaskSpec]:
    from idse_orchestrator import layout
    from idse_orchestrator.stages import BLUEPRINT

    from .session import session_inputs

    tpls = templates(ctx)
    blueprint_spec = f"{ctx.session_rel(BLUEPRINT)}/specs/spec.md"
    for session in ctx.sessions:
        base = ctx.session_rel(session)
        files, tpl_config = session_inputs(ctx, session, tpls)
        target = ctx.session_result_rel(session)
        yield {
            "basename": "validate",
            "name": session,
            "owner": session,
            # Files whose appearance matters even while absent (the build index stats them).
            "watch": [*(f"{base}/{s.relpath}" for s in STAGES), f"{base}/{METADATA_RELPATH}", blueprint_spec],
            "doc": f"validate session {session}: its documents, pipeline order, metadata, staleness",
            "actions": [(validate_session_task, [ctx.root, ctx.project, session, target])],
            "file_dep": files,
            "targets": [target],
            # Tracked: what each stage was last consistent with survives a clean build.
            "outputs": [layout.baselines(ctx.project, session)],
            "config": ctx.config_string(templates=tpl_config),
        }


def validate_session_task(root: str, project: str, session: str, target: str) -> None:
    """Check a session and store its statuses and findings (findings are a result, not a failure)."""
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    result, baselines = validate_session(ws, proj, session)
    write_outcome(ws, proj, session, Path(root) / target, result, baselines)


def validate_session(ws: Workspace, proj: Project, session: str) -> tuple[dict[str, Any], str | None]:
    """(the session's result, the text of its baselines file or None to leave the file alone)."""
    from typing import cast

    from idse_orchestrator import layout
    from idse_orchestrator.fsutil import dump_json
    from idse_orchestrator.governance.engine import check_document, check_session
    from idse_orchestrator.governance.loader import load_document, session_input, session_metadata
    from idse_orchestrator.governance.ruleset import effective_ruleset

    from .session import profile_problem, read_baselines, staleness

    ruleset = effective_ruleset(ws.config.rules)
    meta, problem = session_metadata(proj, session)
    statuses: dict[str, Any] = {}
    shas: dict[str, str | None] = {}
    doc_findings: list[dict[str, Any]] = []
    for stage in STAGES:
        doc = load_document(ws, proj, session, stage, meta)
        statuses[stage.name], checked = check_document(doc, ruleset)
        shas[stage.name] = doc.text_sha256[:16] or None
        doc_findings.extend(f.to_dict() for f in checked)
    baselines_path = ws.root / layout.baselines(proj.name, session)
    effective, records, why = staleness(statuses, shas, read_baselines(baselines_path), meta.accepted)
    has_s001 = any(f.get("rule") == "IDSE-S001" for f in doc_findings)
    findings = check_session(
        session_input(
            ws,
            proj,
            session,
            cast("dict[str, StageStatus]", effective),
            problem,
            why=why,
            profile_problem=None if has_s001 else profile_problem(ws, proj, session),
        ),
        ruleset,
    )
    result = {
        "session": session,
        "statuses": effective,
        "why": why,
        "findings": doc_findings + [f.to_dict() for f in findings],
    }
    baselines = {"stages": {k: v for k, v in records.items() if v.get("baseline") is not None}}
    keep = baselines["stages"] or baselines_path.exists()
    return result, dump_json(baselines) if keep else None


def write_outcome(
    ws: Workspace, proj: Project, session: str, target: Path, result: dict[str, Any], baselines: str | None
) -> None:
    import errno

    from idse_orchestrator import layout
    from idse_orchestrator.engine.results import write_result
    from idse_orchestrator.fsutil import write_if_changed

    if baselines is not None:
        path = ws.root / layout.baselines(proj.name, session)
        try:
            # fsync'ed only when replacing what a crash could lose: a first write loses nothing.
            write_if_changed(path, baselines, durable=path.exists())
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            # A read-only workspace: validate and status still report, and nothing is saved.
    write_result(target, result)

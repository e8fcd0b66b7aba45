"""Family ``validate``: one task per pipeline artifact, caching its findings and status as a target."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idse_orchestrator.engine.context import BuildContext, file_sha
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.stages import METADATA_RELPATH, STAGES, Stage

if TYPE_CHECKING:
    from idse_orchestrator.governance.engine import Document


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
    tpls = templates(ctx)
    root = ctx.root
    for session in ctx.sessions:
        base = ctx.session_rel(session)
        meta = f"{base}/{METADATA_RELPATH}"
        meta_dep = [meta] if os.path.isfile(f"{root}/{meta}") else []
        for stage in STAGES:
            doc = f"{base}/{stage.relpath}"
            tpl_deps, tpl_config = tpls[stage.name]
            deps = meta_dep + tpl_deps
            if os.path.isfile(f"{root}/{doc}"):
                deps = [doc, *deps]
            target = ctx.result_rel(session, stage.name)
            yield {
                "basename": "validate",
                "name": f"{session}/{stage.name}",
                "owner": session,
                # Files whose appearance matters even while absent (the build index stats them).
                "watch": [doc, meta],
                "doc": f"validate {doc}",
                "actions": [(validate_artifact, [root, ctx.project, session, stage.name, target])],
                "file_dep": deps,
                "targets": [target],
                "config": ctx.config_string(template=tpl_config),
            }


def validate_artifact(root: str, project: str, session: str, stage: str, target: str) -> None:
    """Check one artifact and store its status and findings (the findings are a result, not a failure)."""
    from idse_orchestrator.engine import prefetch
    from idse_orchestrator.engine.results import write_result
    from idse_orchestrator.governance.engine import check_document
    from idse_orchestrator.governance.loader import load_document, session_metadata
    from idse_orchestrator.governance.ruleset import effective_ruleset
    from idse_orchestrator.stages import BY_NAME
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    meta, _ = session_metadata(proj, session)
    doc = load_document(ws, proj, session, BY_NAME[stage], meta)
    ruleset = effective_ruleset(ws.config.rules)
    done = None
    if prefetch.active():  # --jobs: a worker may have checked exactly this document already
        prefetch.reached(session)
        done = prefetch.lookup(prefetch.check_key(ws, doc, meta, ruleset))
    if done is None:
        status, checked = check_document(doc, ruleset)
        done = (status, [f.to_dict() for f in checked])
    # With --jobs, a worker may have written these very bytes already: then nothing is written.
    write_result(Path(root) / target, stage_result(session, stage, doc, *done))


def stage_result(
    session: str, stage: str, doc: Document, status: str, findings: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a stage's validation stores (the same for the task and a ``--jobs`` worker)."""
    return {
        "session": session,
        "stage": stage,
        "path": doc.path,
        "status": status,
        "sha256": doc.text_sha256[:16] or None,
        "findings": findings,
    }

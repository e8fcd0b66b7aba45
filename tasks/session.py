"""Families ``session`` (cross-artifact checks and staleness per session) and ``registry``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.stages import METADATA_RELPATH, STAGE_NAMES, STAGES, UPSTREAM_DOCS, upstream_of

if TYPE_CHECKING:
    from idse_orchestrator.models import StageStatus

TaskDict = dict[str, object]


def generate(ctx: BuildContext) -> Iterator[TaskDict]:
    for session in ctx.sessions:
        meta = f"{ctx.session_rel(session)}/{METADATA_RELPATH}"
        deps = [ctx.result_rel(session, s.name) for s in STAGES]
        if os.path.isfile(f"{ctx.root}/{meta}"):
            deps.append(meta)
        yield {
            "basename": "session",
            "name": session,
            "owner": session,
            "watch": [meta],
            "doc": f"pipeline order, metadata and staleness of session {session}",
            "actions": [
                (check_session_task, [ctx.root, ctx.project, session, ctx.session_result_rel(session)])
            ],
            "file_dep": deps,
            "targets": [ctx.session_result_rel(session)],
            "config": ctx.config_string(),
        }


def generate_registry(ctx: BuildContext) -> Iterator[TaskDict]:
    registry = f"{ctx.project_rel}/agent_registry.json"
    deps = [registry] if os.path.isfile(f"{ctx.root}/{registry}") else []
    yield {
        "basename": "registry",
        "name": None,
        "watch": [registry],
        "doc": "agent registry schema and routing",
        "actions": [(check_registry_task, [ctx.root, ctx.project, ctx.project_result_rel()])],
        "file_dep": deps,
        "targets": [ctx.project_result_rel()],
        "config": ctx.config_string(),
    }


def staleness(
    statuses: dict[str, str],
    shas: dict[str, str | None],
    previous: dict[str, Any],
    accepted: dict[str, dict[str, str]],
) -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """Mark complete stages stale when an upstream document changed since they were last consistent.

    A stage's *baseline* is the upstream hashes at the moment it was last seen complete with its
    current content (or explicitly accepted). Editing the stage itself re-baselines it: its author saw
    the upstream as it is now. Returns (effective statuses, new per-stage records, why-lines per stage).
    """
    effective = dict(statuses)
    records: dict[str, Any] = {}
    why: dict[str, list[str]] = {}
    for stage in STAGE_NAMES:
        current_up = {u: shas.get(u) or "" for u in upstream_of(stage) if u in UPSTREAM_DOCS}
        if statuses.get(stage) != "complete" or not current_up:
            records[stage] = {"sha": shas.get(stage), "baseline": None}
            continue
        old = previous.get(stage) or {}
        baseline = old.get("baseline") if old.get("sha") == shas.get(stage) else None
        if baseline is None or accepted.get(stage) == current_up:
            baseline = current_up
        changed = [u for u in current_up if baseline.get(u) != current_up[u]]
        if changed:
            effective[stage] = "stale"
            why[stage] = [f"{u} changed since {stage} was last accepted" for u in changed]
        records[stage] = {"sha": shas.get(stage), "baseline": baseline}
    return effective, records, why


def check_session_task(root: str, project: str, session: str, target: str) -> None:
    from idse_orchestrator.engine.context import BuildContext
    from idse_orchestrator.engine.results import read_result, write_result
    from idse_orchestrator.governance.engine import check_session
    from idse_orchestrator.governance.loader import session_input, session_metadata
    from idse_orchestrator.governance.ruleset import effective_ruleset
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    ctx = BuildContext(root, project, (session,), session)
    statuses: dict[str, Any] = {}
    shas: dict[str, str | None] = {}
    doc_findings: list[dict[str, Any]] = []
    for stage in STAGE_NAMES:
        result = read_result(Path(root) / ctx.result_rel(session, stage))
        if result is None:
            # A damaged result: fail so the build reports it; the engine deletes and rebuilds it.
            raise RuntimeError(f"unusable cached result for {session}/{stage}")
        statuses[stage] = result.get("status", "missing")
        shas[stage] = result.get("sha256")
        doc_findings.extend(result.get("findings", []))
    meta, problem = session_metadata(proj, session)
    previous = (read_result(Path(root) / target) or {}).get("records", {})
    effective, records, why = staleness(statuses, shas, previous, meta.accepted)
    findings = check_session(
        session_input(ws, proj, session, cast("dict[str, StageStatus]", effective), problem),
        effective_ruleset(ws.config.rules),
    )
    write_result(
        Path(root) / target,
        {
            "session": session,
            "statuses": effective,
            "records": records,
            "why": why,
            # The session's artifact findings are gathered here so a build reads one file per session.
            "findings": doc_findings + [f.to_dict() for f in findings],
        },
    )


def check_registry_task(root: str, project: str, target: str) -> None:
    from idse_orchestrator.engine.results import write_result
    from idse_orchestrator.governance.engine import check_project
    from idse_orchestrator.governance.loader import project_input
    from idse_orchestrator.governance.ruleset import effective_ruleset
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    findings = check_project(project_input(ws, Project(ws, project)), effective_ruleset(ws.config.rules))
    write_result(Path(root) / target, {"findings": [f.to_dict() for f in findings]})

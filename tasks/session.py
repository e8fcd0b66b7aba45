"""Family ``registry``, and what a session's validation uses: its inputs, staleness, its Agent Profile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.stages import STAGE_NAMES, UPSTREAM_DOCS, upstream_of


def has_profile_section(ctx: BuildContext, session: str) -> bool:
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.fsutil import read_text

    def look() -> bool:
        # Through the one reader: a FIFO, a device or a symlink out of the repository is never opened.
        try:
            return "## Agent Profile" in read_text(
                Path(f"{ctx.root}/{ctx.session_rel(session)}/specs/spec.md")
            )
        except BadFile:
            return False

    return ctx.once(f"has-profile:{session}", look)  # two families ask


def session_inputs(
    ctx: BuildContext, session: str, tpls: dict[str, tuple[list[str], str]]
) -> tuple[list[str], str]:
    """Sources of everything ``validate:<session>`` computes: its documents, its metadata and, when
    its spec has an Agent Profile, the blueprint's spec (merged in as defaults)."""
    from idse_orchestrator.stages import BLUEPRINT

    from .validate import session_sources

    files, config = session_sources(ctx, session, tpls)
    if session != BLUEPRINT and has_profile_section(ctx, session):
        bp_spec = f"{ctx.session_rel(BLUEPRINT)}/specs/spec.md"
        if os.path.isfile(f"{ctx.root}/{bp_spec}"):
            files = [*files, bp_spec]
    return files, config


def generate_registry(ctx: BuildContext) -> Iterator[TaskSpec]:
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


def read_baselines(path: Path) -> dict[str, Any]:
    """The previous baselines; a damaged or foreign file counts as none (it is ours and is rewritten)."""
    from idse_orchestrator.fsutil import read_derived_json

    data = read_derived_json(path)
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {k: v for k, v in stages.items() if k in STAGE_NAMES and isinstance(v, dict)}


def compiled_profile(ws: Any, proj: Any, session: str) -> Any:
    """The session's compiled profile, or the ``IdseError`` compiling it raised; computed once per
    build (the session check and the compile task both need it)."""
    from idse_orchestrator.agents.compiler import compile_profile
    from idse_orchestrator.errors import IdseError
    from idse_orchestrator.memo import remembered

    def compute() -> Any:
        try:
            return compile_profile(ws, proj, session)
        except IdseError as exc:
            return exc

    return remembered(("profile", str(ws.root), proj.name, session), compute)


def profile_problem(ws: Any, proj: Any, session: str) -> tuple[str, int, str, bool] | None:
    """Why the session's Agent Profile does not compile (path, line, problem, only placeholders
    left), or None (also when it has none)."""
    from idse_orchestrator.agents.compiler import ProfileError, session_has_profile
    from idse_orchestrator.errors import IdseError

    try:
        if not session_has_profile(ws, proj, session):
            return None
    except IdseError:
        return None  # an unreadable spec is already a finding of its own
    outcome = compiled_profile(ws, proj, session)
    if isinstance(outcome, ProfileError):
        unfinished = bool(outcome.problems) and all(p.code == "placeholder" for p in outcome.problems)
        return outcome.path, outcome.line, outcome.problem, unfinished
    return None


def check_registry_task(root: str, project: str, target: str) -> None:
    from idse_orchestrator.engine.results import write_result
    from idse_orchestrator.governance.engine import check_project
    from idse_orchestrator.governance.loader import project_input
    from idse_orchestrator.governance.ruleset import effective_ruleset
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    findings = check_project(project_input(ws, Project(ws, project)), effective_ruleset(ws.config.rules))
    write_result(Path(root) / target, {"findings": [f.to_dict() for f in findings]})

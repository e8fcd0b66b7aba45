"""Family ``state``: the project's ``session_state.json`` for the current session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.stages import STAGES

TaskDict = dict[str, object]


def generate(ctx: BuildContext) -> Iterator[TaskDict]:
    if ctx.current not in ctx.scope:
        return
    deps = [ctx.result_rel(ctx.current, s.name) for s in STAGES]
    deps += [ctx.session_result_rel(ctx.current), ctx.project_result_rel()]
    for extra in ("CURRENT_SESSION", "agent_registry.json"):
        if os.path.isfile(f"{ctx.root}/{ctx.project_rel}/{extra}"):
            deps.append(f"{ctx.project_rel}/{extra}")
    yield {
        "basename": "state",
        "name": None,
        # It reports on the current session, so it belongs (for the build index) to that session.
        "owner": ctx.current,
        "doc": "session_state.json for the current session",
        "actions": [(write_state_task, [ctx.root, ctx.project, ctx.current])],
        "file_dep": deps,
        "targets": [f"{ctx.project_rel}/session_state.json"],
        "config": ctx.config_string(),
    }


def write_state_task(root: str, project: str, session: str) -> None:
    from idse_orchestrator.engine.queries import session_results
    from idse_orchestrator.engine.results import read_result
    from idse_orchestrator.status import refresh_state
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    results = dict(session_results(ws, proj, session))
    ctx = BuildContext(root, project, (session,), session)
    project_findings = (read_result(ctx.abs(ctx.project_result_rel())) or {}).get("findings", [])
    results["findings"] = list(results.get("findings", [])) + list(project_findings)
    refresh_state(ws, proj, results=results)

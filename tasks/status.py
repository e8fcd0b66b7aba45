"""Family ``state``: the project's ``session_state.json``, the one writer of that file.

It describes the current session (stage statuses, agents, validation status). It is written by full
builds only: a build of some sessions, `idse validate` and `idse status` never touch it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator.engine.context import BuildContext

TaskDict = dict[str, object]


def generate(ctx: BuildContext) -> Iterator[TaskDict]:
    from .session import BASELINES_RELPATH, session_inputs
    from .validate import templates

    if ctx.partial or ctx.current not in ctx.sessions:
        return
    files, tpl_config = session_inputs(ctx, ctx.current, templates(ctx))
    extras = [f"{ctx.session_rel(ctx.current)}/{BASELINES_RELPATH}"]
    extras += [f"{ctx.project_rel}/{name}" for name in ("CURRENT_SESSION", "agent_registry.json")]
    files += [f for f in extras if os.path.isfile(f"{ctx.root}/{f}")]
    yield {
        "basename": "state",
        "name": None,
        "doc": "session_state.json for the current session",
        "actions": [(write_state_task, [ctx.root, ctx.project, ctx.current])],
        "task_dep": [f"session:{ctx.current}", "registry"],
        "file_dep": files,
        "targets": [f"{ctx.project_rel}/session_state.json"],
        "config": ctx.config_string(templates=tpl_config, current=ctx.current),
    }


def write_state_task(root: str, project: str, session: str) -> None:
    from idse_orchestrator.engine.queries import session_results
    from idse_orchestrator.engine.results import read_result
    from idse_orchestrator.status import write_state
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    results = dict(session_results(ws, proj, session))
    ctx = BuildContext(root, project, (session,), session)
    project_findings = (read_result(ctx.abs(ctx.project_result_rel())) or {}).get("findings", [])
    results["findings"] = list(results.get("findings", [])) + list(project_findings)
    write_state(ws, proj, session, results)

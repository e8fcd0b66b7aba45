"""Family ``state``: the project's ``session_state.json``, the one writer of that file.

It describes the current session (stage statuses, agents, validation status). It is written by full
builds only: a build of some sessions, `idse validate` and `idse status` never touch it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator import layout
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.types import TaskSpec


def generate(ctx: BuildContext) -> Iterator[TaskSpec]:
    if ctx.partial or ctx.current not in ctx.sessions:
        return
    sources = [layout.current_session(ctx.project), layout.registry(ctx.project)]
    yield {
        "basename": "state",
        "name": None,
        "doc": "session_state.json for the current session",
        "actions": [(write_state_task, [ctx.root, ctx.project, ctx.current])],
        "task_dep": [f"validate:{ctx.current}", "registry"],
        "file_dep": [f for f in sources if os.path.isfile(f"{ctx.root}/{f}")],
        # What it reports comes from these results: it reruns when their content changes.
        "reads": [ctx.session_result_rel(ctx.current), ctx.project_result_rel()],
        "targets": [f"{ctx.project_rel}/session_state.json"],
        "watch": sources,
        "config": ctx.config_string(current=ctx.current),
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

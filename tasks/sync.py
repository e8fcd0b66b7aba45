"""Family ``sync``: push each session's documents to the configured remote; runs only when asked
(``idse build --sync``, or ``doit sync`` through dodo.py).

Each task depends on its session's documents, so a session whose files did not change since its
last successful push is not even read. Conflicts and remote errors fail the task (it reruns next
time); ``idse sync status`` and ``idse sync resolve`` settle them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.stages import STAGES


def generate(ctx: BuildContext) -> Iterator[TaskSpec]:
    import hashlib
    import json

    from idse_orchestrator.sync.settings import describe, load_settings

    # Which remote (secrets masked): pushing to another one reruns every task.
    shown = describe(load_settings(ctx.workspace, ctx.project_obj))["settings"]
    identity = {k: shown[k] for k in ("backend", "url", "dsn", "project", "schema")}
    remote = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    for session in ctx.sessions:
        docs = [f"{ctx.session_rel(session)}/{s.relpath}" for s in STAGES]
        target = f"{ctx.results_rel(session)}/_sync.json"
        yield {
            "basename": "sync",
            "name": session,
            "owner": session,
            "doc": f"push session {session} to the remote",
            "actions": [(push_session_task, [ctx.root, ctx.project, session, target])],
            "file_dep": [d for d in docs if os.path.isfile(f"{ctx.root}/{d}")],
            "targets": [target],
            "watch": docs,
            "config": ctx.config_string(remote=remote),
        }


def push_session_task(root: str, project: str, session: str, target: str) -> None:
    from idse_orchestrator.engine.results import write_result
    from idse_orchestrator.errors import Failed
    from idse_orchestrator.fsutil import file_lock
    from idse_orchestrator.sync.engine import SyncContext, transfer
    from idse_orchestrator.sync.settings import load_settings
    from idse_orchestrator.sync.store import open_store
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    store = open_store(load_settings(ws, proj), ws)
    try:
        with file_lock(proj.sync_lock_path, what="sync"):
            report = transfer(SyncContext.open(ws, proj, store), "push", session, False)
    finally:
        store.close()
    if report.conflicts or report.rejected:
        raise Failed(f"session {session}: {len(report.conflicts)} conflict(s); see 'idse sync status'")
    write_result(Path(root) / target, {"session": session, "pushed": report.transferred})

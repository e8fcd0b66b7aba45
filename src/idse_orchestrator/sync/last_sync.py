"""``last_sync`` in session_state.json: the one timestamp idse writes, and only after a real sync."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from idse_orchestrator.errors import IdseError
from idse_orchestrator.stages import BLUEPRINT
from idse_orchestrator.workspace import Project, Workspace


def read_last_sync(ws: Workspace, project: Project) -> str | None:
    from idse_orchestrator.sessions import load_state

    try:
        state = load_state(ws, project)
    except IdseError:
        return None
    return state.last_sync if state else None


def set_last_sync(ws: Workspace, project: Project) -> str:
    """Stamp ``last_sync`` in session_state.json, refreshing the rest of that derived file too."""
    from idse_orchestrator.fsutil import save_model
    from idse_orchestrator.models import SessionState
    from idse_orchestrator.sessions import load_state
    from idse_orchestrator.status import refresh_state

    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    # The state is derived: a broken current session must not fail a sync that succeeded.
    with contextlib.suppress(IdseError):
        refresh_state(ws, project)
    try:
        state = load_state(ws, project)
    except IdseError:
        state = None
    if state is None:
        state = SessionState(project=project.name, session=BLUEPRINT)
    state.last_sync = now
    save_model(project.state_path, state)
    return now

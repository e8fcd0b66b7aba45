"""When this clone last synced: a per-clone timestamp kept beside the sync record, never tracked.

It used to live in session_state.json, which is tracked: every sync then left a git diff and the
file had two writers. Now `.sync/` (git-ignored, per clone) holds it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from idse_orchestrator.workspace import Project, Workspace


def _path(project: Project) -> Path:
    # Not through sync.record: `idse status` reads this and must not load the record's models.
    return project.sync_dir / "last_sync.json"


def read_last_sync(ws: Workspace, project: Project) -> str | None:
    from idse_orchestrator.errors import IdseError
    from idse_orchestrator.sync.confine import local_root

    try:
        text = local_root(ws.root).read_text(_path(project), limit=4096)
        data = json.loads(text) if text is not None else None
    except (IdseError, ValueError, RecursionError):
        return None
    value = data.get("last_sync") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def set_last_sync(ws: Workspace, project: Project) -> str:
    from idse_orchestrator.sync.confine import local_root
    from idse_orchestrator.sync.record import ensure_ignored

    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    ensure_ignored(project)
    local_root(ws.root).write_text(_path(project), json.dumps({"last_sync": now}) + "\n")
    return now

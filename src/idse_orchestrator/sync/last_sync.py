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
    from idse_orchestrator.sync.record import record_dir

    return record_dir(project) / "last_sync.json"


def read_last_sync(ws: Workspace, project: Project) -> str | None:
    try:
        data = json.loads(_path(project).read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    value = data.get("last_sync") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def set_last_sync(ws: Workspace, project: Project) -> str:
    from idse_orchestrator.fsutil import atomic_write_text
    from idse_orchestrator.sync.record import record_dir

    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    ignore = record_dir(project) / ".gitignore"
    if not ignore.exists():
        atomic_write_text(ignore, "# Per-clone sync state: never commit it.\n*\n")
    atomic_write_text(_path(project), json.dumps({"last_sync": now}) + "\n")
    return now

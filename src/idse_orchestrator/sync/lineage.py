"""Session lineage (type, parent, stack) carried in the store's project state.

Documents are the artifacts; a session's metadata is not, but a pulled session needs some. Push
publishes each session's lineage, and pull writes it as metadata before it creates a session
directory, so a new session arrives with its parent and stack instead of guessed defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idse_orchestrator import ids
from idse_orchestrator.errors import IdseError
from idse_orchestrator.fsutil import dump_json
from idse_orchestrator.models import SessionMetadata, SessionType
from idse_orchestrator.stages import BLUEPRINT
from idse_orchestrator.sync.confine import Root
from idse_orchestrator.sync.store import DesignStore
from idse_orchestrator.workspace import Project


class SessionLineage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: SessionType = "feature"
    parent: str | None = Field(default=None, max_length=64)
    stack: str | None = Field(default=None, max_length=200)


def _sessions(state: dict[str, Any]) -> dict[str, Any]:
    found = state.get("sessions")
    return dict(found) if isinstance(found, dict) else {}


def push_lineage(project: Project, root: Root, store: DesignStore, sessions: list[str]) -> None:
    """Publish the lineage of ``sessions``; writes the project state only when it changes.

    Metadata behind a symlink leading out of the workspace (``root``) is not read."""
    state = store.read_project_state()
    published = _sessions(state)
    changed = False
    for sid in sessions:
        if not project.has_session(sid) or not root.allowed(project.metadata_path(sid)):
            continue
        try:
            meta = project.metadata(sid)
        except IdseError:
            continue  # unreadable metadata is reported by `idse validate`; the documents synced anyway
        entry = {"type": meta.type, "parent": meta.parent, "stack": meta.stack}
        if published.get(sid) != entry:
            published[sid] = entry
            changed = True
    if changed:
        store.write_project_state({**state, "sessions": published})


def ensure_metadata(
    project: Project, root: Root, store: DesignStore, session: str, cache: dict[str, Any]
) -> None:
    """Write the metadata of a session that pull is about to create (``cache`` holds the state).

    Written through ``root``: never through a symlink leading out of the workspace."""
    path = project.metadata_path(session)
    if root.exists(path):
        return
    if "state" not in cache:
        cache["state"] = store.read_project_state()
    try:
        lineage = SessionLineage.model_validate(_sessions(cache["state"]).get(session) or {})
    except ValidationError:
        lineage = SessionLineage()
    default_parent = None if session == BLUEPRINT else BLUEPRINT
    parent = lineage.parent
    if parent is None or parent == session or not ids.is_valid_session_id(parent):
        parent = default_parent
    kind: SessionType = "blueprint" if session == BLUEPRINT else "feature"
    meta = SessionMetadata(id=session, project=project.name, type=kind, parent=parent, stack=lineage.stack)
    root.write_text(path, dump_json(meta.model_dump(mode="json")))

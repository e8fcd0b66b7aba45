"""Readers for the hot read paths (`idse status`, `sessions`, `route`) that do not load pydantic.

People and agents run these commands after every edit, and importing pydantic costs more than the
rest of such a command. Each reader here accepts only the plainly valid file and returns ``None``
for anything else, so the caller then takes the validating path through the model, which gives
the same values for valid files and the precise error for the others. A reader never decides that
a file is wrong; it only recognises the common case of a file that is right.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from idse_orchestrator import ids
from idse_orchestrator.stages import STAGE_NAMES

if TYPE_CHECKING:
    from idse_orchestrator.workspace import Project

AGENT_MODES = ("planning", "implementation")
SESSION_TYPES = ("blueprint", "feature")
SESSION_STATUSES = ("draft", "in_progress", "review", "complete", "archived")
# Larger files go through the validating path (which enforces the size limits).
_LIMIT = 256 * 1024


class Agent(NamedTuple):
    id: str
    role: str
    mode: str
    stages: tuple[str, ...]


class Registry(NamedTuple):
    agents: tuple[Agent, ...]

    def route(self, stage: str) -> Agent | None:
        """The first agent (in registry order) that lists ``stage``, as ``AgentRegistry.route``."""
        for agent in self.agents:
            if stage in agent.stages:
                return agent
        return None


class SessionFields(NamedTuple):
    """The fields of ``metadata/session.json`` that listings show."""

    type: str
    status: str
    parent: str | None


def _load(path: Any) -> Any:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_LIMIT + 1)
        if len(raw) > _LIMIT:
            return None
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # absurd nesting: the validating path words it
        return None


def registry(project: Project) -> Registry | None:
    """The agent registry when the file is present and plainly valid; otherwise ``None``."""
    data = _load(project.registry_path)
    if not isinstance(data, dict):
        return None
    entries = data.get("agents", [])
    if not isinstance(entries, list):
        return None
    agents: list[Agent] = []
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        agent_id, role, mode = entry.get("id"), entry.get("role"), entry.get("mode")
        stages = entry.get("stages", [])
        if not (isinstance(agent_id, str) and isinstance(role, str) and agent_id and role):
            return None
        if mode not in AGENT_MODES or not isinstance(stages, list):
            return None
        if not all(isinstance(s, str) and s in STAGE_NAMES for s in stages):
            return None
        agents.append(Agent(agent_id, role, mode, tuple(stages)))
    if len({a.id for a in agents}) != len(agents):
        return None
    return Registry(tuple(agents))


def session_fields(project: Project, session: str) -> SessionFields | None:
    """Type, status and parent of a session when its ``session.json`` is plainly valid."""
    data = _load(project.metadata_path(session))
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None  # absent, damaged, or a 0.1 file (no ``id``): the validating path handles it
    if not isinstance(data.get("project"), str):
        return None
    kind, status, parent = data.get("type", "feature"), data.get("status", "draft"), data.get("parent")
    if kind not in SESSION_TYPES or status not in SESSION_STATUSES:
        return None
    if parent is not None and not (isinstance(parent, str) and ids.is_valid_session_id(parent)):
        return None
    if not (data.get("stack") is None or isinstance(data.get("stack"), str)):
        return None
    sha = data.get("template_sha256", {})
    if not (isinstance(sha, dict) and all(isinstance(v, str) for v in sha.values())):
        return None
    accepted = data.get("accepted", {})
    if not isinstance(accepted, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in accepted.values()
    ):
        return None
    spawned = data.get("spawned_from")
    if not (spawned is None or isinstance(spawned, dict)):
        return None
    return SessionFields(kind, status, parent)

"""Files written by idse-orchestrator 0.1, recognised and mapped to this tool's schemas.

Reading a 0.1 file never fails for its shape alone: its data is mapped (nothing is dropped: every
field without a place of its own is kept under ``extra``) and the difference is reported, so that
``idse migrate`` can rewrite the file once.
"""

from __future__ import annotations

from typing import Any

from idse_orchestrator import ids
from idse_orchestrator.light import SESSION_STATUSES
from idse_orchestrator.stages import BLUEPRINT

METADATA_PROBLEM = "is in the idse-orchestrator 0.1 format; run 'idse migrate' to upgrade it"
REGISTRY_HINT = "written by idse-orchestrator 0.1? run 'idse migrate'"
# 0.1 keys that the mapping consumes; a value it cannot carry over exactly stays under ``extra``.
_MAPPED = ("session_id", "session_type", "is_blueprint", "parent_session", "status")


def is_legacy_metadata(data: Any) -> bool:
    """A 0.1 ``metadata/session.json``: a session id under ``session_id`` and no ``id``."""
    return isinstance(data, dict) and "id" not in data and "session_id" in data


def map_metadata(data: dict[str, Any], project: str, session: str) -> dict[str, Any]:
    """The 0.1 metadata ``data`` of ``session`` as this tool's ``metadata/session.json`` data.

    The session id is the folder's name and the project the folder's project, as everywhere else.
    Every 0.1 field goes under ``extra`` unless its value is carried over exactly by a field here.
    """
    parent = data.get("parent_session")
    status = data.get("status")
    out: dict[str, Any] = {
        "id": session,
        "project": project,
        "type": "blueprint" if session == BLUEPRINT else "feature",
        "status": status if status in SESSION_STATUSES else "draft",
        "parent": None,
    }
    if session != BLUEPRINT:
        if parent is None:
            out["parent"] = BLUEPRINT
        elif isinstance(parent, str) and ids.is_valid_session_id(parent) and parent != session:
            out["parent"] = parent
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in _MAPPED and _carried(key, value, out, session):
            continue
        extra[key] = value
    out["extra"] = extra
    return out


def _carried(key: str, value: Any, out: dict[str, Any], session: str) -> bool:
    """True when 0.1 field ``key`` = ``value`` is fully represented by the mapped data ``out``."""
    if key == "session_id":
        return bool(value == session)
    if key == "session_type":
        return bool(value == out["type"])
    if key == "is_blueprint":
        return bool(value == (out["type"] == "blueprint"))
    if key == "parent_session":
        return bool(value == out["parent"]) or (value is None and out["parent"] == BLUEPRINT)
    if key == "status":
        return bool(value == out["status"])
    return False


def is_legacy_registry(data: Any) -> bool:
    """A 0.1 ``agent_registry.json``: an ``agents`` list of objects, some without a ``mode``."""
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        return False
    agents = data["agents"]
    return all(isinstance(a, dict) for a in agents) and any("mode" not in a for a in agents)


def map_registry(data: dict[str, Any]) -> dict[str, Any]:
    """The 0.1 registry with a ``mode`` for every agent that has none (``implementation`` for an
    agent of the implementation stage, ``planning`` otherwise); every other key and the order of
    the keys are kept."""
    agents = []
    for agent in data["agents"]:
        if "mode" in agent:
            agents.append(agent)
            continue
        stages = agent.get("stages")
        mode = "implementation" if isinstance(stages, list) and "implementation" in stages else "planning"
        mapped: dict[str, Any] = {}
        for key, value in agent.items():
            mapped[key] = value
            if key == "role":
                mapped["mode"] = mode
        mapped.setdefault("mode", mode)
        agents.append(mapped)
    return {**data, "agents": agents}

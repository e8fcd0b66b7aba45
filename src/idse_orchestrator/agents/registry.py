"""Routing of pipeline stages to IDE agents, read from ``agent_registry.json``.

Routing is explicit: a stage belongs to the first agent (in registry order) that lists it. Nothing is
guessed from roles or modes, so a stage nobody lists is unrouted and reported as such.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from idse_orchestrator.errors import BadFile, Failed, NotFound, UsageError
from idse_orchestrator.stages import STAGE_NAMES, stage
from idse_orchestrator.workspace import Project, Workspace

if TYPE_CHECKING:
    from idse_orchestrator.models import AgentEntry, AgentRegistry

AGENT_MODES: tuple[str, ...] = ("planning", "implementation")


class Route(NamedTuple):
    stage: str
    agent: str
    mode: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "agent": self.agent, "mode": self.mode, "role": self.role}


class Overlap(NamedTuple):
    """A stage listed by more than one agent; ``agents`` is in registry order, the first one wins."""

    stage: str
    agents: tuple[str, ...]

    @property
    def winner(self) -> str:
        return self.agents[0]

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "agents": list(self.agents), "winner": self.winner}


def unrouted_stages(registry: AgentRegistry) -> list[str]:
    """Stages, in pipeline order, that no agent lists."""
    return [name for name in STAGE_NAMES if registry.route(name) is None]


def overlaps(registry: AgentRegistry) -> list[Overlap]:
    """Stages, in pipeline order, listed by two or more agents."""
    out = []
    for name in STAGE_NAMES:
        listing = tuple(agent.id for agent in registry.agents if name in agent.stages)
        if len(listing) > 1:
            out.append(Overlap(name, listing))
    return out


def routing_table(registry: AgentRegistry) -> dict[str, str | None]:
    """Every stage, in pipeline order, with the id of its agent (``None`` when unrouted)."""
    table: dict[str, str | None] = {}
    for name in STAGE_NAMES:
        agent = registry.route(name)
        table[name] = agent.id if agent else None
    return table


def route_stage(ws: Workspace, project: Project, stage_name: str) -> Route:
    """The agent for ``stage_name``; an unknown stage is ``NotFound``, an unrouted one ``Failed``."""
    from idse_orchestrator import light

    stage(stage_name)
    plain = light.registry(project)
    agent = plain.route(stage_name) if plain is not None else project.registry().route(stage_name)
    if agent is None:
        raise Failed(
            f"stage {stage_name!r} is not routed: no agent in {ws.rel(project.registry_path)} lists it; "
            f"add it to one agent's \"stages\" (see 'idse agents')"
        )
    return Route(stage_name, agent.id, agent.mode, agent.role)


def agent_dict(agent: AgentEntry) -> dict[str, Any]:
    """An agent as JSON data, extra registry fields included."""
    return agent.model_dump(mode="json")


def agents_report(ws: Workspace, project: Project) -> dict[str, Any]:
    """Everything ``idse agents`` shows: the agents, the routing, unrouted stages and overlaps."""
    registry = project.registry()
    return {
        "project": project.name,
        "registry": ws.rel(project.registry_path),
        "agents": [agent_dict(agent) for agent in registry.agents],
        "routing": routing_table(registry),
        "unrouted": unrouted_stages(registry),
        "overlaps": [o.as_dict() for o in overlaps(registry)],
    }


def _raw_registry(ws: Workspace, project: Project) -> dict[str, Any]:
    """The registry as the file holds it (key order and unknown fields kept), validated on the way."""
    from idse_orchestrator.fsutil import read_json
    from idse_orchestrator.models import default_registry

    path = project.registry_path
    if not path.exists():
        data: Any = default_registry().model_dump(mode="json")
    else:
        project.registry()  # raises a repo-relative BadFile when the file does not match its schema
        try:
            data = read_json(path)
        except BadFile as exc:
            raise exc.relative_to(ws) from None
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        raise BadFile(ws.rel(path), 'must be a JSON object with an "agents" list')
    return data


def set_agent_mode(ws: Workspace, project: Project, agent_id: str, mode: str) -> bool:
    """Set one agent's mode, rewriting ``agent_registry.json`` atomically.

    Only that agent's ``mode`` value changes: other fields, unknown fields and key order survive.
    Returns True when the file changed.
    """
    from idse_orchestrator.fsutil import write_if_changed

    if mode not in AGENT_MODES:
        raise UsageError(f"unknown agent mode {mode!r}; use one of {', '.join(AGENT_MODES)}")
    data = _raw_registry(ws, project)
    entries = [e for e in data["agents"] if isinstance(e, dict) and e.get("id") == agent_id]
    if not entries:
        known = ", ".join(str(e.get("id")) for e in data["agents"] if isinstance(e, dict)) or "none"
        raise NotFound(f"no agent {agent_id!r} in {ws.rel(project.registry_path)} (agents: {known})")
    entries[0]["mode"] = mode
    from idse_orchestrator.models import AgentRegistry

    AgentRegistry.model_validate(data)
    # Not sort_keys: the user's key order is kept. `idse init` writes sorted keys, so those stay sorted.
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return write_if_changed(project.registry_path, text)

"""Pydantic models for every JSON/YAML file idse reads or writes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idse_orchestrator.light import SESSION_STATUSES as SESSION_STATUSES  # re-exported
from idse_orchestrator.stages import STAGE_NAMES

SessionType = Literal["blueprint", "feature"]
SessionStatus = Literal["draft", "in_progress", "review", "complete", "archived"]
StageStatus = Literal["missing", "pending", "in_progress", "complete", "stale"]
ValidationStatus = Literal["unknown", "passing", "failing"]
AgentMode = Literal["planning", "implementation"]
Severity = Literal["error", "warning", "info"]


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Severity | None = None
    enabled: bool = True


class Config(BaseModel):
    """``.idse/config.yaml``: per-repo settings. There is deliberately no user-global config."""

    model_config = ConfigDict(extra="forbid")
    version: int = 1
    default_project: str | None = None
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    agent_files: list[str] | None = None
    sync: dict[str, Any] = Field(default_factory=dict)

    @field_validator("rules", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `IDSE-A001: off` and `IDSE-A001: warning` are accepted as shorthands.
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is False or item in ("off", "disabled"):
                out[key] = {"enabled": False}
            elif isinstance(item, str):
                out[key] = {"severity": item}
            else:
                out[key] = item
        return out


class SessionMetadata(BaseModel):
    """``metadata/session.json``: identity and lineage of a session."""

    model_config = ConfigDict(extra="allow")
    id: str
    project: str
    type: SessionType = "feature"
    status: SessionStatus = "draft"
    parent: str | None = None
    stack: str | None = None
    # sha256 of each document as rendered from its template: "untouched" survives template upgrades.
    template_sha256: dict[str, str] = Field(default_factory=dict)
    # stage -> sha256 of each upstream document when that stage was last accepted (staleness).
    accepted: dict[str, dict[str, str]] = Field(default_factory=dict)
    spawned_from: dict[str, Any] | None = None


class StageState(BaseModel):
    status: StageStatus
    agent: str | None = None


class SessionState(BaseModel):
    """``session_state.json``: the derived state of the current session (safe to delete)."""

    model_config = ConfigDict(extra="allow")
    project: str
    session: str
    stages: dict[str, StageState] = Field(default_factory=dict)
    validation_status: ValidationStatus = "unknown"


class AgentEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    role: str = Field(min_length=1)
    mode: AgentMode
    stages: list[str] = Field(default_factory=list)

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGE_NAMES)}")
        return value


class AgentRegistry(BaseModel):
    """``agent_registry.json``: which IDE agent handles which stage."""

    model_config = ConfigDict(extra="allow")
    agents: list[AgentEntry] = Field(default_factory=list)

    @field_validator("agents")
    @classmethod
    def _unique_ids(cls, value: list[AgentEntry]) -> list[AgentEntry]:
        seen: set[str] = set()
        for agent in value:
            if agent.id in seen:
                raise ValueError(f"duplicate agent id {agent.id!r}")
            seen.add(agent.id)
        return value

    def route(self, stage: str) -> AgentEntry | None:
        """The agent for ``stage``: the first one listing it, in registry order."""
        for agent in self.agents:
            if stage in agent.stages:
                return agent
        return None


def default_registry() -> AgentRegistry:
    return AgentRegistry(
        agents=[
            AgentEntry(
                id="claude-code",
                role="architect",
                mode="planning",
                stages=["intent", "context", "spec", "plan", "tasks"],
            ),
            AgentEntry(id="codex", role="implementer", mode="implementation", stages=["implementation"]),
            AgentEntry(id="copilot", role="reviewer", mode="planning", stages=["feedback"]),
        ]
    )

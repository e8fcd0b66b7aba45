"""``AgentProfileSpec``: the agent profile compiled from a spec's ``## Agent Profile`` YAML block."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Filled in by the compiler; a document that sets them would be claiming a provenance it cannot know.
PROVENANCE_FIELDS: tuple[str, ...] = ("source_session", "source_blueprint", "source_sha256")


class AgentProfileSpec(BaseModel):
    """An agent's profile: identity, purpose, interface, constraints and runtime hints."""

    # Field order is the order of the compiled output, so reordering fields changes every output.
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Stable agent id (a slug)."
    )
    name: str = Field(min_length=1, description="Human-readable name.")
    description: str = Field(default="", description="What the agent is for, in a few sentences.")
    version: str = Field(
        default="0.1.0", min_length=1, description="Version of the profile (quote it in YAML)."
    )
    goals: list[str] = Field(default_factory=list, description="Outcomes the agent works towards.")
    inputs: list[str] = Field(default_factory=list, description="What the agent consumes.")
    outputs: list[str] = Field(default_factory=list, description="What the agent produces.")
    tools: list[str] = Field(default_factory=list, description="Tools the agent may use.")
    constraints: list[str] = Field(default_factory=list, description="Rules the agent must not break.")
    memory_policy: dict[str, Any] = Field(default_factory=dict, description="How the agent keeps state.")
    runtime_hints: dict[str, Any] = Field(
        default_factory=dict, description="Model, limits and similar hints."
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="Keys for other tools, kept as written; idse passes them through without reading them.",
    )
    source_session: str | None = Field(
        default=None, description="Session whose spec.md was compiled (set by idse)."
    )
    source_blueprint: str | None = Field(
        default=None, description="Blueprint session whose profile gave the defaults, if any (set by idse)."
    )
    source_sha256: str | None = Field(
        default=None, description="sha256 of the source YAML block(s), blueprint first (set by idse)."
    )


def document_fields() -> tuple[str, ...]:
    """Keys a spec's Agent Profile block may use."""
    return tuple(name for name in AgentProfileSpec.model_fields if name not in PROVENANCE_FIELDS)


REQUIRED_FIELDS: tuple[str, ...] = ("id", "name")

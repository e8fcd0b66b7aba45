"""JSON Schemas of the agent files, generated from their pydantic models.

The same schemas ship as data files (``data/*.schema.json``) for editors and other tools that cannot
import Python; a test keeps them equal to the models. Regenerate them with
``python -m idse_orchestrator.agents.schema``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idse_orchestrator.errors import NotFound

# schema name (as in `idse schema <name>`) -> data file name
SCHEMA_FILES: dict[str, str] = {
    "agent-registry": "agent_registry.schema.json",
    "agent-profile": "agent_profile.schema.json",
}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (one of ``SCHEMA_FILES``), generated from its model."""
    if name == "agent-registry":
        from idse_orchestrator.models import AgentRegistry

        return AgentRegistry.model_json_schema()
    if name == "agent-profile":
        from idse_orchestrator.agents.profile import AgentProfileSpec

        return AgentProfileSpec.model_json_schema()
    raise NotFound(f"unknown schema {name!r}; schemas are: {', '.join(SCHEMA_FILES)}")


def schema_text(name: str) -> str:
    """The schema as canonical JSON text (the exact content of its data file)."""
    from idse_orchestrator.fsutil import dump_json

    return dump_json(schema(name))


def data_path(name: str) -> Path:
    if name not in SCHEMA_FILES:
        raise NotFound(f"unknown schema {name!r}; schemas are: {', '.join(SCHEMA_FILES)}")
    return Path(__file__).resolve().parent.parent / "data" / SCHEMA_FILES[name]


def write_schema_files() -> list[Path]:
    """Rewrite the shipped schema files from the models; returns the files that changed."""
    from idse_orchestrator.fsutil import write_if_changed

    return [data_path(name) for name in SCHEMA_FILES if write_if_changed(data_path(name), schema_text(name))]


if __name__ == "__main__":  # pragma: no cover
    for changed in write_schema_files():
        print(f"updated {changed}")

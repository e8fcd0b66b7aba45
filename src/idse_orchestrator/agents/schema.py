"""JSON Schemas of the files idse reads, generated from their pydantic models.

``agent-registry`` (agent_registry.json), ``agent-profile`` (compiled agent profiles) and ``config``
(`.idse/config.yaml`). Each carries ``$schema`` (draft 2020-12) and a stable ``$id``. The same schemas
ship as data files (``data/*.schema.json``) for editors and other tools that cannot import Python; a
test keeps them equal to the models. Regenerate them with ``python -m idse_orchestrator.agents.schema``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idse_orchestrator.errors import NotFound

# schema name (as in `idse schema <name>`) -> data file name
SCHEMA_FILES: dict[str, str] = {
    "agent-registry": "agent_registry.schema.json",
    "agent-profile": "agent_profile.schema.json",
    "config": "config.schema.json",
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(name: str) -> str:
    """A stable identifier (a URN: nothing needs to be fetched from it)."""
    return f"urn:idse-orchestrator:schema:{name}"


def model_schema(name: str) -> dict[str, Any]:
    """The schema exactly as pydantic generates it from the model (without ``$schema``/``$id``)."""
    if name == "agent-registry":
        from idse_orchestrator.models import AgentRegistry

        return AgentRegistry.model_json_schema()
    if name == "agent-profile":
        from idse_orchestrator.agents.profile import AgentProfileSpec

        return AgentProfileSpec.model_json_schema()
    if name == "config":
        return _config_schema()
    raise NotFound(f"unknown schema {name!r}; schemas are: {', '.join(SCHEMA_FILES)}")


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (one of ``SCHEMA_FILES``), generated from its model."""
    return {"$schema": DIALECT, "$id": schema_id(name), **model_schema(name)}


def _config_schema() -> dict[str, Any]:
    """`Config`'s schema, completed with what its validators accept and what the loaders check later:
    the rule ids of the shipped rule set and their shorthands (``IDSE-A006: error``, ``IDSE-F001: off``),
    the agent file names, the sync section. Regenerate the data file when the rule set gains a rule."""
    from idse_orchestrator.agents.files import AGENT_FILE_PATHS
    from idse_orchestrator.governance.ruleset import load_ruleset
    from idse_orchestrator.models import Config
    from idse_orchestrator.sync.settings import SyncSection
    from idse_orchestrator.sync.store import BACKENDS

    out = Config.model_json_schema()
    props = out["properties"]
    props["rules"]["propertyNames"] = {"enum": [r.id for r in load_ruleset().rules]}
    props["rules"]["additionalProperties"] = {
        "anyOf": [
            {"$ref": "#/$defs/RuleOverride"},
            {"enum": ["error", "warning", "info"], "description": "Shorthand for {severity: <value>}."},
            {"enum": ["off", "disabled", False], "description": "Shorthand for {enabled: false}."},
        ]
    }
    props["agent_files"]["anyOf"][0]["items"] = {"enum": list(AGENT_FILE_PATHS)}
    sync = SyncSection.model_json_schema(by_alias=True)
    sync["properties"]["backend"]["anyOf"][0]["enum"] = sorted(BACKENDS)
    out["$defs"]["SyncSection"] = sync
    props["sync"] = {"$ref": "#/$defs/SyncSection"}
    return out


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

"""The shipped JSON Schemas equal the models, and `idse schema` / `compile agent-spec --schema` print them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idse_orchestrator.agents.profile import AgentProfileSpec
from idse_orchestrator.agents.schema import SCHEMA_FILES, data_path, schema_text
from idse_orchestrator.models import AgentRegistry, default_registry

Cli = Any  # the `cli` fixture of conftest.py

DATA = Path(__file__).resolve().parent.parent / "src" / "idse_orchestrator" / "data"


def model_part(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its ``$schema`` and ``$id`` (tests/test_schemas.py checks those)."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def test_registry_schema_file_equals_model() -> None:
    shipped = json.loads((DATA / "agent_registry.schema.json").read_text(encoding="utf-8"))
    assert model_part(shipped) == AgentRegistry.model_json_schema()


def test_profile_schema_file_equals_model() -> None:
    shipped = json.loads((DATA / "agent_profile.schema.json").read_text(encoding="utf-8"))
    assert model_part(shipped) == AgentProfileSpec.model_json_schema()


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_schema_files_are_canonical_text(name: str) -> None:
    # Byte equality too, so regenerating them (python -m idse_orchestrator.agents.schema) is a no-op.
    assert data_path(name).read_text(encoding="utf-8") == schema_text(name)


@pytest.mark.parametrize(
    ("name", "model"), [("agent-registry", AgentRegistry), ("agent-profile", AgentProfileSpec)]
)
def test_schema_command_prints_model_schema(cli: Cli, name: str, model: Any) -> None:
    # Needs no workspace: tmp_path has no .idse/.
    result = cli("schema", name)
    assert result.exit_code == 0, result.stderr
    assert model_part(json.loads(result.stdout)) == model.model_json_schema()


def test_schema_command_rejects_unknown_name(cli: Cli) -> None:
    result = cli("schema", "nope")
    assert result.exit_code == 2
    assert "agent-registry" in result.stderr


def test_compile_schema_option_prints_profile_schema(cli: Cli) -> None:
    result = cli("compile", "agent-spec", "--schema")
    assert result.exit_code == 0, result.stderr
    assert model_part(json.loads(result.stdout)) == AgentProfileSpec.model_json_schema()


def test_default_registry_is_valid_under_its_schema_shape() -> None:
    schema = AgentRegistry.model_json_schema()
    entry = schema["$defs"]["AgentEntry"]
    assert set(entry["required"]) == {"id", "role", "mode"}
    assert entry["properties"]["mode"]["enum"] == ["planning", "implementation"]
    data = default_registry().model_dump(mode="json")
    for agent in data["agents"]:
        assert set(entry["required"]) <= set(agent)


def test_profile_schema_forbids_unknown_keys() -> None:
    schema = AgentProfileSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "name"}

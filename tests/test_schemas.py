"""The JSON Schemas: valid draft 2020-12 with `$schema` and `$id`, and the config schema agrees with
what idse itself accepts in `.idse/config.yaml`."""

from __future__ import annotations

import json

import pytest
import yaml

from idse_orchestrator.agents.schema import DIALECT, SCHEMA_FILES, data_path, schema

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_every_schema_is_a_valid_2020_12_schema_with_an_id(name):
    shipped = json.loads(data_path(name).read_text("utf-8"))
    assert shipped["$schema"] == DIALECT
    assert shipped["$id"] == f"urn:idse-orchestrator:schema:{name}"
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_ids_are_unique():
    ids = [schema(name)["$id"] for name in SCHEMA_FILES]
    assert len(set(ids)) == len(ids)


def test_schema_config_prints_the_shipped_file(cli):
    result = cli("schema", "config")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == data_path("config").read_text("utf-8")


CONFIGS = [
    ("", True),
    ("version: 1\ndefault_project: demo\n", True),
    ("rules:\n  IDSE-A006: error\n  IDSE-F001: off\n  IDSE-A005: {severity: warning}\n", True),
    ("rules:\n  IDSE-A001: {enabled: false}\n  IDSE-A002: false\n  IDSE-A003: disabled\n", True),
    ("agent_files: [CLAUDE.md, AGENTS.md]\n", True),
    ("sync:\n  backend: filesystem\n  path: ../shared-store\n  timeout: 5\n", True),
    ("sync:\n  backend: postgres\n  schema: idse_docs\n  retries: 2\n", True),
    ("unknown_key: 1\n", False),
    ("rules:\n  IDSE-A006: fatal\n", False),
    ("rules:\n  IDSE-Z999: off\n", False),
    ("rules:\n  IDSE-A006: {severity: error, extra: 1}\n", False),
    ("agent_files: [NOPE.md]\n", False),
    ("sync:\n  backend: nope\n", False),
    ("sync:\n  token: s3cret\n", False),
    ("sync:\n  timeout: 0\n", False),
    ("sync:\n  schema: 1bad\n", False),
]


@pytest.mark.parametrize(("text", "accepted"), CONFIGS, ids=[c[0][:40] or "empty" for c in CONFIGS])
def test_the_config_schema_agrees_with_idse(cli, ws, tmp_path, text, accepted):
    """The schema accepts a config exactly when `idse build` and `idse sync config` accept it."""
    validator = jsonschema.Draft202012Validator(schema("config"))
    data = yaml.safe_load(text) or {}
    assert validator.is_valid(data) is accepted, list(validator.iter_errors(data))
    (tmp_path / ".idse" / "config.yaml").write_text(text)
    codes = {cli("build").exit_code, cli("sync", "config").exit_code}
    assert (codes <= {0, 1}) is accepted, codes

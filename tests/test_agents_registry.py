"""Stage routing from agent_registry.json: `idse agents`, `idse agents set-mode`, `idse route`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idse_orchestrator.agents.registry import (
    overlaps,
    route_stage,
    routing_table,
    set_agent_mode,
    unrouted_stages,
)
from idse_orchestrator.errors import Failed, NotFound
from idse_orchestrator.models import AgentRegistry, default_registry
from idse_orchestrator.workspace import Workspace

Cli = Any  # the `cli` fixture of conftest.py: cli(*args) -> Result(exit_code, stdout, stderr)


def registry_path(ws: Workspace) -> Path:
    return ws.project("demo").registry_path


def write_registry(ws: Workspace, agents: list[dict[str, Any]], **extra: Any) -> None:
    registry_path(ws).write_text(json.dumps({"agents": agents, **extra}, indent=2) + "\n", encoding="utf-8")


OVERLAPPING = [
    {"id": "claude-code", "role": "architect", "mode": "planning", "stages": ["intent", "context", "spec"]},
    {"id": "gemini", "role": "analyst", "mode": "planning", "stages": ["spec", "plan", "tasks"]},
    {"id": "codex", "role": "implementer", "mode": "implementation", "stages": ["implementation", "tasks"]},
]


def test_default_registry_routes_every_stage() -> None:
    registry = default_registry()
    assert unrouted_stages(registry) == []
    assert overlaps(registry) == []
    assert routing_table(registry) == {
        "intent": "claude-code",
        "context": "claude-code",
        "spec": "claude-code",
        "plan": "claude-code",
        "tasks": "claude-code",
        "implementation": "codex",
        "feedback": "copilot",
    }


def test_overlap_goes_to_the_first_agent_in_registry_order() -> None:
    registry = AgentRegistry.model_validate({"agents": OVERLAPPING})
    table = routing_table(registry)
    assert table["spec"] == "claude-code"
    assert table["tasks"] == "gemini"
    assert [(o.stage, o.agents, o.winner) for o in overlaps(registry)] == [
        ("spec", ("claude-code", "gemini"), "claude-code"),
        ("tasks", ("gemini", "codex"), "gemini"),
    ]
    assert unrouted_stages(registry) == ["feedback"]


def test_reordering_the_registry_changes_the_owner() -> None:
    registry = AgentRegistry.model_validate({"agents": [OVERLAPPING[1], OVERLAPPING[0]]})
    assert routing_table(registry)["spec"] == "gemini"


def test_route_json_for_default_registry(cli: Cli, ws: Workspace) -> None:
    result = cli("route", "implementation", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "stage": "implementation",
        "agent": "codex",
        "mode": "implementation",
        "role": "implementer",
    }


def test_route_human_output_names_agent_and_document(cli: Cli, ws: Workspace) -> None:
    result = cli("route", "spec")
    assert result.exit_code == 0
    assert "spec: claude-code (architect, planning mode)" in result.stdout
    assert ".idse/projects/demo/sessions/__blueprint__/specs/spec.md" in result.stdout


def test_route_with_session_option(cli: Cli, ws: Workspace) -> None:
    assert cli("session", "create", "feat").exit_code == 0
    result = cli("route", "plan", "--session", "feat")
    assert result.exit_code == 0
    assert "sessions/feat/plans/plan.md" in result.stdout
    missing = cli("route", "plan", "--session", "nope")
    assert missing.exit_code == 2
    assert "no session 'nope'" in missing.stderr


def test_route_overlap_uses_registry_order(cli: Cli, ws: Workspace) -> None:
    write_registry(ws, OVERLAPPING)
    result = cli("route", "spec", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["agent"] == "claude-code"
    assert json.loads(cli("route", "tasks", "--json").stdout)["agent"] == "gemini"


def test_route_unrouted_stage_fails_with_clear_message(cli: Cli, ws: Workspace) -> None:
    write_registry(ws, OVERLAPPING)
    result = cli("route", "feedback", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "stage 'feedback' is not routed" in result.stderr
    assert ".idse/projects/demo/agent_registry.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_route_unknown_stage_is_usage_error(cli: Cli, ws: Workspace) -> None:
    result = cli("route", "deploy")
    assert result.exit_code == 2
    assert "unknown stage 'deploy'" in result.stderr


def test_route_stage_core(ws: Workspace) -> None:
    project = ws.project("demo")
    assert route_stage(ws, project, "feedback").as_dict() == {
        "stage": "feedback",
        "agent": "copilot",
        "mode": "planning",
        "role": "reviewer",
    }
    write_registry(ws, OVERLAPPING)
    with pytest.raises(Failed):
        route_stage(ws, project, "feedback")
    with pytest.raises(NotFound):
        route_stage(ws, project, "nope")


def test_agents_lists_table(cli: Cli, ws: Workspace) -> None:
    result = cli("agents")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "registry  .idse/projects/demo/agent_registry.json"
    assert lines[1].split() == ["AGENT", "ROLE", "MODE", "STAGES"]
    assert lines[2].split(None, 3) == [
        "claude-code",
        "architect",
        "planning",
        "intent, context, spec, plan, tasks",
    ]
    assert "unrouted  none" in lines
    assert "overlaps  none" in lines


def test_agents_reports_unrouted_and_overlaps(cli: Cli, ws: Workspace) -> None:
    write_registry(ws, OVERLAPPING)
    result = cli("agents")
    assert result.exit_code == 0
    assert "unrouted  feedback" in result.stdout
    assert "spec (claude-code, gemini; claude-code owns it)" in result.stdout
    data = json.loads(cli("agents", "--json").stdout)
    assert data["unrouted"] == ["feedback"]
    assert data["overlaps"] == [
        {"stage": "spec", "agents": ["claude-code", "gemini"], "winner": "claude-code"},
        {"stage": "tasks", "agents": ["gemini", "codex"], "winner": "gemini"},
    ]
    assert data["routing"]["feedback"] is None
    assert [a["id"] for a in data["agents"]] == ["claude-code", "gemini", "codex"]


def test_agents_without_registry_file_uses_default(cli: Cli, ws: Workspace) -> None:
    registry_path(ws).unlink()
    data = json.loads(cli("agents", "--json").stdout)
    assert [a["id"] for a in data["agents"]] == ["claude-code", "codex", "copilot"]


def test_agents_invalid_registry_is_bad_input(cli: Cli, ws: Workspace) -> None:
    write_registry(ws, [{"id": "x", "role": "r", "mode": "dreaming", "stages": []}])
    result = cli("agents")
    assert result.exit_code == 2
    assert result.stderr.startswith("idse: error: .idse/projects/demo/agent_registry.json:")


def test_set_mode_rewrites_only_the_mode(cli: Cli, ws: Workspace) -> None:
    agents = [
        {"role": "architect", "id": "claude-code", "stages": ["intent"], "mode": "planning", "model": "opus"},
        {"id": "codex", "role": "implementer", "mode": "implementation", "stages": ["implementation"]},
    ]
    write_registry(ws, agents, note="kept")
    result = cli("agents", "set-mode", "claude-code", "implementation")
    assert result.exit_code == 0, result.stderr
    assert "now in implementation mode" in result.stdout
    data = json.loads(registry_path(ws).read_text(encoding="utf-8"))
    expected = json.loads(json.dumps({"agents": agents, "note": "kept"}))
    expected["agents"][0]["mode"] = "implementation"
    assert data == expected
    # Key order survives, extra fields too.
    assert list(data["agents"][0]) == ["role", "id", "stages", "mode", "model"]
    assert list(data) == ["agents", "note"]


def test_set_mode_is_idempotent(cli: Cli, ws: Workspace) -> None:
    path = registry_path(ws)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    result = cli("agents", "set-mode", "codex", "implementation")
    assert result.exit_code == 0
    assert "already" in result.stdout
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime


def test_set_mode_then_route_reflects_it(cli: Cli, ws: Workspace) -> None:
    assert cli("agents", "set-mode", "copilot", "implementation", "--project", "demo").exit_code == 0
    assert json.loads(cli("route", "feedback", "--json").stdout)["mode"] == "implementation"
    assert cli("agents", "--project", "demo", "set-mode", "copilot", "planning").exit_code == 0
    assert json.loads(cli("route", "feedback", "--json").stdout)["mode"] == "planning"


def test_set_mode_errors(cli: Cli, ws: Workspace) -> None:
    before = registry_path(ws).read_bytes()
    unknown = cli("agents", "set-mode", "nobody", "planning")
    assert unknown.exit_code == 2
    assert "no agent 'nobody'" in unknown.stderr
    bad_mode = cli("agents", "set-mode", "codex", "dreaming")
    assert bad_mode.exit_code == 2
    assert registry_path(ws).read_bytes() == before


def test_set_mode_without_registry_file_creates_it(ws: Workspace) -> None:
    project = ws.project("demo")
    project.registry_path.unlink()
    assert set_agent_mode(ws, project, "copilot", "implementation") is True
    assert project.registry().route("feedback").mode == "implementation"  # type: ignore[union-attr]
    assert [a.id for a in project.registry().agents] == ["claude-code", "codex", "copilot"]


def test_status_shows_routed_agents(cli: Cli, ws: Workspace) -> None:
    write_registry(ws, OVERLAPPING)
    stages = json.loads(cli("status", "--json").stdout)["stages"]
    assert stages["spec"]["agent"] == "claude-code"
    assert stages["feedback"]["agent"] is None

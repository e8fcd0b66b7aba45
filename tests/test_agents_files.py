"""`idse generate-agent-files`: managed blocks in CLAUDE.md, AGENTS.md, Copilot, Cursor and Gemini files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from idse_orchestrator.agents.files import (
    AGENT_FILE_PATHS,
    BEGIN_MARKER,
    END_MARKER,
    agent_file_plan,
    stale_agent_files,
    write_agent_files,
)
from idse_orchestrator.errors import BadFile
from idse_orchestrator.templating import package_templates_dir
from idse_orchestrator.workspace import Workspace

Cli = Any  # the `cli` fixture of conftest.py

ALL = list(AGENT_FILE_PATHS)


def read(ws: Workspace, rel: str) -> str:
    return (ws.root / rel).read_text(encoding="utf-8")


def set_agent_files(ws: Workspace, files: list[str]) -> None:
    with ws.config_path.open("a", encoding="utf-8") as fh:
        fh.write(f"agent_files: {json.dumps(files)}\n")


def block_of(text: str) -> str:
    return text[text.index(BEGIN_MARKER) : text.index(END_MARKER) + len(END_MARKER)]


DEFAULT = ["CLAUDE.md", "AGENTS.md", ".github/copilot-instructions.md"]  # the fixture registry's agents


def test_default_files_are_the_registry_agents_plus_existing_ones(cli: Cli, ws: Workspace) -> None:
    result = cli("generate-agent-files")
    assert result.exit_code == 0, result.stderr
    assert [line.split()[-1] for line in result.stdout.splitlines()] == DEFAULT
    assert not (ws.root / "GEMINI.md").exists() and not (ws.root / ".cursor").exists()
    (ws.root / "GEMINI.md").write_text("# mine\n", encoding="utf-8")
    assert cli("generate-agent-files").stdout == "wrote  GEMINI.md\n"
    assert read(ws, "GEMINI.md").startswith("# mine\n\n" + BEGIN_MARKER)


def test_generate_creates_all_five_files_when_configured(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ALL)
    result = cli("generate-agent-files")
    assert result.exit_code == 0, result.stderr
    assert ALL == [
        "CLAUDE.md",
        "AGENTS.md",
        ".github/copilot-instructions.md",
        ".cursor/rules/idse.mdc",
        "GEMINI.md",
    ]
    for rel in ALL:
        text = read(ws, rel)
        assert text.count(BEGIN_MARKER) == 1 and text.count(END_MARKER) == 1, rel
        assert text.endswith(END_MARKER + "\n")
        for command in ("idse status", "idse validate", "idse build"):
            assert command in text, (rel, command)
        assert ".idse/projects/demo/sessions/<session>/" in text
        assert ".idse/projects/demo/CURRENT_SESSION" in text
        assert "__blueprint__" not in text  # nothing names the current session
        assert f"wrote  {rel}" in result.stdout


def test_claude_file_states_role_mode_and_editable_documents(cli: Cli, ws: Workspace) -> None:
    cli("generate-agent-files")
    text = read(ws, "CLAUDE.md")
    assert text.startswith(BEGIN_MARKER + "\n# IDSE instructions for Claude Code\n")
    assert "You are `claude-code`, the **architect**, working in **planning** mode." in text
    assert "- spec: `.idse/projects/demo/sessions/<session>/specs/spec.md`" in text
    assert "You may edit only those documents." in text
    assert (
        "| implementation | `.idse/projects/demo/sessions/<session>/implementation/README.md` | codex |"
        in text
    )


def test_codex_agents_md_is_generic_and_names_codex(cli: Cli, ws: Workspace) -> None:
    cli("generate-agent-files")
    text = read(ws, "AGENTS.md")
    assert (
        "If you are Codex, you are `codex`, the **implementer**, working in **implementation** mode." in text
    )
    for agent in ("claude-code", "codex", "copilot"):
        assert f"- `{agent}`:" in text


def test_file_for_agent_missing_from_registry_describes_whole_routing(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ALL)
    cli("generate-agent-files")
    text = read(ws, "GEMINI.md")
    assert "The registry has no `gemini` agent" in text
    assert "- `claude-code`: architect, planning mode; stages: intent, context, spec, plan, tasks" in text
    assert "- `copilot`: reviewer, planning mode; stages: feedback" in text
    plan = {o.rel: o for o in agent_file_plan(ws, ws.project("demo"))}
    assert plan["GEMINI.md"].agent is None
    assert plan["CLAUDE.md"].agent == "claude-code"


def test_cursor_rule_has_front_matter_first(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ALL)
    cli("generate-agent-files")
    text = read(ws, ".cursor/rules/idse.mdc")
    assert text.startswith("---\ndescription: ")
    front, rest = text[4:].split("\n---\n", 1)
    assert "alwaysApply: true" in front
    assert rest.startswith(BEGIN_MARKER)


def test_rerun_is_byte_identical_and_does_not_touch_files(cli: Cli, ws: Workspace, snapshot: Any) -> None:
    set_agent_files(ws, ALL)
    cli("generate-agent-files")
    before = snapshot(ws.root)
    mtimes = {rel: (ws.root / rel).stat().st_mtime_ns for rel in ALL}
    result = cli("generate-agent-files")
    assert result.exit_code == 0
    assert "Agent files are up to date (5 checked)." in result.stdout
    assert snapshot(ws.root) == before
    assert {rel: (ws.root / rel).stat().st_mtime_ns for rel in ALL} == mtimes
    assert write_agent_files(ws, ws.project("demo")) == []


def test_user_text_outside_markers_is_preserved(cli: Cli, ws: Workspace) -> None:
    cli("generate-agent-files")
    path = ws.root / "CLAUDE.md"
    original_block = block_of(path.read_text(encoding="utf-8"))
    user_before = "# My notes\n\nKeep the tests green.\n\n"
    user_after = "\n## Local conventions\n\n- tabs, not spaces\n"
    path.write_text(user_before + original_block + "\n" + user_after, encoding="utf-8")
    assert cli("agents", "set-mode", "claude-code", "implementation").exit_code == 0
    assert cli("generate-agent-files").exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith(user_before + BEGIN_MARKER)
    assert text.endswith(END_MARKER + "\n" + user_after)
    assert "working in **implementation** mode" in block_of(text)
    assert block_of(text) != original_block


def test_edits_inside_the_block_are_overwritten(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ALL)
    cli("generate-agent-files")
    path = ws.root / "GEMINI.md"
    fresh = path.read_text(encoding="utf-8")
    path.write_text(fresh.replace("## Rules", "## Rules\n\n- my edit"), encoding="utf-8")
    assert stale_agent_files(ws, ws.project("demo")) == ["GEMINI.md"]
    cli("generate-agent-files")
    assert path.read_text(encoding="utf-8") == fresh


def test_existing_file_without_markers_gets_block_appended(cli: Cli, ws: Workspace) -> None:
    user = "# Project rules\n\nAlways run the linter.\n"
    (ws.root / "CLAUDE.md").write_text(user, encoding="utf-8")
    cli("generate-agent-files")
    text = read(ws, "CLAUDE.md")
    assert text.startswith(user + "\n" + BEGIN_MARKER + "\n")
    cli("generate-agent-files")
    assert read(ws, "CLAUDE.md") == text


def test_markers_inside_code_fences_are_not_the_block(cli: Cli, ws: Workspace) -> None:
    user = f"# Notes\n\n```markdown\n{BEGIN_MARKER}\nexample\n```\n"
    (ws.root / "AGENTS.md").write_text(user, encoding="utf-8")
    assert cli("generate-agent-files").exit_code == 0
    text = read(ws, "AGENTS.md")
    assert text.startswith(user)
    assert text.count(BEGIN_MARKER) == 2


def test_crlf_user_text_is_kept(cli: Cli, ws: Workspace) -> None:
    cli("generate-agent-files")
    path = ws.root / "CLAUDE.md"
    block = block_of(path.read_text(encoding="utf-8"))
    path.write_bytes(b"Line one\r\nLine two\r\n\r\n" + block.encode() + b"\r\nTail\r\n")
    cli("generate-agent-files")
    data = path.read_bytes()
    assert data.startswith(b"Line one\r\nLine two\r\n\r\n" + BEGIN_MARKER.encode())
    assert data.endswith(END_MARKER.encode() + b"\nTail\r\n")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (f"intro\n{BEGIN_MARKER}\nstuff\n", 2, "without a matching"),
        (f"{BEGIN_MARKER}\na\n{END_MARKER}\n\n{BEGIN_MARKER}\nb\n{END_MARKER}\n", 5, "a second"),
        (f"a\n{BEGIN_MARKER}\n{BEGIN_MARKER}\n{END_MARKER}\n", 3, "a second"),
        (f"text\n{END_MARKER}\n{BEGIN_MARKER}\n", 2, "without a '<!-- idse:begin' marker before it"),
    ],
)
def test_malformed_markers_are_refused_and_nothing_is_written(
    cli: Cli, ws: Workspace, snapshot: Any, text: str, line: int, needle: str
) -> None:
    path = ws.root / "CLAUDE.md"
    path.write_text(text, encoding="utf-8")
    before = snapshot(ws.root)
    result = cli("generate-agent-files")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"idse: error: CLAUDE.md:{line}: ")
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(ws.root) == before  # not even the other four files were created
    check = cli("generate-agent-files", "--check")
    assert check.exit_code == 2


def test_agent_files_config_selects_files(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ["GEMINI.md", ".cursor/rules/idse.mdc"])
    result = cli("generate-agent-files", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"written": ["GEMINI.md", ".cursor/rules/idse.mdc"], "unchanged": []}
    assert (ws.root / "GEMINI.md").is_file()
    assert not (ws.root / "CLAUDE.md").exists()
    assert not (ws.root / "AGENTS.md").exists()
    assert not (ws.root / ".github").exists()


def test_agent_files_config_empty_list_writes_nothing(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, [])
    result = cli("generate-agent-files", "--json")
    assert json.loads(result.stdout) == {"written": [], "unchanged": []}
    assert not (ws.root / "CLAUDE.md").exists()


def test_agent_files_config_unknown_file_is_bad_input(cli: Cli, ws: Workspace) -> None:
    set_agent_files(ws, ["CLAUDE.md", "NOTES.md"])
    result = cli("generate-agent-files")
    assert result.exit_code == 2
    assert "idse: error: .idse/config.yaml: agent_files: unknown file 'NOTES.md'" in result.stderr
    assert not (ws.root / "CLAUDE.md").exists()


def test_template_override_in_workspace(cli: Cli, ws: Workspace) -> None:
    override = ws.templates_dir / "agents" / "claude-code.md"
    override.parent.mkdir(parents=True)
    override.write_text("Custom for {{ agent.id }} in {{ session }}.\n", encoding="utf-8")
    cli("generate-agent-files")
    assert read(ws, "CLAUDE.md") == f"{BEGIN_MARKER}\nCustom for claude-code in <session>.\n{END_MARKER}\n"
    assert "IDSE instructions for coding agents" in read(ws, "AGENTS.md")
    plan = {o.rel: o for o in agent_file_plan(ws, ws.project("demo"))}
    assert plan["CLAUDE.md"].template == override
    assert plan["AGENTS.md"].template == package_templates_dir() / "agents" / "codex.md"


def test_check_is_zero_when_fresh_and_one_after_registry_change(
    cli: Cli, ws: Workspace, snapshot: Any
) -> None:
    missing = cli("generate-agent-files", "--check")
    assert missing.exit_code == 1
    assert not (ws.root / "CLAUDE.md").exists()
    cli("generate-agent-files")
    fresh = cli("generate-agent-files", "--check")
    assert fresh.exit_code == 0, fresh.stdout
    assert "up to date" in fresh.stdout
    assert cli("agents", "set-mode", "copilot", "implementation").exit_code == 0
    before = snapshot(ws.root)
    stale = cli("generate-agent-files", "--check")
    assert stale.exit_code == 1
    # Copilot's own file states its mode.
    assert "out of date  .github/copilot-instructions.md" in stale.stdout
    assert snapshot(ws.root) == before
    as_json = cli("generate-agent-files", "--check", "--json")
    assert as_json.exit_code == 1
    assert ".github/copilot-instructions.md" in json.loads(as_json.stdout)["out_of_date"]


def test_session_switch_leaves_agent_files_up_to_date(cli: Cli, ws: Workspace, snapshot: Any) -> None:
    cli("generate-agent-files")
    before = snapshot(ws.root)
    assert cli("session", "create", "feat").exit_code == 0
    assert cli("generate-agent-files", "--check").exit_code == 0
    assert cli("session", "switch", "__blueprint__").exit_code == 0
    assert cli("generate-agent-files", "--check").exit_code == 0
    cli("generate-agent-files")
    after = snapshot(ws.root)
    assert {rel: after[rel] for rel in DEFAULT} == {rel: before[rel] for rel in DEFAULT}


def test_symlinked_agent_file_is_refused(cli: Cli, ws: Workspace) -> None:
    (ws.root / "AGENTS.md").write_text("shared\n", encoding="utf-8")
    os.symlink("AGENTS.md", ws.root / "CLAUDE.md")
    result = cli("generate-agent-files")
    assert result.exit_code == 2
    assert "CLAUDE.md: is a symbolic link" in result.stderr
    assert (ws.root / "CLAUDE.md").is_symlink()
    assert read(ws, "AGENTS.md") == "shared\n"


def test_plan_exposes_paths_templates_and_content(ws: Workspace) -> None:
    set_agent_files(ws, ALL)
    plan = agent_file_plan(ws, ws.project("demo"))
    assert [o.rel for o in plan] == ALL
    for output in plan:
        assert output.path == ws.root / output.rel
        assert output.path.is_absolute()
        assert output.template.is_file()
        fresh = output.content(None)
        assert output.content(fresh) == fresh
        assert output.content("mine\n") == "mine\n\n" + output.block
    with pytest.raises(BadFile):
        plan[0].content(f"{BEGIN_MARKER}\n")


def test_unrouted_stage_is_shown_in_files(cli: Cli, ws: Workspace) -> None:
    registry = ws.project("demo").registry_path
    data = json.loads(registry.read_text(encoding="utf-8"))
    data["agents"] = [a for a in data["agents"] if a["id"] != "copilot"]
    registry.write_text(json.dumps(data), encoding="utf-8")
    cli("generate-agent-files")
    text = read(ws, "CLAUDE.md")
    assert "| feedback | `.idse/projects/demo/sessions/<session>/feedback/feedback.md` | unrouted |" in text
    assert "Unrouted stages (no agent lists them): feedback." in text


def test_shipped_templates_exist_for_every_kind() -> None:
    names = sorted(p.name for p in (package_templates_dir() / "agents").iterdir())
    assert names == ["claude-code.md", "codex.md", "copilot.md", "cursor.mdc", "gemini.md"]


def test_template_error_is_reported(cli: Cli, ws: Workspace) -> None:
    override = ws.templates_dir / "claude-code.md"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("{{ no_such_variable }}\n", encoding="utf-8")
    result = cli("generate-agent-files")
    assert result.exit_code == 2
    assert "template error" in result.stderr
    assert not Path(ws.root / "AGENTS.md").exists()

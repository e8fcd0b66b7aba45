"""The agents, compile and sync task families inside `idse build`."""

from __future__ import annotations

import json
from pathlib import Path

BLUEPRINT = "__blueprint__"
SPEC = f".idse/projects/demo/sessions/{BLUEPRINT}/specs/spec.md"
FILLED = """```yaml
id: demo-agent
name: Demo agent
description: Keeps the demo documents current.
goals:
  - Answer questions about the demo
inputs: []
outputs: []
tools: []
constraints: []
memory_policy: {}
runtime_hints: {}
version: "1.1.0"
```
"""


def build(cli, *args: str, code: int = 0) -> dict:
    result = cli("build", "--json", *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def ran(report: dict) -> set[str]:
    return {t["name"] for t in report["tasks"] if t["status"] == "ran"}


def fill_profile(root: Path) -> None:
    spec = root / SPEC
    text = spec.read_text()
    start = text.index("```yaml", text.index("## Agent Profile"))
    end = text.index("```", start + 7) + 3
    spec.write_text(text[:start] + FILLED.rstrip("\n") + text[end:])


def test_build_never_creates_agent_files_unasked(ws, cli, tmp_path):
    build(cli)
    assert not (tmp_path / "CLAUDE.md").exists()
    assert not (tmp_path / "AGENTS.md").exists()


def test_generated_agent_files_are_refreshed_only_when_an_input_changes(ws, cli, tmp_path):
    assert cli("generate-agent-files").exit_code == 0
    build(cli)
    claude = tmp_path / "CLAUDE.md"
    claude.write_text("My own notes.\n\n" + claude.read_text())
    assert ran(build(cli)) == set()
    before = claude.read_text()
    # The current session is not an input: committed agent files stay valid across switches.
    assert cli("session", "create", "feat").exit_code == 0
    assert not any(name.startswith("agents:") for name in ran(build(cli)))
    assert cli("agents", "set-mode", "claude-code", "implementation").exit_code == 0
    report = build(cli)
    assert "agents:CLAUDE.md" in ran(report)
    assert claude.read_text().startswith("My own notes.\n")
    assert claude.read_text() != before and "implementation** mode" in claude.read_text()
    assert cli("generate-agent-files", "--check").exit_code == 0


def test_configured_agent_files_are_created_by_the_build(ws, cli, tmp_path):
    config = tmp_path / ".idse/config.yaml"
    config.write_text(config.read_text() + "agent_files: [AGENTS.md]\n")
    report = build(cli)
    assert "agents:AGENTS.md" in ran(report)
    assert (tmp_path / "AGENTS.md").is_file()
    assert not (tmp_path / "CLAUDE.md").exists()


def test_profile_compiles_in_the_build_and_only_reruns_when_the_spec_changes(ws, cli, tmp_path):
    output = tmp_path / f".idse/projects/demo/build/agents/{BLUEPRINT}.profile.yaml"
    build(cli)
    assert not output.exists(), "an unfilled profile is not compiled"
    fill_profile(tmp_path)
    assert f"compile:{BLUEPRINT}" in ran(build(cli))
    assert "name: Demo agent" in output.read_text()
    first = output.read_bytes()
    assert ran(build(cli)) == set()
    assert cli("build", "--force").exit_code in (0, 1)
    assert output.read_bytes() == first, "same input, byte-identical output"


def test_sync_tasks_run_only_when_asked_and_only_for_changed_sessions(ws, cli, tmp_path):
    remote = tmp_path.parent / (tmp_path.name + "-remote")
    config = tmp_path / ".idse/config.yaml"
    config.write_text(config.read_text() + f"sync:\n  backend: filesystem\n  url: {remote}\n")
    assert cli("sync", "init").exit_code == 0
    assert not any(t["name"].startswith("sync:") for t in build(cli)["tasks"])
    assert ran(build(cli, "--sync")) == {f"sync:{BLUEPRINT}"}
    pushed = remote / f"projects/demo/sessions/{BLUEPRINT}/intents/intent.md"
    assert pushed.is_file()
    assert ran(build(cli, "--sync")) == set()
    intent = tmp_path / f".idse/projects/demo/sessions/{BLUEPRINT}/intents/intent.md"
    intent.write_text(intent.read_text() + "\nA local edit.\n")
    assert f"sync:{BLUEPRINT}" in ran(build(cli, "--sync"))
    assert pushed.read_text() == intent.read_text()

"""`idse compile agent-spec`: the Agent Profile block of spec.md compiled into an AgentProfileSpec."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from idse_orchestrator.agents.compiler import (
    ProfileBlock,
    ProfileError,
    ProfileProblem,
    compile_profile,
    extract_profile_block,
    profile_output_path,
    render_profile,
)
from idse_orchestrator.workspace import Workspace

Cli = Any  # the `cli` fixture of conftest.py
BP = "__blueprint__"

PROFILE = """\
id: reviewer
name: Code Reviewer
description: Reviews pull requests against the spec.
goals:
  - Catch regressions
  - Keep the spec and code in step
inputs: [pull request]
outputs: [review comments]
tools: [git]
constraints: [never push]
memory_policy:
  scope: session
  retention: {days: 7, max_items: 100}
runtime_hints:
  model: large
version: "1.2.0"
"""


def spec_path(ws: Workspace, session: str = BP) -> Path:
    return ws.projects_dir / "demo" / "sessions" / session / "specs" / "spec.md"


def rel_spec(session: str = BP) -> str:
    return f".idse/projects/demo/sessions/{session}/specs/spec.md"


def spec_text(profile: str | None, *, fence: str = "yaml") -> str:
    text = "# Specification\n\n## Overview\n\nSomething useful.\n\n"
    if profile is not None:
        text += f"## Agent Profile\n\nThe profile:\n\n```{fence}\n{profile}```\n\n"
    return text + "## Test Strategy\n\nUnit tests.\n"


def write_spec(ws: Workspace, profile: str | None, session: str = BP, **kw: Any) -> Path:
    path = spec_path(ws, session)
    path.write_text(spec_text(profile, **kw), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, start: int = 1) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def output(ws: Workspace, session: str = BP, fmt: str = "yaml") -> Path:
    return ws.projects_dir / "demo" / "build" / "agents" / f"{session}.profile.{fmt}"


def assert_compile_error(cli: Cli, line: int, needle: str, *args: str, session: str = BP) -> str:
    result = cli("compile", "agent-spec", *args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"idse: error: {rel_spec(session)}:{line}: "), lines[0]
    assert needle in lines[0], lines[0]
    assert "validation error" not in lines[0].lower()
    return lines[0]


# --- success ----------------------------------------------------------------------------------------


def test_compile_writes_profile_yaml(cli: Cli, ws: Workspace) -> None:
    write_spec(ws, PROFILE)
    result = cli("compile", "agent-spec")
    assert result.exit_code == 0, result.stderr
    out = output(ws)
    assert f"wrote      .idse/projects/demo/build/agents/{BP}.profile.yaml" in result.stdout
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["id"] == "reviewer"
    assert data["name"] == "Code Reviewer"
    assert data["goals"] == ["Catch regressions", "Keep the spec and code in step"]
    assert data["memory_policy"] == {"retention": {"days": 7, "max_items": 100}, "scope": "session"}
    assert data["version"] == "1.2.0"
    assert data["source_session"] == BP
    assert data["source_blueprint"] is None
    assert len(data["source_sha256"]) == 64
    assert list(data)[:4] == ["id", "name", "description", "version"]


def test_compile_is_deterministic_and_rerun_untouched(cli: Cli, ws: Workspace) -> None:
    write_spec(ws, PROFILE)
    cli("compile", "agent-spec")
    out = output(ws)
    first = out.read_bytes()
    mtime = out.stat().st_mtime_ns
    again = cli("compile", "agent-spec")
    assert again.exit_code == 0
    assert "unchanged" in again.stdout
    assert out.stat().st_mtime_ns == mtime
    out.unlink()
    cli("compile", "agent-spec")
    assert out.read_bytes() == first
    assert not re.search(rb"\d{4}-\d{2}-\d{2}", first)  # no dates or timestamps


def test_nested_key_order_does_not_change_output(ws: Workspace) -> None:
    project = ws.project("demo")
    write_spec(ws, PROFILE)
    first = render_profile(compile_profile(ws, project, BP).spec, "yaml")
    reordered = PROFILE.replace("  scope: session\n  retention: {days: 7, max_items: 100}\n", "")
    reordered = reordered.replace(
        "memory_policy:\n", "memory_policy:\n  retention: {max_items: 100, days: 7}\n  scope: session\n"
    )
    write_spec(ws, reordered)
    second = render_profile(compile_profile(ws, project, BP).spec, "yaml")
    strip = [line for line in first.splitlines() if not line.startswith("source_sha256")]
    assert strip == [line for line in second.splitlines() if not line.startswith("source_sha256")]


def test_format_json(cli: Cli, ws: Workspace) -> None:
    write_spec(ws, PROFILE)
    result = cli("compile", "agent-spec", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(output(ws, fmt="json").read_text(encoding="utf-8"))
    assert data["tools"] == ["git"]
    assert not output(ws).exists()
    spec = compile_profile(ws, ws.project("demo"), BP).spec
    assert output(ws, fmt="json").read_text(encoding="utf-8") == render_profile(spec, "json")


def test_out_directory(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    write_spec(ws, PROFILE)
    result = cli("compile", "agent-spec", "--out", "dist/profiles")
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "dist" / "profiles" / f"{BP}.profile.yaml"
    assert written.is_file()
    assert "dist/profiles/__blueprint__.profile.yaml" in result.stdout
    assert not output(ws).exists()


def test_dry_run_prints_and_writes_nothing(cli: Cli, ws: Workspace, snapshot: Any) -> None:
    write_spec(ws, PROFILE)
    before = snapshot(ws.root)
    result = cli("compile", "agent-spec", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert snapshot(ws.root) == before
    assert result.stdout == render_profile(compile_profile(ws, ws.project("demo"), BP).spec, "yaml")
    as_json = cli("compile", "agent-spec", "--dry-run", "--format", "json")
    assert json.loads(as_json.stdout)["id"] == "reviewer"


def test_session_option_and_output_path(cli: Cli, ws: Workspace) -> None:
    assert cli("session", "create", "feat").exit_code == 0
    cli("session", "switch", BP)
    write_spec(ws, PROFILE, session="feat")
    write_spec(ws, None)
    result = cli("compile", "agent-spec", "--session", "feat")
    assert result.exit_code == 0, result.stderr
    assert output(ws, "feat").is_file()
    assert profile_output_path(ws.project("demo"), "feat", "json") == output(ws, "feat", "json")


def test_compile_profile_reports_inputs(ws: Workspace, cli: Cli) -> None:
    cli("session", "create", "feat")
    write_spec(ws, PROFILE, session="feat")
    write_spec(ws, None)
    project = ws.project("demo")
    compiled = compile_profile(ws, project, "feat")
    assert compiled.inputs == [spec_path(ws, "feat"), spec_path(ws, BP)]
    assert compiled.spec.source_session == "feat"
    assert compiled.spec.source_blueprint is None


# --- blueprint defaults -------------------------------------------------------------------------------

BLUEPRINT_PROFILE = """\
id: base
name: Base agent
description: Shared defaults.
goals: [g1, g2]
tools: [git, make]
memory_policy:
  scope: project
  nested: {x: 1, y: 2}
runtime_hints: {model: small, timeout: 30}
version: "1.1.0"
"""

SESSION_PROFILE = """\
id: feat-agent
name: Feature agent
goals: [s1]
memory_policy:
  extra: true
  nested: {y: 3}
runtime_hints: {model: large}
version: "2.0.0"
"""


@pytest.fixture
def feat(cli: Cli, ws: Workspace) -> str:
    assert cli("session", "create", "feat").exit_code == 0
    return "feat"


def test_blueprint_merge_mappings_merge_lists_and_scalars_replace(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, BLUEPRINT_PROFILE)
    write_spec(ws, SESSION_PROFILE, session=feat)
    result = cli("compile", "agent-spec")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(output(ws, feat).read_text(encoding="utf-8"))
    assert data["id"] == "feat-agent"
    assert data["name"] == "Feature agent"
    assert data["description"] == "Shared defaults."
    assert data["goals"] == ["s1"]
    assert data["tools"] == ["git", "make"]
    assert data["memory_policy"] == {"extra": True, "nested": {"x": 1, "y": 3}, "scope": "project"}
    assert data["runtime_hints"] == {"model": "large", "timeout": 30}
    assert data["version"] == "2.0.0"
    assert data["source_session"] == feat
    assert data["source_blueprint"] == BP


def test_session_without_profile_inherits_blueprint(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, BLUEPRINT_PROFILE)
    write_spec(ws, None, session=feat)
    assert cli("compile", "agent-spec").exit_code == 0
    data = yaml.safe_load(output(ws, feat).read_text(encoding="utf-8"))
    assert data["id"] == "base"
    assert data["source_session"] == feat
    assert data["source_blueprint"] == BP


def test_blueprint_without_profile_is_fine(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, None)
    write_spec(ws, SESSION_PROFILE, session=feat)
    assert cli("compile", "agent-spec").exit_code == 0
    data = yaml.safe_load(output(ws, feat).read_text(encoding="utf-8"))
    assert data["goals"] == ["s1"]
    assert data["tools"] == []
    assert data["source_blueprint"] is None


def test_both_absent_is_an_error(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, None)
    write_spec(ws, None, session=feat)
    line = assert_compile_error(cli, 1, "has no '## Agent Profile' section", session=feat)
    assert "neither does the blueprint" in line


def test_blueprint_placeholders_on_overridden_keys_do_not_matter(cli: Cli, ws: Workspace, feat: str) -> None:
    # The freshly initialised blueprint still has [REQUIRES INPUT] in name, description and goals.
    write_spec(ws, "id: feat\nname: Feature\ndescription: Done.\ngoals: [ship]\n", session=feat)
    result = cli("compile", "agent-spec")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(output(ws, feat).read_text(encoding="utf-8"))
    assert data["version"] == "0.1.0"
    assert data["id"] == "feat"


def test_blueprint_placeholder_on_inherited_key_points_at_blueprint(
    cli: Cli, ws: Workspace, feat: str
) -> None:
    write_spec(ws, "id: feat\nname: Feature\n", session=feat)
    blueprint = spec_path(ws)
    line = line_of(blueprint, 'description: "[REQUIRES INPUT]"')
    assert_compile_error(cli, line, "still has [REQUIRES INPUT] in description, goals", session=BP)


def test_blueprint_errors_point_at_blueprint(cli: Cli, ws: Workspace, feat: str) -> None:
    path = write_spec(ws, "id: base\nname: Base\nmystery: 1\n")
    write_spec(ws, SESSION_PROFILE, session=feat)
    assert_compile_error(cli, line_of(path, "mystery:"), "unknown key 'mystery'", session=BP)


def test_missing_name_after_merge(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, None)
    path = write_spec(ws, "id: feat\ngoals: [x]\n", session=feat)
    assert_compile_error(
        cli, line_of(path, "```yaml"), "the Agent Profile has no 'name' (required)", session=feat
    )


# --- errors with their lines ----------------------------------------------------------------------------


def test_fresh_spec_asks_to_fill_in_the_profile(cli: Cli, ws: Workspace) -> None:
    path = spec_path(ws)
    line = line_of(path, 'name: "[REQUIRES INPUT]"')
    message = assert_compile_error(
        cli, line, "the Agent Profile still has [REQUIRES INPUT] in name, description, goals"
    )
    assert "fill in the Agent Profile" in message
    assert not output(ws).exists()


def test_fresh_feature_session_suggests_inheriting(cli: Cli, ws: Workspace, feat: str) -> None:
    line = line_of(spec_path(ws, feat), 'name: "[REQUIRES INPUT]"')
    message = assert_compile_error(cli, line, "fill in the Agent Profile", session=feat)
    assert "inherit them from the blueprint" in message


def test_no_section(cli: Cli, ws: Workspace) -> None:
    write_spec(ws, None)
    assert_compile_error(cli, 1, "has no '## Agent Profile' section")


def test_no_yaml_block(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, '{"id": "x"}\n', fence="json")
    assert_compile_error(cli, line_of(path, "## Agent Profile"), "has no ```yaml block")


def test_yaml_block_outside_the_section_does_not_count(cli: Cli, ws: Workspace) -> None:
    path = spec_path(ws)
    path.write_text(
        "# Spec\n\n## Agent Profile\n\nTo do.\n\n## Notes\n\n```yaml\nid: x\nname: y\n```\n", encoding="utf-8"
    )
    assert_compile_error(cli, 3, "has no ```yaml block")


def test_first_yaml_block_of_the_section_wins(ws: Workspace) -> None:
    text = "## Agent Profile\n\n```yaml\nid: first\nname: First\n```\n\n```yaml\nid: second\n```\n"
    block = extract_profile_block(text)
    assert isinstance(block, ProfileBlock)
    assert block.data["id"] == "first"
    assert block.line == 3
    assert block.content_line == 4
    assert block.key_lines == {"id": 4, "name": 5}


def test_yaml_syntax_error_line_is_a_file_line(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\n  bad: indent\n")
    assert_compile_error(
        cli, line_of(path, "  bad: indent"), "YAML syntax error: mapping values are not allowed"
    )


def test_wrong_type_points_at_key(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\ndescription: ok\ngoals: 5\n")
    assert_compile_error(
        cli, line_of(path, "goals: 5"), "'goals': input should be a valid list (got a number)"
    )


def test_wrong_item_type_points_at_item(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\ntools:\n  - git\n  - {name: make}\n")
    assert_compile_error(cli, line_of(path, "- {name: make}"), "'tools.1': input should be a valid string")


def test_unquoted_version_hint(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\nversion: 1.0\n")
    assert_compile_error(cli, line_of(path, "version: 1.0"), "put it in quotes")


def test_placeholder_line(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, 'id: x\nname: y\nruntime_hints:\n  model: small\n  region: "[REQUIRES INPUT]"\n')
    assert_compile_error(cli, line_of(path, "region:"), "[REQUIRES INPUT] in runtime_hints")


def test_unknown_key_is_named(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\nskills: [a]\n")
    message = assert_compile_error(cli, line_of(path, "skills:"), "unknown key 'skills'")
    assert "allowed: id, name, description" in message


def test_provenance_keys_are_refused(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\nsource_session: other\n")
    assert_compile_error(
        cli, line_of(path, "source_session"), "'source_session' is set by 'idse compile agent-spec'"
    )


def test_not_a_mapping(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "- id\n- name\n")
    assert_compile_error(cli, line_of(path, "- id"), "must be a YAML mapping")


def test_empty_block(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "# nothing yet\n")
    assert_compile_error(cli, line_of(path, "```yaml"), "YAML block is empty")


def test_bad_id(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: has space\nname: y\n")
    assert_compile_error(cli, line_of(path, "id: has space"), "'id' must be a slug")


def test_duplicate_key(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\ngoals: [a]\ngoals: [b]\n")
    first = line_of(path, "goals: [a]")
    assert_compile_error(cli, line_of(path, "goals: [b]"), f"duplicate key 'goals' (first on line {first})")


def test_several_problems_are_counted(cli: Cli, ws: Workspace) -> None:
    path = write_spec(ws, "id: x\nname: y\nfoo: 1\nbar: 2\n")
    message = assert_compile_error(cli, line_of(path, "foo:"), "unknown key 'foo'")
    assert message.endswith("(and 1 more problem)")


def test_alias_bomb_is_refused(cli: Cli, ws: Workspace) -> None:
    bomb = "id: x\nname: y\nruntime_hints:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in (("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")):
        bomb += f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    path = write_spec(ws, bomb)
    assert_compile_error(cli, line_of(path, "  e: &e"), "expand to more than")


def test_extract_problems_are_pure_data() -> None:
    text = "# S\n\n## Agent Profile\n\n```yaml\nid: x\nname: '[REQUIRES INPUT]'\ngoals: 5\nextra: 1\n```\n"
    result = extract_profile_block(text)
    assert isinstance(result, ProfileProblem)
    assert [(p.line, p.code, p.key) for p in result.problems] == [
        (7, "placeholder", "name"),
        (9, "unknown-key", "extra"),
    ]
    assert not result.absent
    assert isinstance(extract_profile_block("# no profile\n"), ProfileProblem)
    assert extract_profile_block("# no profile\n").absent  # type: ignore[union-attr]


def test_error_is_failed_exit_one(ws: Workspace) -> None:
    with pytest.raises(ProfileError) as info:
        compile_profile(ws, ws.project("demo"), BP)
    assert info.value.exit_code == 1
    assert info.value.path == rel_spec()
    assert info.value.line == line_of(spec_path(ws), 'name: "[REQUIRES INPUT]"')


def test_source_hash_tracks_the_block_only(ws: Workspace) -> None:
    project = ws.project("demo")
    write_spec(ws, PROFILE)
    first = compile_profile(ws, project, BP).spec.source_sha256
    spec_path(ws).write_text(
        spec_text(PROFILE).replace("Something useful.", "Changed prose."), encoding="utf-8"
    )
    assert compile_profile(ws, project, BP).spec.source_sha256 == first
    write_spec(ws, PROFILE.replace("tools: [git]", "tools: [git, make]"))
    assert compile_profile(ws, project, BP).spec.source_sha256 != first


# --- --all ------------------------------------------------------------------------------------------------


def test_all_compiles_every_session_with_a_profile(cli: Cli, ws: Workspace, feat: str) -> None:
    cli("session", "create", "other")
    write_spec(ws, BLUEPRINT_PROFILE)
    write_spec(ws, SESSION_PROFILE, session=feat)
    write_spec(ws, None, session="other")
    result = cli("compile", "agent-spec", "--all", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert output(ws, BP, "json").is_file()
    assert output(ws, feat, "json").is_file()
    assert not output(ws, "other", "json").exists()


def test_all_reports_failures_and_compiles_the_rest(cli: Cli, ws: Workspace, feat: str) -> None:
    # The blueprint keeps its fresh placeholders; the feature overrides all of them.
    write_spec(ws, "id: feat\nname: Feature\ndescription: d\ngoals: [g]\n", session=feat)
    result = cli("compile", "agent-spec", "--all")
    assert result.exit_code == 1
    assert output(ws, feat).is_file()
    assert not output(ws).exists()
    assert f"{rel_spec()}:" in result.stderr
    assert "1 of 2 agent profiles failed to compile" in result.stderr


def test_all_dry_run_yaml_is_multi_document(cli: Cli, ws: Workspace, feat: str) -> None:
    write_spec(ws, BLUEPRINT_PROFILE)
    write_spec(ws, SESSION_PROFILE, session=feat)
    result = cli("compile", "agent-spec", "--all", "--dry-run")
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["source_session"] for d in docs] == [BP, feat]
    as_json = cli("compile", "agent-spec", "--all", "--dry-run", "--format", "json")
    assert [d["id"] for d in json.loads(as_json.stdout)] == ["base", "feat-agent"]


def test_all_and_session_exclude_each_other(cli: Cli, ws: Workspace) -> None:
    result = cli("compile", "agent-spec", "--all", "--session", BP)
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr


def test_unknown_session_is_usage_error(cli: Cli, ws: Workspace) -> None:
    result = cli("compile", "agent-spec", "--session", "nope")
    assert result.exit_code == 2

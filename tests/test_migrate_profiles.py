"""Agent Profile blocks of idse-orchestrator 0.1, rewritten by lines: every byte kept, same data."""

from __future__ import annotations

import pytest
import yaml

from idse_orchestrator.agents.extract import ProfileBlock, extract_profile_block
from idse_orchestrator.migrate_profiles import CannotRewrite, rewrite_profile
from idse_orchestrator.stages import BY_NAME


def spec(block: str, fence: str = "```yaml") -> str:
    return f"# Spec\n\n## Overview\n\nText.\n\n## Agent Profile\n\n{fence}\n{block}```\n\nAfter the block.\n"


def block_data(text: str) -> dict:
    found = extract_profile_block(text)
    assert isinstance(found, ProfileBlock), found
    return found.data


def test_keys_are_commented_or_moved_and_the_profile_compiles():
    before = spec(
        "# kept comment\n"
        "id: a\n"
        "name: A\n"
        "description: ~\n"
        "source_session: a\n"
        "source_blueprint: __blueprint__\n"
        "notes: |\n  one\n\n  three\n"
        "goals:\n  - g\n"
        "persona: {tone: warm}\n"
    )
    rewrite = rewrite_profile(before)
    assert rewrite is not None
    assert rewrite.commented == ("description", "source_session", "source_blueprint")
    assert rewrite.moved == ("notes", "persona")
    assert block_data(rewrite.text) == {
        "id": "a",
        "name": "A",
        "goals": ["g"],
        "extensions": {"notes": "one\n\nthree\n", "persona": {"tone": "warm"}},
    }
    # Every line of the user survives: as it was, commented, or indented under extensions.
    for line in before.splitlines():
        assert any(line.strip() in after for after in rewrite.text.splitlines()), line
    assert rewrite.text.startswith(before.split("```yaml")[0]) and rewrite.text.endswith(
        "```\n\nAfter the block.\n"
    )
    # One explanation for the provenance keys that follow each other.
    assert rewrite.text.count("idse sets these keys when compiling") == 1
    assert rewrite_profile(rewrite.text) is None  # done once


@pytest.mark.parametrize(
    "block",
    [
        "id: a\nname: A\n",
        "id: a\nname: A\ndescription: null-ish\n",
        "id: [unclosed\n",
        "- a list\n",
    ],
)
def test_nothing_to_do(block):
    assert rewrite_profile(spec(block)) is None
    assert rewrite_profile("# Spec\n\nNo profile.\n") is None


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ("{id: a, name: A, source_session: a}\n", "one key per line"),
        ("id: a\nname: A\nextensions: {x: 1}\npersona: {}\n", "already has 'extensions'"),
        ("id: a\nname: A\nanchor: &x 1\ngoals: [*x]\npersona: *x\nlate: &y 2\nother: *y\n", None),
    ],
)
def test_a_block_that_cannot_be_rewritten_safely_is_left_alone(block, why):
    text = spec(block)
    try:
        rewrite = rewrite_profile(text)
    except CannotRewrite as exc:
        assert why is None or why in str(exc)
        return
    # Or it is rewritten and holds exactly the same data.
    assert why is None and rewrite is not None
    before = yaml.safe_load(block)
    after = yaml.safe_load(rewrite.text.split("```yaml\n")[1].split("```")[0])
    moved = {k: before.pop(k) for k in rewrite.moved}
    assert after == {**before, "extensions": moved}


def test_a_block_indented_in_a_list_is_left_alone():
    text = "## Agent Profile\n\n- item\n\n  ```yaml\n  id: a\n  source_session: a\n  ```\n"
    with pytest.raises(CannotRewrite, match="indented"):
        rewrite_profile(text)


def test_crlf_line_endings_are_kept():
    text = spec("id: a\nname: A\nsource_session: a\n").replace("\n", "\r\n")
    rewrite = rewrite_profile(text)
    assert rewrite is not None
    assert "\n" not in rewrite.text.replace("\r\n", "")
    assert "# source_session: a\r\n" in rewrite.text


def test_compiled_output_lists_extensions_only_when_there_are_some(cli, ws):
    from conftest import BLUEPRINT, PROJECT

    path = ws.project(PROJECT).document_path(BLUEPRINT, BY_NAME["spec"])
    text = path.read_text(encoding="utf-8")
    head = text.split("## Agent Profile")[0]
    path.write_text(head + "## Agent Profile\n\n```yaml\nid: a\nname: A\n```\n", encoding="utf-8")
    result = cli("compile", "agent-spec", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "extensions" not in result.stdout
    path.write_text(head + "## Agent Profile\n\n```yaml\nid: a\nname: A\nextensions: {z: 1, a: [2]}\n```\n")
    result = cli("compile", "agent-spec", "--dry-run", "--format", "yaml")
    assert result.exit_code == 0, result.stderr
    assert "extensions:\n  a:\n  - 2\n  z: 1\nsource_session:" in result.stdout

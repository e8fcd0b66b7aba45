"""LibYAML where it is faster and gives the same result as the pure-Python YAML code (the oracle):
compiled profiles are written byte for byte alike, and an Agent Profile block gets the same data,
problems and problem lines whichever composer looked at it first."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idse_orchestrator.agents import compiler, extract

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without LibYAML")

WORD = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
PIECE = st.one_of(
    WORD, st.sampled_from([" ", "- ", ": ", " #", "'", '"', "?", "{", "[REQUIRES INPUT]", "é", "\t", "\n"])
)
TEXT = st.lists(PIECE, max_size=30).map(" ".join)
VALUES = st.recursive(
    st.one_of(TEXT, st.integers(), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORD, inner, max_size=3),
    max_leaves=12,
)


def pure_dump(data: Any) -> str:
    return str(yaml.safe_dump(data, **compiler._DUMP_OPTIONS))


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(data=st.dictionaries(WORD, VALUES, max_size=5))
@example(data={"runtime_hints": {"": "x"}})  # LibYAML writes an empty key as '': , PyYAML as ? ''
@example(data={"description": "word " * 40})  # folded at the width alike
def test_profiles_are_dumped_as_the_pure_emitter_dumps_them(data: dict[str, Any]) -> None:
    assert compiler.dump_yaml(data) == pure_dump(data)


def test_plain_data_takes_libyaml_and_the_rest_does_not() -> None:
    assert compiler._plain({"id": "a", "goals": ["x y"], "n": 1, "hints": {"k": None}})
    assert not compiler._plain({"": "x"})
    assert not compiler._plain({"d": "line\nbreak"})
    assert not compiler._plain({"d": "café"})
    assert not compiler._plain({"d": 1.5})


LINES = st.lists(
    st.sampled_from(
        [
            "id: agent",
            "id: agent",  # a duplicate key now and then
            "name: Agent",
            "description:",
            "description: ''",
            "goals:",
            "  - keep docs current",
            "  - [REQUIRES INPUT]",
            "  -",
            "inputs: []",
            "tools: [a, b]",
            "tools: 3",
            "memory_policy: {}",
            "memory_policy:",
            "  scope: session",
            "runtime_hints: {}",
            "version: '1.0.0'",
            "version: 1.0",
            "source_session: x",
            "unknown_key: 1",
            "constraints: [REQUIRES INPUT]",
            "# a comment",
            "",
        ]
    ),
    min_size=1,
    max_size=10,
).map("\n".join)


def spec_with(block: str) -> str:
    return f"# Spec\n\n## Agent Profile\n\n```yaml\n{block}\n```\n"


def pure_extract(text: str) -> Any:
    """The extraction with the pure composer only (LibYAML's composer hidden)."""
    original = yaml.CSafeLoader
    try:
        del yaml.CSafeLoader
        return extract._extract.__wrapped__(text)
    finally:
        yaml.CSafeLoader = original


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(block=LINES)
def test_a_profile_block_reads_alike_with_either_composer(block: str) -> None:
    from idse_orchestrator import yamlsafe

    text = spec_with(block)
    yamlsafe._PARSED.clear()
    fast = extract._extract.__wrapped__(text)
    yamlsafe._PARSED.clear()
    assert fast == pure_extract(text)
    found = fast.block if isinstance(fast, extract.ProfileProblem) else fast
    if found is not None:  # the lines compile errors are placed at, worked out when asked
        pure = yaml.compose(found.content, Loader=yaml.SafeLoader)
        assert found.key_lines == {
            str(k.value): found.content_line + k.start_mark.line for k, _ in pure.value
        }

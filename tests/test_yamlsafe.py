"""Bounded YAML loading: LibYAML's fast path gives what the bounded pure-Python loader gives (the
oracle), the limits still hold, and a cached parse cannot be changed by a caller."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idse_orchestrator import yamlsafe
from idse_orchestrator.yamlsafe import YamlError, safe_load

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without LibYAML")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="&*"), max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text("abcxyz_-", min_size=1, max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# YAML-ish text, valid or not: fragments people type in an Agent Profile block.
FRAGMENTS = st.lists(
    st.sampled_from(
        [
            "id: a",
            "name: b",
            "- x",
            "  - y",
            "goals:",
            "  k: v",
            "tools: [a, b",
            "]",
            "{a: 1}",
            ": :",
            "'q",
            '"q"',
            "yes",
            "on",
            "0x1F",
            "1e3",
            "~",
            "2024-01-01",
            "|",
            "  text",
            "# c",
            "\t",
            "key: 'it''s'",
            "---",
            "...",
        ]
    ),
    max_size=8,
).map("\n".join)


def pure(text: str) -> Any:
    yamlsafe._PARSED.clear()
    original = yamlsafe._fast_load
    yamlsafe._fast_load = lambda _text: yamlsafe._DECLINED  # type: ignore[assignment]
    try:
        return ("ok", safe_load(text))
    except YamlError as exc:
        return ("error", str(exc))
    finally:
        yamlsafe._fast_load = original  # type: ignore[assignment]


def fast(text: str) -> Any:
    yamlsafe._PARSED.clear()
    try:
        return ("ok", safe_load(text))
    except YamlError as exc:
        return ("error", str(exc))


@settings(max_examples=300, deadline=None)
@given(data=VALUES)
def test_dumped_values_load_alike(data: Any) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    if "&" in text or "*" in text:
        return
    assert fast(text) == pure(text)


@settings(max_examples=2000, deadline=None)
@given(text=FRAGMENTS)
@example(text="yes\n\t")  # found by this test: LibYAML accepts the tab, the pure loader does not
def test_typed_fragments_load_or_fail_alike(text: str) -> None:
    assert fast(text) == pure(text)


def test_aliases_take_the_bounded_path() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    with pytest.raises(YamlError, match="aliases"):
        safe_load(bomb)


def test_a_cached_result_is_a_copy() -> None:
    first = safe_load("tools: [a, b]\n")
    first["tools"].append("mine")
    assert safe_load("tools: [a, b]\n") == {"tools": ["a", "b"]}

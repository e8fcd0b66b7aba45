"""The document parser's shortcuts (its own line-ending normalisation, silenced rule loggers) give
exactly the block tokens markdown-it's full pipeline gives: checked against a stock parser on random
documents built from the constructs that decide block structure, with every kind of line ending."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from idse_orchestrator import markdown  # noqa: E402

PIECES = [
    "# Title",
    "## Section",
    "### Sub",
    "Setext heading",
    "===",
    "---",
    "- item",
    "  - nested",
    "1. first",
    "* * *",
    "> quoted",
    "> # quoted heading",
    "```yaml",
    "```",
    "~~~",
    "    indented code",
    "<!-- guidance -->",
    "<div>",
    "[ref]: /url",
    "plain text with `code` and [REQUIRES INPUT]",
    "",
    "\t- tabbed item",
    "é ünïcode",
]
LINES = st.lists(st.sampled_from(PIECES), max_size=30)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def stock_tokens(text: str) -> list[tuple[object, ...]]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").disable(["inline", "text_join"]).parse(text)
    return [(t.type, t.tag, t.map, t.info, t.content, t.nesting, t.level, t.markup) for t in tokens]


def our_tokens(text: str) -> list[tuple[object, ...]]:
    tokens = markdown._parser().parse(markdown._normalized(text))
    return [(t.type, t.tag, t.map, t.info, t.content, t.nesting, t.level, t.markup) for t in tokens]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=LINES, endings=st.lists(ENDINGS, min_size=1, max_size=3), last=st.booleans())
def test_same_block_tokens_as_markdown_it(lines, endings, last):
    text = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    if not last and text:
        text = text.rstrip("\r\n")
    assert our_tokens(text) == stock_tokens(text)


def test_line_endings_do_not_change_the_structure():
    unix = "# T\n\n## Section\n\n```yaml\na: 1\n```\n\n- x\n"
    for ending in ("\r\n", "\r"):
        other = markdown._parse.__wrapped__(unix.replace("\n", ending))
        same = markdown._parse.__wrapped__(unix)
        assert other.headings == same.headings and other.fences == same.fences
        assert other.list_items == same.list_items

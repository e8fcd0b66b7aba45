"""Markdown structure via markdown-it-py: headings, sections, fenced blocks and code-free text.

Line numbers are 1-based and point at the real line in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from idse_orchestrator.stages import MARKER


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int


@dataclass(frozen=True)
class Fence:
    info: str
    start: int  # line of the opening fence
    end: int  # last line of the block (closing fence, or end of file when unclosed)
    content: str
    content_line: int  # line of the first content line


@dataclass(frozen=True)
class Section:
    heading: Heading
    start: int  # heading line
    end: int  # last line of the section (before the next heading of the same or higher level)


@dataclass
class Structure:
    lines: list[str]
    headings: list[Heading] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)
    code_lines: set[int] = field(default_factory=set)
    comment_lines: set[int] = field(default_factory=set)  # HTML blocks: guidance, not content
    list_items: list[tuple[int, str]] = field(
        default_factory=list
    )  # (line, raw first line) of top-level items
    _index: dict[int, dict[str, Section]] = field(default_factory=dict, repr=False)

    def sections(self, level: int | None = None) -> list[Section]:
        out = []
        last = len(self.lines)
        for i, h in enumerate(self.headings):
            if level is not None and h.level != level:
                continue
            end = last
            for nxt in self.headings[i + 1 :]:
                if nxt.level <= h.level:
                    end = nxt.line - 1
                    break
            out.append(Section(h, h.line, end))
        return out

    def section(self, title: str, level: int = 2) -> Section | None:
        index = self._index.get(level)
        if index is None:
            index = {}
            for sec in self.sections(level):
                index.setdefault(normalize_title(sec.heading.title), sec)
            self._index[level] = index
        return index.get(normalize_title(title))

    def has_content(self, sec: Section) -> bool:
        """True when the section holds anything but blank lines and HTML comments."""
        for lineno in range(sec.start + 1, sec.end + 1):
            if lineno not in self.comment_lines and self.lines[lineno - 1].strip():
                return True
        return False

    def items_in(self, sec: Section) -> list[tuple[int, str]]:
        return [(ln, raw) for ln, raw in self.list_items if sec.start < ln <= sec.end]

    def fences_in(self, sec: Section) -> list[Fence]:
        return [f for f in self.fences if sec.start < f.start <= sec.end]


def normalize_title(title: str) -> str:
    return " ".join(title.strip().strip("#").split()).casefold()


class _Silent:
    """A logger whose ``debug`` accepts any arguments and does nothing, at C speed."""

    debug = "".format


@lru_cache(maxsize=1)
def _parser():  # type: ignore[no-untyped-def]
    import logging

    from markdown_it import MarkdownIt

    # markdown-it logs the entry into every block rule at debug level, about 250 calls for a
    # document of a few KB: with the logger disabled each call still costs a lookup and two Python
    # calls, a tenth of the parse. The rule modules' loggers are replaced by one that does nothing.
    logging.getLogger("markdown_it").disabled = True
    _silence_block_rules()
    # Only block structure is used (headings' raw text, fences, lists, HTML blocks): skipping the
    # inline pass makes parsing about a fifth cheaper on typical documents. Line endings are
    # normalised by ``_parse`` itself (see there), so markdown-it's regex pass is skipped too.
    return MarkdownIt("commonmark").disable(["normalize", "inline", "text_join"])


def _silence_block_rules() -> None:
    import importlib
    import logging
    import pkgutil

    import markdown_it.rules_block as rules

    for info in pkgutil.iter_modules(rules.__path__):
        module = importlib.import_module(f"{rules.__name__}.{info.name}")
        if isinstance(getattr(module, "LOGGER", None), logging.Logger):
            module.LOGGER = _Silent()  # type: ignore[attr-defined]


def _normalized(text: str) -> str:
    """What markdown-it's ``normalize`` rule makes of ``text`` (CommonMark line endings, no NUL),
    by plain replacement: its regex substitutes every single newline, a few percent of a parse."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    return text


def parse(text: str) -> Structure:
    """The block structure of ``text``. Callers treat it as read-only: the same text (a spec read by
    its validation, its session check and its profile compile in one build) is parsed once."""
    return _parse(text)


@lru_cache(maxsize=32)
def _parse(text: str) -> Structure:
    tokens = _parser().parse(_normalized(text))
    st = Structure(lines=text.splitlines())
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif tok.type == "list_item_open" and depth == 1 and tok.map:
            line = tok.map[0] + 1
            st.list_items.append((line, st.lines[line - 1] if line <= len(st.lines) else ""))
        elif tok.type == "heading_open" and tok.map:
            inline = tokens[i + 1]
            st.headings.append(Heading(int(tok.tag[1:]), inline.content.strip(), tok.map[0] + 1))
        elif tok.type in ("fence", "code_block") and tok.map:
            start, end = tok.map[0] + 1, tok.map[1]
            st.code_lines.update(range(start, end + 1))
            if tok.type == "fence":
                st.fences.append(Fence(tok.info.strip(), start, end, tok.content, start + 1))
        elif tok.type == "html_block" and tok.map:
            # HTML comments hold guidance for authors, not content.
            st.comment_lines.update(range(tok.map[0] + 1, tok.map[1] + 1))
    return st


_BACKTICKS = re.compile(r"`+")


def code_span_ranges(line: str) -> list[tuple[int, int]]:
    """Column ranges [start, end) of inline code spans on one line (CommonMark backtick matching).

    A backslash before a backtick run outside a span escapes its first backtick.
    """
    ranges = []
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        if start > 0 and line[start - 1] == "\\":
            start += 1
            if start == end:
                i += 1
                continue
        length = end - start
        for j in range(i + 1, len(runs)):
            if runs[j][1] - runs[j][0] == length:
                ranges.append((start, runs[j][1]))
                i = j
                break
        i += 1
    return ranges


_HTML_COMMENT = re.compile(r"<!--.*?-->")


def find_markers(st: Structure, marker: str = MARKER) -> list[tuple[int, int]]:
    """(line, column) of every marker outside fenced blocks, indented code, HTML comments and code spans."""
    found = []
    for lineno, line in enumerate(st.lines, start=1):
        if marker not in line or lineno in st.code_lines or lineno in st.comment_lines:
            continue
        spans = code_span_ranges(line) if "`" in line else []
        if "<!--" in line:
            spans += [(m.start(), m.end()) for m in _HTML_COMMENT.finditer(line)]
        col = line.find(marker)
        while col != -1:
            if not any(a <= col < b for a, b in spans):
                found.append((lineno, col + 1))
            col = line.find(marker, col + 1)
    return found


def has_marker(text: str) -> bool:
    """True when a marker appears outside code. Cheap when there is no marker at all."""
    if MARKER not in text:
        return False
    return bool(find_markers(parse(text)))

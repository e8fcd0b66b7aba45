"""How an artifact is laid out in Notion: its page's properties and the code blocks holding its text.

The exact Markdown is cut into rich-text segments of at most 2,000 characters (counted in UTF-16
units, as Notion counts), at most 100 segments per code block and ``BLOCK_BYTES`` of JSON, the
blocks sent at most 100 per request and ``REQUEST_BYTES`` of JSON (Notion: 500 KB per request).
Blocks are never nested. Each block's caption names its write and position, ``idse <writer> <i>/<n>``,
so a reader takes exactly the blocks of the page's current writer, in order, and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

SEGMENT = 2000  # characters per rich-text segment
SEGMENTS_PER_BLOCK = 100
BLOCKS_PER_REQUEST = 100
# JSON bytes per code block and per request, below Notion's 500 KB payload limit.
BLOCK_BYTES = 60_000
REQUEST_BYTES = 400_000
TEXT_PROPERTIES = ("project", "session", "stage", "sha256", "writer")
_CAPTION = re.compile(r"^idse ([0-9a-f]{16}) (\d{1,6})/(\d{1,6})$")


def segments(text: str, limit: int = SEGMENT) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` UTF-16 units, never inside a character."""
    out: list[str] = []
    start, size = 0, 0
    for i, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit:
            out.append(text[start:i])
            start, size = i, 0
        size += width
    if start < len(text) or not out:
        out.append(text[start:])
    return out


def rich(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": part}} for part in segments(text)] if text else []


def code_blocks(content: str, writer: str) -> list[dict[str, Any]]:
    """The blocks holding ``content`` exactly, captioned with ``writer`` and their position."""
    groups: list[list[str]] = [[]]
    size = 0
    for part in segments(content):
        weight = len(json.dumps(part)) + 40
        if groups[-1] and (len(groups[-1]) >= SEGMENTS_PER_BLOCK or size + weight > BLOCK_BYTES):
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += weight
    total = len(groups)
    return [
        {
            "object": "block",
            "type": "code",
            "code": {
                "language": "markdown",
                "rich_text": [{"type": "text", "text": {"content": p}} for p in group if p],
                "caption": rich(f"idse {writer} {i + 1}/{total}"),
            },
        }
        for i, group in enumerate(groups)
    ]


def requests_of(blocks: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``blocks`` in append requests of at most 100 blocks and ``REQUEST_BYTES`` of JSON."""
    batch: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        weight = len(json.dumps(block))
        if batch and (len(batch) >= BLOCKS_PER_REQUEST or size + weight > REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(block)
        size += weight
    if batch:
        yield batch


def plain(prop: Any) -> str | None:
    """The text of a title or rich_text property value, ``None`` if it is not one."""
    if not isinstance(prop, dict):
        return None
    items = prop.get(prop.get("type") or "")
    if not isinstance(items, list):
        return None
    return "".join(
        str(i.get("plain_text", i.get("text", {}).get("content", ""))) for i in items if isinstance(i, dict)
    )


class Page:
    """What a page's properties say, validated loosely: bad values become a refusal, not a crash."""

    def __init__(self, raw: dict[str, Any]) -> None:
        props = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
        assert isinstance(props, dict)
        self.id = str(raw.get("id") or "")
        self.created = str(raw.get("created_time") or "")
        self.edited = str(raw.get("last_edited_time") or "")
        self.archived = bool(raw.get("archived") or raw.get("in_trash"))
        self.project, self.session, self.stage, self.sha256, self.writer = (
            plain(props.get(name)) or "" for name in TEXT_PROPERTIES
        )
        number = props.get("revision", {}).get("number") if isinstance(props.get("revision"), dict) else None
        self.revision = int(number) if isinstance(number, (int, float)) and 0 <= number < 2**53 else -1

    @property
    def token(self) -> str:
        return f"{self.revision}@{self.edited}"

    @property
    def committed(self) -> bool:
        return self.revision >= 1 and bool(self.writer)

    def rank(self) -> tuple[int, str, str]:
        """Among pages for one artifact (a lost creation race), the lowest rank is the one kept."""
        return (0 if self.committed else 1, self.created, self.id)


def captioned(block: dict[str, Any]) -> tuple[str, int, int, str] | None:
    """An idse code block's (writer, position, count, text); ``None`` for any other block."""
    code = block.get("code") if block.get("type") == "code" else None
    if not isinstance(code, dict):
        return None
    caption = _CAPTION.match(plain({"type": "caption", "caption": code.get("caption")}) or "")
    if caption is None:
        return None
    text = plain({"type": "rich_text", "rich_text": code.get("rich_text")}) or ""
    return caption.group(1), int(caption.group(2)), int(caption.group(3)), text


def text_of(blocks: list[dict[str, Any]], writer: str) -> str | None:
    """The content written by ``writer``: its captioned code blocks, complete and in order."""
    parts: dict[int, str] = {}
    total = 0
    for block in blocks:
        found = captioned(block)
        if found is None or found[0] != writer:
            continue
        total = found[2]
        parts[found[1]] = found[3]
    if total == 0 or sorted(parts) != list(range(1, total + 1)):
        return None
    return "".join(parts[i] for i in range(1, total + 1))

"""Agent Profile blocks written for idse-orchestrator 0.1, rewritten to this tool's schema.

0.1 read a profile leniently: keys it did not know were silently dropped, ``description``,
``memory_policy`` and ``runtime_hints`` could be ``null`` ("not set"), and ``source_session`` /
``source_blueprint`` were accepted in the document although its compiler overwrote them. This tool
rejects all three (IDSE-S003), so ``idse migrate`` rewrites the YAML block once, by lines, keeping
every byte the user wrote:

- a key this tool sets itself, or a ``null`` that means "not set", becomes a YAML comment;
- any other key this tool does not know moves, indented as it was, under ``extensions:`` (which the
  schema passes through to the compiled profile).

The rest of the document and the other keys are left exactly as they were. The result is parsed
again and compared with the original data before anything is planned; a block this cannot rewrite
safely is reported and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXTENSIONS = "extensions"
# 0.1 allowed null for these, meaning "use the default".
NULLABLE = ("description", "memory_policy", "runtime_hints")
COMMENT_SET_BY_IDSE = "# idse migrate: idse sets these keys when compiling; kept from 0.1 as comments"
COMMENT_NULL = "# idse migrate: null here means the default; kept from 0.1 as comments"


@dataclass(frozen=True)
class ProfileRewrite:
    text: str  # the whole document, rewritten
    commented: tuple[str, ...]
    moved: tuple[str, ...]


class CannotRewrite(Exception):
    """The block cannot be rewritten safely; the message says why."""


def rewrite_profile(text: str) -> ProfileRewrite | None:
    """The document ``text`` with its Agent Profile block upgraded, or ``None`` when there is nothing
    to change. Raises ``CannotRewrite`` when there is something to change that cannot be done safely."""
    import yaml

    from idse_orchestrator.agents.extract import SECTION_TITLE
    from idse_orchestrator.markdown import parse
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    st = parse(text)
    section = st.section(SECTION_TITLE, level=2)
    if section is None:
        return None
    fences = [f for f in st.fences_in(section) if f.info.lower().split()[:1] in (["yaml"], ["yml"])]
    if not fences:
        return None
    fence = fences[0]
    try:
        data = safe_load(fence.content)
        root = yaml.compose(fence.content, Loader=yaml.SafeLoader)
    except (YamlError, yaml.YAMLError):
        return None  # IDSE-S001 reports it; nothing here to map
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        return None
    keys = [(str(k.value), k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)]
    commented, moved = _classify(keys)
    if not commented and not moved:
        return None
    if len(keys) != len(root.value) or root.flow_style:
        raise CannotRewrite("the block is not one key per line")
    if moved and EXTENSIONS in data:
        raise CannotRewrite(f"it already has '{EXTENSIONS}'; move {', '.join(moved)} under it by hand")
    lines = fence.content.splitlines()
    spans = _spans(lines, [k.start_mark.line for _, k, _ in keys])
    columns = {k.start_mark.column for _, k, _ in keys}
    if len(columns) != 1 or len(set(spans)) != len(spans):
        raise CannotRewrite("its top-level keys are not one below the other")
    indent = " " * columns.pop()
    out: list[str] = []
    moved_lines: list[str] = []
    previous = 0
    first_moved: int | None = None
    last_note: str | None = None  # one explanation for keys commented out one after the other
    for (name, _, _), (start, end) in zip(keys, spans, strict=True):
        out.extend(lines[previous:start])
        last_note = last_note if previous == start else None
        span = lines[start:end]
        if name in commented:
            note = indent + (COMMENT_SET_BY_IDSE if name not in NULLABLE else COMMENT_NULL)
            if note != last_note:
                out.append(note)
            out.extend(_comment(line, indent) for line in span)
            last_note = note
        elif name in moved:
            if first_moved is None:
                first_moved = len(out)
            moved_lines.extend(("  " + line) if line.strip() else line for line in span)
            last_note = None
        else:
            out.extend(span)
            last_note = None
        previous = end
    out.extend(lines[previous:])
    if first_moved is not None:
        out[first_moved:first_moved] = [indent + EXTENSIONS + ":", *moved_lines]
    content = "\n".join(out) + "\n"
    _verify(data, content, commented, moved)
    return ProfileRewrite(_replace_block(text, fence.start, lines, content), commented, moved)


def _classify(keys: list[tuple[str, Any, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    import yaml

    from idse_orchestrator.agents.profile import PROVENANCE_FIELDS, document_fields

    allowed = set(document_fields())
    commented, moved = [], []
    for name, _, value in keys:
        if name in PROVENANCE_FIELDS or (
            name in NULLABLE and isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null"
        ):
            commented.append(name)
        elif name not in allowed:
            moved.append(name)
    return tuple(commented), tuple(moved)


def _spans(lines: list[str], starts: list[int]) -> list[tuple[int, int]]:
    """[start, end) line ranges of each top-level key: up to the next key, without the blank and
    comment lines just before it (those belong to the next key, or to the end of the block)."""
    spans = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        spans.append((start, end))
    return spans


def _comment(line: str, indent: str) -> str:
    if not line.strip():
        return line
    if line.startswith(indent):
        return indent + "# " + line[len(indent) :]
    return "# " + line


def _verify(before: dict[Any, Any], content: str, commented: tuple[str, ...], moved: tuple[str, ...]) -> None:
    """The rewritten block must hold exactly the same data, regrouped."""
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    try:
        after = safe_load(content)
    except YamlError as exc:
        raise CannotRewrite(f"the rewritten block would not parse ({exc})") from None
    expected = {k: v for k, v in before.items() if k not in commented and k not in moved}
    if moved:
        expected[EXTENSIONS] = {k: before[k] for k in moved}
    if after != expected:
        raise CannotRewrite("the rewritten block would not hold the same data")


def _replace_block(text: str, fence_start: int, old: list[str], content: str) -> str:
    """``text`` with the fence content lines (which follow line ``fence_start``) replaced."""
    lines = text.splitlines(keepends=True)
    first = fence_start  # 0-based index of the first content line
    region = lines[first : first + len(old)]
    if [line.rstrip("\r\n") for line in region] != old:
        raise CannotRewrite("the block is indented inside another element")
    ending = "\r\n" if region and region[0].endswith("\r\n") else "\n"
    new = [line + ending for line in content.splitlines()]
    return "".join(lines[:first] + new + lines[first + len(old) :])


def migrated(content: str) -> str:
    """A document as the migration leaves it (a store copy that differs only by this is no news)."""
    try:
        rewrite = rewrite_profile(content)
    except CannotRewrite:
        return content
    return content if rewrite is None else rewrite.text


def rebaselined(path: Path, old: str, new: str) -> str | None:
    """``metadata/baselines.json`` at ``path`` with the spec's hash ``old`` -> ``new``, or ``None``.

    Stages the build recorded as consistent with the spec stay so: the rewrite changes no meaning,
    and a user who ran idse before migrating would otherwise see every later stage go stale."""
    import hashlib

    from idse_orchestrator.fsutil import dump_json, read_derived_json

    data = read_derived_json(path) if path.is_file() else None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return None
    # The build records a document by the first 16 hex digits of its sha256.
    was, now = (hashlib.sha256(t.encode("utf-8")).hexdigest()[:16] for t in (old, new))
    changed = False
    for stage, record in stages.items():
        if not isinstance(record, dict):
            continue
        if stage == "spec" and record.get("sha") == was:
            record["sha"], changed = now, True
        baseline = record.get("baseline")
        if isinstance(baseline, dict) and baseline.get("spec") == was:
            baseline["spec"], changed = now, True
    return dump_json(data) if changed else None

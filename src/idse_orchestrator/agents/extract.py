"""Finding and checking the ``## Agent Profile`` YAML block of a spec. Pure: text in, data out.

The first fenced ``yaml`` block inside the ``## Agent Profile`` section is the profile. Every problem
carries the line of the document it concerns (not the line within the block), so that both
``idse compile agent-spec`` and ``idse validate`` can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from idse_orchestrator.agents.profile import PROVENANCE_FIELDS, AgentProfileSpec, document_fields
from idse_orchestrator.stages import MARKER

if TYPE_CHECKING:
    import yaml

SECTION_TITLE = "Agent Profile"
# Aliases let a few lines expand into millions of values; nothing a person writes comes near this.
MAX_VALUES = 10_000


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line in the document
    message: str
    code: str  # no-section, no-block, yaml, empty, not-mapping, too-large, duplicate-key, unknown-key, ...
    key: str | None = None  # the top-level profile key concerned, if any


@dataclass(frozen=True)
class ProfileBlock:
    """A parsed profile block: its mapping and where it is."""

    data: dict[str, Any]
    line: int  # line of the opening ```yaml fence
    content_line: int  # line of the block's first YAML line
    content: str  # the block's YAML text
    sha256: str  # of the block's YAML text

    @cached_property
    def key_lines(self) -> dict[str, int]:
        """Top-level key -> line; asked only to place a compile error, so worked out then."""

        root, _ = _compose(self.content, pure=True)
        return {str(k.value): self.content_line + k.start_mark.line for k, _ in root.value}


@dataclass(frozen=True)
class ProfileProblem:
    """Why a document has no usable profile.

    ``block`` is set when the YAML parsed into a mapping and only per-key problems remain: the
    blueprint's problems on keys that the session overrides do not matter.
    """

    problems: tuple[Problem, ...]
    block: ProfileBlock | None = None

    @property
    def absent(self) -> bool:
        """True when the document simply has no Agent Profile section (that is allowed)."""
        return all(p.code == "no-section" for p in self.problems)


def _type_name(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string", dict: "a mapping"}
    if value is None:
        return "null"
    return names.get(type(value), "a list" if isinstance(value, list) else type(value).__name__)


def _too_many_values(data: Any) -> bool:
    """Count values as a consumer would see them (aliases expanded), stopping at the cap."""
    stack, seen = [data], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
    return False


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    """Every scalar under ``node`` (keys included), each shared node once."""
    import yaml

    out: list[yaml.ScalarNode] = []
    stack, visited = [node], set()
    while stack:
        item = stack.pop()
        if id(item) in visited:
            continue
        visited.add(id(item))
        if isinstance(item, yaml.ScalarNode):
            out.append(item)
        elif isinstance(item, yaml.SequenceNode):
            stack.extend(item.value)
        elif isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                stack.extend((key, value))
    return out


def _loc_line(root: yaml.Node, loc: tuple[Any, ...], base: int) -> int:
    """File line of a pydantic error location: the key for mappings, the item for sequences."""
    import yaml

    node, line = root, base + root.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not match:
                break
            key, node = match[-1]
            line = base + key.start_mark.line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = base + node.start_mark.line
        else:
            break
    return line


def pydantic_message(err: Any, dotted: str) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
    if kind == "missing":
        return f"the Agent Profile has no {dotted!r} (required)"
    if kind == "string_pattern_mismatch":
        return (
            f"{dotted!r} must be a slug: letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if kind == "string_too_short":
        return f"{dotted!r} must not be empty"
    text = msg[:1].lower() + msg[1:]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        value = err.get("input")
        text += f" (got {_type_name(value)})"
        if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # `version: 1.0` is a float in YAML; the fix is not obvious to everyone.
            text += "; put it in quotes"
    return f"{dotted!r}: {text}"


def _type_problems(data: dict[str, Any], root: yaml.Node, base: int) -> list[Problem]:
    from pydantic import ValidationError

    # The required keys get stand-ins so each block is checked on its own; the merged profile is
    # checked for them after merging.
    try:
        AgentProfileSpec.model_validate({"id": "x", "name": "x", **data})
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            loc = tuple(p for p in err.get("loc", ()) if p != "[key]")
            dotted = ".".join(str(p) for p in loc) or "(profile)"
            key = str(loc[0]) if loc else None
            out.append(Problem(_loc_line(root, loc, base), pydantic_message(err, dotted), "type", key))
        return out
    return []


def _check_mapping(data: dict[Any, Any], root: yaml.MappingNode, base: int) -> list[Problem]:
    import yaml

    problems: list[Problem] = []
    allowed = document_fields()
    first_seen: dict[str, int] = {}
    for key_node, _ in root.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        line = base + key_node.start_mark.line
        if key in first_seen:
            problems.append(
                Problem(
                    line, f"duplicate key {key!r} (first on line {first_seen[key]})", "duplicate-key", key
                )
            )
        first_seen.setdefault(key, line)
        if key in PROVENANCE_FIELDS:
            problems.append(
                Problem(line, f"{key!r} is set by 'idse compile agent-spec'; remove it", "unknown-key", key)
            )
        elif key not in allowed:
            problems.append(
                Problem(
                    line,
                    f"unknown key {key!r} in the Agent Profile; allowed: {', '.join(allowed)}",
                    "unknown-key",
                    key,
                )
            )
    placeholder_keys: set[str] = set()
    for key_node, value_node in root.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        lines = sorted({base + n.start_mark.line for n in _scalars(value_node) if MARKER in str(n.value)})
        for line in lines:
            problems.append(
                Problem(line, f"{key!r} still holds the placeholder {MARKER}", "placeholder", key)
            )
            placeholder_keys.add(key)
    if not any(p.code == "unknown-key" for p in problems):
        known = {str(k): v for k, v in data.items()}
        problems.extend(p for p in _type_problems(known, root, base) if p.key not in placeholder_keys)
    return problems


def _compose(text: str, *, pure: bool = False) -> tuple[yaml.MappingNode, bool]:
    """The block's node tree, and whether its marks are the pure composer's.

    Whether the block has a problem depends on its nodes alone, which LibYAML's composer builds
    three times faster and alike for the input ``yamlsafe`` also lets it load (no anchors, aliases,
    tabs or directives); its marks differ for some empty values, so lines come from the pure one."""
    import yaml

    loader = None if pure else getattr(yaml, "CSafeLoader", None)
    if loader is not None and not any(c in text for c in "&*\t%"):
        try:
            root = yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            pass
        else:
            if isinstance(root, yaml.MappingNode):
                return root, False
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)  # safe_load gave a dict, so the root is a mapping
    return root, True


def extract_profile_block(text: str) -> ProfileBlock | ProfileProblem:
    """Find, parse and check the profile block of a spec's text. Pure: no I/O, lines are file lines.
    The result is read-only: a spec's block is extracted once per process however often asked."""
    return _extract(text)


@lru_cache(maxsize=32)
def _extract(text: str) -> ProfileBlock | ProfileProblem:

    from idse_orchestrator.markdown import parse
    from idse_orchestrator.templating import sha256_text
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    st = parse(text)
    section = st.section(SECTION_TITLE, level=2)
    if section is None:
        return ProfileProblem((Problem(1, f"no '## {SECTION_TITLE}' section", "no-section"),))
    fences = [f for f in st.fences_in(section) if f.info.lower().split()[:1] in (["yaml"], ["yml"])]
    if not fences:
        return ProfileProblem(
            (Problem(section.start, f"the '## {SECTION_TITLE}' section has no ```yaml block", "no-block"),)
        )
    fence = fences[0]
    base = fence.content_line
    try:
        data = safe_load(fence.content)
    except YamlError as exc:
        line = base + exc.line - 1 if exc.line else fence.start
        problem = re.sub(r" at line \d+", "", str(exc), count=1)
        return ProfileProblem((Problem(line, f"{problem} (in the Agent Profile YAML block)", "yaml"),))
    if data is None:
        return ProfileProblem((Problem(fence.start, "the Agent Profile YAML block is empty", "empty"),))
    if not isinstance(data, dict):
        return ProfileProblem(
            (Problem(base, "the Agent Profile must be a YAML mapping (id: ..., name: ...)", "not-mapping"),)
        )
    if _too_many_values(data):
        return ProfileProblem(
            (
                Problem(
                    fence.start, f"the Agent Profile expands to more than {MAX_VALUES} values", "too-large"
                ),
            )
        )
    root, exact = _compose(fence.content)
    problems = _check_mapping(data, root, base)
    if problems and not exact:
        # Problems are reported at their lines: those come from the pure composer's marks.
        problems = _check_mapping(data, _compose(fence.content, pure=True)[0], base)
    block = ProfileBlock(
        {str(k): v for k, v in data.items()}, fence.start, base, fence.content, sha256_text(fence.content)
    )
    if problems:
        return ProfileProblem(tuple(sorted(problems, key=lambda p: p.line)), block)
    return block

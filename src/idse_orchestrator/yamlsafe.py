"""Bounded YAML loading.

Documents are user input: a "billion laughs" alias bomb or a megabyte-sized block must not hang
or exhaust memory, so size and alias use are capped before and during parsing.
"""

from __future__ import annotations

import copy
from typing import Any

MAX_YAML_BYTES = 256 * 1024
MAX_ALIASES = 100
# Values after alias expansion: a few nested aliases can otherwise stand for billions of nodes.
MAX_EXPANDED_NODES = 100_000


_DECLINED = object()
# The same block is read by several checks of one build (profile extraction, rules, the compiler).
_PARSED: dict[tuple[str, int, int], Any] = {}
_PARSED_LIMIT = 256


def _remember(key: tuple[str, int, int], data: Any) -> None:
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[key] = data


def _fast_load(text: str) -> Any:
    """LibYAML's safe loader for the common block with no anchor or alias (so no alias bomb can be
    in it); ``_DECLINED`` when it is not available or the text is anything but plainly valid, and
    the bounded pure-Python loader then decides and words any error."""
    # Anchors and aliases need the bounded loader; tabs and directives are where LibYAML's scanner is
    # known to accept what the pure loader rejects (tests/test_yamlsafe.py compares the two).
    if any(c in text for c in "&*\t%"):
        return _DECLINED
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return _DECLINED
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader
    except (yaml.YAMLError, RecursionError, ValueError):
        return _DECLINED


class YamlError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _check_expansion(root: Any, limit: int) -> None:
    """Size of the node graph with every alias expanded, computed on the shared (DAG) form."""
    import yaml

    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # guards recursive structures
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[key] = total
        if total > limit:
            raise YamlError(f"YAML aliases expand to more than {limit} values", node.start_mark.line + 1)
        return total

    size(root)


def safe_load(
    text: str,
    *,
    max_bytes: int = MAX_YAML_BYTES,
    max_aliases: int = MAX_ALIASES,
    max_nodes: int = MAX_EXPANDED_NODES,
) -> Any:
    """Parse YAML with the safe loader, rejecting oversized input and excessive alias use.

    Line numbers in errors are 1-based and relative to ``text``.
    """
    import yaml

    if len(text.encode("utf-8")) > max_bytes:
        raise YamlError(f"YAML block larger than {max_bytes // 1024} KB")
    key = (text, max_aliases, max_nodes)
    if key in _PARSED:
        return copy.deepcopy(_PARSED[key])  # callers may change what they get
    fast = _fast_load(text)
    if fast is not _DECLINED:
        _remember(key, fast)
        return copy.deepcopy(fast)

    class _Bounded(yaml.SafeLoader):
        aliases_seen = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                _Bounded.aliases_seen += 1
                if _Bounded.aliases_seen > max_aliases:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise YamlError(f"YAML uses more than {max_aliases} aliases", mark.line + 1)
            return super().compose_node(parent, index)

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None and _Bounded.aliases_seen:
                _check_expansion(node, max_nodes)
            return node

    try:
        data = yaml.load(text, Loader=_Bounded)  # noqa: S506 - _Bounded is a SafeLoader
        _remember(key, data)
        return copy.deepcopy(data)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        where = f" at line {line}" if line else ""
        raise YamlError(f"YAML syntax error{where}: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("YAML nested too deeply") from None

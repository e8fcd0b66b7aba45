"""Text output shared by the click commands and the click-free everyday commands (``quick.py``):
plain values, tables, colour decisions and ANSI styling. Standard library only."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

COLOR_MODES = ("auto", "always", "never")

# role -> style (the keywords click.style takes; ``ansi`` renders exactly what it renders)
STYLES: dict[str, dict[str, Any]] = {
    # finding severities
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow"},
    "info": {"dim": True},
    # stage statuses
    "complete": {"fg": "green"},
    "in_progress": {"fg": "cyan"},
    "pending": {"dim": True},
    "stale": {"fg": "yellow"},
    "missing": {"fg": "red"},
    # validation status
    "passing": {"fg": "green"},
    "failing": {"fg": "red"},
    "unknown": {"dim": True},
}

_FG = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}
RESET = "\033[0m"

Painter = Callable[[str, str], str]


def ansi(text: str, fg: str | None = None, bold: bool | None = None, dim: bool | None = None) -> str:
    """``text`` with ANSI codes in click.style's order (colour, bold, dim, text, reset)."""
    codes = []
    if fg is not None:
        codes.append(f"\033[{_FG[fg]}m")
    if bold is not None:
        codes.append(f"\033[{1 if bold else 22}m")
    if dim is not None:
        codes.append(f"\033[{2 if dim else 22}m")
    return "".join(codes) + text + RESET


def _isatty(stream: IO[Any]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def decide_color(mode: str, stream: IO[Any] | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether output to ``stream`` gets colour: ``always``/``never``, or (``auto``) a terminal
    without ``NO_COLOR`` set to anything and with a ``TERM`` other than ``dumb``."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return _isatty(sys.stdout if stream is None else stream)


def painter(enabled: bool) -> Painter:
    """``paint(text, role)``: ``text`` styled for ``role`` (a severity or a status) when enabled."""

    def paint(text: str, role: str) -> str:
        style = STYLES.get(role)
        return ansi(text, **style) if style and enabled else text

    return paint


def plain(value: Any) -> str:
    """A value for text output: yes/no for booleans, '-' for nothing, JSON for mappings."""
    import json

    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def table(rows: list[tuple[str, ...]], *, gap: str = "  ") -> list[str]:
    """Rows as lines, each column as wide as its widest cell (the last one is never padded)."""
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append(gap.join(cells).rstrip())
    return lines

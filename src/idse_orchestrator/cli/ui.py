"""Text output helpers shared by every command: tables, plain values, colour, command suggestions.

Light on purpose (click and the standard library only): the top-level group uses it too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

import click


class SuggestingGroup(click.Group):
    """A group whose unknown subcommand is one usage line naming the nearest commands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            raise click.UsageError(unknown_command(name, self.list_commands(ctx)), ctx)
        return super().resolve_command(ctx, args)


def unknown_command(name: str, known: list[str]) -> str:
    import difflib

    # A prefix typed in full ("gen" for "generate-agent-files") is the best guess; close spellings next.
    prefixed = [k for k in known if name and k.startswith(name)]
    close = list(dict.fromkeys(prefixed + difflib.get_close_matches(name, known, n=3, cutoff=0.6)))[:3]
    if not close:
        return f"no such command {name!r}"
    quoted = repr(close[0]) if len(close) == 1 else ", ".join(map(repr, close[:-1])) + f" or {close[-1]!r}"
    return f"no such command {name!r}; did you mean {quoted}?"


def plain(value: Any) -> str:
    """A value for text output: yes/no for booleans, '-' for nothing, JSON for mappings."""
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


# ----------------------------------------------------------------------------------------------- colour

COLOR_MODES = ("auto", "always", "never")
_COLOR_KEY = "idse.color"

# role -> click.style arguments
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


def setup_color(ctx: click.Context, mode: str) -> None:
    """Record the decision for this run; with colour, click must not strip the codes either."""
    enabled = decide_color(mode)
    ctx.meta[_COLOR_KEY] = enabled
    if enabled:
        ctx.color = True


def color_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _COLOR_KEY in ctx.meta:
        return bool(ctx.meta[_COLOR_KEY])
    return decide_color("auto")


def paint(text: str, role: str) -> str:
    """``text`` styled for ``role`` (a severity or a status) when colour is on, else unchanged."""
    style = STYLES.get(role)
    if not style or not color_enabled():
        return text
    return click.style(text, **style)

"""Text output helpers shared by every command: tables, plain values, colour, command suggestions.

Light on purpose (click and the standard library only): the top-level group uses it too. What
needs no click lives in ``textout`` (the click-free everyday commands use it as well).
"""

from __future__ import annotations

import click

from idse_orchestrator import textout
from idse_orchestrator.textout import COLOR_MODES, STYLES, decide_color, plain, table

__all__ = ["COLOR_MODES", "STYLES", "SuggestingGroup", "decide_color", "paint", "plain", "table"]


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


_COLOR_KEY = "idse.color"


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
    return textout.painter(color_enabled())(text, role)

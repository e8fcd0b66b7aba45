"""Shared option decorators and output helpers for the command modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from idse_orchestrator.cli.completion import complete_projects, complete_sessions

# The command modules open workspaces through here, the click-free commands through quick: one way.
from idse_orchestrator.quick import open_project as open_project
from idse_orchestrator.quick import open_workspace as open_workspace

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=click.Command)


def project_option(func: F) -> F:
    return click.option(
        "--project",
        "-p",
        "project_name",
        envvar="IDSE_PROJECT",
        metavar="P",
        help="Project to act on (default: the only one, or IDSE_PROJECT).",
        shell_complete=complete_projects,
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def session_option(func: F) -> F:
    return click.option(
        "--session",
        "-s",
        "session",
        metavar="S",
        help="Session (default: the current one).",
        shell_complete=complete_sessions,
    )(func)


def json_format_alias(command: C, dest: str = "fmt") -> C:
    """Give ``command`` a ``--json`` flag meaning ``--format json`` (its option stored as ``dest``).

    A no-op when the command already has ``--json``. ``--json`` with another explicit ``--format``
    is a usage error.
    """
    if any("--json" in getattr(p, "opts", ()) for p in command.params):
        return command
    original = command.callback
    if original is None:  # pragma: no cover - every command here has a callback
        return command
    command.params.append(click.Option(["--json", "json_alias"], is_flag=True, help="Same as --format json."))

    def callback(*args: Any, json_alias: bool = False, **kwargs: Any) -> Any:
        if json_alias:
            ctx = click.get_current_context()
            given = ctx.get_parameter_source(dest) == click.core.ParameterSource.COMMANDLINE
            if given and kwargs.get(dest) != "json":
                from idse_orchestrator.errors import UsageError

                raise UsageError(f"--json and --format {kwargs.get(dest)} exclude each other")
            kwargs[dest] = "json"
        return original(*args, **kwargs)

    callback.__doc__ = original.__doc__
    command.callback = callback
    return command


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))

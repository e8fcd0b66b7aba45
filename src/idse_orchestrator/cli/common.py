"""Shared option decorators and output helpers for the command modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from idse_orchestrator.workspace import Project, Workspace

F = TypeVar("F", bound=Callable[..., Any])


def project_option(func: F) -> F:
    return click.option(
        "--project",
        "-p",
        "project_name",
        envvar="IDSE_PROJECT",
        metavar="P",
        help="Project to act on (default: the only one, or IDSE_PROJECT).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def session_option(func: F) -> F:
    return click.option(
        "--session", "-s", "session", metavar="S", help="Session (default: the current one)."
    )(func)


def open_workspace() -> Workspace:
    return Workspace.discover(Path.cwd())


def open_project(project_name: str | None) -> tuple[Workspace, Project]:
    ws = open_workspace()
    return ws, ws.project(project_name)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))

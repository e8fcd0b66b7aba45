"""`idse session …`, `idse sessions`, `idse session-info`, `idse spawn`."""

from __future__ import annotations

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_project, project_option
from idse_orchestrator.cli.completion import complete_sessions
from idse_orchestrator.cli.ui import SuggestingGroup, paint, plain
from idse_orchestrator.light import SESSION_STATUSES


@click.group(cls=SuggestingGroup)
def session() -> None:
    """Create, switch and manage sessions."""


@session.command("create")
@click.argument("session_id")
@project_option
def session_create(session_id: str, project_name: str | None) -> int:
    """Create feature session SESSION_ID from the templates and make it current."""
    from idse_orchestrator.sessions import create_session

    ws, proj = open_project(project_name)
    created = create_session(ws, proj, session_id)
    click.echo(f"Created session {session_id!r} ({len(created)} files); it is now current.")
    return 0


@session.command("switch")
@click.argument("session_id", shell_complete=complete_sessions)
@project_option
def session_switch(session_id: str, project_name: str | None) -> int:
    """Make SESSION_ID the current session."""
    from idse_orchestrator.sessions import switch_session

    ws, proj = open_project(project_name)
    switch_session(ws, proj, session_id)
    click.echo(f"Current session: {session_id}")
    return 0


@session.command("set-status")
@click.argument("session_id", shell_complete=complete_sessions)
@click.argument("status", type=click.Choice(SESSION_STATUSES))
@project_option
def session_set_status(session_id: str, status: str, project_name: str | None) -> int:
    """Move SESSION_ID through its lifecycle (complete requires every stage complete)."""
    from idse_orchestrator.sessions import set_session_status

    ws, proj = open_project(project_name)
    set_session_status(ws, proj, session_id, status)
    click.echo(f"Session {session_id!r} is now {status}.")
    return 0


@click.command()
@project_option
@json_option
def sessions(project_name: str | None, as_json: bool) -> int:
    """List the sessions of the project."""
    from idse_orchestrator import quick

    return quick.sessions(quick.Out(click.echo, paint), project_name, as_json)


@click.command("session-info")
@click.argument("session_id", shell_complete=complete_sessions)
@project_option
@json_option
def session_info(session_id: str, project_name: str | None, as_json: bool) -> int:
    """Show a session's metadata and lineage (parent and children)."""
    from idse_orchestrator.sessions import session_info as info

    ws, proj = open_project(project_name)
    data = info(ws, proj, session_id)
    if as_json:
        echo_json(data)
        return 0
    for key in ("id", "type", "status", "parent", "stack", "path", "current", "ancestors", "children"):
        click.echo(f"{key:<9} {plain(data.get(key))}")
    return 0


@click.command()
@click.argument("session_id")
@click.option(
    "--from",
    "parent",
    metavar="SESSION",
    help="Parent session (default: __blueprint__).",
    shell_complete=complete_sessions,
)
@project_option
def spawn(session_id: str, parent: str | None, project_name: str | None) -> int:
    """Create feature session SESSION_ID from a parent's intent and context; it becomes current."""
    from idse_orchestrator.sessions import spawn_session

    ws, proj = open_project(project_name)
    spawn_session(ws, proj, session_id, parent)
    meta = proj.metadata(session_id)
    click.echo(f"Spawned {session_id!r} from {meta.parent!r}; it is now current.")
    return 0

"""`idse init`, `idse status`."""

from __future__ import annotations

from pathlib import Path

import click

from idse_orchestrator.cli.common import echo_json, json_option, project_option, session_option
from idse_orchestrator.cli.ui import paint


@click.command()
@click.argument("project")
@click.option("--stack", metavar="S", help="Technology stack recorded in the blueprint (e.g. python, node).")
@click.option("--force", is_flag=True, help="On an existing project, add only the files that are missing.")
@json_option
def init(project: str, stack: str | None, force: bool, as_json: bool) -> int:
    """Create .idse/ in the current directory with PROJECT and its __blueprint__ session."""
    from idse_orchestrator.sessions import init_project
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(Path.cwd())
    created = init_project(ws, project, stack=stack, force=force)
    if as_json:
        echo_json({"project": project, "created": created})
    elif created:
        click.echo(
            f"Initialised project {project!r} in {ws.rel(ws.idse_dir)}/ ({len(created)} files created)"
        )
        click.echo("Next: fill in the [REQUIRES INPUT] markers, then run 'idse status' and 'idse validate'.")
    else:
        click.echo(f"Project {project!r} is complete; nothing to add.")
    return 0


@click.command()
@project_option
@session_option
@json_option
@click.option("--why", is_flag=True, help="Explain stale stages: which upstream document changed.")
def status(project_name: str | None, session: str | None, as_json: bool, why: bool) -> int:
    """Show each pipeline stage of a session with its status and agent."""
    from idse_orchestrator import quick

    return quick.status(quick.Out(click.echo, paint), project_name, session, as_json, why)

"""`idse site`: the static HTML dashboard."""

from __future__ import annotations

from pathlib import Path

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_project, project_option


@click.command()
@project_option
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    help="Folder to write the site into (default: .idse/projects/<project>/build/site).",
)
@click.option("--no-dot", is_flag=True, help="Lay graphs out without Graphviz even when it is installed.")
@json_option
def site(project_name: str | None, output: str | None, no_dot: bool, as_json: bool) -> int:
    """Write a static HTML dashboard: the status matrix, one page per session, graphs as inline SVG.

    Builds first (like 'idse build'), then rewrites only pages whose content changed. No external
    assets: open index.html from disk or publish the folder on GitHub Pages."""
    from idse_orchestrator.views.site import make_site

    ws, proj = open_project(project_name)
    report, failed = make_site(
        ws,
        proj,
        Path(output) if output else None,
        use_dot=not no_dot,
        warn=lambda m: click.echo(f"idse: warning: {m}", err=True),
    )
    if as_json:
        echo_json({**report.to_dict(), "failed_tasks": failed})
    else:
        for name in failed:
            click.echo(f"FAILED {name}", err=True)
        removed = f", {len(report.removed)} removed" if report.removed else ""
        click.echo(
            f"{len(report.written)} page(s) written, {report.unchanged} unchanged{removed}: "
            f"{report.out / 'index.html'}"
        )
    return 1 if failed else 0

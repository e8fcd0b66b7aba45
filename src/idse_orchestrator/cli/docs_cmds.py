"""`idse docs`: list and print the documentation shipped with idse; `idse docs install`."""

from __future__ import annotations

import click

from idse_orchestrator.cli.common import echo_json, json_option
from idse_orchestrator.cli.completion import complete_pages
from idse_orchestrator.cli.ui import SuggestingGroup


@click.group(cls=SuggestingGroup, invoke_without_command=True)
@json_option
@click.pass_context
def docs(ctx: click.Context, as_json: bool) -> int:
    """The documentation, offline: list the pages, print one with 'idse docs show PAGE'.

    Reference pages (sync, agents, mcp, artifact-core-protocol, …) and the IDSE method docs
    (getting-started, constitution, pipeline, …) ship with idse. 'idse docs install' copies the
    method docs into .idse/docs/.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    from idse_orchestrator.docs import pages

    listed = [p.as_dict() for p in pages()]
    if as_json:
        echo_json({"pages": listed})
        return 0
    width = max(len(p["name"]) for p in listed)
    for kind in ("reference", "method"):
        click.echo(f"{kind}:")
        for p in listed:
            if p["kind"] == kind:
                click.echo(f"  {p['name']:<{width}}  {p['title']}")
    click.echo("Print one with: idse docs show PAGE")
    return 0


@docs.command("show")
@click.argument("name", metavar="PAGE", shell_complete=complete_pages)
def docs_show(name: str) -> int:
    """Print documentation PAGE (Markdown, or the OpenAPI YAML)."""
    from idse_orchestrator.docs import page_text

    click.echo(page_text(name), nl=False)
    return 0


@docs.command("install")
@click.option("--force", is_flag=True, help="Overwrite docs that were edited.")
@json_option
def docs_install(force: bool, as_json: bool) -> int:
    """Write the IDSE method docs into .idse/docs/ (edited files are kept unless --force)."""
    from idse_orchestrator.cli.common import open_workspace
    from idse_orchestrator.docs import install_docs

    ws = open_workspace()
    result = install_docs(ws, force=force)
    if as_json:
        echo_json(result)
        return 0
    for key in ("written", "kept"):
        for path in result[key]:
            click.echo(f"{key:<8} {path}")
    if result["kept"]:
        click.echo("Edited docs were kept; use --force to overwrite them.")
    return 0

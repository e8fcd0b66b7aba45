"""`idse migrate`."""

from __future__ import annotations

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_workspace


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@json_option
def migrate(dry_run: bool, as_json: bool) -> int:
    """Upgrade a workspace written by idse-orchestrator 0.1 (backups under .idse/.migrate-backup/).

    Session metadata and the agent registry are rewritten in this tool's format, keeping every
    field; the 0.1 templates become overrides in .idse/templates/pipeline/, so documents are checked
    against the sections they were written for; Agent Profile keys that 0.1 accepted are kept as
    comments or moved under 'extensions' (the only edit made to a document); a document whose copy
    in .idse/idse.db differs from the file gets that copy beside it as <name>.db.md. It holds the
    build and sync locks while it writes. Running it again changes nothing.
    """
    from idse_orchestrator.migrate import migrate as run_migration

    ws = open_workspace()
    report = run_migration(ws, dry_run=dry_run)
    if as_json:
        echo_json(report)
        return 0
    verb = "would " if dry_run else ""
    for change in report["changes"]:
        click.echo(f"{verb}{change['action']:<8} {change['path']}  ({change['reason']})")
    for note in report["notes"]:
        click.echo(f"note     {note}")
    if not report["changes"]:
        click.echo("Nothing to migrate: the workspace is up to date.")
    elif dry_run:
        click.echo(f"{len(report['changes'])} change(s) planned; nothing was written (--dry-run).")
    else:
        click.echo(
            f"{len(report['changes'])} change(s) made; the files they replaced are in {report['backup']}/"
        )
    return 0

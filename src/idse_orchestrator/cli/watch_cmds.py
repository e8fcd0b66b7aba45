"""`idse watch`: rebuild on every save, one line (or one JSON object) per change."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from idse_orchestrator.cli.common import json_option, open_project, project_option


def _line(event: dict[str, Any]) -> str:
    changed = ", ".join(event["changed"]) or "start"
    if "error" in event:
        return f"{changed}: error: {event['error']}"
    s = event["summary"]
    return (
        f"{changed}: ran {len(event['ran'])}, failed {s['failed']} · {s['errors']} error(s), "
        f"{s['warnings']} warning(s) ({event['elapsed_ms']:.0f} ms)"
    )


@click.command()
@project_option
@click.option("--sync", "with_sync", is_flag=True, help="Also push changed sessions to the sync remote.")
@json_option
def watch(project_name: str | None, with_sync: bool, as_json: bool) -> int:
    """Build once, then rebuild what each saved change affects, until Ctrl-C.

    Example: idse watch --json   (one JSON object per change, for editors and agents)
    """
    from idse_orchestrator.engine.build import DEFAULT_FAMILIES
    from idse_orchestrator.governance.findings import Finding
    from idse_orchestrator.governance.report import location
    from idse_orchestrator.watch import Watcher

    ws, proj = open_project(project_name)

    def emit(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event, sort_keys=True))
        else:
            click.echo(_line(event))
            for f in event.get("findings", []):
                if f["severity"] == "error":
                    finding = Finding.from_dict(f)
                    click.echo(f"  {location(finding)}: {finding.severity} {finding.rule} {finding.message}")
        sys.stdout.flush()

    families = DEFAULT_FAMILIES + (("sync",) if with_sync else ())
    watcher = Watcher(ws, proj, emit, lambda m: click.echo(f"idse: warning: {m}", err=True), families)
    return watcher.run()

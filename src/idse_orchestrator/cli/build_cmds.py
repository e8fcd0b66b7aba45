"""`idse build`, `idse graph`, `idse accept`."""

from __future__ import annotations

import sys

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_project, project_option, session_option
from idse_orchestrator.cli.completion import complete_sessions
from idse_orchestrator.cli.ui import paint
from idse_orchestrator.stages import STAGE_NAMES


@click.command()
@click.argument("sessions", nargs=-1, metavar="[SESSION]...", shell_complete=complete_sessions)
@project_option
@click.option("--jobs", "-j", type=int, default=1, show_default=True, help="Run tasks in N processes.")
@click.option("--force", is_flag=True, help="Run every task even when up to date.")
@click.option("--keep-going", is_flag=True, help="Accepted for compatibility: a build always continues.")
@click.option("--explain", "explain", metavar="TASK", help="Say why TASK would rerun, and run nothing.")
@click.option("--dry-run", "-n", "dry_run", is_flag=True, help="List what would run and why; run nothing.")
@click.option("--sync", "with_sync", is_flag=True, help="Also push changed sessions to the sync remote.")
@json_option
def build(
    sessions: tuple[str, ...],
    project_name: str | None,
    jobs: int,
    force: bool,
    keep_going: bool,
    explain: str | None,
    dry_run: bool,
    with_sync: bool,
    as_json: bool,
) -> int:
    """Run the task graph: validate, check, and write only what is out of date."""
    from idse_orchestrator import quick

    del keep_going  # a build always continues past a failed task
    if not explain and not dry_run:
        out = quick.Out(click.echo, paint)
        return quick.build(out, project_name, sessions, jobs, force, with_sync, as_json)
    from idse_orchestrator.engine.build import DEFAULT_FAMILIES
    from idse_orchestrator.engine.queries import build_plan, explain_task

    ws, proj = open_project(project_name)
    families = DEFAULT_FAMILIES + (("sync",) if with_sync else ())
    if explain:
        status, reasons = explain_task(ws, proj, explain)
        if as_json:
            shown = {"run": "stale", "maybe": "maybe", "up-to-date": "up-to-date"}[status]
            echo_json({"task": explain, "status": shown, "reasons": reasons})
        elif status == "up-to-date":
            click.echo(f"{explain} is up to date")
        else:
            click.echo(f"{explain} {'would run' if status == 'run' else 'may run'} because:")
            for reason in reasons or ["it has never run"]:
                click.echo(f"  {reason}")
        return 0
    planned = build_plan(ws, proj, list(sessions) or None, families)
    rows = [
        {"name": name, "status": st, "reasons": why}
        for name, (st, why) in sorted(planned.items())
        if st != "up-to-date"
    ]
    if as_json:
        echo_json({"tasks": rows, "up_to_date": len(planned) - len(rows)})
        return 0
    for row in rows:
        verb = "run  " if row["status"] == "run" else "maybe"
        click.echo(f"{verb} {row['name']}: {'; '.join(row['reasons']) or 'never run'}")
    click.echo(f"{sum(r['status'] == 'run' for r in rows)} to run, {len(planned) - len(rows)} up to date")
    return 0


@click.command()
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dot", "mermaid", "json", "svg", "png"]),
    default="mermaid",
    show_default=True,
    help="svg and png need Graphviz 'dot'.",
)
@click.option(
    "--session",
    "-s",
    "sessions",
    multiple=True,
    metavar="S",
    help="Only this session's tasks.",
    shell_complete=complete_sessions,
)
@click.option("--status", "with_status", is_flag=True, help="Colour tasks: up-to-date, stale, failed.")
@click.option("--detail", is_flag=True, help="Also the build's cache files (results) and their edges.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def graph(
    project_name: str | None,
    fmt: str,
    sessions: tuple[str, ...],
    with_status: bool,
    detail: bool,
    output: str | None,
) -> int:
    """Draw the task graph: documents, tasks and what they write, one cluster per session.

    Mermaid stays within 500 edges and 50,000 characters by collapsing big sessions into one node
    each (--session S draws one); dot, svg and png always hold the whole graph."""
    from idse_orchestrator.engine.graph import graph_model, render, render_dot, render_image
    from idse_orchestrator.engine.queries import graph_statuses, task_list

    ws, proj = open_project(project_name)
    chosen = list(sessions) or None
    if fmt in ("svg", "png"):
        import shutil

        from idse_orchestrator.errors import UsageError

        if shutil.which("dot") is None:  # before any work: the one-line reason, exit 2
            raise UsageError(
                f"--format {fmt} needs Graphviz 'dot', which is not installed "
                "(install graphviz, or use --format dot, mermaid or json)"
            )
    statuses = graph_statuses(ws, proj, chosen) if with_status else None
    model = graph_model(task_list(ws, proj, chosen), statuses, detail=detail)
    if fmt in ("svg", "png"):
        data = render_image(render_dot(model), fmt)
        if output:
            from pathlib import Path

            from idse_orchestrator.fsutil import atomic_write_bytes

            atomic_write_bytes(Path(output), data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return 0
    text = render(fmt, model)
    if output:
        from pathlib import Path

        from idse_orchestrator.fsutil import atomic_write_text

        atomic_write_text(Path(output), text + "\n")
    else:
        click.echo(text)
    return 0


@click.command()
@click.argument("stage", type=click.Choice(STAGE_NAMES), required=False)
@click.option("--all", "all_stale", is_flag=True, help="Accept every stale stage of the session.")
@project_option
@session_option
@json_option
def accept(
    stage: str | None, all_stale: bool, project_name: str | None, session: str | None, as_json: bool
) -> int:
    """Record that STAGE was reviewed against its current upstream documents (clears 'stale')."""
    from idse_orchestrator.engine.queries import accept_all, accept_stage
    from idse_orchestrator.errors import UsageError

    if (stage is None) == (not all_stale):
        raise UsageError("name a STAGE or give --all (not both)")
    ws, proj = open_project(project_name)
    if all_stale:
        accepted = accept_all(ws, proj, session)
        if as_json:
            echo_json({"session": proj.resolve_session(session), "accepted": accepted})
        elif accepted:
            click.echo(f"accepted {', '.join(accepted)}")
        else:
            click.echo("no stale stage to accept")
        return 0
    assert stage is not None
    upstream = accept_stage(ws, proj, session, stage)
    if as_json:
        echo_json({"stage": stage, "session": proj.resolve_session(session), "accepted": upstream})
    else:
        click.echo(f"accepted {stage} against {', '.join(upstream) or 'no upstream'}")
    return 0

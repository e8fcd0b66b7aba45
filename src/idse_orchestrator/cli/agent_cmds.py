"""`idse agents`, `idse route`, `idse generate-agent-files`, `idse compile agent-spec`, `idse schema`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_project, project_option, session_option
from idse_orchestrator.cli.completion import complete_agents, complete_stages
from idse_orchestrator.cli.ui import SuggestingGroup, paint
from idse_orchestrator.workspace import Project, Workspace

# Duplicated from models.AgentMode / agents.schema so that building the parser imports neither.
AGENT_MODES = ("planning", "implementation")
SCHEMA_NAMES = ("agent-registry", "agent-profile", "config")
PROFILE_FORMATS = ("yaml", "json")


@click.group(cls=SuggestingGroup, invoke_without_command=True)
@project_option
@json_option
@click.pass_context
def agents(ctx: click.Context, project_name: str | None, as_json: bool) -> int:
    """List the agents, their modes and stages.

    Also shows the stages no agent lists (unrouted) and those several list (overlaps).

    A stage belongs to the first agent (in registry order) that lists it.
    """
    ctx.obj = {"project_name": project_name}
    if ctx.invoked_subcommand is not None:
        return 0
    from idse_orchestrator.agents.registry import agents_report

    ws, proj = open_project(project_name)
    report = agents_report(ws, proj)
    if as_json:
        echo_json(report)
        return 0
    _print_agents(report)
    return 0


def _print_agents(report: dict[str, Any]) -> None:
    click.echo(f"registry  {report['registry']}")
    rows = [("AGENT", "ROLE", "MODE", "STAGES")]
    rows += [(a["id"], a["role"], a["mode"], ", ".join(a["stages"]) or "-") for a in report["agents"]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3])
    if not report["agents"]:
        click.echo("(no agents)")
    click.echo(f"unrouted  {', '.join(report['unrouted']) or 'none'}")
    overlaps = [f"{o['stage']} ({', '.join(o['agents'])}; {o['winner']} owns it)" for o in report["overlaps"]]
    click.echo(f"overlaps  {'; '.join(overlaps) or 'none'}")


@agents.command("set-mode")
@click.argument("agent_id", metavar="AGENT", shell_complete=complete_agents)
@click.argument("mode", type=click.Choice(AGENT_MODES))
@project_option
@click.pass_context
def agents_set_mode(ctx: click.Context, agent_id: str, mode: str, project_name: str | None) -> int:
    """Set AGENT's mode (planning or implementation) in agent_registry.json, keeping everything else."""
    from idse_orchestrator.agents.registry import set_agent_mode

    parent = ctx.obj or {}
    ws, proj = open_project(project_name or parent.get("project_name"))
    changed = set_agent_mode(ws, proj, agent_id, mode)
    click.echo(f"Agent {agent_id!r} is {'now' if changed else 'already'} in {mode} mode.")
    return 0


@click.command()
@click.argument("stage_name", metavar="STAGE", shell_complete=complete_stages)
@project_option
@session_option
@json_option
def route(stage_name: str, project_name: str | None, session: str | None, as_json: bool) -> int:
    """Print the agent that owns STAGE.

    Exits 1 when no agent lists STAGE.

    JSON output: {"stage", "agent", "mode", "role"}.
    """
    from idse_orchestrator import quick

    return quick.route(quick.Out(click.echo, paint), stage_name, project_name, session, as_json)


@click.command("generate-agent-files")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file is missing or out of date.")
@project_option
@json_option
def generate_agent_files(check: bool, project_name: str | None, as_json: bool) -> int:
    """Write the IDE agents' instruction files.

    By default, the files of the registry's agents (CLAUDE.md, AGENTS.md,
    .github/copilot-instructions.md, .cursor/rules/idse.mdc, GEMINI.md) plus those that already exist;
    choose others with `agent_files` in .idse/config.yaml. Only the block between the idse:begin and
    idse:end markers is idse's; the rest of each file is kept.
    """
    from idse_orchestrator.agents.files import agent_files_report

    ws, proj = open_project(project_name)
    report = agent_files_report(ws, proj, write=not check)
    changed, unchanged = report["changed"], report["unchanged"]
    if as_json:
        key = "out_of_date" if check else "written"
        echo_json({key: changed, "unchanged": unchanged})
    elif check:
        for rel in changed:
            click.echo(f"out of date  {rel}")
        if changed:
            click.echo("Run 'idse generate-agent-files' to update them.")
        else:
            click.echo(f"Agent files are up to date ({len(unchanged)} checked).")
    else:
        for rel in changed:
            click.echo(f"wrote  {rel}")
        if not changed:
            click.echo(f"Agent files are up to date ({len(unchanged)} checked).")
    return 1 if check and changed else 0


@click.group("compile", cls=SuggestingGroup)
def compile_group() -> None:
    """Compile documents into machine-readable files."""


@compile_group.command("agent-spec")
@project_option
@session_option
@click.option("--all", "all_sessions", is_flag=True, help="Compile every session whose spec has a profile.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(PROFILE_FORMATS),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    "out_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write to (default: the project's build/agents/).",
)
@click.option("--dry-run", is_flag=True, help="Print the compiled profile instead of writing it.")
@click.option("--schema", "show_schema", is_flag=True, help="Print the JSON Schema of the profile and exit.")
def agent_spec(
    project_name: str | None,
    session: str | None,
    all_sessions: bool,
    fmt: str,
    out_dir: Path | None,
    dry_run: bool,
    show_schema: bool,
) -> int:
    """Compile the '## Agent Profile' YAML block of spec.md into an agent profile.

    The blueprint's profile gives defaults: the session's keys win, mappings merge, lists and
    values replace. Writes build/agents/<session>.profile.yaml (or .json) in the project directory.
    An invalid profile fails with exit code 1 and a 'path:line: problem' message.
    """
    if show_schema:
        from idse_orchestrator.agents.schema import schema_text

        click.echo(schema_text("agent-profile"), nl=False)
        return 0
    from idse_orchestrator.agents.compiler import ProfileError, profile_sessions
    from idse_orchestrator.errors import Failed, UsageError

    if all_sessions and session:
        raise UsageError("--all and --session exclude each other")
    ws, proj = open_project(project_name)
    sessions = profile_sessions(ws, proj) if all_sessions else [proj.resolve_session(session)]
    if not sessions:
        click.echo("No session has an '## Agent Profile' section; nothing to compile.")
        return 0
    target = Path.cwd() / out_dir if out_dir is not None else None
    failures: list[ProfileError] = []
    rendered: list[str] = []
    for sid in sessions:
        try:
            rendered.append(_compile_one(ws, proj, sid, fmt, target, dry_run))
        except ProfileError as exc:
            if not all_sessions:
                raise
            failures.append(exc)
            click.echo(f"idse: error: {exc.message}", err=True)
    if dry_run and rendered:
        click.echo(_join_documents(rendered, fmt), nl=False)
    if failures:
        raise Failed(f"{len(failures)} of {len(sessions)} agent profiles failed to compile")
    return 0


def _compile_one(
    ws: Workspace, proj: Project, sid: str, fmt: str, out_dir: Path | None, dry_run: bool
) -> str:
    """Compile one session: returns the text when ``dry_run``, otherwise writes it and reports."""
    from idse_orchestrator.agents.compiler import compile_profile, render_profile, write_profile

    if dry_run:
        return render_profile(compile_profile(ws, proj, sid).spec, fmt)
    path, changed = write_profile(ws, proj, sid, fmt, out_dir)
    click.echo(f"{'wrote    ' if changed else 'unchanged'}  {ws.rel(path)}")
    return ""


def _join_documents(texts: list[str], fmt: str) -> str:
    if len(texts) == 1:
        return texts[0]
    if fmt == "yaml":
        return "---\n".join(texts)
    # Several JSON documents become one array so the output stays parseable.
    import json

    return json.dumps([json.loads(t) for t in texts], indent=2, ensure_ascii=False) + "\n"


@click.command()
@click.argument("name", type=click.Choice(SCHEMA_NAMES))
def schema(name: str) -> int:
    """Print a JSON Schema (draft 2020-12, with $schema and $id).

    NAME is agent-registry (agent_registry.json), agent-profile (compiled agent profiles) or
    config (.idse/config.yaml; point an editor's YAML support at it).
    """
    from idse_orchestrator.agents.schema import schema_text

    click.echo(schema_text(name), nl=False)
    return 0

"""The ``idse`` command line.

Click only parses arguments and calls one core function per command. Subcommands are imported
lazily so that ``idse --help`` and ``idse status`` load only what they need, and all expected
failures (``IdseError``) become one line on stderr with their exit code here, in one place.
"""

from __future__ import annotations

from typing import Any

import click

from idse_orchestrator import __version__

# command name -> "module:attribute" under idse_orchestrator.cli
COMMANDS: dict[str, str] = {
    "init": "workspace_cmds:init",
    "status": "workspace_cmds:status",
    "docs": "docs_cmds:docs",
    "session": "session_cmds:session",
    "sessions": "session_cmds:sessions",
    "session-info": "session_cmds:session_info",
    "spawn": "session_cmds:spawn",
    "validate": "validate_cmds:validate",
    "rules": "validate_cmds:rules",
    "build": "build_cmds:build",
    "graph": "build_cmds:graph",
    "site": "site_cmds:site",
    "accept": "build_cmds:accept",
    "watch": "watch_cmds:watch",
    "agents": "agent_cmds:agents",
    "route": "agent_cmds:route",
    "generate-agent-files": "agent_cmds:generate_agent_files",
    "compile": "agent_cmds:compile_group",
    "schema": "agent_cmds:schema",
    "sync": "sync_cmds:sync",
    "migrate": "migrate_cmds:migrate",
    "mcp": "mcp_cmds:mcp",
    "completion": "completion:completion",
}


# The top-level help: commands grouped by workflow, each with a one-line summary, and an example per
# group. Every name of COMMANDS is in exactly one group (tests/test_cli_polish.py checks it).
HELP_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    (
        "Workspace and sessions",
        (
            ("init", "Create .idse/ here with a project and its __blueprint__ session"),
            ("status", "Each stage of a session: status, agent; validation and last sync"),
            ("sessions", "List the project's sessions"),
            ("session-info", "One session's metadata and lineage (ancestors, children)"),
            ("session", "Create or switch sessions, or move one through its lifecycle"),
            ("spawn", "Start a feature session from its parent's intent and context"),
            ("accept", "Record that a stale stage was reviewed against its upstream"),
            ("docs", "Read the documentation offline; 'docs install' copies the method docs"),
            ("migrate", "Upgrade a workspace of idse-orchestrator 0.1 (--dry-run shows the plan)"),
            ("completion", "Print the shell completion script (bash, zsh, fish)"),
        ),
        "idse init shop --stack python && idse spawn checkout-flow && idse status",
    ),
    (
        "Documents and governance",
        (
            ("validate", "Check sessions against the constitution (text, json, sarif, github)"),
            ("rules", "List the constitution's rules; 'rules show ID' explains one"),
        ),
        "idse validate --all --format sarif -o idse.sarif",
    ),
    (
        "Build",
        (
            ("build", "Run the task graph: validate, check, write only what is out of date"),
            ("graph", "Draw the task graph as mermaid, dot, json, svg or png"),
            ("site", "Write a static HTML dashboard: status matrix, a page per session, graphs"),
            ("watch", "Rebuild on every save under .idse/: one line (or JSON object) per change"),
        ),
        "idse build --dry-run && idse build --jobs 4",
    ),
    (
        "Agents",
        (
            ("agents", "List the agents, their modes and stages; 'agents set-mode' changes one"),
            ("route", "Print the agent that owns a stage"),
            ("generate-agent-files", "Write CLAUDE.md, AGENTS.md and the other agent instruction files"),
            ("compile", "Compile the Agent Profile block of spec.md ('compile agent-spec')"),
            ("schema", "Print a JSON Schema: agent_registry.json, agent profiles, config.yaml"),
            ("mcp", "Serve this workspace to IDE agents over MCP (stdio)"),
        ),
        "idse route spec && idse generate-agent-files --check",
    ),
    (
        "Sync",
        (("sync", "Mirror documents with a remote store (config, status, push, pull, resolve)"),),
        "idse sync status && idse sync push --dry-run",
    ),
)

# Read commands whose --format json gets a --json alias here (their modules are not the CLI's own).
JSON_FORMAT_ALIASES: dict[str, str] = {"graph": "fmt"}

HELP_WIDTH = 100


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        from importlib import import_module

        module_name, attr = target.split(":")
        module = import_module(f"idse_orchestrator.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        if cmd_name in JSON_FORMAT_ALIASES:
            from idse_orchestrator.cli.common import json_format_alias

            command = json_format_alias(command, JSON_FORMAT_ALIASES[cmd_name])
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            from idse_orchestrator.cli.ui import unknown_command

            raise click.UsageError(unknown_command(name, sorted(COMMANDS)), ctx)
        return super().resolve_command(ctx, args)

    def get_help(self, ctx: click.Context) -> str:
        # A fixed width: the same text whatever the terminal, so it can be read, diffed and quoted.
        formatter = click.HelpFormatter(width=HELP_WIDTH, max_width=HELP_WIDTH)
        self.format_help(ctx, formatter)
        return formatter.getvalue().rstrip("\n")

    def _summary(self, ctx: click.Context, name: str) -> str:
        """The first line of a command's help, for a command the table does not list yet."""
        command = self.get_command(ctx, name)
        text = (command.short_help or command.help or "") if command is not None else ""
        return " ".join(text.strip().split("\n\n")[0].split())

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the table above, without importing a single command module, never truncated.
        listed = {name for _, rows, _ in HELP_GROUPS for name, _ in rows}
        groups = list(HELP_GROUPS)
        others = tuple((name, self._summary(ctx, name)) for name in sorted(set(COMMANDS) - listed))
        if others:
            groups.append(("Other commands", others, ""))
        width = max(len(name) for _, rows, _ in groups for name, _ in rows)
        for title, rows, example in groups:
            formatter.write("\n")
            formatter.write(f"{title}:\n")
            for name, summary in rows:
                formatter.write(f"  {name:<{width}}  {summary}".rstrip() + "\n")
            if example:
                formatter.write(f"  Example: {example}\n")


def _version_message() -> str:
    from idse_orchestrator.entry import version_line

    return version_line()


def _set_color(ctx: click.Context, _param: click.Parameter, mode: str) -> str:
    from idse_orchestrator.cli.ui import setup_color

    setup_color(ctx, mode)
    return mode


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", message=_version_message())
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    expose_value=False,
    is_eager=True,
    callback=_set_color,
    help="Colour severities and statuses (auto: on a terminal, unless NO_COLOR is set).",
)
def cli() -> None:
    """idse: a design-time documentation workspace for Intent-Driven Systems Engineering.

    Each project lives in .idse/projects/<project>/; each session holds seven pipeline documents:
    intent, context, spec, plan, tasks, implementation, feedback. Every command has --help; read
    commands have --json.

    Exit codes: 0 ok, 1 findings or failures, 2 usage or bad input, 3 internal error (a crash
    report is written under .idse/.cache/crash/).
    """


def _err(message: str) -> None:
    from idse_orchestrator.quick import error_line

    error_line(message)


def run(args: list[str]) -> int:
    """Run the CLI and translate every outcome to an exit code. Never lets a traceback escape."""
    from idse_orchestrator.quick import exit_code_of

    try:
        result: Any = cli.main(args=args, prog_name="idse", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        return 2
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _err(exc.format_message().replace("\n", " ") + hint)
        return 2
    except click.ClickException as exc:
        _err(exc.format_message())
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        return exit_code_of(KeyboardInterrupt(), args)
    except (Exception, KeyboardInterrupt) as exc:
        # IdseError, interrupts, broken pipes, read-only or full disks, and bugs (crash report).
        return exit_code_of(exc, args)
    return int(result or 0)

"""The ``idse`` command line.

Click only parses arguments and calls one core function per command. Subcommands are imported
lazily so that ``idse --help`` and ``idse status`` load only what they need, and all expected
failures (``IdseError``) become one line on stderr with their exit code here, in one place.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from idse_orchestrator import __version__

# command name -> "module:attribute" under idse_orchestrator.cli
COMMANDS: dict[str, str] = {
    "init": "workspace_cmds:init",
    "status": "workspace_cmds:status",
    "docs": "workspace_cmds:docs",
    "session": "session_cmds:session",
    "sessions": "session_cmds:sessions",
    "session-info": "session_cmds:session_info",
    "spawn": "session_cmds:spawn",
    "validate": "validate_cmds:validate",
    "rules": "validate_cmds:rules",
    "build": "build_cmds:build",
    "graph": "build_cmds:graph",
    "accept": "build_cmds:accept",
    "watch": "watch_cmds:watch",
    "agents": "agent_cmds:agents",
    "route": "agent_cmds:route",
    "generate-agent-files": "agent_cmds:generate_agent_files",
    "compile": "agent_cmds:compile_group",
    "schema": "agent_cmds:schema",
    "sync": "sync_cmds:sync",
}


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
        return command


def _version_message() -> str:
    from idse_orchestrator.entry import version_line

    return version_line()


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", message=_version_message())
def cli() -> None:
    """idse: a design-time documentation workspace for Intent-Driven Systems Engineering.

    Each project lives in .idse/projects/<project>/; each session holds seven pipeline documents:
    intent, context, spec, plan, tasks, implementation, feedback. Exit codes: 0 ok, 1 findings or
    failures, 2 usage or bad input.
    """


def _err(message: str) -> None:
    click.echo(f"idse: error: {message}", err=True)


def run(args: list[str]) -> int:
    """Run the CLI and translate every outcome to an exit code. Never lets a traceback escape."""
    from idse_orchestrator.errors import IdseError

    try:
        result: Any = cli.main(args=args, prog_name="idse", standalone_mode=False)
    except IdseError as exc:
        _err(exc.message.splitlines()[0] if exc.message else type(exc).__name__)
        return exc.exit_code
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
    except (click.Abort, KeyboardInterrupt):
        import signal

        # A second Ctrl-C while workers and threads shut down ends the process at once, silently.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error worth reporting.
        sys.stderr.close()
        return 1
    except OSError as exc:
        import errno

        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            where = f" ({exc.filename})" if exc.filename else ""
            _err(f"the workspace is read-only: cannot write{where}; read commands still work")
            return 2
        if exc.errno == errno.ENOSPC:
            _err(f"no space left on the device{f' ({exc.filename})' if exc.filename else ''}")
            return 2
        if os.environ.get("IDSE_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set IDSE_DEBUG=1 for the traceback)")
        return 1
    except Exception as exc:
        if os.environ.get("IDSE_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set IDSE_DEBUG=1 for the traceback)")
        return 1
    return int(result or 0)

"""`idse completion bash|zsh|fish`, and what the shell completes beyond command names.

The script is click's own; the shell calls `idse` back with `_IDSE_COMPLETE` set, and the callbacks
here complete the values a user would otherwise look up: session ids, stage names, rule ids, agent
ids, project names and documentation pages. A callback never fails: outside a workspace, or with a
damaged file, it simply offers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from idse_orchestrator.workspace import Project

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_IDSE_COMPLETE"

Completer = Callable[[click.Context, click.Parameter, str], list[str]]


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    return [v for v in values if v.startswith(incomplete)]


def _project_name(ctx: click.Context) -> str | None:
    node: click.Context | None = ctx
    while node is not None:
        name = node.params.get("project_name") or (node.obj or {}).get("project_name")
        if name:
            return str(name)
        node = node.parent
    return None


def _safe(produce: Callable[[click.Context], Iterable[str]]) -> Completer:
    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        try:
            return _matching(produce(ctx), incomplete)
        except Exception:  # completion must never print a traceback into the user's prompt
            return []

    return complete


def _project(ctx: click.Context) -> Project:
    from idse_orchestrator.cli.common import open_workspace

    return open_workspace().project(_project_name(ctx))


def _sessions(ctx: click.Context) -> list[str]:
    return _project(ctx).session_ids()


def _stages(_ctx: click.Context) -> tuple[str, ...]:
    from idse_orchestrator.stages import STAGE_NAMES

    return STAGE_NAMES


def _rules(_ctx: click.Context) -> list[str]:
    from idse_orchestrator.governance.ruleset import load_ruleset

    return [r.id for r in load_ruleset().rules]


def _agents(ctx: click.Context) -> list[str]:
    return [a.id for a in _project(ctx).registry().agents]


def _projects(_ctx: click.Context) -> list[str]:
    from idse_orchestrator.cli.common import open_workspace

    return open_workspace().project_names()


def _pages(_ctx: click.Context) -> list[str]:
    from idse_orchestrator.docs import pages

    return [p.name for p in pages()]


complete_sessions = _safe(_sessions)
complete_stages = _safe(_stages)
complete_rules = _safe(_rules)
complete_agents = _safe(_agents)
complete_projects = _safe(_projects)
complete_pages = _safe(_pages)


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from idse_orchestrator.cli import cli
    from idse_orchestrator.errors import UsageError

    cls = get_completion_class(shell)
    if cls is None:
        raise UsageError(f"no completion for shell {shell!r}; shells: {', '.join(SHELLS)}")
    return cls(cli, {}, "idse", COMPLETE_VAR).source()


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> int:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    It completes commands and options, and also session ids, stage names, rule ids, agent ids,
    project names and documentation pages from the workspace you are in. Install it with:

    \b
      bash:  idse completion bash > ~/.local/share/bash-completion/completions/idse
      zsh:   idse completion zsh > "${fpath[1]}/_idse"   (or: eval "$(idse completion zsh)" in ~/.zshrc)
      fish:  idse completion fish > ~/.config/fish/completions/idse.fish
    """
    click.echo(completion_script(shell), nl=False)
    return 0

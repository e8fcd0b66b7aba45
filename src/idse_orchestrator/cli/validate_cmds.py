"""`idse validate` and `idse rules`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from idse_orchestrator.cli.common import (
    echo_json,
    json_format_alias,
    json_option,
    open_workspace,
    project_option,
)
from idse_orchestrator.cli.completion import complete_rules, complete_sessions
from idse_orchestrator.cli.ui import SuggestingGroup, paint, plain

if TYPE_CHECKING:
    from idse_orchestrator.governance.ruleset import RuleSet


@click.command()
@project_option
@click.option(
    "--session",
    "-s",
    "sessions",
    multiple=True,
    metavar="S",
    help="Session to validate (repeatable).",
    shell_complete=complete_sessions,
)
@click.option("--all", "all_sessions", is_flag=True, help="Validate every session of the project.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
)
@click.option("--strict", is_flag=True, help="Warnings fail the run too.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="ID",
    help="Only report these rule ids (repeatable).",
    shell_complete=complete_rules,
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to a file.")
def validate(
    project_name: str | None,
    sessions: tuple[str, ...],
    all_sessions: bool,
    fmt: str,
    strict: bool,
    rules: tuple[str, ...],
    output: str | None,
) -> int:
    """Check sessions against the constitution. Exit 0 clean, 1 findings fail the run, 2 usage."""
    from idse_orchestrator import quick

    out = quick.Out(click.echo, paint)
    return quick.validate(out, project_name, sessions, all_sessions, fmt, strict, rules, output)


# `idse validate --json` is `idse validate --format json`.
validate = json_format_alias(validate)


@click.group(cls=SuggestingGroup, invoke_without_command=True)
@json_option
@click.pass_context
def rules(ctx: click.Context, as_json: bool) -> int:
    """List the constitution's rules (with this project's overrides applied)."""
    if ctx.invoked_subcommand is not None:
        return 0
    ruleset = _ruleset()
    if as_json:
        from idse_orchestrator.governance.report import ruleset_data

        echo_json(ruleset_data(ruleset))
        return 0
    click.echo(f"rule set {ruleset.version}")
    for r in ruleset.rules:
        state = r.severity if r.enabled else "off"
        click.echo(f"{r.id}  {paint(f'{state:<8}', state)} Art. {r.article:<5} {r.title}")
    for note in ruleset.overrides:
        click.echo(f"override applied: {note}")
    return 0


def _ruleset() -> RuleSet:
    from idse_orchestrator.errors import WorkspaceNotFound
    from idse_orchestrator.governance.ruleset import effective_ruleset, load_ruleset

    # Outside a workspace the shipped rule set is still worth showing.
    try:
        ws = open_workspace()
    except WorkspaceNotFound:
        return load_ruleset()
    return effective_ruleset(ws.config.rules)


@rules.command("show")
@click.argument("rule_id", shell_complete=complete_rules)
@json_option
def rules_show(rule_id: str, as_json: bool) -> int:
    """Explain one rule: article, what it checks, how to fix it."""
    ruleset = _ruleset()
    r = ruleset.rule(rule_id)
    article = ruleset.articles[r.article]
    if as_json:
        echo_json(
            {**r.model_dump(mode="json"), "article_title": article.title, "article_summary": article.summary}
        )
        return 0
    stages = (
        "session-wide"
        if r.scope == "session"
        else "project-wide"
        if r.scope == "project"
        else ", ".join(r.stages)
    )
    click.echo(f"{r.id}: {r.title}")
    click.echo(f"  article   {r.article} ({article.title}): {article.summary}")
    disabled = "" if r.enabled else " (disabled in .idse/config.yaml)"
    click.echo(f"  severity  {paint(r.severity, r.severity)}{disabled}")
    click.echo(f"  applies   {stages}")
    click.echo(f"  checks    {r.check} {plain(r.params) if r.params else ''}".rstrip())
    click.echo(f"  message   {r.message}")
    click.echo(f"  fix       {r.fix}")
    return 0

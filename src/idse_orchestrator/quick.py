"""The everyday commands, answered without click.

``idse status``, ``sessions``, ``route``, ``validate`` and ``build`` run dozens of times an hour, by
people and by agents after every edit; importing click (with inspect, typing and friends) would be
about a third of their run time. Their bodies live here and take an :class:`Out`; the click commands
call the same bodies, so both ways print the same bytes. :func:`main` parses the plain forms of
these commands itself and hands everything else (help, an unknown or misspelt option, a missing
argument, any other command) to click, which owns every usage message: this parser only ever
accepts, it never rejects.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idse_orchestrator.workspace import Project, Workspace


class Out:
    """Where a command body prints: ``echo(text, err=False)`` and ``paint(text, role)``."""

    def __init__(self, echo: Callable[..., Any], paint: Callable[[str, str], str]) -> None:
        self.echo = echo
        self.paint = paint

    def json(self, data: Any) -> None:
        import json

        self.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def warn(self, message: str) -> None:
        self.echo(f"idse: warning: {message}", err=True)


def open_workspace() -> Workspace:
    """The workspace around the current directory: only the command line discovers one."""
    from pathlib import Path

    from idse_orchestrator.workspace import Workspace

    return Workspace.discover(Path.cwd())


def open_project(project_name: str | None) -> tuple[Workspace, Project]:
    ws = open_workspace()
    return ws, ws.project(project_name)


# ------------------------------------------------------------------------------------------ bodies


def status(out: Out, project_name: str | None, session: str | None, as_json: bool, why: bool) -> int:
    from idse_orchestrator.engine.queries import session_report

    ws, proj = open_project(project_name)
    report = session_report(ws, proj, session)
    if as_json:
        out.json(report)
        return 0
    out.echo(f"project  {report['project']}")
    out.echo(f"session  {report['session']}")
    for name, st in report["stages"].items():
        agent = st["agent"] or "(no agent)"
        shown = out.paint(f"{st['status']:<12}", st["status"])
        out.echo(f"  {name:<15} {shown} {agent}")
        for reason in st.get("why", []) if why else []:
            out.echo(f"      {reason}")
    validation = report["validation_status"]
    out.echo(f"validation  {out.paint(validation, validation)}")
    out.echo(f"last sync   {report['last_sync'] or 'never'}")
    return 0


def sessions(out: Out, project_name: str | None, as_json: bool) -> int:
    from idse_orchestrator.sessions import list_sessions
    from idse_orchestrator.textout import plain, table

    _, proj = open_project(project_name)
    rows = list_sessions(proj)
    if as_json:
        out.json({"project": proj.name, "sessions": rows})
        return 0
    # Column widths come from the data: a 64-character session id keeps the columns aligned.
    lines = table(
        [("SESSION", "TYPE", "STATUS", "PARENT")]
        + [(row["id"], row["type"], row["status"], plain(row["parent"])) for row in rows]
    )
    marks = [" "] + ["*" if row["current"] else " " for row in rows]
    for mark, line in zip(marks, lines, strict=True):
        out.echo(f"{mark} {line}")
    for row in rows:
        if "problem" in row:
            out.warn(f"{row['problem']} (defaults shown; 'idse validate' reports it)")
    return 0


def route(out: Out, stage_name: str, project_name: str | None, session: str | None, as_json: bool) -> int:
    from idse_orchestrator.agents.registry import route_stage
    from idse_orchestrator.stages import stage

    ws, proj = open_project(project_name)
    sid = proj.resolve_session(session)
    found = route_stage(ws, proj, stage_name)
    if as_json:
        out.json(found.as_dict())
        return 0
    out.echo(f"{found.stage}: {found.agent} ({found.role}, {found.mode} mode)")
    out.echo(f"document: {ws.rel(proj.document_path(sid, stage(stage_name)))}")
    return 0


def validate(
    out: Out,
    project_name: str | None,
    sessions: tuple[str, ...],
    all_sessions: bool,
    fmt: str,
    strict: bool,
    rules: tuple[str, ...],
    output: str | None,
) -> int:
    from idse_orchestrator.engine.validation import validate as run_validate
    from idse_orchestrator.errors import UsageError
    from idse_orchestrator.governance.report import render, render_text

    if sessions and all_sessions:
        raise UsageError("use either --session or --all, not both")
    ws, proj = open_project(project_name)
    chosen = None if all_sessions else (list(sessions) or [proj.current_session()])
    result = run_validate(
        ws,
        proj,
        chosen,
        rule_ids=list(rules) or None,
        strict=strict,
        warn=out.warn,
        summary_will_do=fmt == "text" and not output,
    )
    if output:
        from pathlib import Path

        from idse_orchestrator.fsutil import atomic_write_text

        text = render(fmt, result.findings, result.full_ruleset, len(result.sessions))
        atomic_write_text(Path(output), text + "\n")
    elif fmt == "text":
        out.echo(render_text(result.findings, result.ruleset, len(result.sessions), paint=out.paint))
    else:
        out.echo(render(fmt, result.findings, result.full_ruleset, len(result.sessions)))
    return result.exit_code


# A terminal line is redrawn at most this often; a log gets a line at most this often.
TTY_EVERY_S = 0.1
LOG_EVERY_S = 5.0


def progress_printer(enabled: bool) -> Callable[[int, int, str], None] | None:
    """Progress of a build on stderr: on a terminal one line redrawn in place (done/total, the
    task, elapsed time), otherwise a plain line every few seconds; never on stdout."""
    if not enabled:
        return None
    import time

    # The stream as it is now: while doit runs, sys.stderr is redirected into a buffer.
    stream = sys.stderr
    tty = stream.isatty()
    started = time.monotonic()
    last = [started - (TTY_EVERY_S if tty else 0.0)]

    def progress(done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if now - last[0] < (TTY_EVERY_S if tty else LOG_EVERY_S) and done < total:
            return
        last[0] = now
        elapsed = now - started
        if tty:
            stream.write(f"\r\033[K[{done}/{total}] {name} ({elapsed:.0f} s)")
        elif elapsed >= LOG_EVERY_S:
            stream.write(f"idse: {done}/{total} tasks ({elapsed:.0f} s), at {name}\n")
        stream.flush()

    return progress


def build(
    out: Out,
    project_name: str | None,
    sessions: tuple[str, ...],
    jobs: int,
    force: bool,
    with_sync: bool,
    as_json: bool,
) -> int:
    """``idse build`` without --dry-run or --explain."""
    from idse_orchestrator.engine.build import DEFAULT_FAMILIES
    from idse_orchestrator.engine.build import build as run_build

    ws, proj = open_project(project_name)
    families = DEFAULT_FAMILIES + (("sync",) if with_sync else ())
    progress = progress_printer(not as_json)
    report = run_build(
        ws,
        proj,
        list(sessions) or None,
        jobs=jobs,
        force=force,
        progress=progress,
        families=families,
        warn=out.warn,
    )
    if progress is not None and sys.stderr.isatty() and report.summary["ran"]:
        out.echo("\r\033[K", err=True, nl=False)
    if as_json:
        out.json(
            {
                "tasks": report.tasks,
                "findings": [f.to_dict() for f in report.findings],
                "summary": report.summary,
            }
        )
        return report.exit_code
    from idse_orchestrator.governance.report import location

    for task in report.tasks:
        if task["status"] == "failed":
            out.echo(f"FAILED {task['name']}: {task.get('error', '')}", err=True)
    shown_warnings = 20
    warnings = [f for f in report.findings if f.severity == "warning"]
    for f in report.findings:
        if f.severity == "error" or (f.severity == "warning" and shown_warnings > 0):
            shown_warnings -= f.severity == "warning"
            out.echo(f"{location(f)}: {f.severity} {f.rule} {f.message}")
    if len(warnings) > 20:
        out.echo(f"... and {len(warnings) - 20} more warning(s): idse validate --all lists them all")
    s = report.summary
    if s["ran"] == 0 and s["failed"] == 0 and s["errors"] == 0 and s["warnings"] == 0:
        out.echo(f"up to date ({s['tasks']} tasks)")
    else:
        skipped = f", skipped {s['skipped']}" if s["skipped"] else ""
        out.echo(
            f"ran {s['ran']}, up to date {s['up_to_date']}, failed {s['failed']}{skipped}"
            f" · {s['errors']} error(s), {s['warnings']} warning(s) in {s['sessions']} session(s)"
        )
    return report.exit_code


# ------------------------------------------------------------------------------- outcome of a run


def error_line(message: str) -> None:
    print(f"idse: error: {message}", file=sys.stderr, flush=True)


def exit_code_of(exc: BaseException, args: list[str]) -> int:
    """What every failure but click's own becomes: one line on stderr and its exit code."""
    from idse_orchestrator.errors import IdseError

    if isinstance(exc, IdseError):
        error_line(exc.message.splitlines()[0] if exc.message else type(exc).__name__)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        import signal

        # A second Ctrl-C while workers and threads shut down ends the process at once, silently.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        error_line("interrupted")
        return 130
    if isinstance(exc, BrokenPipeError):
        # Output piped into `head` and friends: not an error worth reporting.
        sys.stderr.close()
        return 1
    if isinstance(exc, OSError):
        import errno

        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            where = f" ({exc.filename})" if exc.filename else ""
            error_line(f"the workspace is read-only: cannot write{where}; read commands still work")
            return 2
        if exc.errno == errno.ENOSPC:
            error_line(f"no space left on the device{f' ({exc.filename})' if exc.filename else ''}")
            return 2
    if os.environ.get("IDSE_DEBUG"):
        raise exc
    # A bug: one line naming the crash report, which holds the traceback (secrets scrubbed).
    from idse_orchestrator import crash

    report = crash.write_report(exc, args)
    error_line(crash.one_line(exc, report))
    return crash.EXIT_INTERNAL


# ------------------------------------------------------------------------------------------ parser

# command -> (flags, options taking one value, repeatable options, positional arguments)
_PROJECT = {"--project": "project_name", "-p": "project_name"}
_SESSION = {"--session": "session", "-s": "session"}
FORMS: dict[str, tuple[dict[str, str], dict[str, str], frozenset[str], int]] = {
    "status": ({"--json": "as_json", "--why": "why"}, {**_PROJECT, **_SESSION}, frozenset(), 0),
    "sessions": ({"--json": "as_json"}, _PROJECT, frozenset(), 0),
    "route": ({"--json": "as_json"}, {**_PROJECT, **_SESSION}, frozenset(), 1),
    "validate": (
        {"--all": "all_sessions", "--strict": "strict"},
        {**_PROJECT, "--session": "sessions", "-s": "sessions", "--format": "fmt"},
        frozenset({"sessions"}),
        0,
    ),
    "build": ({"--json": "as_json", "--force": "force"}, _PROJECT, frozenset(), 0),
}


def parse(args: list[str]) -> tuple[str, str, dict[str, Any], list[str]] | None:
    """(colour mode, command, options, positionals) for a plain form of an everyday command;
    None for anything else (click decides)."""
    if "_IDSE_COMPLETE" in os.environ:
        return None  # shell completion is click's
    color = "auto"
    rest = list(args)
    while rest and rest[0].startswith("--color"):
        head = rest.pop(0)
        if head == "--color" and rest:
            color = rest.pop(0)
        elif head.startswith("--color="):
            color = head.split("=", 1)[1]
        else:
            return None
        if color not in ("auto", "always", "never"):
            return None
    if not rest or rest[0] not in FORMS:
        return None
    command, tokens = rest[0], rest[1:]
    flags, valued, repeated, wanted = FORMS[command]
    options: dict[str, Any] = {dest: () for dest in repeated}
    positionals: list[str] = []
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("-"):
            positionals.append(token)
            continue
        name, eq, value = token.partition("=")
        if not eq and name in flags:
            options[flags[name]] = True
        elif name in valued and (eq and name.startswith("--") or not eq and tokens):
            value = value if eq else tokens.pop(0)
            if not value or value.startswith("-"):
                return None
            dest = valued[name]
            options[dest] = (*options[dest], value) if dest in repeated else value
        else:
            return None
    if len(positionals) != wanted or ("fmt" in options and options["fmt"] != "text"):
        return None
    if "project_name" not in options and "IDSE_PROJECT" in os.environ:
        if not os.environ["IDSE_PROJECT"]:
            return None
        options["project_name"] = os.environ["IDSE_PROJECT"]
    return color, command, options, positionals


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def main(args: list[str]) -> int | None:
    """Run ``args`` when they are a plain form of an everyday command; None when click must."""
    parsed = parse(args)
    if parsed is None:
        return None
    from idse_orchestrator.textout import decide_color, painter

    color, command, opts, positionals = parsed
    out = Out(_echo, painter(decide_color(color)))
    get = opts.get
    try:
        if command == "status":
            return status(out, get("project_name"), get("session"), bool(get("as_json")), bool(get("why")))
        if command == "sessions":
            return sessions(out, get("project_name"), bool(get("as_json")))
        if command == "route":
            return route(out, positionals[0], get("project_name"), get("session"), bool(get("as_json")))
        if command == "validate":
            fmt = "text"
            return validate(
                out, get("project_name"), opts["sessions"], bool(get("all_sessions")), fmt,
                bool(get("strict")), (), None,
            )  # fmt: skip
        return build(out, get("project_name"), (), 1, bool(get("force")), False, bool(get("as_json")))
    except Exception as exc:  # noqa: BLE001 - every failure becomes its exit code, as in the click path
        return exit_code_of(exc, args)
    except KeyboardInterrupt as exc:
        return exit_code_of(exc, args)

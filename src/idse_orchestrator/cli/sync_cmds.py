"""`idse sync config|init|status|push|pull|resolve`: mirror a project's documents to a remote store.

Whatever these commands print, on stdout or stderr and including error messages, is scrubbed of
URL and DSN secrets first (``sync.settings.scrub_text``), whether or not the URL parses.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from idse_orchestrator.cli.common import echo_json, json_option, open_project, project_option
from idse_orchestrator.cli.completion import complete_sessions, complete_stages
from idse_orchestrator.cli.ui import SuggestingGroup, plain
from idse_orchestrator.errors import IdseError

if TYPE_CHECKING:
    from idse_orchestrator.sync.engine import Report, SyncContext


def _scrub(text: str) -> str:
    from idse_orchestrator.sync.settings import scrub_text

    return scrub_text(text)


def _scrub_tree(data: Any) -> Any:
    if isinstance(data, str):
        return _scrub(data)
    if isinstance(data, dict):
        return {key: _scrub_tree(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrub_tree(value) for value in data]
    return data


def _say(text: str, *, err: bool = False) -> None:
    click.echo(_scrub(text), err=err)


def _say_json(data: Any) -> None:
    echo_json(_scrub_tree(data))


class _ScrubbingGroup(SuggestingGroup):
    """Errors leaving any sync command are scrubbed of secrets before the CLI prints them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IdseError as exc:
            clean = _scrub(exc.message)
            if clean != exc.message:
                exc.message = clean
                exc.args = (clean,)
            raise
        except click.exceptions.ClickException:
            raise
        except OSError as exc:
            # Kept an OSError (the CLI words a read-only or full disk itself), minus secrets in paths.
            for attr in ("filename", "filename2"):
                value = getattr(exc, attr, None)
                if isinstance(value, str):
                    setattr(exc, attr, _scrub(value))
            raise
        except Exception as exc:
            # An internal error is still reported as one, under its own name, but without a secret.
            text = str(exc)
            clean = _scrub(text)
            if clean == text:
                raise
            redacted = type(type(exc).__name__, (Exception,), {})(clean)
            raise redacted from None


@click.group(cls=_ScrubbingGroup)
def sync() -> None:
    """Mirror the project's documents to a remote store and back (three-way, conflicts kept).

    The remote is set in the sync: section of .idse/config.yaml and IDSE_SYNC_* variables; the
    token comes only from IDSE_SYNC_TOKEN. Read more: 'idse docs show sync'.
    """


@contextlib.contextmanager
def _context(project_name: str | None, *, locked: bool) -> Iterator[SyncContext]:
    from idse_orchestrator.sync.confine import local_root
    from idse_orchestrator.sync.engine import SyncContext
    from idse_orchestrator.sync.settings import load_settings
    from idse_orchestrator.sync.store import open_store

    ws, proj = open_project(project_name)
    store = open_store(load_settings(ws, proj), ws)
    try:
        root = local_root(ws.root)
        lock = root.lock(proj.sync_lock_path, what="sync") if locked else contextlib.nullcontext()
        with lock:
            ctx = SyncContext.open(ws, proj, store)
            if ctx.record_was_foreign:
                _say(
                    "idse: warning: the sync record comes from another copy of this workspace and was "
                    "ignored; artifacts that differ will show as conflicts",
                    err=True,
                )
            yield ctx
    finally:
        store.close()


@sync.command("config")
@project_option
@json_option
def sync_config(project_name: str | None, as_json: bool) -> int:
    """Show the effective sync settings and where each comes from (secrets masked)."""
    from idse_orchestrator.sync.settings import describe, load_settings

    ws, proj = open_project(project_name)
    shown = describe(load_settings(ws, proj, require=False))
    if as_json:
        _say_json(shown)
        return 0
    for key, value in shown["settings"].items():
        source = shown["sources"].get(key)
        text = "(not set)" if value is None else plain(value)
        _say(f"{key:<16} {text}" + (f"   [{source}]" if source else ""))
    return 0


@sync.command("init")
@project_option
def sync_init(project_name: str | None) -> int:
    """Prepare the remote: create the directory or the database tables (safe to repeat)."""
    with _context(project_name, locked=False) as ctx:
        _say(ctx.store.init())
    return 0


@sync.command("status")
@project_option
@click.option(
    "--session",
    "-s",
    "session",
    metavar="S",
    help="Only this session (default: all).",
    shell_complete=complete_sessions,
)
@json_option
def sync_status(project_name: str | None, session: str | None, as_json: bool) -> int:
    """Compare each document with the remote: in-sync, local-ahead, remote-ahead, conflict, …-only.

    Exits 1 when there is a conflict or the remote holds names that cannot be synced.
    """
    from idse_orchestrator.sync.engine import status

    with _context(project_name, locked=False) as ctx:
        report = status(ctx, session)
    if as_json:
        _say_json(report)
    else:
        _say(f"remote     {report['remote']}")
        for item in report["artifacts"]:
            _say(f"  {item['session'] + '/' + item['stage']:<40} {item['state']}")
        _echo_rejected(report["rejected"])
        _say(f"last sync  {report['last_sync'] or 'never'}")
    conflicts = any(item["state"] == "conflict" for item in report["artifacts"])
    return 1 if conflicts or report["rejected"] else 0


def _echo_rejected(rejected: list[dict[str, Any]]) -> None:
    for item in rejected:
        side = item.get("side", "remote")
        _say(f"  rejected {side} {item['session']!r}/{item['stage']!r}: {item['reason']}")


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


class _Counter:
    """A ``done/total`` counter on stderr, rewritten in place and erased when the transfer ends
    (or fails): only for transfers longer than one batch."""

    def __init__(self, direction: str) -> None:
        self.label = "pushing" if direction == "push" else "pulling"
        self.width = 0

    def __call__(self, done: int, total: int) -> None:
        from idse_orchestrator.sync.engine import BATCH

        if total <= BATCH:
            return
        if done >= total:
            self.clear()
            return
        line = f"{self.label} {done}/{total}"
        click.echo("\r" + line.ljust(self.width), err=True, nl=False)
        self.width = len(line)

    def clear(self) -> None:
        if self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)
            self.width = 0


def _transfer(
    direction: str, project_name: str | None, session: str | None, dry_run: bool, as_json: bool
) -> int:
    from idse_orchestrator.sync.engine import transfer

    # Progress only for a person watching a terminal: never with --json, nor when piped.
    counter = None if (as_json or dry_run or not _stderr_is_tty()) else _Counter(direction)
    try:
        with _context(project_name, locked=not dry_run) as ctx:
            report = transfer(ctx, "push" if direction == "push" else "pull", session, dry_run, counter)
    finally:
        if counter is not None:
            counter.clear()
    if as_json:
        _say_json(report.as_dict())
    else:
        _echo_report(report)
    return 1 if report.conflicts or report.rejected else 0


def _echo_report(report: Report) -> None:
    if report.dry_run:
        label = "would " + report.direction
    else:
        label = "pushed" if report.direction == "push" else "pulled"
    for item in report.transferred:
        revision = f"  (revision {str(item['revision'])[:16]})" if item["revision"] else ""
        _say(f"  {label:<12} {item['session']}/{item['stage']}{revision}")
    for item in report.conflicts:
        where = f": remote version saved as {item['remote_copy']}" if item["remote_copy"] else ""
        _say(f"  {'conflict':<12} {item['session']}/{item['stage']}{where}")
    other = "pull" if report.direction == "push" else "push"
    for item in report.skipped:
        reason = item.get("reason") or f"{item['state']}: run 'idse sync {other}'"
        _say(f"  {'skipped':<12} {item['session']}/{item['stage']} ({reason})")
    _echo_rejected(report.rejected)
    noun = "artifact" if len(report.transferred) == 1 else "artifacts"
    _say(
        f"{label.capitalize()} {len(report.transferred)} {noun}; {report.in_sync} in sync; "
        f"{len(report.conflicts)} conflict(s)."
    )
    if report.conflicts and not report.dry_run:
        _say(
            "Compare each document with its .remote copy, then run "
            "'idse sync resolve <session> <stage> --ours|--theirs'."
        )


def _transfer_options(func: Any) -> Any:
    func = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)
    func = click.option("--dry-run", is_flag=True, help="Show what would be transferred; change nothing.")(
        func
    )
    func = click.option(
        "--session",
        "-s",
        "session",
        metavar="S",
        help="Only this session (default: all).",
        shell_complete=complete_sessions,
    )(func)
    return project_option(func)


@sync.command("push")
@_transfer_options
def sync_push(project_name: str | None, session: str | None, dry_run: bool, as_json: bool) -> int:
    """Upload the documents changed locally since the last sync (local-ahead, local-only)."""
    return _transfer("push", project_name, session, dry_run, as_json)


@sync.command("pull")
@_transfer_options
def sync_pull(project_name: str | None, session: str | None, dry_run: bool, as_json: bool) -> int:
    """Download the documents changed remotely since the last sync (remote-ahead, remote-only)."""
    return _transfer("pull", project_name, session, dry_run, as_json)


@sync.command("resolve")
@click.argument("session_id", shell_complete=complete_sessions)
@click.argument("stage", shell_complete=complete_stages)
@click.option("--ours", is_flag=True, help="Keep the local document and upload it.")
@click.option("--theirs", is_flag=True, help="Take the remote document, replacing the local one.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@project_option
@json_option
def sync_resolve(
    session_id: str,
    stage: str,
    ours: bool,
    theirs: bool,
    yes: bool,
    project_name: str | None,
    as_json: bool,
) -> int:
    """Settle a conflict on SESSION_ID/STAGE by keeping one side (--ours or --theirs).

    Only the remote version saved in the .remote copy is replaced (or taken): if the remote changed
    since, the copy is refreshed, nothing is overwritten, and the command exits 1.
    """
    from idse_orchestrator.errors import UsageError
    from idse_orchestrator.sync.resolve import resolve

    if ours and theirs:
        raise UsageError("--ours and --theirs exclude each other: choose the one side to keep")
    if not (ours or theirs):
        raise UsageError("choose the side to keep: --ours (local) or --theirs (remote)")
    side = "ours" if ours else "theirs"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("resolving discards one version of the document; pass --yes to confirm")
        lost = "remote" if side == "ours" else "local"
        if not click.confirm(f"Replace the {lost} version of {session_id}/{stage}?"):
            _say("Nothing changed.")
            return 1
    with _context(project_name, locked=True) as ctx:
        result = resolve(ctx, session_id, stage, "ours" if side == "ours" else "theirs")
    if as_json:
        _say_json(result)
    else:
        kept = "local" if side == "ours" else "remote"
        _say(f"Resolved {session_id}/{stage}: kept the {kept} version; both sides now agree.")
    return 0

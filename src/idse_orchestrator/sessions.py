"""Projects and sessions: init, create, spawn, switch, list, inspect, lifecycle.

Every function takes a ``Workspace`` (or ``Project``) and returns plain data; the CLI renders it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idse_orchestrator import ids, light
from idse_orchestrator.errors import AlreadyExists, BadFile, IdseError, NotFound, Refused, UsageError
from idse_orchestrator.fsutil import atomic_write_text, dump_json, read_text, save_model
from idse_orchestrator.layout import CACHE_NAME
from idse_orchestrator.light import SESSION_STATUSES
from idse_orchestrator.stages import BLUEPRINT, METADATA_RELPATH, STAGES, Stage
from idse_orchestrator.templating import render, sha256_text
from idse_orchestrator.workspace import Project, Workspace

if TYPE_CHECKING:
    from idse_orchestrator.models import SessionMetadata

CONFIG_TEMPLATE = """\
# idse per-repo settings. There is no global configuration: everything lives here.
version: 1
# default_project: {project}
# Change a rule's severity or turn it off:
# rules:
#   IDSE-S002: warning
#   IDSE-F001: off
# Agent instruction files written by `idse generate-agent-files`:
# agent_files: [CLAUDE.md, AGENTS.md, .github/copilot-instructions.md, .cursor/rules/idse.mdc, GEMINI.md]
"""

# A session being built by `session create`/`spawn`/`init` lives in a folder with this prefix in the
# sessions directory until it is renamed into place. A dot name can never be a session id, so every
# command ignores such a folder; one left by a killed run is removed by the next create.
STAGING_PREFIX = ".creating-"
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)

GITIGNORE = f"""\
# Derived state: safe to delete, rebuilt by `idse build`.
{CACHE_NAME}/
# Lock files idse holds while it syncs (a session may be named *.lock: only these are ignored).
/projects/*/.sync.lock
/projects/*/.store.lock
# A session that a killed `idse session create` or `idse spawn` left half-written.
/projects/*/sessions/{STAGING_PREFIX}*/
# Compiled agent profiles (idse compile agent-spec); remove this line to commit them.
projects/*/build/
"""


@contextlib.contextmanager
def _repo_relative(ws: Workspace) -> Iterator[None]:
    """A ``BadFile`` raised inside (the shared readers and writers name files as given, absolute)
    names its file repo-relative, like every other message about the workspace."""
    try:
        yield
    except BadFile as exc:
        raise exc.relative_to(ws) from None


def document_context(project: str, session: str, stack: str | None, parent: str | None) -> dict[str, Any]:
    return {"project": project, "session": session, "stack": stack or "", "parent": parent or ""}


def render_document(ws: Workspace, stage: Stage, meta: SessionMetadata) -> str:
    return render(
        f"pipeline/{stage.template}", document_context(meta.project, meta.id, meta.stack, meta.parent), ws
    )


def _write_new(path: Path, text: str, created: list[str], ws: Workspace) -> None:
    if path.exists():
        return
    atomic_write_text(path, text)
    created.append(ws.rel(path))


def _metadata_text(meta: SessionMetadata) -> str:
    return dump_json(meta.model_dump(mode="json", exclude_none=False))


def _fill_session(
    ws: Workspace, project: Project, meta: SessionMetadata, seeded: dict[str, str], created: list[str]
) -> None:
    """Add the documents of an existing session folder that are missing (never overwriting), then its
    metadata. Every document is rendered before anything is written."""
    texts = render_session(ws, meta, seeded)
    for stage in STAGES:
        _write_new(project.document_path(meta.id, stage), texts[stage.name], created, ws)
    _write_new(project.metadata_path(meta.id), _metadata_text(meta), created, ws)


def _write_session(
    ws: Workspace, project: Project, meta: SessionMetadata, seeded: dict[str, str], created: list[str]
) -> None:
    """Create a new session whole or not at all.

    Every document is rendered first, so a template error leaves nothing behind. The folder is then
    built under a staging name (see ``STAGING_PREFIX``) and renamed into place in one step: a full
    disk or a ``kill -9`` leaves no session, only a staging folder that commands ignore.
    """
    texts = render_session(ws, meta, seeded)
    final = project.session_path(meta.id)
    with _staging(project, meta.id) as folder:
        try:
            for stage in STAGES:
                atomic_write_text(folder / stage.relpath, texts[stage.name])
            atomic_write_text(folder / METADATA_RELPATH, _metadata_text(meta))
            if final.exists() or final.is_symlink():
                raise AlreadyExists(f"session {meta.id!r} already exists in project {project.name!r}")
            os.rename(folder, final)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise AlreadyExists(
                    f"session {meta.id!r} already exists in project {project.name!r}"
                ) from None
            if exc.errno in _READ_ONLY:
                raise  # worded once for every command by the CLI
            reason = exc.strerror or str(exc)
            raise IdseError(
                f"cannot create session {meta.id!r} in {ws.rel(project.sessions_dir)}: {reason}; "
                "nothing was created"
            ) from None
    _sync_directory(project.sessions_dir)
    created.extend(ws.rel(final / stage.relpath) for stage in STAGES)
    created.append(ws.rel(final / METADATA_RELPATH))


def _sync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: not every filesystem can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _open_locked(path: Path, *, wait: bool) -> int | None:
    """An fd of folder ``path`` holding an exclusive flock on it, or None if another process holds it
    (``wait=False``) or the folder cannot be opened. The lock dies with its process, even on SIGKILL."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def clean_staging(project: Project) -> list[str]:
    """Remove the staging folders of creates that were killed; those still being written (their
    creator holds a lock on them) are left alone. Returns the names removed."""
    try:
        entries = sorted(project.sessions_dir.iterdir())
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink() or not entry.is_dir():
            continue
        fd = _open_locked(entry, wait=False)
        if fd is None:
            continue
        try:
            import shutil  # here: listing sessions (a light command) never needs it

            shutil.rmtree(entry, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(entry.name)
    return removed


@contextlib.contextmanager
def _staging(project: Project, session: str) -> Iterator[Path]:
    """A fresh staging folder for ``session``, locked while this process builds it, removed if the
    build does not finish (renaming it into place is the caller's last step)."""
    sessions_dir = project.sessions_dir
    try:
        sessions_dir.mkdir(parents=True, exist_ok=True)
        clean_staging(project)
        for _attempt in range(10):
            import secrets

            folder = sessions_dir / f"{STAGING_PREFIX}{session}.{secrets.token_hex(4)}"
            folder.mkdir()
            # Waiting: a cleaner that locked the new folder first finishes deleting it, then we retry.
            fd = _open_locked(folder, wait=True)
            if fd is not None and folder.is_dir():
                break
            if fd is not None:
                os.close(fd)
        else:
            raise OSError(errno.EAGAIN, "the staging folder kept disappearing (another process removes it)")
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise  # worded once for every command by the CLI
        raise IdseError(
            f"cannot create session {session!r} in {project.workspace.rel(sessions_dir)}: "
            f"{exc.strerror or exc}; nothing was created"
        ) from None
    try:
        yield folder
    finally:
        if folder.is_dir():  # not renamed into place: the build failed
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def render_session(ws: Workspace, meta: SessionMetadata, seeded: dict[str, str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for stage in STAGES:
        if stage.name in seeded:
            texts[stage.name] = seeded[stage.name]
        else:
            texts[stage.name] = render_document(ws, stage, meta)
            meta.template_sha256[stage.name] = sha256_text(texts[stage.name])
    return texts


def init_project(ws: Workspace, name: str, *, stack: str | None = None, force: bool = False) -> list[str]:
    """Create the workspace skeleton and a project with its blueprint session.

    Never overwrites: an existing project is refused unless ``force``, and then only missing files are added.
    Returns the repo-relative paths that were created.
    """
    ids.project_name(name)
    if not force:
        _refuse_nested(ws)
    with _repo_relative(ws):
        return _init_project(ws, name, stack, force)


def enclosing_workspace(ws: Workspace) -> Workspace | None:
    """The workspace that a new `.idse/` at ``ws.root`` would be nested in, if any."""
    from idse_orchestrator.errors import WorkspaceNotFound

    if ws.idse_dir.is_dir():
        return None  # not a new workspace: it exists already
    here = ws.root.resolve()
    if here.parent == here:
        return None
    try:
        return Workspace.discover(here.parent)
    except WorkspaceNotFound:
        return None


def _refuse_nested(ws: Workspace) -> None:
    outer = enclosing_workspace(ws)
    if outer is not None:
        raise UsageError(
            f"already inside the idse workspace at {outer.root} (idse finds it from any folder in it); "
            "use --force to create a separate workspace nested in it"
        )


def _init_project(ws: Workspace, name: str, stack: str | None, force: bool) -> list[str]:
    project = Project(ws, name)
    if project.path.exists() and not force:
        raise AlreadyExists(
            f"project {name!r} already exists at {ws.rel(project.path)}; "
            "use --force to add only missing files"
        )
    from idse_orchestrator.models import SessionMetadata, default_registry

    meta = SessionMetadata(id=BLUEPRINT, project=name, type="blueprint", parent=None, stack=stack)
    render_session(ws, meta.model_copy(deep=True), {})  # a template error must leave nothing behind
    created: list[str] = []
    ws.idse_dir.mkdir(parents=True, exist_ok=True)
    _write_new(ws.config_path, CONFIG_TEMPLATE.format(project=name), created, ws)
    _write_new(ws.idse_dir / ".gitignore", GITIGNORE, created, ws)
    _write_new(project.current_session_path, BLUEPRINT + "\n", created, ws)
    _write_new(project.registry_path, dump_json(default_registry().model_dump(mode="json")), created, ws)
    if project.has_session(BLUEPRINT):
        _fill_session(ws, project, meta, {}, created)  # --force: add only what is missing
    else:
        _write_session(ws, project, meta, {}, created)
    return created


def _new_session(ws: Workspace, project: Project, session: str, parent: str | None) -> SessionMetadata:
    ids.session_id(session)
    if session == BLUEPRINT:
        raise AlreadyExists("__blueprint__ is created by 'idse init' and cannot be created again")
    if project.has_session(session):
        raise AlreadyExists(f"session {session!r} already exists in project {project.name!r}")
    stack = project.metadata(BLUEPRINT).stack if project.has_session(BLUEPRINT) else None
    from idse_orchestrator.models import SessionMetadata

    return SessionMetadata(id=session, project=project.name, type="feature", parent=parent, stack=stack)


def create_session(ws: Workspace, project: Project, session: str) -> list[str]:
    """A new feature session from the templates; it becomes current."""
    meta = _new_session(ws, project, session, BLUEPRINT if project.has_session(BLUEPRINT) else None)
    created: list[str] = []
    with _repo_relative(ws):
        _write_session(ws, project, meta, {}, created)
    switch_session(ws, project, session)
    return created


# Characters of a session id: an id is renamed in a heading only where it stands as a whole word.
_ID_CHAR = r"[A-Za-z0-9._-]"


def retitle(text: str, old: str, new: str) -> str:
    """``text`` with session id ``old`` replaced by ``new`` in its first level-1 heading, where that
    heading names it (``# Intent: __blueprint__``); every other byte is kept."""
    from idse_orchestrator.markdown import parse

    heading = next((h for h in parse(text).headings if h.level == 1), None)
    if heading is None or old not in heading.title:
        return text
    lines = text.split("\n")  # line endings stay on their lines; a "\r" stays before its "\n"
    index = heading.line - 1
    if index >= len(lines) or heading.title not in lines[index]:
        return text  # line numbering that does not match this split: leave the text alone
    # Only the whole id: "auth" is not renamed inside "auth-v2" or "oauth" (a final "." ends a sentence).
    word = re.compile(rf"(?<!{_ID_CHAR}){re.escape(old)}(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])")
    lines[index] = word.sub(lambda _match: new, lines[index])
    return "\n".join(lines)


def spawn_session(ws: Workspace, project: Project, session: str, parent: str | None = None) -> list[str]:
    """A feature session that starts from its parent's intent and context and records the lineage.

    The copies are the parent's text, except that a first heading naming the parent names the new
    session (``# Intent: <session>``)."""
    from idse_orchestrator.status import document_status

    parent = project.require_session(BLUEPRINT if parent is None else parent)
    meta = _new_session(ws, project, session, parent)
    parent_meta = project.metadata(parent)
    seeded: dict[str, str] = {}
    with _repo_relative(ws):
        for stage in STAGES[:2]:
            src = project.document_path(parent, stage)
            if not src.is_file():
                continue
            text = read_text(src)
            seeded[stage.name] = retitle(text, parent, session)
            if document_status(ws, stage, parent_meta, text) == "pending":
                # An untouched parent template stays "untouched" in the child.
                meta.template_sha256[stage.name] = sha256_text(seeded[stage.name])
        meta.spawned_from = {"session": parent, "stages": sorted(seeded)}
        created: list[str] = []
        _write_session(ws, project, meta, seeded, created)
    switch_session(ws, project, session)
    return created


def switch_session(ws: Workspace, project: Project, session: str) -> None:
    project.require_session(session)
    # session_state.json follows on the next `idse build` (its one writer).
    with _repo_relative(ws):
        atomic_write_text(project.current_session_path, session + "\n")


def children_of(project: Project, session: str) -> list[str]:
    # Another session's unusable metadata is that session's finding (IDSE-M001), not this one's error.
    return [
        s
        for s in project.session_ids()
        if s != session and project.metadata_or_default(s)[0].parent == session
    ]


def list_sessions(project: Project) -> list[dict[str, Any]]:
    current = project.current_session()
    out = []
    for sid in project.session_ids():
        fields = light.session_fields(project, sid)
        problem = None
        if fields is None:
            # One unreadable session.json is that session's problem (shown in its row), not the list's.
            meta, problem = project.metadata_or_default(sid)
            fields = light.SessionFields(meta.type, meta.status, meta.parent)
        row: dict[str, Any] = {
            "id": sid,
            "type": fields.type,
            "status": fields.status,
            "parent": fields.parent,
            "current": sid == current,
        }
        if problem:
            row["problem"] = f"{project.workspace.rel(project.metadata_path(sid))}: {problem}"
        out.append(row)
    return out


def session_info(ws: Workspace, project: Project, session: str) -> dict[str, Any]:
    project.require_session(session)
    meta = project.metadata(session)
    lineage = []
    cursor = meta.parent
    while cursor and cursor not in lineage and project.has_session(cursor):
        lineage.append(cursor)
        cursor = project.metadata_or_default(cursor)[0].parent
    data = meta.model_dump(mode="json")
    data.pop("template_sha256", None)
    return {
        **data,
        "path": ws.rel(project.session_path(session)),
        "current": project.current_session() == session,
        "ancestors": lineage,
        "children": children_of(project, session),
    }


def set_session_status(ws: Workspace, project: Project, session: str, status: str) -> SessionMetadata:
    from idse_orchestrator.status import session_stage_statuses

    if status not in SESSION_STATUSES:
        raise NotFound(f"unknown session status {status!r}; use one of {', '.join(SESSION_STATUSES)}")
    project.require_session(session)
    meta = project.metadata(session)
    if status == "complete":
        stages = session_stage_statuses(ws, project, session)
        open_ = [f"{name} ({st})" for name, st in stages.items() if st != "complete"]
        if open_:
            raise Refused(f"session {session!r} cannot be complete: stages not complete: {', '.join(open_)}")
    meta.status = status  # type: ignore[assignment]
    with _repo_relative(ws):
        save_model(project.metadata_path(session), meta)
    return meta

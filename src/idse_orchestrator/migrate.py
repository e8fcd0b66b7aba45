"""`idse migrate`: upgrade a workspace written by idse-orchestrator 0.1, in place.

The plan is computed first, from what is on disk; ``--dry-run`` shows it and stops. Applying it
holds the build and sync locks of every project (no build, watch round or sync runs meanwhile) and
writes only the files it names. Every file it rewrites or removes is first copied, byte for byte,
to ``.idse/.migrate-backup/<n>/`` (``n`` counts runs that changed something; the folder ignores
itself in git), with the plan beside it as ``migrate.json``. A copy of a document held by the 0.1
SQLite store that differs from the file is written beside it as ``<name>.db.md``.

When the run upgrades 0.1 files, it also carries over what the documents were written against:
the 0.1 templates become overrides in ``.idse/templates/pipeline/`` (see ``migrate_templates``),
and Agent Profile keys that 0.1 accepted are rewritten in the spec's YAML block (see
``migrate_profiles``): the only edit ever made to a document. A second run finds nothing to do.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idse_orchestrator import layout
from idse_orchestrator.errors import BadFile
from idse_orchestrator.stages import BLUEPRINT, BY_NAME
from idse_orchestrator.workspace import Project, Workspace

DB_NAME = "idse.db"
DB_SUFFIX = ".db.md"
# Documents of the 0.1 store whose session has no folder here are written under this project folder.
DB_ONLY_DIR = "db-only"


@dataclass
class Change:
    """One file the migration writes: ``text`` is its new content, ``None`` to remove it."""

    action: str  # "rewrite", "create" or "remove"
    path: Path
    reason: str
    text: str | None


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_migration(ws: Workspace) -> Plan:
    plan = Plan()
    projects = [Project(ws, name) for name in ws.project_names()]
    for project in projects:
        _plan_metadata(ws, project, plan)
        _plan_registry(ws, project, plan)
        _plan_state(ws, project, plan)
        # 0.1 keeps a session registry of the blueprint in meta.md (in the project folder, or later
        # in the blueprint's metadata folder): the user's notes, not read here.
        for meta in (project.path / "meta.md", project.metadata_path(BLUEPRINT).with_name("meta.md")):
            if meta.is_file():
                plan.notes.append(f"{ws.rel(meta)}: kept as it is (idse does not read it)")
    # Only while 0.1 files are upgraded: an override deleted later, or a key typed later, is the
    # user's choice, and a second run must change nothing.
    if plan.changes:
        _plan_templates(ws, plan)
        for project in projects:
            _plan_profiles(ws, project, plan)
    _plan_database(ws, plan)
    if plan.changes and not (ws.idse_dir / ".gitignore").exists():
        from idse_orchestrator.sessions import GITIGNORE

        plan.changes.append(
            Change("create", ws.idse_dir / ".gitignore", "keep idse's derived files out of git", GITIGNORE)
        )
    return plan


def _read_json(ws: Workspace, path: Path, plan: Plan) -> Any:
    from idse_orchestrator.fsutil import read_json

    try:
        return read_json(path)
    except BadFile as exc:
        plan.notes.append(f"{ws.rel(path)}: left as it is: {exc.detail}")
        return None


def _plan_metadata(ws: Workspace, project: Project, plan: Plan) -> None:
    from idse_orchestrator import legacy
    from idse_orchestrator.fsutil import dump_json

    for session in project.session_ids():
        path = project.metadata_path(session)
        if not path.is_file():
            continue
        data = _read_json(ws, path, plan)
        if not legacy.is_legacy_metadata(data):
            continue
        mapped = legacy.map_metadata(data, project.name, session)
        try:
            project.metadata(session)
        except BadFile as exc:
            plan.notes.append(f"{ws.rel(path)}: left as it is: {exc.detail}")
            continue
        plan.changes.append(Change("rewrite", path, "0.1 session metadata to this schema", dump_json(mapped)))


def _plan_registry(ws: Workspace, project: Project, plan: Plan) -> None:
    import json

    from pydantic import ValidationError

    from idse_orchestrator import legacy
    from idse_orchestrator.fsutil import pydantic_problem
    from idse_orchestrator.models import AgentRegistry

    path = project.registry_path
    if not path.is_file():
        return
    data = _read_json(ws, path, plan)
    if not legacy.is_legacy_registry(data):
        return
    mapped = legacy.map_registry(data)
    try:
        AgentRegistry.model_validate(mapped)
    except ValidationError as exc:
        plan.notes.append(f"{ws.rel(path)}: left as it is: {pydantic_problem(exc)}")
        return
    text = json.dumps(mapped, indent=2, ensure_ascii=False) + "\n"
    plan.changes.append(Change("rewrite", path, "a mode for every agent (0.1 registries have none)", text))


def _plan_state(ws: Workspace, project: Project, plan: Plan) -> None:
    from idse_orchestrator.fsutil import read_derived_json

    path = project.state_path
    if not path.is_file():
        return
    data = read_derived_json(path)
    if isinstance(data, dict) and "project" in data and "session" in data:
        return
    plan.changes.append(Change("remove", path, "derived 0.1 state; 'idse build' writes it again", None))


def _plan_templates(ws: Workspace, plan: Plan) -> None:
    from idse_orchestrator.migrate_templates import plan_overrides

    for override in plan_overrides(ws, plan.notes):
        plan.changes.append(Change("create", override.path, override.reason, override.text))


def _plan_profiles(ws: Workspace, project: Project, plan: Plan) -> None:
    """Agent Profile keys that 0.1 accepted and this tool rejects (IDSE-S003), rewritten."""
    from idse_orchestrator.fsutil import read_text
    from idse_orchestrator.migrate_profiles import CannotRewrite, rewrite_profile

    spec = BY_NAME["spec"]
    for session in project.session_ids():
        path = project.document_path(session, spec)
        try:
            before = read_text(path)
            rewrite = rewrite_profile(before)
        except BadFile:
            continue
        except CannotRewrite as exc:
            plan.notes.append(f"{ws.rel(path)}: Agent Profile left as it is: {exc}")
            continue
        if rewrite is None:
            continue
        done = []
        if rewrite.commented:
            done.append(f"{', '.join(rewrite.commented)} kept as comments")
        if rewrite.moved:
            done.append(f"{', '.join(rewrite.moved)} moved under extensions")
        reason = f"Agent Profile keys of 0.1: {'; '.join(done)}"
        plan.changes.append(Change("rewrite", path, reason, rewrite.text))
        _plan_baselines(ws, project, session, before, rewrite.text, plan)


def _plan_baselines(ws: Workspace, project: Project, session: str, old: str, new: str, plan: Plan) -> None:
    from idse_orchestrator.migrate_profiles import rebaselined

    path = project.metadata_path(session).with_name("baselines.json")
    text = rebaselined(path, old, new)
    if text is not None:
        reason = "the same Agent Profile rewrite: stages consistent with the spec stay so"
        plan.changes.append(Change("rewrite", path, reason, text))


# ---------------------------------------------------------------------------------------- database


def read_database(path: Path) -> list[tuple[str, str, str, str]] | str:
    """(project, session, stage, content) of every document in a 0.1 store, or why it cannot be read.

    The store is opened read-only: it is never changed."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc})"
    try:
        rows = conn.execute(
            "SELECT p.name, s.session_id, a.stage, a.content FROM artifacts a "
            "JOIN sessions s ON a.session_id = s.id JOIN projects p ON a.project_id = p.id "
            "ORDER BY p.name, s.session_id, a.stage"
        ).fetchall()
    except sqlite3.Error as exc:
        return f"is not a store of idse-orchestrator 0.1 ({exc})"
    finally:
        conn.close()
    out = []
    for project, session, stage, content in rows:
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="surrogateescape")
        if all(isinstance(v, str) for v in (project, session, stage, content)):
            out.append((project, session, stage, content))
    return out


def current_session_in_database(path: Path, project: str) -> str | None:
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT current_session_id FROM projects WHERE name = ?", (project,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return row[0] if row and isinstance(row[0], str) else None


def db_copy_path(document: Path) -> Path:
    """``intents/intent.md`` -> ``intents/intent.db.md``."""
    return document.with_name(document.stem + DB_SUFFIX)


def _plan_database(ws: Workspace, plan: Plan) -> None:
    from idse_orchestrator import ids
    from idse_orchestrator.fsutil import read_text
    from idse_orchestrator.migrate_profiles import migrated

    db = ws.idse_dir / DB_NAME
    if not db.is_file():
        return
    rows = read_database(db)
    if isinstance(rows, str):
        plan.notes.append(f"{ws.rel(db)}: left as it is: {rows}")
        return
    projects = set(ws.project_names())
    for project_name, session, stage_name, content in rows:
        if project_name not in projects or not ids.is_valid_session_id(session):
            base = ws.idse_dir / DB_ONLY_DIR
            where = (project_name, session) if ids.is_valid_session_id(project_name) else ("_", session)
            if not all(ids.is_valid_session_id(p) for p in where):
                plan.notes.append(f"{ws.rel(db)}: a document with an unusable name was not written")
                continue
            target = base.joinpath(*where) / f"{_file_name(stage_name)}.md"
            _plan_copy(ws, plan, target, content, "only the 0.1 store holds this project")
            continue
        project = Project(ws, project_name)
        stage = BY_NAME.get(stage_name)
        if not project.has_session(session) or stage is None:
            target = project.path / DB_ONLY_DIR / session / f"{_file_name(stage_name)}.md"
            _plan_copy(ws, plan, target, content, "only the 0.1 store holds this document")
            continue
        document = project.document_path(session, stage)
        try:
            current: str | None = read_text(document)
        except BadFile:
            current = None
        if current is not None and current in (content, migrated(content)):
            continue
        reason = (
            "the 0.1 store's copy differs from the file" if current is not None else "the file is missing"
        )
        _plan_copy(ws, plan, db_copy_path(document), content, reason)
    current_sessions(ws, db, plan)


def _file_name(stage: str) -> str:
    from idse_orchestrator import ids

    return stage if ids.is_valid_session_id(stage) else "document"


def _plan_copy(ws: Workspace, plan: Plan, target: Path, content: str, reason: str) -> None:
    from idse_orchestrator.fsutil import read_text

    if target.exists():
        try:
            if read_text(target) == content:
                return
        except BadFile:
            pass
        plan.changes.append(Change("rewrite", target, reason, content))
        return
    plan.changes.append(Change("create", target, reason, content))


def current_sessions(ws: Workspace, db: Path, plan: Plan) -> None:
    """CURRENT_SESSION is carried over as it is; a project without one gets the store's, if any."""
    for name in ws.project_names():
        project = Project(ws, name)
        if project.current_session_path.exists():
            continue
        session = current_session_in_database(db, name)
        if session and project.has_session(session):
            plan.changes.append(
                Change(
                    "create", project.current_session_path, "the 0.1 store's current session", session + "\n"
                )
            )


# ------------------------------------------------------------------------------------------- apply


def next_backup(ws: Workspace) -> Path:
    base = ws.root / layout.MIGRATE_BACKUP_DIR
    taken = [int(p.name) for p in base.iterdir() if p.name.isdigit()] if base.is_dir() else []
    return base / str(max(taken, default=0) + 1)


def migrate(ws: Workspace, *, dry_run: bool = False, lock_timeout: float = 60.0) -> dict[str, Any]:
    """Plan the migration and, unless ``dry_run``, apply it under the workspace's locks. Returns the
    report."""
    plan = plan_migration(ws)
    backup: Path | None = None
    if plan.changes and not dry_run:
        # Locked only when there is something to write (a run with nothing to do creates no lock
        # file), and planned again under the locks: what is applied is what is on disk now.
        with contextlib.ExitStack() as stack:
            _lock(ws, stack, lock_timeout)
            plan = plan_migration(ws)
            if plan.changes:
                backup = _apply(ws, plan)
    return {
        "dry_run": dry_run,
        "changes": _changes(ws, plan),
        "db_copies": [ws.rel(c.path) for c in plan.changes if c.path.name.endswith(DB_SUFFIX)],
        "backup": ws.rel(backup) if backup is not None else None,
        "notes": plan.notes,
    }


def _lock(ws: Workspace, stack: contextlib.ExitStack[Any], timeout: float) -> None:
    """The locks a build and a sync of each project hold, in the order a build with --sync takes them."""
    from idse_orchestrator.engine.build import lock_path
    from idse_orchestrator.fsutil import file_lock

    for name in ws.project_names():
        project = Project(ws, name)
        stack.enter_context(file_lock(lock_path(ws, project), timeout=timeout, what="build"))
        stack.enter_context(file_lock(project.sync_lock_path, timeout=timeout, what="sync"))


def _changes(ws: Workspace, plan: Plan) -> list[dict[str, str]]:
    return [{"action": c.action, "path": ws.rel(c.path), "reason": c.reason} for c in plan.changes]


def _apply(ws: Workspace, plan: Plan) -> Path:
    import shutil

    from idse_orchestrator.fsutil import atomic_write_text, dump_json

    backup = next_backup(ws)
    # The backups hold copies of the user's files, not project files: never committed by accident.
    ignore = backup.parent / ".gitignore"
    if not ignore.exists():
        atomic_write_text(ignore, "# Copies of files 'idse migrate' replaced: keep them out of git.\n*\n")
    for change in plan.changes:
        if change.action != "create":
            target = backup / change.path.relative_to(ws.idse_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(change.path, target)
    atomic_write_text(
        backup / "migrate.json", dump_json({"changes": _changes(ws, plan), "notes": plan.notes})
    )
    for change in plan.changes:
        if change.text is None:
            change.path.unlink()
        else:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(change.path, change.text)
    return backup

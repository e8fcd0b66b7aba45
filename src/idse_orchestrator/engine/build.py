"""`idse build`: run the task graph of a project under a lock, recover a damaged cache, gather results.

doit's dependency database decides what is up to date. The build index (see ``index.py``) only
remembers doit's last answer per owner: when no file of an owner changed since a complete,
successful run, that owner's tasks are not even generated. Every other owner's tasks go to doit,
which decides by content what reruns. The build always continues past a failed task, so the set of
tasks that complete, and therefore the findings, are the same as a build from scratch would give.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from idse_orchestrator import __version__, layout
from idse_orchestrator.engine.cache import (
    cache_folder,
    few_full_collections,
    open_index,
    recover_cache,
    sqlite_header_ok,
)
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.graph import task_name
from idse_orchestrator.engine.index import PROJECT_OWNER, BuildIndex, OwnerRow
from idse_orchestrator.engine.outcome import (
    BuildReport,
    owner_findings,
    record_failures,
    report,
    warn_regenerated,
)
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.errors import UsageError
from idse_orchestrator.fsutil import file_lock
from idse_orchestrator.stages import STAGES
from idse_orchestrator.workspace import Project, Workspace

DEFAULT_FAMILIES = ("validate", "registry", "state", "meta", "agents", "compile")
FAMILY_ORDER = ("validate", "registry", "state", "meta", "agents", "compile", "sync")
# Project-wide files that only a build of every session writes.
FULL_BUILD_FAMILIES = ("state", "meta")

if TYPE_CHECKING:
    from idse_orchestrator.engine.doit_adapter import TaskOutcome


def _ignore(_message: str) -> None:
    pass


class BuildOptions(NamedTuple):
    """How to build: everything but the workspace, the project and the sessions."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    jobs: int = 1
    force: bool = False
    progress: Callable[[int, int, str], None] | None = None  # (done, total, task) as tasks are reached
    warn: Callable[[str], None] = _ignore  # one-line warnings (moved files, repairs)
    want_reasons: bool = True  # ask doit why each task runs (``--explain``, ``--json``)
    changed: tuple[str, ...] | None = None  # repo-relative paths known to have changed (watch)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    # doit resolves the repo-relative paths of tasks against the cwd: keys stay portable.
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def dep_file(ctx: BuildContext) -> str:
    return layout.doit_db(ctx.project, ctx.cache)


def index_file(ctx: BuildContext) -> str:
    return layout.build_index(ctx.project, ctx.cache)


def lock_path(ws: Workspace, project: Project) -> Path:
    return ws.root / layout.lock(project.name)


def generator(ctx: BuildContext, families: tuple[str, ...]) -> Callable[[], Iterator[TaskSpec]]:
    def make() -> Iterator[TaskSpec]:
        from importlib import import_module

        # Imported by name: the package is mapped from the top-level tasks/ folder.
        table = import_module("idse_orchestrator.tasks").families()
        for name in FAMILY_ORDER:
            if name in families:
                yield from table[name](ctx)

    return make


def resolve_sessions(project: Project, sessions: list[str] | None) -> list[str] | None:
    if not sessions:
        return None
    for sid in sessions:
        project.require_session(sid)
    return list(dict.fromkeys(sessions))


def build_key(ws: Workspace, project: str, families: tuple[str, ...]) -> str:
    """What invalidates every owner at once: idse's version, the config, and every template a
    stage is checked against (shipped or overridden, present or not)."""
    from idse_orchestrator.engine.outputs import fingerprint
    from idse_orchestrator.templating import package_templates_dir

    parts = [__version__, str(fingerprint(str(ws.config_path)))]
    shipped = package_templates_dir()
    for stage in STAGES:
        parts.append(str(fingerprint(str(shipped / "pipeline" / stage.template))))
        for rel in (f"pipeline/{stage.template}", stage.template):
            parts.append(str(fingerprint(str(ws.templates_dir / rel))))
    if "sync" in families:
        parts.append(sync_identity(ws, project))
    return "|".join(parts)  # kept as it is: hashing it would load OpenSSL on every build


def sync_identity(ws: Workspace, project: str) -> str:
    """The remote the sync tasks push to (secrets masked): another remote means every push reruns."""
    import json

    from idse_orchestrator.sync.settings import describe, load_settings

    settings = describe(load_settings(ws, ws.project(project)))["settings"]
    return json.dumps({k: settings.get(k) for k in ("backend", "url", "dsn", "project", "schema")})


def project_files(ctx: BuildContext) -> set[str]:
    """Files whose appearance or change can alter the project-wide tasks (beyond declared deps)."""
    files = {
        layout.current_session(ctx.project),
        layout.registry(ctx.project),
        layout.state(ctx.project),
        layout.sessions_dir(ctx.project),
        layout.CONFIG,
    }
    from idse_orchestrator.agents.files import AGENT_FILE_KINDS

    for kind in AGENT_FILE_KINDS:
        files.add(kind.rel)  # an agent file created by `generate-agent-files` joins the build
        files.add(f"{layout.TEMPLATES_DIR}/{kind.template}")
        files.add(f"{layout.TEMPLATES_DIR}/{kind.template.split('/', 1)[1]}")
    return files


def build(
    ws: Workspace,
    project: Project,
    sessions: list[str] | None = None,
    *,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
    jobs: int = 1,
    force: bool = False,
    keep_going: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    warn: Callable[[str], None] = lambda _msg: None,
    want_reasons: bool = True,
    changed: list[str] | None = None,
) -> BuildReport:
    """Bring the project's derived files up to date. ``keep_going`` is accepted for compatibility:
    a build always continues past a failed task (see the module docstring)."""
    del keep_going
    options = BuildOptions(
        families=families,
        jobs=jobs,
        force=force,
        progress=progress,
        warn=warn,
        want_reasons=want_reasons,
        changed=tuple(changed) if changed is not None else None,
    )
    return run_build(ws, project, sessions, options)


def run_build(
    ws: Workspace, project: Project, sessions: list[str] | None, options: BuildOptions
) -> BuildReport:
    """``build`` with its options as one object (the form long-running callers keep around)."""
    families, warn = options.families, options.warn
    if options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    chosen = resolve_sessions(project, sessions)
    selected = tuple(chosen) if chosen else tuple(project.session_ids())
    current = project.current_session()
    cache = cache_folder(ws, families, warn)
    lock = ws.root / layout.lock(project.name, cache)
    with file_lock(lock, what="build"), few_full_collections():
        partial = chosen is not None and set(chosen) != set(project.session_ids())
        base = BuildContext(str(ws.root), project.name, selected, current, partial=partial, cache=cache)
        with working_directory(ws.root):
            index = open_index(ws, index_file(base), warn)
            try:
                if not sqlite_header_ok(ws.root / dep_file(base)):
                    # Cheap enough for every build; a full integrity check runs whenever doit does.
                    recover_cache(ws, base, warn)
                    index.reset()
                return _build(ws, base, index, options)
            finally:
                index.close()


def _owner_families(base: BuildContext, families: tuple[str, ...], owner: str) -> tuple[str, ...]:
    if owner == PROJECT_OWNER and base.partial:
        return tuple(f for f in families if f not in FULL_BUILD_FAMILIES)  # nor meta.md
    return families


def _build(
    ws: Workspace,
    base: BuildContext,
    index: BuildIndex,
    options: BuildOptions,
) -> BuildReport:
    from idse_orchestrator.engine import parallel
    from idse_orchestrator.engine.outputs import fingerprint

    families, warn = options.families, options.warn
    hint = set(options.changed) if options.changed is not None else None
    key = build_key(ws, base.project, families)
    trusted: dict[str, OwnerRow] = {}
    db_unchanged = index.meta("doit_db") == str(fingerprint(dep_file(base)))
    if not options.force and index.meta("key") == key and db_unchanged:
        wanted = {s: families for s in base.sessions}
        wanted[PROJECT_OWNER] = _owner_families(base, families, PROJECT_OWNER)
        trusted = index.trusted(wanted, hint)
    todo = [s for s in base.sessions if s not in trusted]
    if not todo and PROJECT_OWNER in trusted:
        return report(base, families, trusted, {}, {}, [])
    ctx = base.replace(sessions=(), selected=base.sessions)
    ctx.ruleset_digest  # noqa: B018 - a malformed rule override is one clear error, before doit runs
    # The full integrity check is skipped when the database is the very file the last build
    # wrote (same stat as recorded then): a damaged or replaced file has another stat.
    if not db_unchanged and recover_cache(ws, ctx, warn):
        index.reset()
        trusted, todo = {}, list(base.sessions)
    first: _Ran = ({}, {}, [])
    only = tuple(f for f in families if f in SESSION_FAMILIES)
    project_trusted = PROJECT_OWNER in trusted
    split = parallel.worth_it(len(todo), options.jobs)
    if todo and only and (project_trusted or split):
        # The sessions' tasks first. When the project-wide tasks' files are as recorded, they stay
        # up to date unless the sessions' tasks rewrite one of them (a session's summary with other
        # findings): this spares checking the project's tasks, whose inputs are every session's
        # files. With --jobs, this run is split across processes (see ``parallel``).
        session_ctx = base.replace(sessions=tuple(todo), selected=base.sessions)
        first = _run(session_ctx, index, key, options, generate=only, keep={PROJECT_OWNER}, split=split)
        rows, outcomes, tasks = first
        if (
            project_trusted
            and set(todo) <= set(rows)
            and not index.changed(PROJECT_OWNER, _touched(outcomes))
        ):
            return report(base, families, trusted, rows, outcomes, tasks)
        trusted.pop(PROJECT_OWNER, None)
        # A session that did not complete is generated again: the project-wide tasks must be
        # ordered after (and skipped behind) its failed task, as in a single run.
        todo = [s for s in todo if s not in rows]
    # The state task follows the current session's check, so that session's tasks must be seen.
    if "state" in families and not base.partial and base.current in set(base.sessions) - set(todo):
        todo.append(base.current)
        trusted.pop(base.current, None)
    chosen = set(todo)
    run_ctx = base.replace(sessions=tuple(s for s in base.sessions if s in chosen), selected=base.sessions)
    # One progress count for the whole build: the second run's tasks come after the first's.
    then = options._replace(progress=_after(options.progress, len(first[1])))
    second = _run(run_ctx, index, key, then, written=_touched(first[1]))
    rows, outcomes, tasks = _merge(first, second)
    return report(base, families, trusted, rows, outcomes, tasks)


# Families whose tasks belong to one session; the others are project-wide.
SESSION_FAMILIES = ("validate", "compile", "sync")
_Ran = tuple[dict[str, OwnerRow], dict[str, "TaskOutcome"], list[TaskSpec]]


def _after(
    progress: Callable[[int, int, str], None] | None, done: int
) -> Callable[[int, int, str], None] | None:
    if progress is None or not done:
        return progress
    shown = progress

    def shifted(count: int, total: int, name: str) -> None:
        shown(done + count, done + total, name)

    return shifted


def _touched(outcomes: dict[str, TaskOutcome]) -> set[str]:
    """Every file the tasks that ran wrote (unchanged bytes keep their stat and do not count)."""
    return {path for o in outcomes.values() if o.status == "ran" for path in o.outputs}


def _merge(first: _Ran, second: _Ran) -> _Ran:
    """One report of two doit runs: a task that ran in the first is reported as run."""
    rows = {**first[0], **second[0]}
    outcomes = dict(second[1])
    for name, outcome in first[1].items():
        if name not in outcomes or outcome.status != "up-to-date":
            outcomes[name] = outcome
    tasks = {task_name(t): t for t in [*first[2], *second[2]]}
    return rows, outcomes, list(tasks.values())


def _run(
    ctx: BuildContext,
    index: BuildIndex,
    key: str,
    options: BuildOptions,
    *,
    generate: tuple[str, ...] | None = None,
    keep: set[str] | frozenset[str] = frozenset(),
    written: set[str] | frozenset[str] = frozenset(),
    split: bool = False,
) -> _Ran:
    """One doit run over ``ctx.sessions`` (and the project-wide tasks), recorded in the index.
    ``generate``: only these families' tasks (the rows still stand for all of ``options.families``);
    ``keep``: owners whose rows stay as they are although this run has no task of theirs;
    ``written``: files an earlier run of this build wrote (recorded as exact, like this run's);
    ``split``: build parts of the sessions in their own processes (only sessions' tasks are made)."""
    from idse_orchestrator.engine import parallel, reconcile
    from idse_orchestrator.engine.outputs import fingerprint

    families, warn = options.families, options.warn
    made = families if generate is None else generate
    extra = {} if PROJECT_OWNER in keep else {PROJECT_OWNER: project_files(ctx)}

    def run_part(
        sessions: tuple[str, ...], db: str, progress: parallel.Progress | None
    ) -> reconcile.RunResult:
        part = ctx.replace(sessions=sessions)
        return reconcile.run(
            part,
            families,
            lambda: list(generator(part, made)()),
            db,
            extra,
            jobs=1,
            force=options.force,
            progress=progress,
            want_reasons=options.want_reasons,
        )

    if split:
        # Only sessions' tasks: independent parts, one process each (see ``parallel``).
        parts = parallel.split(ctx.sessions, options.jobs)
        result = parallel.run_parts(parts, run_part, dep_file(ctx), options.progress)
    else:
        result = run_part(ctx.sessions, dep_file(ctx), options.progress)
    for path in result.moved:
        warn(f"{path} changed while the build ran; what depends on it is checked again next build")
    warn_regenerated(result.outcomes, warn)
    rows: dict[str, OwnerRow] = {}
    by_owner: dict[str, list[str]] = {}
    for task in result.tasks:
        by_owner.setdefault(reconcile.owner_of(task), []).append(task_name(task))
    for owner in result.complete:
        rows[owner] = OwnerRow(
            _owner_families(ctx, families, owner), by_owner.get(owner, []), owner_findings(ctx, owner)
        )
    forget = [o for o in [*ctx.sessions, PROJECT_OWNER] if o not in rows and o not in keep]
    # Owners of removed sessions: none while the project's row (which stats the sessions folder)
    # is kept as it is.
    if not ctx.partial and PROJECT_OWNER not in keep:
        known = set(ctx.scope)
        forget += [o for o in index.owners() if o != PROJECT_OWNER and o not in known]
    index.record(
        {"key": key, "doit_db": str(fingerprint(dep_file(ctx)))},
        {o: (r.families, r.tasks, result.files.get(o, set()), r.findings) for o, r in rows.items()},
        forget,
        exact=result.written | set(written),
    )
    failed = sorted(n for n, o in result.outcomes.items() if o.status == "failed")
    record_failures(ctx, failed, bool(result.outcomes))
    return rows, result.outcomes, result.tasks

"""`idse build`: run the task graph of a project under a lock, recover a damaged cache, gather results.

A build first asks the build index which sessions could have changed (one ``stat`` per file); when
none could, it answers without loading doit. Otherwise doit sees the tasks of those sessions plus
the project-wide ones and decides, by content, what actually reruns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idse_orchestrator import __version__
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.index import PROJECT_OWNER, BuildIndex
from idse_orchestrator.engine.results import read_result
from idse_orchestrator.errors import UsageError
from idse_orchestrator.fsutil import file_lock
from idse_orchestrator.governance.engine import Finding, summarize
from idse_orchestrator.stages import STAGES
from idse_orchestrator.workspace import Project, Workspace

DEFAULT_FAMILIES = ("validate", "session", "registry", "state", "agents", "compile")
VALIDATION_FAMILIES = ("validate", "session", "registry")


@dataclass
class BuildReport:
    tasks: list[dict[str, Any]]
    findings: list[Finding]
    sessions: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"ran": 0, "up-to-date": 0, "failed": 0}
        for t in self.tasks:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        return {
            "tasks": len(self.tasks),
            "ran": counts["ran"],
            "up_to_date": counts["up-to-date"],
            "failed": counts["failed"],
            **summarize(self.findings, len(self.sessions)),
        }

    @property
    def exit_code(self) -> int:
        errors = any(f.severity == "error" for f in self.findings)
        return 1 if errors or self.failed else 0


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
    return f"{ctx.cache_rel}/{ctx.project}.doit.sqlite"


def index_file(ctx: BuildContext, families: tuple[str, ...]) -> str:
    tag = hashlib.sha256(",".join(families).encode()).hexdigest()[:8]
    return f"{ctx.cache_rel}/{ctx.project}.index-{tag}.sqlite"


def lock_path(ws: Workspace, project: Project) -> Path:
    return ws.cache_dir / f"{project.name}.lock"


def generator(ctx: BuildContext, families: tuple[str, ...]) -> Callable[[], Iterator[dict[str, Any]]]:
    def make() -> Iterator[dict[str, Any]]:
        from importlib import import_module

        # Imported by name: the package is mapped from the top-level tasks/ folder.
        table = import_module("idse_orchestrator.tasks").families()
        for name in families:
            yield from table[name](ctx)

    return make


def _move_aside(ws: Workspace, rel: str, problem: str, warn: Callable[[str], None]) -> None:
    path = ws.root / rel
    aside = path.with_name(path.name + ".corrupt")
    with contextlib.suppress(OSError):
        os.replace(path, aside)
    warn(f"build cache {rel} was unreadable ({problem}); moved to {aside.name}, rebuilding from scratch")


def sqlite_header_ok(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except FileNotFoundError:
        return True
    except OSError:
        return False


def recover_cache(ws: Workspace, ctx: BuildContext, warn: Callable[[str], None]) -> None:
    """Move an unreadable dependency database aside so the build starts from scratch."""
    from idse_orchestrator.engine.doit_adapter import check_db

    problem = check_db(str(ws.root / dep_file(ctx)))
    if problem is not None:
        _move_aside(ws, dep_file(ctx), problem, warn)
        shutil.rmtree(ws.root / ctx.results_rel(), ignore_errors=True)


def open_index(ws: Workspace, rel: str, warn: Callable[[str], None]) -> BuildIndex:
    import sqlite3

    try:
        return BuildIndex(str(ws.root / rel))
    except sqlite3.DatabaseError as exc:
        _move_aside(ws, rel, str(exc), warn)
        return BuildIndex(str(ws.root / rel))


def resolve_sessions(project: Project, sessions: list[str] | None) -> list[str] | None:
    if not sessions:
        return None
    for sid in sessions:
        project.require_session(sid)
    return list(dict.fromkeys(sessions))


def build_key(ws: Workspace, families: tuple[str, ...]) -> str:
    """What invalidates every task at once: idse's version (rules, shipped templates) and the config."""
    from idse_orchestrator.engine.index import fingerprint

    return f"{__version__}|{','.join(families)}|{fingerprint(str(ws.config_path))}"


def project_files(ctx: BuildContext) -> set[str]:
    """Files whose appearance or change can alter the task graph itself (beyond declared deps)."""
    files = {
        f"{ctx.project_rel}/CURRENT_SESSION",
        f"{ctx.project_rel}/agent_registry.json",
        f"{ctx.project_rel}/sessions",
        ".idse/config.yaml",
    }
    for stage in STAGES:
        files.add(f".idse/templates/pipeline/{stage.template}")
        files.add(f".idse/templates/{stage.template}")
    from idse_orchestrator.agents.files import AGENT_FILE_KINDS

    for kind in AGENT_FILE_KINDS:
        files.add(kind.rel)  # an agent file created by `generate-agent-files` joins the build
        files.add(f".idse/templates/{kind.template}")
        files.add(f".idse/templates/{kind.template.split('/', 1)[1]}")
    return files


def owner_of(task: dict[str, Any]) -> str:
    return str(task.get("owner", PROJECT_OWNER))


def build(
    ws: Workspace,
    project: Project,
    sessions: list[str] | None = None,
    *,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
    jobs: int = 1,
    force: bool = False,
    keep_going: bool = False,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] = lambda _msg: None,
    want_reasons: bool = True,
) -> BuildReport:
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    chosen = resolve_sessions(project, sessions)
    selected = tuple(chosen) if chosen else tuple(project.session_ids())
    current = project.current_session()
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(ws, project), what="build"):
        base = BuildContext(str(ws.root), project.name, selected, current)
        key = build_key(ws, families)
        with working_directory(ws.root):
            index = open_index(ws, index_file(base, families), warn)
            if not sqlite_header_ok(ws.root / dep_file(base)):
                # Cheap enough for every build; a full integrity check runs whenever doit does.
                recover_cache(ws, base, warn)
                index.reset()
            try:
                return _build(
                    ws, base, index, key, families, jobs, force, keep_going, progress, warn, want_reasons
                )
            finally:
                index.close()


def _build(
    ws: Workspace,
    base: BuildContext,
    index: BuildIndex,
    key: str,
    families: tuple[str, ...],
    jobs: int,
    force: bool,
    keep_going: bool,
    progress: Callable[[str], None] | None,
    warn: Callable[[str], None],
    want_reasons: bool,
) -> BuildReport:
    selected = set(base.sessions)
    if force or index.get_key() != key:
        todo = set(selected)
        whole = True
    else:
        changed, known = index.changed_owners(selected | {PROJECT_OWNER})
        whole = PROJECT_OWNER in changed or PROJECT_OWNER not in known
        todo = set(selected) if whole else (changed | (selected - known)) & selected
    outcomes: dict[str, Any] = {}
    failed: list[str] = []
    if todo or whole:
        ctx = BuildContext(
            base.root,
            base.project,
            tuple(s for s in base.sessions if s in todo),
            base.current,
            selected=base.sessions,
        )
        ctx.ruleset_digest  # noqa: B018 - a malformed rule override is one clear error, before doit runs
        recover_cache(ws, ctx, warn)
        outcomes, failed, task_dicts = _run_doit(
            ws, ctx, families, jobs, force, keep_going, progress, want_reasons
        )
        _update_index(index, key, ctx, task_dicts, failed)
    rows = index.owner_rows(selected | {PROJECT_OWNER})
    tasks: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for owner in sorted(selected | {PROJECT_OWNER}):
        row = rows.get(owner)
        names, owner_findings = row if row is not None else ([], _fallback_findings(base, owner))
        findings.extend(Finding.from_dict(f) for f in owner_findings)
        for name in names:
            if name not in outcomes:
                tasks.append({"name": name, "status": "up-to-date", "reasons": []})
    for o in outcomes.values():
        tasks.append(
            {
                "name": o.name,
                "status": o.status,
                "reasons": o.reasons,
                **({"error": o.error} if o.error else {}),
            }
        )
    tasks.sort(key=lambda t: t["name"])
    if not any(f in families for f in VALIDATION_FAMILIES):
        findings = []
    findings.sort(key=Finding.sort_key)
    record_failures(base, failed, bool(outcomes))
    return BuildReport(tasks, findings, base.sessions, failed=failed)


def _run_doit(
    ws: Workspace,
    ctx: BuildContext,
    families: tuple[str, ...],
    jobs: int,
    force: bool,
    keep_going: bool,
    progress: Callable[[str], None] | None,
    want_reasons: bool,
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    from idse_orchestrator.engine.doit_adapter import run_tasks

    task_dicts = list(generator(ctx, families)())

    def make() -> list[dict[str, Any]]:
        return task_dicts

    result = run_tasks(
        make,
        dep_file(ctx),
        [],
        jobs=jobs,
        force=force,
        keep_going=keep_going,
        progress=progress,
        want_reasons=want_reasons,
    )
    outcomes = {o.name: o for o in result.outcomes}
    damaged = damaged_results(ctx, [o.name for o in result.outcomes if o.status == "failed"])
    if damaged:
        # A result file was damaged after it was written: delete it and rebuild exactly those.
        for rel in damaged:
            with contextlib.suppress(OSError):
                os.unlink(ws.root / rel)
        result = run_tasks(
            make,
            dep_file(ctx),
            [],
            jobs=jobs,
            keep_going=keep_going,
            progress=progress,
            want_reasons=want_reasons,
        )
        outcomes.update({o.name: o for o in result.outcomes if o.status != "up-to-date"})
    failed = sorted(name for name, o in outcomes.items() if o.status == "failed")
    if result.code not in (0, 1) and not failed:
        detail = (result.errors or result.output.strip().splitlines()[-1:] or ["unknown error"])[0]
        raise UsageError(f"build could not start: {detail}")
    return outcomes, failed, task_dicts


def _update_index(
    index: BuildIndex, key: str, ctx: BuildContext, task_dicts: list[dict[str, Any]], failed: list[str]
) -> None:
    from idse_orchestrator.engine.graph import task_name

    owners: dict[str, tuple[list[str], set[str], list[dict[str, Any]]]] = {}
    broken: set[str] = set()
    for task in task_dicts:
        owner = owner_of(task)
        names, files, _ = owners.setdefault(owner, ([], set(), []))
        name = task_name(task)
        names.append(name)
        files.update(task.get("file_dep", []))
        files.update(task.get("targets", []))
        files.update(task.get("watch", []))
        if name in failed:
            broken.add(owner)
    for owner in list(ctx.sessions) + [PROJECT_OWNER]:
        names, files, findings = owners.setdefault(owner, ([], set(), []))
        findings.extend(_fallback_findings(ctx, owner))
        if owner == PROJECT_OWNER:
            files.update(project_files(ctx))
    index.forget(broken)
    index.record(key, {o: v for o, v in owners.items() if o not in broken})


def _fallback_findings(ctx: BuildContext, owner: str) -> list[dict[str, Any]]:
    rel = ctx.project_result_rel() if owner == PROJECT_OWNER else ctx.session_result_rel(owner)
    data = read_result(ctx.abs(rel)) or {}
    return list(data.get("findings", []))


def failures_path(ctx: BuildContext) -> Path:
    return ctx.abs(f"{ctx.cache_rel}/{ctx.project}.failed.json")


def record_failures(ctx: BuildContext, failed: list[str], ran: bool) -> None:
    """Remember which tasks failed last, for `idse graph --status` (doit itself only records successes)."""
    import json

    from idse_orchestrator.fsutil import write_if_changed

    path = failures_path(ctx)
    if not ran and not path.exists():
        return
    if failed or path.exists():
        write_if_changed(path, json.dumps(sorted(failed)) + "\n")


def last_failures(ctx: BuildContext) -> list[str]:
    import json

    try:
        data = json.loads(failures_path(ctx).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def damaged_results(ctx: BuildContext, failed: list[str]) -> list[str]:
    """Result files that exist but cannot be read: the aggregate ones, and the per-stage results of any
    session whose check failed (that check refuses damaged inputs)."""
    rels = [ctx.session_result_rel(s) for s in ctx.sessions] + [ctx.project_result_rel()]
    for name in failed:
        if name.startswith("session:"):
            session = name.split(":", 1)[1]
            rels += [ctx.result_rel(session, stage.name) for stage in STAGES]
    return [rel for rel in rels if ctx.abs(rel).is_file() and read_result(ctx.abs(rel)) is None]

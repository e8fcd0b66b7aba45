"""One doit run and what may be remembered of it.

After doit has run the tasks of some owners, this module decides which owners completed: every
task of the owner was up to date or ran successfully, and no file the owner's tasks read or wrote
changed while the build ran (other than by the task that writes it). A file edited during the build
may have been read before or after the edit; doit would record its new checksum either way, so the
tasks that depend on it are forgotten by doit and rerun next time ("file modified during build").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.graph import task_name
from idse_orchestrator.engine.index import PROJECT_OWNER, RACY_WINDOW_NS
from idse_orchestrator.engine.outputs import digest, fingerprint
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.errors import UsageError

Task = TaskSpec

if TYPE_CHECKING:
    from idse_orchestrator.engine.doit_adapter import TaskOutcome


def owner_of(task: Task) -> str:
    return str(task.get("owner", PROJECT_OWNER))


def task_files(task: Task) -> list[str]:
    from idse_orchestrator.engine.doit_adapter import task_outputs

    return [*task.get("file_dep", []), *task_outputs(task), *task.get("watch", []), *task.get("reads", [])]


def execution_order(tasks: list[Task]) -> list[str]:
    """Every task by name, a session's tasks one after the other (its documents, then what reads
    them): what one task parsed is still in the per-process caches when the next one asks, instead of
    a family running across every session first. doit still orders each task after its task_dep."""
    by_owner: dict[str, list[str]] = {}
    for task in tasks:
        by_owner.setdefault(owner_of(task), []).append(task_name(task))
    project = by_owner.pop(PROJECT_OWNER, [])
    return [name for names in by_owner.values() for name in names] + project


@dataclass
class RunResult:
    tasks: list[Task]
    outcomes: dict[str, TaskOutcome]  # task name -> what happened to it
    complete: set[str]  # owners whose every task completed with stable inputs
    files: dict[str, set[str]] = field(default_factory=dict)  # owner -> files to fingerprint
    written: set[str] = field(default_factory=set)  # outputs written by this run
    moved: list[str] = field(default_factory=list)  # files that changed during the build


def _snapshot(paths: set[str]) -> dict[str, tuple[tuple[int, int], str | None]]:
    """Stat of every file, plus its digest when it is fresh enough for the stat to miss an edit."""
    now = time.time_ns()
    out: dict[str, tuple[tuple[int, int], str | None]] = {}
    for path in paths:
        fp = fingerprint(path)
        racy = fp[1] >= 0 and now - fp[0] < RACY_WINDOW_NS
        out[path] = (fp, digest(path) if racy else None)
    return out


def _counting(progress: Callable[[int, int, str], None] | None, total: int) -> Callable[[str], None] | None:
    """doit names each task as it runs or is found up to date: as (done, total, name)."""
    if progress is None:
        return None
    done = [0]

    def seen(name: str) -> None:
        done[0] += 1
        progress(done[0], total, name)

    return seen


def run(
    ctx: BuildContext,
    families: tuple[str, ...],
    generate: Callable[[], list[Task]],
    dep_file: str,
    extra_files: dict[str, set[str]],
    *,
    jobs: int,
    force: bool,
    progress: Callable[[int, int, str], None] | None,
    want_reasons: bool,
) -> RunResult:
    from idse_orchestrator.engine.doit_adapter import run_tasks
    from idse_orchestrator.engine.doit_state import forget_tasks
    from idse_orchestrator.memo import build_scope

    tasks = generate()
    files: dict[str, set[str]] = {owner: set(paths) for owner, paths in extra_files.items()}
    for task in tasks:
        files.setdefault(owner_of(task), set()).update(task_files(task))
    before = _snapshot(set().union(*files.values()) if files else set())

    order = execution_order(tasks)
    with build_scope():
        # Sources are read after the snapshot above (see ``idse_orchestrator.memo``).
        result = run_tasks(
            lambda: tasks,
            dep_file,
            order,
            jobs=1,
            force=force,
            keep_going=True,  # the tasks that complete must not depend on the order doit picked
            progress=_counting(progress, sum(1 for t in tasks if t.get("actions"))),
            want_reasons=want_reasons,
        )
    outcomes = {o.name: o for o in result.outcomes}
    if result.code not in (0, 1) and not any(o.status == "failed" for o in outcomes.values()):
        detail = (result.errors or result.output.strip().splitlines()[-1:] or ["unknown error"])[0]
        raise UsageError(f"build could not start: {detail}")

    written: dict[str, tuple[int, int]] = {}
    for o in outcomes.values():
        if o.status == "ran":
            for path, entry in o.outputs.items():
                written[path] = (int(entry[1]), int(entry[2]))
    moved = set()
    for path, (fp, sha) in before.items():
        now = fingerprint(path)
        expected = written.get(path, fp)
        if now != expected or (path not in written and sha is not None and digest(path) != sha):
            moved.add(path)
    stale_tasks = [task_name(t) for t in tasks if moved.intersection(task_files(t))]
    if stale_tasks:
        forget_tasks(dep_file, stale_tasks)
    complete = set(files)
    for task in tasks:
        name = task_name(task)
        outcome = outcomes.get(name)
        if outcome is None or outcome.status not in ("ran", "up-to-date") or name in stale_tasks:
            complete.discard(owner_of(task))
    return RunResult(tasks, outcomes, complete, files, set(written), sorted(moved))

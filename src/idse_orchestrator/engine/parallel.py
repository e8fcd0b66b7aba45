"""``--jobs N``: the sessions' tasks split into N parts, each run by its own doit in its own process.

doit's process pool ships every task to a worker and back while its parent still checks and
records each one, so the parent stays the bottleneck and a second core barely helps. A session's
tasks depend on nothing another session's tasks write, so they can run as N independent doit runs
instead: the build process runs the first part itself and ``N - 1`` forked workers run the others,
each against its own copy of the dependency database. When every part is done, each worker's
records of its own tasks replace the build's (one sqlite transaction), and the project-wide tasks
then run in the build process as usual (see ``build``), finding the sessions' tasks up to date.

Nothing is lost or half-recorded if a worker dies or the build is interrupted: a task whose record
did not reach the database simply runs again next build, and its files were written atomically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from idse_orchestrator.engine.doit_adapter import RunResult
    from idse_orchestrator.engine.types import TaskSpec

# Fewer sessions than this per process: forking and merging would cost more than they save.
MIN_OWNERS_PER_JOB = 4


def worth_it(owners: int, jobs: int) -> bool:
    return jobs > 1 and owners >= MIN_OWNERS_PER_JOB * 2


def split(
    tasks: list[TaskSpec], order: list[str], owner_of: Callable[[TaskSpec], str], parts: int
) -> list[list[str]]:
    """``order`` cut into ``parts`` runs of whole owners (consecutive, about equally many)."""
    from idse_orchestrator.engine.graph import task_name

    owner = {task_name(t): owner_of(t) for t in tasks}
    owners = list(dict.fromkeys(owner[name] for name in order))
    size = -(-len(owners) // parts)
    place = {o: i // size for i, o in enumerate(owners)}
    out: list[list[str]] = [[] for _ in range(parts)]
    for name in order:
        out[place[owner[name]]].append(name)
    return [part for part in out if part]


def run_split(
    tasks: list[TaskSpec],
    dep_file: str,
    parts: list[list[str]],
    *,
    force: bool,
    progress: Callable[[int, int, str], None] | None,
    want_reasons: bool,
) -> RunResult:
    """Run each part of the tasks (lists of task names) in its own process; one result."""
    import multiprocessing

    from idse_orchestrator.engine.doit_adapter import RunResult, run_tasks

    context = multiprocessing.get_context("fork")
    reached = context.Value("i", 0)  # tasks reached by every process, for the progress line
    total = sum(len(p) for p in parts)
    by_name = {_name(t): t for t in tasks}

    def seen(_name: str) -> None:
        with reached.get_lock():
            reached.value += 1

    copies = [f"{dep_file}.job{k}" for k in range(1, len(parts))]
    results: list[RunResult] = []
    with _workers(context, dep_file, copies, parts[1:], by_name, force, want_reasons, seen) as pipes:
        own = run_tasks(
            lambda: [by_name[n] for n in parts[0]],
            dep_file,
            parts[0],
            jobs=1,
            force=force,
            keep_going=True,
            progress=_showing(seen, reached, total, progress),
            want_reasons=want_reasons,
        )
        results.append(own)
        for copy, part, result in _gather(pipes, copies, parts[1:], reached, total, progress):
            if result is not None:
                _adopt(dep_file, copy, part)
                results.append(result)
    outcomes = [o for r in results for o in r.outcomes]
    codes = [r.code for r in results]
    code = next((c for c in codes if c not in (0, 1)), max(codes))
    return RunResult(code, sorted(outcomes, key=lambda o: o.name), [e for r in results for e in r.errors], "")


def _name(task: TaskSpec) -> str:
    from idse_orchestrator.engine.graph import task_name

    return task_name(task)


def _showing(
    seen: Callable[[str], None],
    reached: Any,
    total: int,
    progress: Callable[[int, int, str], None] | None,
) -> Callable[[str], None]:
    def own(name: str) -> None:
        seen(name)
        if progress is not None:
            progress(reached.value, total, name)

    return own


@contextlib.contextmanager
def _workers(
    context: Any,
    dep_file: str,
    copies: list[str],
    parts: list[list[str]],
    by_name: dict[str, TaskSpec],
    force: bool,
    want_reasons: bool,
    seen: Callable[[str], None],
) -> Iterator[list[Connection]]:
    """Fork one worker per part, each with its own copy of the dependency database."""
    import signal

    from idse_orchestrator.engine.doit_adapter import workers_die_with_parent

    workers_die_with_parent()
    for copy in copies:
        if os.path.exists(dep_file):
            shutil.copyfile(dep_file, copy)
        else:
            _remove(copy)
    procs, pipes = [], []
    # A Ctrl-C landing between a fork and the worker's own handler would print the interpreter's
    # "Exception ignored in _after_fork" traceback: workers are forked with SIGINT blocked.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for copy, part in zip(copies, parts, strict=True):
            mine, theirs = context.Pipe(duplex=False)
            tasks = [by_name[n] for n in part]
            proc = context.Process(target=_work, args=(tasks, copy, part, force, want_reasons, seen, theirs))
            proc.start()
            theirs.close()
            procs.append(proc)
            pipes.append(mine)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C lands here
        yield pipes
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join()
        for pipe in pipes:
            pipe.close()
        for copy in copies:
            _remove(copy)


def _work(
    tasks: list[TaskSpec],
    dep_file: str,
    order: list[str],
    force: bool,
    want_reasons: bool,
    seen: Callable[[str], None],
    pipe: Connection,
) -> None:
    import signal

    from idse_orchestrator.engine.doit_adapter import run_tasks

    # Ctrl-C reaches the whole process group: the build stops its workers itself, without a
    # worker's traceback on the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        result = run_tasks(
            lambda: tasks,
            dep_file,
            order,
            jobs=1,
            force=force,
            keep_going=True,
            progress=seen,
            want_reasons=want_reasons,
        )
    except BaseException:  # noqa: BLE001 - the build runs this part again itself, and says why
        result = None
    pipe.send(result)
    pipe.close()


def _gather(
    pipes: list[Connection],
    copies: list[str],
    parts: list[list[str]],
    reached: Any,
    total: int,
    progress: Callable[[int, int, str], None] | None,
) -> Iterator[tuple[str, list[str], RunResult | None]]:
    """Each worker's result as it arrives (None for a worker that died), showing progress meanwhile."""
    from multiprocessing.connection import wait

    waiting: dict[Any, tuple[str, list[str]]] = dict(zip(pipes, zip(copies, parts, strict=True), strict=True))
    while waiting:
        for ready in wait(list(waiting), timeout=0.1):
            copy, part = waiting.pop(ready)
            pipe: Connection = ready  # type: ignore[assignment]
            try:
                result: RunResult | None = pipe.recv()
            except (EOFError, OSError):
                result = None
            yield copy, part, result
        if progress is not None and waiting:
            progress(reached.value, total, f"{len(waiting) + 1} jobs")


def _adopt(dep_file: str, copy: str, names: list[str]) -> None:
    """The worker's records of its own tasks replace the build's, in one transaction."""
    import sqlite3

    if not os.path.exists(copy):
        return
    conn = sqlite3.connect(dep_file)
    try:
        conn.execute("create table if not exists doit (task_id text not null primary key, task_data json)")
        conn.execute("attach database ? as part", (copy,))
        with conn:
            conn.execute("create temp table names (task_id text primary key)")
            conn.executemany("insert or ignore into names values (?)", [(n,) for n in names])
            conn.execute("delete from doit where task_id in (select task_id from names)")
            conn.execute(
                "insert into doit select task_id, task_data from part.doit"
                " where task_id in (select task_id from names)"
            )
        conn.execute("detach database part")
    finally:
        conn.close()


def _remove(path: str) -> None:
    for p in (path, f"{path}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(p)

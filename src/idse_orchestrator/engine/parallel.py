"""``--jobs N``: the sessions split into N parts, each part's tasks run by its own doit in its own process.

doit's process pool ships every task to a worker and back while its parent still checks and
records each one, so the parent stays the bottleneck and a second core barely helps. A session's
tasks depend on nothing another session's tasks write, so the sessions' tasks run as N independent
builds instead (``reconcile.run`` over a part of the sessions: generating, checking, running and
looking for files that moved): the build process builds the first part itself and ``N - 1`` forked
workers the others, each against its own copy of the dependency database. When every part is done,
each worker's records of its own tasks replace the build's (one sqlite transaction); the project-wide
tasks then run in the build process as usual (see ``build``), finding the sessions' tasks up to date.

Nothing is lost or half-recorded if a worker dies or the build is interrupted: a task whose record
did not reach the database simply runs again, and its files were written atomically. A part that
did not complete is built again by the build process (its sessions are not complete).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idse_orchestrator.engine.reconcile import RunResult

# Fewer sessions than this per process: forking and merging would cost more than they save.
MIN_OWNERS_PER_JOB = 4

Progress = Callable[[int, int, str], None]
# Builds one part of the sessions against the given dependency database, reporting progress.
RunPart = Callable[[tuple[str, ...], str, Progress], "RunResult"]


def worth_it(owners: int, jobs: int) -> bool:
    return jobs > 1 and owners >= MIN_OWNERS_PER_JOB * 2


def split(sessions: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    """``sessions`` cut into at most ``parts`` consecutive runs of about equal length."""
    size = -(-len(sessions) // parts) if sessions else 1
    return [tuple(sessions[i : i + size]) for i in range(0, len(sessions), size)]


def run_parts(
    parts: list[tuple[str, ...]], run_part: RunPart, dep_file: str, progress: Progress | None
) -> RunResult:
    """Build each part in its own process (the first in this one); one result for them all."""
    # Per part: tasks reached and tasks in all, each slot written by its own process alone. Plain
    # shared memory (see ``_workers`` for why not multiprocessing's).
    reached = _Counters(len(parts))
    totals = _Counters(len(parts))

    def counter(slot: int, show: bool) -> Progress:
        def seen(done: int, total: int, name: str) -> None:
            reached[slot], totals[slot] = done, total
            if show and progress is not None:
                progress(sum(reached), sum(totals), name)

        return seen

    copies = [f"{dep_file}.job{k}" for k in range(1, len(parts))]
    results: list[RunResult] = []
    with _workers(dep_file, copies, parts[1:], run_part, counter) as workers:
        results.append(run_part(parts[0], dep_file, counter(0, True)))
        for copy, result in _gather(workers, copies, reached, totals, progress):
            if result is not None:
                _adopt(dep_file, copy, result)
                results.append(result)
    return merge(results)


class _Counters:
    """Integers in anonymous shared memory: written by one process per slot, read by the build."""

    def __init__(self, size: int) -> None:
        import mmap

        self._memory = mmap.mmap(-1, 8 * max(size, 1))
        self._slots = memoryview(self._memory).cast("q")

    def __setitem__(self, slot: int, value: int) -> None:
        self._slots[slot] = value

    def __iter__(self) -> Iterator[int]:
        return iter(self._slots.tolist())


def merge(results: list[RunResult]) -> RunResult:
    from idse_orchestrator.engine.reconcile import RunResult

    out = RunResult([], {}, set())
    for r in results:
        out.tasks.extend(r.tasks)
        out.outcomes.update(r.outcomes)
        out.complete |= r.complete
        out.files.update(r.files)
        out.written |= r.written
        out.moved.extend(r.moved)
    out.moved.sort()
    return out


@contextlib.contextmanager
def _workers(
    dep_file: str,
    copies: list[str],
    parts: list[tuple[str, ...]],
    run_part: RunPart,
    counter: Callable[[int, bool], Progress],
) -> Iterator[list[tuple[int, int]]]:
    """Fork one worker per part, each with its own copy of the dependency database; yields each
    worker's (pid, read end of the pipe its result comes through). Plain ``os.fork`` and pipes:
    multiprocessing's objects have Python finalisers, and a Ctrl-C that lands in one while the
    build unwinds prints a traceback."""
    import signal

    from idse_orchestrator.engine.doit_adapter import workers_die_with_parent

    workers_die_with_parent()
    for copy in copies:
        if os.path.exists(dep_file):
            shutil.copyfile(dep_file, copy)
        else:
            _remove(copy)
    workers: list[tuple[int, int]] = []
    interrupted = False
    # A Ctrl-C landing between a fork and the worker's own handler would reach the worker before
    # it ignores Ctrl-C (the build stops its workers itself): workers are forked with SIGINT blocked.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for slot, (copy, part) in enumerate(zip(copies, parts, strict=True), start=1):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker
                os.close(read_end)
                _work(run_part, part, copy, counter(slot, False), write_end)  # never returns
            os.close(write_end)
            workers.append((pid, read_end))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C lands here
        yield workers
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # Stopping the workers and removing their databases is not cut short by another Ctrl-C.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for pid, read_end in workers:
                with contextlib.suppress(OSError):
                    os.close(read_end)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)  # one that is done has exited already
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            for copy in copies:
                _remove(copy)
        finally:
            if interrupted:
                # The build is stopping: a second Ctrl-C ends it at once and silently, as it does
                # once the command has reported the first.
                signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _work(run_part: RunPart, part: tuple[str, ...], dep_file: str, seen: Progress, write_end: int) -> None:
    """A worker's life: build its part, send the result, exit (never returning into the build)."""
    import pickle
    import signal

    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        result: RunResult | None = None
        # Whatever goes wrong, the build builds this part again itself (and says why).
        with contextlib.suppress(BaseException):
            result = run_part(part, dep_file, seen)
        data = memoryview(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        while data:
            data = data[os.write(write_end, data) :]
        code = 0
    finally:
        os._exit(code)


def _gather(
    workers: list[tuple[int, int]], copies: list[str], reached: Any, totals: Any, progress: Progress | None
) -> Iterator[tuple[str, RunResult | None]]:
    """Each worker's result as it arrives (None for a worker that died), showing progress meanwhile."""
    import pickle
    import select

    waiting = {read_end: (copy, bytearray()) for (_, read_end), copy in zip(workers, copies, strict=True)}
    while waiting:
        ready, _, _ = select.select(list(waiting), [], [], 0.1)
        for read_end in ready:
            copy, received = waiting[read_end]
            chunk = os.read(read_end, 1 << 20)
            if chunk:
                received += chunk
                continue
            del waiting[read_end]  # the worker closed its end: all it sent is here
            try:
                result: RunResult | None = pickle.loads(received) if received else None  # noqa: S301
            except Exception:  # noqa: BLE001 - a worker killed while sending: its part is built again
                result = None
            yield copy, result
        if progress is not None and waiting:
            progress(sum(reached), sum(totals), f"{len(waiting)} more job(s)")


def _adopt(dep_file: str, copy: str, result: RunResult) -> None:
    """The worker's records of its own tasks replace the build's, in one transaction."""
    import sqlite3

    from idse_orchestrator.engine.graph import task_name

    if not os.path.exists(copy):
        return
    names = [(task_name(t),) for t in result.tasks]
    conn = sqlite3.connect(dep_file)
    try:
        conn.execute("create table if not exists doit (task_id text not null primary key, task_data json)")
        conn.execute("attach database ? as part", (copy,))
        with conn:
            conn.execute("create temp table names (task_id text primary key)")
            conn.executemany("insert or ignore into names values (?)", names)
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

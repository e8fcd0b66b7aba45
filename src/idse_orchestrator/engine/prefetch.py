"""``--jobs N``: session checks computed ahead by worker processes.

doit's own process pool ships every task to a worker and back, and its parent still checks and
records each task: the parent stays the bottleneck and a second core barely helps. Instead, the
build runs doit in-process, and ``N - 1`` forked workers check the sessions doit will reach last
(documents, session checks and compiled profiles), a few sessions at a time from the end of the
build order, while doit works from the front. A task whose session a worker already checked only
writes the result; the two sides meet in the middle and a worker stops where doit has been.

A worker's result is used only for exactly the inputs it was computed from: the task reads the
files the check reads and looks the result up by their digests (``tasks.validate.inputs_key``).
A missing result (not computed yet, or a worker failed) is computed by the task as usual.
Workers write nothing: every file is written by the build process, in doit's order.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

_results: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()
_progress: Any = None  # multiprocessing.Value: how far (in build order) doit has got
_order: dict[str, int] = {}  # session -> its place in the build order


def active() -> bool:
    return _progress is not None


def lookup(key: tuple[Any, ...]) -> Any:
    """A worker's result for exactly this input, taken (a session is checked by one task)."""
    with _lock:
        return _results.pop(key, None)


def peek(key: tuple[Any, ...]) -> Any:
    """A worker's result for exactly this input, left for the next task that asks."""
    with _lock:
        return _results.get(key)


def reached(session: str) -> None:
    """doit has got to ``session``: workers need not check it nor anything before it."""
    if _progress is not None:
        place = _order.get(session)
        if place is not None and place > _progress.value:
            _progress.value = place


def _check_session(root: str, project: str, session: str) -> list[tuple[tuple[Any, ...], Any]]:
    from importlib import import_module
    from pathlib import Path

    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    # Imported by name: the package is mapped from the top-level tasks/ folder.
    validate = import_module("idse_orchestrator.tasks.validate")
    # The key first: what the check reads must be what the key says it read.
    key = validate.inputs_key(ws, proj, session)
    out: list[tuple[tuple[Any, ...], Any]] = [(key, validate.validate_session(ws, proj, session))]
    # The compile task's output (the session check compiled the profile already).
    tasks = import_module("idse_orchestrator.tasks.session")
    out.append((tasks.profile_key(ws, proj, session), tasks.profile_summary(ws, proj, session)))
    return out


def _work(args: tuple[str, str, list[tuple[int, str]]]) -> list[tuple[tuple[Any, ...], Any]]:
    root, project, sessions = args
    out: list[tuple[tuple[Any, ...], Any]] = []
    for place, session in sessions:
        if _progress is not None and _progress.value >= place:
            break  # doit has got here: the rest of this stretch is doit's
        try:
            out.extend(_check_session(root, project, session))
        except Exception:  # noqa: BLE001 - the task then checks the session itself, and says why
            continue
    return out


def _quiet_worker() -> None:
    # Ctrl-C reaches the whole process group: the build stops its workers itself, without a
    # worker's traceback on the terminal.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent forked us with SIGINT blocked (see ``ahead``): only now, ignored, may it arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def ahead(root: str, project: str, sessions: Sequence[str], jobs: int) -> Iterator[None]:
    """Run ``jobs - 1`` workers checking ``sessions`` (in build order) from the end while the
    block runs; their results are offered to the validation tasks through ``lookup``."""
    global _progress
    if jobs < 2 or len(sessions) < 2:
        yield
        return
    import multiprocessing

    from idse_orchestrator.engine.doit_adapter import workers_die_with_parent

    workers_die_with_parent()
    context = multiprocessing.get_context("fork")
    _order.clear()
    _order.update({s: i for i, s in enumerate(sessions)})
    _progress = context.Value("i", -1, lock=False)
    # Stretches of a few sessions, the last ones first; a worker asks for the next when done.
    places = list(enumerate(sessions))[::-1]
    size = 4
    stretches = [(root, project, places[i : i + size]) for i in range(0, len(places), size)]

    def keep(batch: list[tuple[tuple[Any, ...], Any]]) -> None:
        with _lock:
            _results.update(batch)

    import signal

    # A Ctrl-C landing between a fork and the worker's initializer would print the interpreter's
    # own "Exception ignored in _after_fork" traceback: workers are forked with SIGINT blocked.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pool = None
    try:
        pool = context.Pool(jobs - 1, initializer=_quiet_worker)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C lands here
        for stretch in stretches:
            pool.apply_async(_work, (stretch,), callback=keep)
        pool.close()
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        _progress.value = len(sessions)  # workers stop at their next session
        if pool is not None:
            pool.terminate()
            pool.join()
        _progress = None
        _order.clear()
        with _lock:
            _results.clear()

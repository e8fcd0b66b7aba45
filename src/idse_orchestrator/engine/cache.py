"""The build's own files: where the cache is (a temporary one for a read-only workspace), recovering
an unreadable dependency database or build index, and how the cycle collector runs while building."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from idse_orchestrator import layout
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.index import BuildIndex
from idse_orchestrator.engine.outcome import VALIDATION_FAMILIES
from idse_orchestrator.workspace import Workspace


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


def recover_cache(ws: Workspace, ctx: BuildContext, warn: Callable[[str], None]) -> bool:
    """Move an unreadable dependency database aside so the build starts from scratch."""
    from idse_orchestrator.engine.doit_state import check_db

    problem = check_db(str(ws.root / layout.doit_db(ctx.project, ctx.cache)))
    if problem is not None:
        _move_aside(ws, layout.doit_db(ctx.project, ctx.cache), problem, warn)
        import shutil

        shutil.rmtree(ws.root / ctx.results_rel(), ignore_errors=True)
        return True
    return False


def open_index(ws: Workspace, rel: str, warn: Callable[[str], None]) -> BuildIndex:
    import sqlite3

    try:
        return BuildIndex(str(ws.root / rel))
    except sqlite3.DatabaseError as exc:
        _move_aside(ws, rel, str(exc), warn)
        return BuildIndex(str(ws.root / rel))


@contextlib.contextmanager
def few_full_collections() -> Iterator[None]:
    """Python's cycle collector walks every live object on a full collection; a build keeps
    hundreds of thousands (tasks, results, the index's rows), and with the default thresholds a
    cold build of 1,000 sessions spent about 5 % of its time there, a watch round 15-20 ms now
    and then. Young collections stay frequent enough to keep cyclic garbage small."""
    import gc

    previous = gc.get_threshold()
    gc.set_threshold(20_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


_READ_ONLY_CACHES: list[str] = []


def cache_folder(ws: Workspace, families: tuple[str, ...], warn: Callable[[str], None]) -> str:
    """ "" for the workspace's own cache; a temporary folder when the workspace cannot be written
    and only reading families were asked for (validate, status): they then work read-only."""
    import errno

    from idse_orchestrator.errors import ReadOnly
    from idse_orchestrator.fsutil import ensure_cache_dir

    try:
        if ensure_cache_dir(ws.cache_dir):
            warn(f"{ws.rel(ws.cache_dir)} was not a folder; moved aside, rebuilding the cache")
        # access(2) answers EROFS and permission checks without writing anything on the hot path.
        if os.access(ws.cache_dir, os.W_OK | os.X_OK):
            return ""
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    if not set(families) <= set(VALIDATION_FAMILIES):
        raise ReadOnly(
            f"the workspace is read-only ({ws.rel(ws.cache_dir)} cannot be written): 'idse build' writes "
            "derived files; 'idse validate' and 'idse status' work read-only"
        )
    import atexit
    import tempfile

    if not _READ_ONLY_CACHES:
        folder = tempfile.mkdtemp(prefix="idse-read-only-")
        _READ_ONLY_CACHES.append(folder)
        import shutil

        atexit.register(shutil.rmtree, folder, True)
        warn("the workspace is read-only: results are computed in a temporary folder and not kept")
    return _READ_ONLY_CACHES[0]

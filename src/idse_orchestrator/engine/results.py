"""Cached task results (validation findings, derived statuses) stored as JSON targets."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

SCHEMA = 1


def write_result(path: Path, data: dict[str, Any]) -> None:
    payload = {"schema": SCHEMA, **data}
    # Derived data: atomic (never torn) but not fsynced; a lost result is simply rebuilt.
    _write_derived(path, (json.dumps(payload, sort_keys=True, separators=(",", ":")) + "\n").encode())


def _write_derived(path: Path, data: bytes) -> None:
    """``atomic_write_bytes(durable=False)`` for a file of the build cache, in fewer system calls
    (a build writes thousands): the temporary file sits beside the result (the cache is git-ignored),
    named by process so that parallel workers never share one, and the mode is the default one."""
    from idse_orchestrator.fsutil import confined, holds
    from idse_orchestrator.unnamed import create_unnamed

    real = confined(path)  # the one symlink policy, as for every write
    if holds(real, data):
        # Same bytes: the file keeps its stat, so whatever was recorded as having read it (the
        # project-wide tasks, the build index) still vouches for it without reading it again.
        return
    if not os.path.lexists(real) and real.parent.is_dir() and create_unnamed(real, data, durable=False):
        return
    tmp = real.with_name(f".{real.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileNotFoundError:
            real.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_result(path: Path) -> dict[str, Any] | None:
    """The result, or None when absent or unusable (a damaged cache entry is simply rebuilt)."""
    from idse_orchestrator.fsutil import read_derived_json

    data = read_derived_json(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data

"""Every file a task writes is checked by content, not only by existence.

doit's own ``targets`` only make a task rerun when a target is *missing*. A derived file that was
edited by hand, damaged, or restored from an old checkout would otherwise stay wrong forever. Each
action therefore runs through :func:`run_recorded`, which returns (as doit task values) the digest
and stat of every output right after the action wrote it; :func:`outputs_unchanged` is the task's
``uptodate`` check that compares them with the files on disk. An output may legitimately be absent
(a profile that does not compile is removed): "absent" is recorded and checked like any content.

These functions run inside doit (and in its worker processes with ``--jobs``), so they are plain
module-level functions with picklable arguments.
"""

from __future__ import annotations

import os
import stat as stat_
from collections.abc import Callable, Sequence
from typing import Any

from idse_orchestrator.fsutil import sha256_hex

ABSENT = None
# Outputs shared with people (agent instruction files) are judged by idse's managed block only:
# a note written above or below it is the user's, and must not make the task rerun.
MANAGED_SUFFIX = "#managed"
_BEGIN = b"<!-- idse:begin"
_END = b"<!-- idse:end"


def split_output(spec: str) -> tuple[str, bool]:
    if spec.endswith(MANAGED_SUFFIX):
        return spec[: -len(MANAGED_SUFFIX)], True
    return spec, False


def path_kind(path: str) -> str:
    """What is at ``path``: absent, file, dir, special, or a link and what it points to. doit sees
    only files, so a path that turns from a folder into nothing looks unchanged to it; the kinds of
    a task's watched paths are part of the task's config."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "absent"
    if stat_.S_ISLNK(mode):
        try:
            target = os.stat(path).st_mode
        except OSError:
            return "link:dangling"
        return "link:" + ("file" if stat_.S_ISREG(target) else "dir" if stat_.S_ISDIR(target) else "special")
    if stat_.S_ISREG(mode):
        return "file"
    return "dir" if stat_.S_ISDIR(mode) else "special"


def fingerprint(path: str) -> tuple[int, int]:
    """(mtime_ns, size) of ``path``; (0, -1) when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def digest(path: str, managed: bool = False) -> str | None:
    """Content digest of a regular file (of its managed block only, when ``managed``); None when
    absent; a marker for anything else."""
    try:
        st = os.stat(path)
    except OSError:
        return ABSENT
    if not stat_.S_ISREG(st.st_mode):
        return f"!mode:{stat_.S_IFMT(st.st_mode):o}"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return f"!error:{exc.errno}"
    if managed:
        start = data.find(_BEGIN)
        end = data.find(_END, start + 1) if start >= 0 else -1
        data = data[start:end] if 0 <= start < end else b"!unmanaged:" + data
    return sha256_hex(data)[:32]


def record(outputs: Sequence[str]) -> dict[str, list[Any]]:
    """What each output is now: [digest, mtime_ns, size]."""
    out: dict[str, list[Any]] = {}
    for spec in outputs:
        rel, managed = split_output(spec)
        mtime, size = fingerprint(rel)
        out[rel] = [digest(rel, managed), mtime, size]
    return out


def run_recorded(
    func: Callable[..., Any], args: Sequence[Any], outputs: Sequence[str], reads: Sequence[str] = ()
) -> Any:
    """Run one task action, then record its outputs (saved by doit as the task's values).

    ``reads`` are files the action reads that another task writes: their digest is taken *before*
    the action runs, so an edit that lands while it runs makes the task rerun next time."""
    from idse_orchestrator.errors import IdseError

    seen = {rel: read_stamp(rel) for rel in reads}
    try:
        func(*args)
    except IdseError as exc:
        from doit.exceptions import TaskFailed

        # A clear one-line reason, not a Python class path and a traceback.
        return TaskFailed(exc.message)
    return {"outputs": record(outputs), "reads": seen}


# A read file modified this recently may change again within its timestamp's granularity.
RACY_NS = 2_000_000_000


def read_stamp(rel: str) -> list[Any]:
    """What a task read: [digest, mtime_ns, size], the stat left ``None`` when it cannot vouch for
    the content (the file changed while being read, or too recently for its mtime to tell)."""
    import time

    before = fingerprint(rel)
    content = digest(rel)
    if fingerprint(rel) != before or before[1] < 0 or time.time_ns() - before[0] < RACY_NS:
        return [content, None, None]
    return [content, before[0], before[1]]


def _read_changed(entry: Any, rel: str) -> bool:
    if isinstance(entry, list) and len(entry) == 3:
        if entry[1] is not None and list(fingerprint(rel)) == entry[1:]:
            return False  # same mtime and size as when read, long after its last change: same bytes
        return bool(entry[0] != digest(rel))
    return True  # no record (or one from an older idse): read again


def changed_reads(values: dict[str, Any] | None, reads: Sequence[str]) -> list[str]:
    """Reasons the files read differ from what the task read: a project-wide task reads every
    session's result, so the stat decides when it can and the content only when it must."""
    seen = (values or {}).get("reads")
    if not isinstance(seen, dict):
        return ["no_input_record"]
    return [f"changed_input: {rel}" for rel in reads if _read_changed(seen.get(rel), rel)]


def reads_unchanged(task: Any, values: dict[str, Any], reads: Sequence[str]) -> bool:
    """doit ``uptodate`` check: False when a file written by another task differs from what this
    task read (the other task reran and wrote different bytes)."""
    return not changed_reads(values, reads)


def changed_outputs(values: dict[str, Any] | None, outputs: Sequence[str]) -> list[str]:
    """Reasons the recorded outputs no longer match the files: ``changed_target: x`` and so on."""
    recorded = (values or {}).get("outputs")
    if not isinstance(recorded, dict) or sorted(recorded) != sorted(split_output(o)[0] for o in outputs):
        return ["no_output_record"]
    reasons: list[str] = []
    for spec in outputs:
        rel, managed = split_output(spec)
        entry = recorded.get(rel)
        if not isinstance(entry, list) or len(entry) != 3:
            reasons.append(f"changed_target: {rel}")
            continue
        if list(fingerprint(rel)) == entry[1:]:
            continue  # same mtime and size: the content check is skipped, as doit does for file_dep
        now = digest(rel, managed)
        if now == entry[0]:
            continue
        reasons.append(f"{'missing_target' if now is ABSENT else 'changed_target'}: {rel}")
    return reasons


def outputs_unchanged(task: Any, values: dict[str, Any], outputs: Sequence[str]) -> bool:
    """doit ``uptodate`` check: False when an output differs from what the task last wrote."""
    return not changed_outputs(values, outputs)

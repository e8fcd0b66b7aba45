"""The sync record: per clone and per remote, each artifact's hash and revision at its last sync.

It is the base of the three-way comparison, so it must describe *this* copy of the workspace. It
lives in `.idse/projects/<p>/.sync/record.json` (not the cache, which may be deleted at any time),
ignores itself for git, and also carries the inode of the project directory: a record that reaches
another clone anyway (committed, copied) is not trusted there. Without a base every difference is a
conflict, the safe direction; a foreign base could make an old local file look like a new edit.

It also remembers, per conflict, which remote version was saved in the `.remote` copy: resolving
writes against exactly that version, so a remote edit made after the copy is never overwritten.
Remote keys are the store's description, scrubbed of secrets (``redact``).

A long push or pull does not rewrite the whole record after each batch (that grows with the record,
and made a push quadratic): each batch appends the entries it changed, as one fsynced JSON line, to
`journal.jsonl` beside it (``append_journal``), and the record is rewritten once at the end
(``save_record``), which starts a new *generation* and so retires the journal. Loading applies the
journal lines of the record's generation and clone in order; a line torn by a crash is skipped, so a
kill loses at most the bookkeeping of the batch in progress.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import pydantic_problem
from idse_orchestrator.sync.confine import local_root
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.workspace import Project

SHA256_PATTERN = r"^[0-9a-f]{64}$"
# A file modified within this window of being hashed could change again without changing its size
# or mtime (coarse timestamps), so its fingerprint is not trusted until it is older.
RACY_WINDOW_NS = 2_000_000_000


class BaseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=SHA256_PATTERN)
    revision: str = Field(min_length=1, max_length=200)


class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int
    mtime_ns: int
    sha256: str = Field(pattern=SHA256_PATTERN)


class SyncRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    clone: int = 0
    # remote description -> "session/stage" -> base
    remotes: dict[str, dict[str, BaseEntry]] = Field(default_factory=dict)
    # "session/stage" -> stat fingerprint of the local file, so unchanged files are not re-read
    files: dict[str, Fingerprint] = Field(default_factory=dict)
    # remote description -> "session/stage" -> the remote version saved in the `.remote` copy of a
    # conflict: the only version `resolve` may replace (--ours) or take (--theirs)
    conflicts: dict[str, dict[str, BaseEntry]] = Field(default_factory=dict)
    # Bumped by every full save: journal lines of an older generation are already in this file.
    generation: int = 0
    # (table, remote, key) changed since the record or the journal was last written
    _touched: set[tuple[str, str, str]] = PrivateAttr(default_factory=set)

    def set_entry(
        self, table: Literal["remotes", "conflicts"], remote: str, key: str, entry: BaseEntry | None
    ) -> None:
        """Set (``None``: remove) the base or the conflict copy's version of ``key`` at ``remote``."""
        entries = getattr(self, table).setdefault(remote, {})
        if entry is None:
            if entries.pop(key, None) is None:
                return
        else:
            entries[key] = entry
        self._touched.add((table, remote, key))

    def set_file(self, key: str, fingerprint: Fingerprint | None) -> None:
        if fingerprint is None:
            if self.files.pop(key, None) is None:
                return
        else:
            self.files[key] = fingerprint
        self._touched.add(("files", "", key))

    @property
    def touched(self) -> bool:
        return bool(self._touched)

    def changes(self) -> dict[str, Any]:
        """The touched entries' current values (``None``: removed), as a journal line carries them."""
        out: dict[str, Any] = {"remotes": {}, "conflicts": {}, "files": {}}
        for table, remote, key in sorted(self._touched):
            if table == "files":
                fp = self.files.get(key)
                out["files"][key] = None if fp is None else fp.model_dump()
            else:
                entry = getattr(self, table).get(remote, {}).get(key)
                out[table].setdefault(remote, {})[key] = None if entry is None else entry.model_dump()
        return out

    def apply(self, line: _JournalLine) -> None:
        for table in ("remotes", "conflicts"):
            for remote, entries in getattr(line, table).items():
                target = getattr(self, table).setdefault(remote, {})
                for key, entry in entries.items():
                    if entry is None:
                        target.pop(key, None)
                    else:
                        target[key] = entry
        for key, fp in line.files.items():
            if fp is None:
                self.files.pop(key, None)
            else:
                self.files[key] = fp

    def scrub_remote_keys(self) -> None:
        """Re-key remotes by their scrubbed description: a record written before descriptions were
        scrubbed must not keep a secret on disk, nor lose its base."""
        for table in (self.remotes, self.conflicts):
            for key in list(table):
                clean = redact(key)
                if clean != key:
                    entries = table.pop(key)
                    table.setdefault(clean, entries)


class _JournalLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generation: int
    clone: int
    remotes: dict[str, dict[str, BaseEntry | None]] = Field(default_factory=dict)
    conflicts: dict[str, dict[str, BaseEntry | None]] = Field(default_factory=dict)
    files: dict[str, Fingerprint | None] = Field(default_factory=dict)


def artifact_key(session: str, stage: str) -> str:
    return f"{session}/{stage}"


def record_dir(project: Project) -> Path:
    return project.sync_dir


def record_path(project: Project) -> Path:
    return record_dir(project) / "record.json"


def journal_path(project: Project) -> Path:
    return record_dir(project) / "journal.jsonl"


def _clone_id(project: Project) -> int:
    return project.path.stat().st_ino


def load_record(project: Project) -> tuple[SyncRecord, bool]:
    """The record of this clone, and whether one existed but was dropped as foreign."""
    path = record_path(project)
    shown = project.workspace.rel(path)
    restart = "; delete it to start over (differing artifacts become conflicts)"
    text = local_root(project.workspace.root).read_text(path)
    if text is None:
        record = SyncRecord(clone=_clone_id(project))
        _replay(project, record)
        return record, False
    try:
        record = SyncRecord.model_validate(json.loads(text))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            raise BadFile(shown, f"does not match its schema: {pydantic_problem(exc)}{restart}") from None
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise BadFile(shown, f"invalid JSON{restart}", line) from None
    clone = _clone_id(project)
    if record.clone != clone:
        return SyncRecord(clone=clone), True
    _replay(project, record)
    record.scrub_remote_keys()
    return record, False


def _replay(project: Project, record: SyncRecord) -> None:
    """Apply the journal lines written since ``record`` was saved (its generation, its clone)."""
    path = journal_path(project)
    try:
        real = local_root(project.workspace.root).real(path)
        # Grows by one line per batch until the next full save: read whole, never through a link.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BadFile(project.workspace.rel(path), f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    # A line cut inside a character is invalid JSON anyway: it is skipped below.
    for raw in data.decode("utf-8", errors="replace").splitlines():
        try:
            line = _JournalLine.model_validate_json(raw)
        except ValueError:
            continue  # torn by a crash mid-write: that batch's bookkeeping only is lost
        if line.generation == record.generation and line.clone == record.clone:
            record.apply(line)


def ensure_ignored(project: Project) -> None:
    """Give `.sync/` its own .gitignore: it describes this clone only."""
    root = local_root(project.workspace.root)
    ignore = record_dir(project) / ".gitignore"
    if not root.exists(ignore):
        root.write_text(ignore, "# Per-clone sync state: never commit it.\n*\n")


def append_journal(project: Project, record: SyncRecord) -> None:
    """Append the entries changed since the last write as one durable line (see the module doc)."""
    if not record.touched:
        return
    ensure_ignored(project)
    line = {"generation": record.generation, "clone": record.clone, **record.changes()}
    data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    root = local_root(project.workspace.root)
    path = root.real(journal_path(project))
    if os.path.islink(path):
        raise BadFile(project.workspace.rel(journal_path(project)), "is a symbolic link; not followed")
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
        try:
            # A line torn by an earlier crash is ended first, so this one starts on a line of its own.
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and os.pread(fd, 1, end - 1) != b"\n":
                data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        shown = project.workspace.rel(journal_path(project))
        raise BadFile(shown, f"cannot be written ({exc.strerror or exc})") from None
    record._touched.clear()


def save_record(project: Project, record: SyncRecord) -> None:
    """Write the whole record (a new generation) and retire the journal."""
    ensure_ignored(project)
    record.scrub_remote_keys()
    record.generation += 1
    # Keys sorted, so the file does not depend on the order things happened in; encoded by pydantic
    # straight to compact JSON, without an intermediate copy of tens of thousands of entries.
    record.remotes = {r: dict(sorted(t.items())) for r, t in sorted(record.remotes.items())}
    record.conflicts = {r: dict(sorted(t.items())) for r, t in sorted(record.conflicts.items()) if t}
    record.files = dict(sorted(record.files.items()))
    text = record.model_dump_json() + "\n"
    # Atomic and durable (a temporary file fsynced, then renamed): a crash leaves the old or the new.
    root = local_root(project.workspace.root)
    root.write_text(record_path(project), text)
    record._touched.clear()
    # Its lines are of an older generation now: ignored if the removal is lost to a crash.
    root.unlink(journal_path(project))


def cached_sha(record: SyncRecord, key: str, path: Path) -> str | None:
    """The file's sha256 from its fingerprint if size and mtime are unchanged, else ``None``.

    ``path`` is the file's resolved path (``confine.Root.real``): its own status is taken."""
    try:
        st = path.lstat()
    except OSError:
        return None
    fp = record.files.get(key)
    if fp is not None and fp.size == st.st_size and fp.mtime_ns == st.st_mtime_ns:
        return fp.sha256
    return None


def remember(record: SyncRecord, key: str, path: Path, sha256: str) -> None:
    """Fingerprint ``path`` (resolved) as holding ``sha256`` unless it is too fresh to trust (see
    RACY_WINDOW_NS)."""
    try:
        st = path.lstat()
    except OSError:
        record.set_file(key, None)
        return
    if time.time_ns() - st.st_mtime_ns < RACY_WINDOW_NS:
        record.set_file(key, None)
        return
    fp = Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha256)
    if record.files.get(key) != fp:
        record.set_file(key, fp)

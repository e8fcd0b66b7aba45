"""The sync record: per clone and per remote, each artifact's hash and revision at its last sync.

It is the base of the three-way comparison, so it must describe *this* copy of the workspace. It
lives in `.idse/projects/<p>/.sync/record.json` (not the cache, which may be deleted at any time),
ignores itself for git, and also carries the inode of the project directory: a record that reaches
another clone anyway (committed, copied) is not trusted there. Without a base every difference is a
conflict, the safe direction; a foreign base could make an old local file look like a new edit.

It also remembers, per conflict, which remote version was saved in the `.remote` copy: resolving
writes against exactly that version, so a remote edit made after the copy is never overwritten.
Remote keys are the store's description, scrubbed of secrets (``redact``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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

    def scrub_remote_keys(self) -> None:
        """Re-key remotes by their scrubbed description: a record written before descriptions were
        scrubbed must not keep a secret on disk, nor lose its base."""
        for table in (self.remotes, self.conflicts):
            for key in list(table):
                clean = redact(key)
                if clean != key:
                    entries = table.pop(key)
                    table.setdefault(clean, entries)


def artifact_key(session: str, stage: str) -> str:
    return f"{session}/{stage}"


def record_dir(project: Project) -> Path:
    return project.sync_dir


def record_path(project: Project) -> Path:
    return record_dir(project) / "record.json"


def _clone_id(project: Project) -> int:
    return project.path.stat().st_ino


def load_record(project: Project) -> tuple[SyncRecord, bool]:
    """The record of this clone, and whether one existed but was dropped as foreign."""
    path = record_path(project)
    shown = project.workspace.rel(path)
    restart = "; delete it to start over (differing artifacts become conflicts)"
    text = local_root(project.workspace.root).read_text(path)
    if text is None:
        return SyncRecord(clone=_clone_id(project)), False
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
    record.scrub_remote_keys()
    return record, False


def ensure_ignored(project: Project) -> None:
    """Give `.sync/` its own .gitignore: it describes this clone only."""
    root = local_root(project.workspace.root)
    ignore = record_dir(project) / ".gitignore"
    if not root.exists(ignore):
        root.write_text(ignore, "# Per-clone sync state: never commit it.\n*\n")


def save_record(project: Project, record: SyncRecord) -> None:
    ensure_ignored(project)
    record.scrub_remote_keys()
    record.conflicts = {remote: table for remote, table in record.conflicts.items() if table}
    # Compact (one line, keys sorted): written once per batch of a push or pull, so it must be cheap
    # for thousands of entries; the indented form costs ten times as much to encode.
    text = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":")) + "\n"
    # Atomic and durable (a temporary file fsynced, then renamed): a crash leaves the old or the new.
    local_root(project.workspace.root).write_text(record_path(project), text)


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
        record.files.pop(key, None)
        return
    if time.time_ns() - st.st_mtime_ns < RACY_WINDOW_NS:
        record.files.pop(key, None)
        return
    record.files[key] = Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha256)

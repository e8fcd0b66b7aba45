"""The sync record: per clone and per remote, each artifact's hash and revision at its last sync.

It is the base of the three-way comparison, so it must describe *this* copy of the workspace. It
lives in `.idse/projects/<p>/.sync/record.json` (not the cache, which may be deleted at any time),
ignores itself for git, and also carries the inode of the project directory: a record that reaches
another clone anyway (committed, copied) is not trusted there. Without a base every difference is a
conflict, the safe direction; a foreign base could make an old local file look like a new edit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import atomic_write_text, load_model, save_model
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


def artifact_key(session: str, stage: str) -> str:
    return f"{session}/{stage}"


def record_dir(project: Project) -> Path:
    return project.path / ".sync"


def record_path(project: Project) -> Path:
    return record_dir(project) / "record.json"


def _clone_id(project: Project) -> int:
    return project.path.stat().st_ino


def load_record(project: Project) -> tuple[SyncRecord, bool]:
    """The record of this clone, and whether one existed but was dropped as foreign."""
    path = record_path(project)
    if not path.exists():
        return SyncRecord(clone=_clone_id(project)), False
    try:
        record = load_model(path, SyncRecord)
    except BadFile as exc:
        raise BadFile(
            project.workspace.rel(path),
            exc.message.split(": ", 1)[1]
            + "; delete it to start over (differing artifacts become conflicts)",
        ) from None
    clone = _clone_id(project)
    if record.clone != clone:
        return SyncRecord(clone=clone), True
    return record, False


def save_record(project: Project, record: SyncRecord) -> None:
    directory = record_dir(project)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        atomic_write_text(ignore, "# Per-clone sync state: never commit it.\n*\n")
    save_model(record_path(project), record)


def cached_sha(record: SyncRecord, key: str, path: Path) -> str | None:
    """The file's sha256 from its fingerprint if size and mtime are unchanged, else ``None``."""
    try:
        st = path.stat()
    except OSError:
        return None
    fp = record.files.get(key)
    if fp is not None and fp.size == st.st_size and fp.mtime_ns == st.st_mtime_ns:
        return fp.sha256
    return None


def remember(record: SyncRecord, key: str, path: Path, sha256: str) -> None:
    """Fingerprint ``path`` as holding ``sha256`` unless it is too fresh to trust (see RACY_WINDOW_NS)."""
    try:
        st = path.stat()
    except OSError:
        record.files.pop(key, None)
        return
    if time.time_ns() - st.st_mtime_ns < RACY_WINDOW_NS:
        record.files.pop(key, None)
        return
    record.files[key] = Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha256)

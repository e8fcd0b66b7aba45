"""The ``filesystem`` store: a directory laid out like `.idse/` (``projects/<p>/sessions/<s>/…``).

The workspace's own `.idse/` tree is the canonical local store (``local_store``); a directory
elsewhere, such as a shared drive, is a remote. The revision of a document is its sha256: content
addressing needs no counter file, and two writers agreeing on content agree on the revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from idse_orchestrator import ids
from idse_orchestrator.errors import BadFile, InvalidName, RemoteError, UsageError
from idse_orchestrator.fsutil import atomic_write_text, dump_json, file_lock, read_json, read_text
from idse_orchestrator.stages import BY_NAME, STAGES
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult, content_sha256
from idse_orchestrator.workspace import Project, Workspace

STATE_FILE = "store_state.json"
LOCK_FILE = ".store.lock"


class FilesystemStore:
    def __init__(self, root: Path, project: str, *, remote: bool) -> None:
        self.root = root
        self.project = ids.project_name(project)
        # A remote never follows symlinks: a link on a shared drive must not pull in local files.
        self.remote = remote
        self.description = f"filesystem {root} (project {project})"

    @property
    def project_dir(self) -> Path:
        return self.root / "projects" / self.project

    def _path(self, session: str, stage: str) -> Path:
        ids.session_id(session)
        if stage not in BY_NAME:
            raise InvalidName(f"invalid stage {stage!r}")
        return self.project_dir / "sessions" / session / BY_NAME[stage].relpath

    def _check_root(self) -> None:
        if self.remote and not self.root.is_dir():
            raise RemoteError(
                f"sync directory {self.root} does not exist (not mounted?); create it with 'idse sync init'"
            )

    def _usable(self, path: Path) -> bool:
        if self.remote and path.is_symlink():
            return False
        return path.is_file()

    def _read(self, path: Path) -> str:
        try:
            return read_text(path)
        except BadFile as exc:
            if self.remote:
                raise RemoteError(exc.message) from None
            raise

    def list_artifacts(self) -> list[ArtifactRef]:
        self._check_root()
        sessions_dir = self.project_dir / "sessions"
        if not sessions_dir.is_dir():
            return []
        refs: list[ArtifactRef] = []
        for entry in sorted(sessions_dir.iterdir()):
            # Names that cannot be sessions (dot folders, junk) are not idse data: skip them silently.
            if not ids.is_valid_session_id(entry.name) or not entry.is_dir():
                continue
            if self.remote and entry.is_symlink():
                continue
            for stage in STAGES:
                path = entry / stage.relpath
                if self._usable(path):
                    digest = content_sha256(self._read(path))
                    refs.append(ArtifactRef(entry.name, stage.name, digest, digest))
        return refs

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        self._check_root()
        path = self._path(session, stage)
        if not self._usable(path):
            return None
        content = self._read(path)
        digest = content_sha256(content)
        return Artifact(session, stage, content, digest, digest)

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        self._check_root()
        path = self._path(session, stage)
        # The lock makes check-then-write atomic against other idse processes using this store.
        with file_lock(self.project_dir / LOCK_FILE, what="sync store"):
            current = self.read_artifact(session, stage)
            current_rev = current.revision if current else None
            if current_rev != base_revision:
                return WriteResult(False, current_rev, current.sha256 if current else None)
            if self.remote and path.is_symlink():
                path.unlink()
            atomic_write_text(path, content)
        return WriteResult(True, sha256, sha256)

    def read_project_state(self) -> dict[str, Any]:
        self._check_root()
        path = self.project_dir / STATE_FILE
        if not self._usable(path):
            return {}
        try:
            data = read_json(path)
        except BadFile as exc:
            raise RemoteError(exc.message) from None
        if not isinstance(data, dict):
            raise RemoteError(f"{path}: expected a JSON object")
        return data

    def write_project_state(self, state: dict[str, Any]) -> None:
        self._check_root()
        atomic_write_text(self.project_dir / STATE_FILE, dump_json(state))

    def init(self) -> str:
        self.project_dir.mkdir(parents=True, exist_ok=True)
        return f"sync directory ready: {self.project_dir}"

    def close(self) -> None:
        pass


def local_store(project: Project) -> FilesystemStore:
    """The workspace's own `.idse/` tree seen as a design store: the canonical local side."""
    return FilesystemStore(project.workspace.idse_dir, project.name, remote=False)


def directory_from_url(url: str, ws: Workspace) -> Path:
    """A plain path or a ``file://`` URL; relative paths are relative to the workspace root."""
    if url.lower().startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"file URL {url!r} names host {parts.netloc!r}; only local paths are supported")
        raw = unquote(parts.path)
    elif "://" in url:
        raise UsageError(f"the filesystem backend needs a path or a file:// URL, not {url!r}")
    else:
        raw = url
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = ws.root / path
    return Path(str(path.resolve()))


def open_store(settings: SyncSettings, ws: Workspace) -> FilesystemStore:
    if not settings.url:
        raise UsageError(
            "the filesystem backend needs a directory: set sync.path in config.yaml or IDSE_SYNC_URL"
        )
    root = directory_from_url(settings.url, ws)
    if root == ws.idse_dir.resolve():
        raise UsageError(f"the sync directory {root} is this workspace's own .idse/ tree")
    return FilesystemStore(root, settings.project, remote=True)

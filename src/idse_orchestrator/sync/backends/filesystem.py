"""The ``filesystem`` store: a directory laid out like `.idse/` (``projects/<p>/sessions/<s>/…``).

The workspace's own `.idse/` tree is the canonical local store (``local_store``); a directory
elsewhere, such as a shared drive, is a remote. The revision of a document is its sha256: content
addressing needs no counter file, and two writers agreeing on content agree on the revision.

Every access goes through a ``confine.Root``: the workspace for the local store, the sync directory
for a remote. A symbolic link leading outside it is refused (the document is listed as refused,
and a read or write raises ``Escape``), never followed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from idse_orchestrator import ids
from idse_orchestrator.errors import BadFile, InvalidName, RemoteError, UsageError
from idse_orchestrator.fsutil import dump_json
from idse_orchestrator.stages import BY_NAME, STAGES
from idse_orchestrator.sync.confine import Escape, Root, local_root
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult, content_sha256
from idse_orchestrator.workspace import Project, Workspace

STATE_FILE = "store_state.json"
LOCK_FILE = ".store.lock"


class FilesystemStore:
    def __init__(self, root: Path, project: str, *, remote: bool, confine: Root | None = None) -> None:
        self.root = root
        self.project = ids.project_name(project)
        self.remote = remote
        self.confine = confine or Root(root, "the sync directory", prefix="sync directory: ")
        self.shown_root = redact(str(root))
        self.description = f"filesystem {self.shown_root} (project {project})"

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
                f"sync directory {self.shown_root} does not exist (not mounted?); "
                "create it with 'idse sync init'"
            )

    @contextlib.contextmanager
    def _remote_errors(self) -> Iterator[None]:
        """A remote that cannot be written is a remote error (exit 1), not a local bad file."""
        try:
            yield
        except BadFile as exc:
            if self.remote:
                raise RemoteError(redact(exc.message)) from None
            raise

    def _read(self, path: Path) -> str | None:
        try:
            return self.confine.read_text(path)
        except BadFile as exc:
            if self.remote:
                raise RemoteError(redact(exc.message)) from None
            raise

    def list_artifacts(self) -> list[ArtifactRef]:
        """Every document, plus a refused entry (``problem`` set) for each one behind a link that
        leads outside the directory; a link inside it is followed."""
        self._check_root()
        sessions_dir = self.project_dir / "sessions"
        if not self.confine.is_dir(sessions_dir):
            return []
        refs: list[ArtifactRef] = []
        for name in self.confine.listdir(sessions_dir):
            # Names that cannot be sessions (dot folders, junk) are not idse data: skip them silently.
            if not ids.is_valid_session_id(name):
                continue
            entry = sessions_dir / name
            try:
                if not self.confine.is_dir(entry):
                    continue
            except Escape as exc:
                refs.extend(ArtifactRef.refused(name, stage.name, exc.message) for stage in STAGES)
                continue
            for stage in STAGES:
                path = entry / stage.relpath
                try:
                    if not self.confine.is_file(path):
                        continue
                    content = self.confine.read_text(path)
                except Escape as exc:
                    refs.append(ArtifactRef.refused(name, stage.name, exc.message))
                    continue
                except BadFile as exc:
                    if not exc.problem.startswith("is larger than"):
                        if self.remote:
                            raise RemoteError(redact(exc.message)) from None
                        raise
                    # Over the size limit: that document is refused, the others are listed.
                    refs.append(ArtifactRef.refused(name, stage.name, f"document {exc.problem}"))
                    continue
                if content is not None:
                    digest = content_sha256(content)
                    refs.append(ArtifactRef(name, stage.name, digest, digest))
        return refs

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        self._check_root()
        path = self._path(session, stage)
        if not self.confine.is_file(path):
            return None
        content = self._read(path)
        if content is None:
            return None
        digest = content_sha256(content)
        return Artifact(session, stage, content, digest, digest)

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        self._check_root()
        path = self._path(session, stage)
        self.confine.real(path)  # refuse before taking the lock or creating any folder
        # The lock makes check-then-write atomic against other idse processes using this store.
        with self._remote_errors(), self.confine.lock(self.project_dir / LOCK_FILE, what="sync store"):
            current = self.read_artifact(session, stage)
            current_rev = current.revision if current else None
            if current_rev != base_revision:
                return WriteResult(False, current_rev, current.sha256 if current else None)
            self.confine.write_text(path, content)
        return WriteResult(True, sha256, sha256)

    def read_project_state(self) -> dict[str, Any]:
        self._check_root()
        path = self.project_dir / STATE_FILE
        try:
            text = self._read(path) if self.confine.is_file(path) else None
        except Escape as exc:
            raise RemoteError(exc.message) from None
        if text is None:
            return {}
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise RemoteError(f"{self.confine.show(path)}: invalid JSON") from None
        if not isinstance(data, dict):
            raise RemoteError(f"{self.confine.show(path)}: expected a JSON object")
        return data

    def write_project_state(self, state: dict[str, Any]) -> None:
        self._check_root()
        with self._remote_errors():
            self.confine.write_text(self.project_dir / STATE_FILE, dump_json(state))

    def init(self) -> str:
        with self._remote_errors():
            self.confine.mkdir(self.project_dir)
        return f"sync directory ready: {redact(str(self.project_dir))}"

    def close(self) -> None:
        pass


def local_store(project: Project) -> FilesystemStore:
    """The workspace's own `.idse/` tree seen as a design store: the canonical local side."""
    ws = project.workspace
    return FilesystemStore(ws.idse_dir, project.name, remote=False, confine=local_root(ws.root))


def directory_from_url(url: str, ws: Workspace) -> Path:
    """A plain path or a ``file://`` URL; relative paths are relative to the workspace root."""
    if url.lower().startswith("file:"):
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            raise UsageError(f"invalid file URL {redact(url)!r}") from None
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"file URL {redact(url)!r} names host {host!r}; only local paths are supported")
        raw = unquote(parts.path)
    elif "://" in url:
        raise UsageError(f"the filesystem backend needs a path or a file:// URL, not {redact(url)!r}")
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
        raise UsageError(f"the sync directory {redact(str(root))} is this workspace's own .idse/ tree")
    return FilesystemStore(root, settings.project, remote=True)

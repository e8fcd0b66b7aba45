"""The design store interface every backend implements, and the registry that picks one by name.

A store holds, per project, one document per (session, stage) with its content hash and an opaque
revision chosen by the store, plus a small JSON project state. Writes carry the revision the writer
last saw; a store refuses a write whose base is not its current revision (optimistic concurrency),
which is what lets sync detect every concurrent edit instead of overwriting it.

Optional extras, looked up by the engine: ``concurrency`` (an int: how many requests a push or
pull may have in flight at once; the store's methods must then be safe to call from that many
threads; absent means one at a time) and ``write_artifacts(items)`` (a batch of
``(session, stage, content, sha256, base_revision)`` written at once, answered with one
``WriteResult`` per item exactly as ``write_artifact`` would answer each). Likewise
``read_artifacts(keys)``: ``read_artifact`` for each (session, stage), in one request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from idse_orchestrator.errors import UsageError

if TYPE_CHECKING:
    from idse_orchestrator.sync.settings import SyncSettings
    from idse_orchestrator.workspace import Workspace

# backend name -> module under idse_orchestrator.sync.backends
BACKENDS: dict[str, str] = {
    "filesystem": "filesystem",
    "artifact-core": "artifact_core",
    "postgres": "postgres",
    "notion": "notion",
    "firestore": "firestore",
}
MAX_REVISION_LEN = 200


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ArtifactRef:
    """One listed artifact. Names come from the store unchecked: the engine validates them.

    ``problem`` set: the store lists the document but refuses to serve it (say, a symlink leading
    out of a filesystem remote); the engine reports it as rejected and leaves it alone.
    """

    session: str
    stage: str
    sha256: str
    revision: str
    problem: str | None = None

    @classmethod
    def refused(cls, session: str, stage: str, problem: str) -> ArtifactRef:
        return cls(session, stage, "", "", problem)


@dataclass(frozen=True)
class Artifact:
    session: str
    stage: str
    content: str
    sha256: str
    revision: str


@dataclass(frozen=True)
class WriteResult:
    """``ok``: written, ``revision`` is the new one. Otherwise the store's current revision and hash
    (both ``None`` when the artifact does not exist there)."""

    ok: bool
    revision: str | None
    sha256: str | None


class DesignStore(Protocol):
    #: one line naming the backend and where it points, without secrets
    description: str

    def list_artifacts(self) -> list[ArtifactRef]: ...

    def read_artifact(self, session: str, stage: str) -> Artifact | None: ...

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult: ...

    def read_project_state(self) -> dict[str, Any]: ...

    def write_project_state(self, state: dict[str, Any]) -> None: ...

    def init(self) -> str:
        """Create whatever the store needs (idempotent); returns a one-line summary."""
        ...

    def close(self) -> None: ...


def open_store(settings: SyncSettings, ws: Workspace) -> DesignStore:
    name = settings.backend
    if name is None or name not in BACKENDS:
        raise UsageError(f"unknown sync backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    module = import_module(f"idse_orchestrator.sync.backends.{BACKENDS[name]}")
    store: DesignStore = module.open_store(settings, ws)
    return store

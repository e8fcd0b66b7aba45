"""The workspace: where `.idse/` is, its config, its projects and their sessions.

Only the CLI discovers a workspace (``Workspace.discover``); core functions receive one.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from idse_orchestrator import ids, layout
from idse_orchestrator.errors import BadFile, NotFound, UsageError, WorkspaceNotFound
from idse_orchestrator.stages import BLUEPRINT, METADATA_RELPATH, Stage

if TYPE_CHECKING:
    # pydantic is imported only when a model is needed: a no-op build never loads it.
    from idse_orchestrator.models import AgentRegistry, Config, SessionMetadata

IDSE_DIR = layout.IDSE_DIR
# CURRENT_SESSION holds one session id and a newline: anything much larger is not one.
CURRENT_SESSION_LIMIT = 4096


def format_size(n: int) -> str:
    """A byte count as people write it: ``4 KB``, ``1 MB``, ``1.5 MB``, ``100 bytes``."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


_CONFIG_CACHE: dict[str, tuple[tuple[int, int], Config]] = {}


def load_config(path: Path) -> Config:
    """``.idse/config.yaml`` as a model; parsed once per process while the file is unchanged."""
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, -1)
    cached = _CONFIG_CACHE.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    config = _load_config(path)
    _CONFIG_CACHE[str(path)] = (stamp, config)
    return config


def _load_config(path: Path) -> Config:
    from pydantic import ValidationError

    from idse_orchestrator.fsutil import pydantic_problem, read_text
    from idse_orchestrator.models import Config
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    if not path.exists():
        return Config()
    try:
        data = safe_load(read_text(path, limit=1024 * 1024))
    except YamlError as exc:
        raise BadFile(path, str(exc)) from None
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise BadFile(path, "must be a YAML mapping")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise BadFile(path, f"invalid setting: {pydantic_problem(exc)}") from None


class Workspace:
    """A repository's `.idse/` tree. ``root`` is the directory that contains `.idse/`."""

    # A plain class, like the other records the everyday commands load: the dataclasses module
    # imports inspect, a noticeable part of a one-shot command's start.
    def __init__(self, root: Path, _config: Config | None = None) -> None:
        self.root = root
        self._config = _config

    def __repr__(self) -> str:
        return f"Workspace(root={self.root!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and (self.root, self._config) == (other.root, other._config)

    __hash__ = None  # type: ignore[assignment]  # mutable, as before

    @classmethod
    def discover(cls, start: Path | None = None) -> Workspace:
        """Walk up from ``start`` like git does until a directory holding `.idse/` is found."""
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / IDSE_DIR).is_dir():
                return cls(candidate)
        raise WorkspaceNotFound(here)

    @property
    def idse_dir(self) -> Path:
        return self.root / IDSE_DIR

    @property
    def config_path(self) -> Path:
        return self.root / layout.CONFIG

    @property
    def cache_dir(self) -> Path:
        return self.root / layout.CACHE_DIR

    @property
    def templates_dir(self) -> Path:
        return self.root / layout.TEMPLATES_DIR

    @property
    def projects_dir(self) -> Path:
        return self.root / layout.PROJECTS_DIR

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except BadFile as exc:
                raise exc.relative_to(self) from None
        return self._config

    def rel(self, path: Path) -> str:
        """Repo-relative POSIX path, the form used in findings, cache keys and output."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def project_names(self) -> list[str]:
        if not self.projects_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.projects_dir.iterdir() if p.is_dir() and ids.is_valid_session_id(p.name)
        )

    def project(self, name: str | None = None) -> Project:
        """Resolve a project: explicit name, then IDSE_PROJECT, then config default, then the only one."""
        names = self.project_names()
        chosen = name or os.environ.get("IDSE_PROJECT")
        if not chosen and len(names) != 1:
            chosen = self.config.default_project
        if chosen:
            ids.project_name(chosen)
            if chosen not in names:
                known = ", ".join(names) or "none"
                raise NotFound(f"no project {chosen!r} in {self.rel(self.projects_dir)} (projects: {known})")
            return Project(self, chosen)
        if len(names) == 1:
            return Project(self, names[0])
        if not names:
            raise NotFound("the workspace has no project yet; run 'idse init <project>'")
        raise UsageError(f"several projects ({', '.join(names)}): choose one with --project or IDSE_PROJECT")


class Project:
    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name

    def __repr__(self) -> str:
        return f"Project(workspace={self.workspace!r}, name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and (self.workspace, self.name) == (other.workspace, other.name)

    __hash__ = None  # type: ignore[assignment]

    @cached_property
    def path(self) -> Path:
        return self.workspace.root / layout.project_dir(self.name)

    @property
    def sessions_dir(self) -> Path:
        return self.workspace.root / layout.sessions_dir(self.name)

    @property
    def current_session_path(self) -> Path:
        return self.workspace.root / layout.current_session(self.name)

    @property
    def state_path(self) -> Path:
        return self.workspace.root / layout.state(self.name)

    @property
    def registry_path(self) -> Path:
        return self.workspace.root / layout.registry(self.name)

    @property
    def build_dir(self) -> Path:
        return self.workspace.root / layout.build_dir(self.name)

    @property
    def sync_dir(self) -> Path:
        return self.workspace.root / layout.sync_dir(self.name)

    @property
    def sync_lock_path(self) -> Path:
        return self.workspace.root / layout.sync_lock(self.name)

    def profile_path(self, session: str, fmt: str = "yaml") -> Path:
        return self.workspace.root / layout.profile(self.name, ids.session_id(session), fmt)

    def session_path(self, session: str) -> Path:
        return self.sessions_dir / ids.session_id(session)

    def document_path(self, session: str, stage: Stage) -> Path:
        return self.session_path(session) / stage.relpath

    def metadata_path(self, session: str) -> Path:
        return self.session_path(session) / METADATA_RELPATH

    def session_ids(self) -> list[str]:
        """Sessions on disk, blueprint first, then by name. Directories with unsafe names are ignored."""
        if not self.sessions_dir.is_dir():
            return []
        # scandir: the entry's type comes with the listing (a stat only for a symlink), which
        # matters with thousands of sessions.
        with os.scandir(self.sessions_dir) as entries:
            found = sorted(e.name for e in entries if ids.is_valid_session_id(e.name) and e.is_dir())
        if BLUEPRINT in found:
            found.remove(BLUEPRINT)
            found.insert(0, BLUEPRINT)
        return found

    def has_session(self, session: str) -> bool:
        return self.session_path(session).is_dir()

    def require_session(self, session: str) -> str:
        ids.session_id(session)
        if not self.has_session(session):
            raise NotFound(f"no session {session!r} in project {self.name!r}")
        return session

    def current_session(self) -> str:
        from idse_orchestrator.fsutil import read_text

        path = self.current_session_path
        rel = self.workspace.rel(path)
        if not path.exists():
            return BLUEPRINT
        try:
            value = read_text(path, limit=CURRENT_SESSION_LIMIT).strip()
        except BadFile as exc:
            if exc.problem.startswith("is larger than"):
                # Stated here: the shared reader's wording need not know this file's unit.
                problem = (
                    f"is larger than {format_size(CURRENT_SESSION_LIMIT)}; it should hold one session id"
                )
                raise BadFile(rel, problem) from None
            raise exc.at(rel) from None
        try:
            ids.session_id(value)
        except Exception:
            raise BadFile(rel, f"holds an invalid session id {value[:40]!r}") from None
        return value

    def resolve_session(self, session: str | None) -> str:
        return self.require_session(session if session else self.current_session())

    def metadata(self, session: str) -> SessionMetadata:
        """The session's metadata; ``BadFile`` (repo-relative) when its file cannot be used.

        A file in the idse-orchestrator 0.1 format is read through its mapping (see ``legacy``)."""
        return self._read_metadata(session)[0]

    def metadata_or_default(self, session: str) -> tuple[SessionMetadata, str | None]:
        """The session's metadata and ``None``, or, when its file is unusable, the defaults and the
        problem; a 0.1 file gives its mapped metadata and the problem that it needs migrating."""
        try:
            return self._read_metadata(session)
        except BadFile as exc:
            return self.default_metadata(session), exc.detail

    def _read_metadata(self, session: str) -> tuple[SessionMetadata, str | None]:
        from pydantic import ValidationError

        from idse_orchestrator import legacy
        from idse_orchestrator.fsutil import pydantic_problem, read_json
        from idse_orchestrator.models import SessionMetadata

        path = self.metadata_path(session)
        rel = self.workspace.rel(path)
        if not path.exists():
            # A session copied in from another tool may lack metadata: derive the obvious defaults.
            return self.default_metadata(session), None
        try:
            data = read_json(path)
        except BadFile as exc:
            raise exc.at(rel) from None
        problem = None
        if legacy.is_legacy_metadata(data):
            data, problem = legacy.map_metadata(data, self.name, session), legacy.METADATA_PROBLEM
        try:
            meta = SessionMetadata.model_validate(data)
        except ValidationError as exc:
            raise BadFile(rel, f"does not match its schema: {pydantic_problem(exc)}") from None
        if meta.parent is not None and not ids.is_valid_session_id(meta.parent):
            # The parent becomes a path: one that is not a session id is a schema problem of this file.
            shown = meta.parent if len(meta.parent) <= 40 else meta.parent[:40] + "..."
            raise BadFile(rel, f"does not match its schema: parent: {shown!r} is not a valid session id")
        return meta, problem

    def default_metadata(self, session: str) -> SessionMetadata:
        """The metadata of a session whose ``session.json`` is missing or unusable: the blueprint is
        the root, every other session a feature of it."""
        from idse_orchestrator.models import SessionMetadata

        if session == BLUEPRINT:
            return SessionMetadata(id=session, project=self.name, type="blueprint", parent=None)
        return SessionMetadata(id=session, project=self.name, type="feature", parent=BLUEPRINT)

    def registry(self) -> AgentRegistry:
        from idse_orchestrator.fsutil import load_model
        from idse_orchestrator.models import AgentRegistry, default_registry

        if not self.registry_path.exists():
            return default_registry()
        try:
            return load_model(self.registry_path, AgentRegistry)
        except BadFile as exc:
            problem = exc.problem
            if problem.startswith("does not match its schema"):
                from idse_orchestrator import legacy
                from idse_orchestrator.fsutil import read_json

                if legacy.is_legacy_registry(read_json(self.registry_path)):
                    problem = f"{problem} ({legacy.REGISTRY_HINT})"
            raise BadFile(self.workspace.rel(self.registry_path), problem, exc.line) from None

"""What task generators and actions need to know about a build, in picklable form."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from idse_orchestrator import __version__, layout
from idse_orchestrator.fsutil import sha256_hex
from idse_orchestrator.workspace import Project, Workspace

T = TypeVar("T")


class BuildContext:
    """A project's build: the sessions to generate tasks for and the digests they depend on.

    Paths handed to doit are repo-relative POSIX strings (doit runs with the repo root as cwd), so the
    dependency database is portable between clones and machines. Treated as immutable: ``replace``
    gives a changed copy. (A plain class: the dataclasses module would cost every command inspect.)
    """

    _FIELDS = ("root", "project", "sessions", "current", "selected", "partial", "cache")

    def __init__(
        self,
        root: str,
        project: str,
        sessions: tuple[str, ...],  # sessions whose tasks are generated
        current: str,
        selected: tuple[str, ...] = (),  # sessions the build is about (defaults to ``sessions``)
        partial: bool = False,  # the build names some sessions: project-wide derived files are left alone
        cache: str = "",  # the cache folder; empty: `.idse/.cache` (a temporary one for a read-only run)
    ) -> None:
        self.root = root
        self.project = project
        self.sessions = sessions
        self.current = current
        self.selected = selected
        self.partial = partial
        self.cache = cache
        self._once: dict[str, Any] = {}

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once for this context: the task families of one generation share what
        they derive from the workspace (a copy made by ``replace`` starts afresh)."""
        try:
            return self._once[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._once[key] = compute()
            return value

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def replace(self, **changes: object) -> BuildContext:
        """A copy with ``changes``."""
        values = {name: getattr(self, name) for name in self._FIELDS}
        values.update(changes)
        copy = BuildContext(**values)
        if (copy.root, copy.cache) == (self.root, self.cache):
            # What depends on the workspace alone (its rule set digest above all) is not worked out
            # again for each of a build's doit runs.
            for name in ("workspace", "ruleset_digest"):
                if name in self.__dict__:
                    copy.__dict__[name] = self.__dict__[name]
        return copy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BuildContext) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"BuildContext({inner})"

    @property
    def scope(self) -> tuple[str, ...]:
        return self.selected or self.sessions

    @classmethod
    def create(cls, ws: Workspace, project: Project, sessions: list[str] | None = None) -> BuildContext:
        all_sessions = project.session_ids()
        chosen = tuple(sessions) if sessions else tuple(all_sessions)
        return cls(str(ws.root), project.name, chosen, project.current_session())

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(Path(self.root))

    @cached_property
    def project_obj(self) -> Project:
        return Project(self.workspace, self.project)

    @property
    def cache_rel(self) -> str:
        return layout.cache_dir(self.cache)

    @property
    def project_rel(self) -> str:
        return layout.project_dir(self.project)

    def session_rel(self, session: str) -> str:
        return layout.session_dir(self.project, session)

    def results_rel(self, session: str | None = None) -> str:
        return layout.results_dir(self.project, session, self.cache)

    def session_result_rel(self, session: str) -> str:
        # One folder for every session's result: a cold build creates one file per session, no folder.
        return f"{self.results_rel()}/sessions/{session}.json"

    def baselines_rel(self, session: str) -> str:
        return layout.baselines(self.project, session)

    def project_result_rel(self) -> str:
        return f"{self.results_rel()}/_project.json"

    def abs(self, rel: str) -> Path:
        return Path(self.root) / rel

    @cached_property
    def ruleset_digest(self) -> str:
        from idse_orchestrator.governance.ruleset import effective_ruleset
        from idse_orchestrator.governance.summary import save_summary

        ruleset = effective_ruleset(self.workspace.config.rules)
        if not self.cache:  # the workspace's own cache (not a read-only run's temporary one)
            save_summary(self.workspace, ruleset)  # so the next `idse validate` need not load it
        return ruleset.digest()

    def config_string(self, **parts: str) -> str:
        """The one combined `config_changed` value of a task: idse version, rule set and extras."""
        items = {"idse": __version__, "rules": self.ruleset_digest, **parts}
        return ";".join(f"{k}={v}" for k, v in sorted(items.items()))


def file_sha(path: Path) -> str:
    return sha256_hex(path.read_bytes())[:16]

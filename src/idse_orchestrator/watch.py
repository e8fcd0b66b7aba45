"""`idse watch`: rebuild what a change affects, as files are saved, until interrupted.

Each round is an ordinary `idse build` (same lock, same index, same doit database), so its results
are exactly a build's: a concurrent `idse build` waits for the round or is waited for. What the
process keeps warm is everything already imported and parsed. Only `.idse/` is watched, and the
files the build itself writes there (the cache, session_state.json, meta.md, baselines, compiled profiles,
the site, temporary files) are ignored, so a round never triggers the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idse_orchestrator.workspace import Project, Workspace

Event = dict[str, Any]

# Derived files written by the build under .idse/ (relative to the repository root).
_DERIVED_SUFFIXES = ("/session_state.json", "/meta.md", "/metadata/baselines.json", ".tmp", ".corrupt")
_DERIVED_PARTS = ("/.cache/", "/build/agents/", "/build/site/", "/.sync/", "/.creating-")


def is_source(root: Path, path: str) -> bool:
    """True for a file whose change can change a build's result (not one the build writes)."""
    try:
        rel = "/" + Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = "/" + Path(path).as_posix()
    if any(part in rel for part in _DERIVED_PARTS):
        return False
    return not rel.endswith(_DERIVED_SUFFIXES) and not rel.endswith(".lock")


@dataclass
class Watcher:
    ws: Workspace
    project: Project
    emit: Callable[[Event], None]
    warn: Callable[[str], None] = lambda _msg: None
    families: tuple[str, ...] = ()
    # A burst ends after this long without a new change: an editor's write-then-rename takes well
    # under it, and every millisecond here is one more between a save and its result.
    step_ms: int = 10
    rounds: int = 0
    changes: Iterable[set[tuple[Any, str]]] | None = field(default=None, repr=False)

    def round(self, changed: list[str]) -> Event:
        from idse_orchestrator.engine.build import DEFAULT_FAMILIES, build

        started = time.perf_counter()
        # After the first round the watcher knows what changed: the build skips its stat-walk and
        # distrusts exactly the owners of those files (a file it never saw means a full check).
        report = build(
            self.ws,
            self.project,
            families=self.families or DEFAULT_FAMILIES,
            warn=self.warn,
            changed=changed if self.rounds else None,
        )
        self.rounds += 1
        return {
            "changed": changed,
            "ran": sorted(t["name"] for t in report.tasks if t["status"] == "ran"),
            "failed": sorted(report.failed),
            "findings": [f.to_dict() for f in report.findings if f.severity != "info"],
            "summary": report.summary,
            "exit_code": report.exit_code,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def run(self, stop: threading.Event | None = None) -> int:
        """Build once, then once per burst of changes, until ``stop`` is set or Ctrl-C."""
        import gc

        from watchfiles import watch

        self.emit(self.safe_round([]))
        # What the first round loaded (modules, warm caches) lives as long as the watch: kept out of
        # the collector's way, so that a full collection never lands inside a later round.
        gc.collect()
        gc.freeze()
        root = self.ws.root
        changes = self.changes or watch(
            self.ws.idse_dir,
            watch_filter=lambda _change, path: is_source(root, path),
            debounce=400,
            step=self.step_ms,
            stop_event=stop,
            raise_interrupt=False,
        )
        for batch in changes:
            rels = self.relevant(batch)
            if rels:
                self.emit(self.safe_round(rels))
                gc.collect()  # after the result is out, not while the next change waits for it
        return 0

    def relevant(self, batch: set[tuple[Any, str]]) -> list[str]:
        """Changed paths worth naming: an editor's temporary file, created and removed within the
        burst, is not one."""
        kinds: dict[str, set[str]] = {}
        for change, path in batch:
            kinds.setdefault(path, set()).add(getattr(change, "name", str(change)))
        out = []
        for path, seen in kinds.items():
            if {"added", "deleted"} <= seen and not Path(path).exists():
                continue
            out.append(self.ws.rel(Path(path)))
        return sorted(set(out))

    def safe_round(self, changed: list[str]) -> Event:
        """A round whose input is bad (a broken config, say) reports it and the watch goes on."""
        from idse_orchestrator.errors import IdseError

        try:
            return self.round(changed)
        except IdseError as exc:
            return {"changed": changed, "error": exc.message.splitlines()[0], "exit_code": exc.exit_code}

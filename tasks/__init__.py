"""Task generators: one module per family, each yielding plain doit task dictionaries.

A task dict is what doit expects, plus a few keys the adapter turns into doit's terms:
``config`` (one string, becomes ``config_changed``), ``outputs`` (files written besides the doit
``targets``, checked by content, possibly absent; ``#managed`` judges only idse's block), ``reads``
(files written by another task and read by this one, checked by content), ``watch`` (paths whose
kind or appearance matters) and ``owner`` (the session whose index row the task belongs to).
Keeping doit imports out of here lets ``idse graph`` and ``--dry-run`` reason without loading doit.
"""

from __future__ import annotations

from typing import Any

from idse_orchestrator.engine.types import TaskSpec

TaskDict = TaskSpec  # the name generators used before the shape was typed


def families() -> dict[str, Any]:
    from . import agents, meta, session, status, sync, validate

    return {
        "validate": validate.generate,
        "registry": session.generate_registry,
        "state": status.generate,
        "meta": meta.generate,
        "agents": agents.generate_agent_files,
        "compile": agents.generate_profiles,
        "sync": sync.generate,
    }

"""Task generators: one module per family, each yielding plain doit task dictionaries.

A task dict is what doit expects, except that the single combined configuration value is given as
``"config"`` (a string); the adapter turns it into doit's ``config_changed``. Keeping doit imports
out of here lets ``idse graph`` and ``--explain`` reason about tasks without loading doit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from idse_orchestrator.engine.context import BuildContext

TaskDict = dict[str, Any]


def families() -> dict[str, Any]:
    from . import agents, session, status, sync, validate

    return {
        "validate": validate.generate,
        "session": session.generate,
        "registry": session.generate_registry,
        "state": status.generate,
        "agents": agents.generate_agent_files,
        "compile": agents.generate_profiles,
        "sync": sync.generate,
    }


def generate_all(ctx: BuildContext) -> Iterator[TaskDict]:
    for generate in families().values():
        yield from generate(ctx)

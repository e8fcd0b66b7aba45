"""Family ``agents``: agent instruction files and compiled agent profiles (filled in as they land)."""

from __future__ import annotations

from collections.abc import Iterator

from idse_orchestrator.engine.context import BuildContext

TaskDict = dict[str, object]


def generate(ctx: BuildContext) -> Iterator[TaskDict]:
    return iter(())

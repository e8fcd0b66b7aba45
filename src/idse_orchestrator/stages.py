"""The seven pipeline stages and where each one's document lives in a session.

The paths follow the published IDSE layout so existing workspaces keep working.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from idse_orchestrator.layout import METADATA_RELPATH as METADATA_RELPATH  # re-exported


class Stage(NamedTuple):
    name: str
    relpath: str  # relative to the session directory, POSIX
    template: str  # template name under templates/pipeline/


STAGES: Final[tuple[Stage, ...]] = (
    Stage("intent", "intents/intent.md", "intent.md"),
    Stage("context", "contexts/context.md", "context.md"),
    Stage("spec", "specs/spec.md", "spec.md"),
    Stage("plan", "plans/plan.md", "plan.md"),
    Stage("tasks", "tasks/tasks.md", "tasks.md"),
    Stage("implementation", "implementation/README.md", "implementation.md"),
    Stage("feedback", "feedback/feedback.md", "feedback.md"),
)
STAGE_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in STAGES)
BY_NAME: Final[dict[str, Stage]] = {s.name: s for s in STAGES}
# Documents whose change makes a completed downstream stage stale.
UPSTREAM_DOCS: Final[tuple[str, ...]] = ("intent", "context", "spec", "plan", "tasks")
BLUEPRINT: Final = "__blueprint__"
MARKER: Final = "[REQUIRES INPUT]"


def stage(name: str) -> Stage:
    from idse_orchestrator.errors import NotFound

    try:
        return BY_NAME[name]
    except KeyError:
        raise NotFound(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}") from None


def upstream_of(name: str) -> tuple[str, ...]:
    """Stages before ``name`` in pipeline order."""
    idx = STAGE_NAMES.index(name)
    return STAGE_NAMES[:idx]

"""The typed shapes that cross the build engine's seams.

Task generators (``tasks/``) produce ``TaskSpec``s; the doit adapter turns them into doit's own task
dicts; the build reports one ``TaskReport`` per task. Plain ``TypedDict``s, because doit and the
JSON output take dictionaries: the types add checking, not a conversion step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypedDict

# An action: a picklable module-level function and its positional arguments (``--jobs`` forks).
Action = tuple[Callable[..., object], list[Any]]

TaskStatus = Literal["ran", "up-to-date", "failed", "skipped"]


class TaskSpec(TypedDict, total=False):
    """One idse task, as a generator in ``tasks/`` yields it."""

    basename: str  # the family: validate, session, registry, state, agents, compile, sync
    name: str | None  # the task within its family (None for a family of one task)
    doc: str
    owner: str  # the session whose tasks these are; absent for project-wide tasks
    actions: list[Action]
    file_dep: list[str]  # sources doit checks by content (repo-relative POSIX paths)
    task_dep: list[str]  # ordering only: what must run first
    targets: list[str]  # files the task always writes
    outputs: list[str]  # files it writes that may be absent ("path#managed": only idse's block counts)
    reads: list[str]  # files read by content that other tasks write (not file_dep: no ordering)
    watch: list[str]  # paths whose kind (file, folder, link ...) is part of the task's config
    config: str  # everything else the result depends on: versions, rule-set digest, settings
    verbosity: int


class TaskReport(TypedDict, total=False):
    """What the build says about one task (``idse build --json``'s ``tasks``)."""

    name: str
    status: TaskStatus
    reasons: Sequence[str]  # why it ran, in doit's terms (changed_file_dep: …, missing_target: …)
    error: str  # one line, when it failed or was skipped

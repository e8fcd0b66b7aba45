"""Family ``meta``: the project's ``meta.md`` rollup (sessions, status matrix, lineage, findings).

Like ``state`` it is written by full builds only, and it reads the sessions' results by content: it
reruns when a session's check wrote different bytes, when a session's metadata, the registry, the
current session or its template changed, or when sessions appear or disappear (the session list is
part of its config). Only sessions whose tasks are generated in this run are ordered before it;
the results of the others are up to date already (that is why they were not generated).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator import layout
from idse_orchestrator.engine.context import BuildContext, file_sha
from idse_orchestrator.engine.types import TaskSpec
from idse_orchestrator.stages import METADATA_RELPATH


def template_input(ctx: BuildContext) -> tuple[list[str], str]:
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.templating import template_path
    from idse_orchestrator.views.meta import TEMPLATE

    try:
        path = template_path(TEMPLATE, ctx.workspace)
    except BadFile as exc:
        return [], f"refused:{exc}"
    try:
        return [path.resolve().relative_to(Path(ctx.root).resolve()).as_posix()], "repo"
    except ValueError:
        return [], file_sha(path)


def generate(ctx: BuildContext) -> Iterator[TaskSpec]:
    if ctx.partial:
        return
    from idse_orchestrator.views.meta import TEMPLATE

    everyone = ctx.scope
    sources = [f"{ctx.project_rel}/{name}" for name in ("CURRENT_SESSION", "agent_registry.json")]
    sources += [f"{ctx.session_rel(s)}/{METADATA_RELPATH}" for s in everyone]
    tpl_deps, tpl_config = template_input(ctx)
    target = f"{ctx.project_rel}/meta.md"
    listing = hashlib.sha256("\n".join(everyone).encode()).hexdigest()[:16]
    yield {
        "basename": "meta",
        "name": None,
        "doc": "meta.md: sessions, status matrix, lineage, stale stages, findings",
        "actions": [(write_meta_task, [ctx.root, ctx.project, ctx.cache])],
        "task_dep": [f"validate:{s}" for s in ctx.sessions] + ["registry"],
        "file_dep": [f for f in sources if os.path.isfile(f"{ctx.root}/{f}")] + tpl_deps,
        "reads": [ctx.session_result_rel(s) for s in everyone] + [ctx.project_result_rel()],
        "targets": [target],
        "outputs": [f"{target}#managed"],
        # An override appearing in .idse/templates/ changes what is rendered.
        "watch": [*sources[:2], f"{layout.TEMPLATES_DIR}/{TEMPLATE}"],
        "config": ctx.config_string(template=tpl_config, sessions=listing),
    }


def write_meta_task(root: str, project: str, cache: str) -> None:
    from idse_orchestrator.views.meta import write_meta

    write_meta(Path(root), project, cache)

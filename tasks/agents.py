"""Families ``agents`` (agent instruction files) and ``compile`` (agent profiles).

Agent files are refreshed by the build once they exist (``idse generate-agent-files`` creates them)
or when ``agent_files`` in `.idse/config.yaml` names them: a build never drops unasked files into a
repository. A session's profile is compiled when its spec has an ``## Agent Profile`` section. The
profile file is the task's output: when the profile does not compile, the file is removed (the
session check reports why, as IDSE-S003), and "absent" is what the build records and checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator import layout
from idse_orchestrator.engine.context import BuildContext, file_sha
from idse_orchestrator.engine.types import TaskSpec


def _template_input(ctx: BuildContext, path: Path) -> tuple[list[str], str]:
    try:
        return [path.resolve().relative_to(Path(ctx.root).resolve()).as_posix()], "repo"
    except ValueError:
        return [], file_sha(path)


def _existing(ctx: BuildContext, *rels: str) -> list[str]:
    return [rel for rel in rels if os.path.isfile(f"{ctx.root}/{rel}")]


def generate_agent_files(ctx: BuildContext) -> Iterator[TaskSpec]:
    from idse_orchestrator.agents.files import selected_kinds
    from idse_orchestrator.templating import template_path

    ws = ctx.workspace
    explicit = ws.config.agent_files is not None
    inputs = _existing(
        ctx,
        layout.registry(ctx.project),
        layout.CONFIG,
    )
    # Without a registry object, the default selection is the files that exist; the build refreshes
    # only those anyway (it never drops unasked files into a repository).
    for kind in selected_kinds(ws):
        if not explicit and not os.path.isfile(f"{ctx.root}/{kind.rel}"):
            continue
        tpl_deps, tpl_config = _template_input(ctx, template_path(kind.template, ws))
        yield {
            "basename": "agents",
            "name": kind.rel,
            "doc": f"agent instructions {kind.rel}",
            "actions": [(write_agent_file, [ctx.root, ctx.project, kind.rel])],
            "file_dep": inputs + tpl_deps,
            "targets": [kind.rel],
            "outputs": [f"{kind.rel}#managed"],
            "watch": [kind.rel],
            "config": ctx.config_string(template=tpl_config),
        }


def generate_profiles(ctx: BuildContext) -> Iterator[TaskSpec]:
    from idse_orchestrator.stages import BLUEPRINT

    from .session import has_profile_section

    blueprint_spec = f"{ctx.session_rel(BLUEPRINT)}/specs/spec.md"
    for session in ctx.sessions:
        if not has_profile_section(ctx, session):
            continue
        spec = f"{ctx.session_rel(session)}/specs/spec.md"
        deps = _existing(ctx, spec, blueprint_spec)
        output = layout.profile(ctx.project, session)
        yield {
            "basename": "compile",
            "name": session,
            "owner": session,
            "doc": f"compile the Agent Profile of {session}",
            "actions": [(compile_profile_task, [ctx.root, ctx.project, session])],
            "file_dep": sorted(set(deps)),
            "outputs": [output],
            "watch": [spec, blueprint_spec],
            "config": ctx.config_string(),
        }


def write_agent_file(root: str, project: str, rel: str) -> None:
    from idse_orchestrator.agents.files import agent_file_plan, read_current
    from idse_orchestrator.fsutil import write_if_changed
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(Path(root))
    for output in agent_file_plan(ws, Project(ws, project)):
        if output.rel == rel:
            write_if_changed(output.path, output.content(read_current(ws, output)))


def compile_profile_task(root: str, project: str, session: str) -> None:
    """Write the profile when it compiles; otherwise remove a stale one (IDSE-S003 says why)."""
    from idse_orchestrator.agents.compiler import profile_output_path, render_profile
    from idse_orchestrator.errors import IdseError
    from idse_orchestrator.fsutil import write_if_changed
    from idse_orchestrator.workspace import Project, Workspace

    from .session import compiled_profile

    ws = Workspace(Path(root))
    proj = Project(ws, project)
    path = profile_output_path(proj, session, "yaml")
    outcome = compiled_profile(ws, proj, session)  # the session check compiled it already
    failed = isinstance(outcome, IdseError)
    if not isinstance(outcome, IdseError):
        try:
            # Derived and checked by content: a write a crash damaged is rebuilt, so no fsync.
            write_if_changed(path, render_profile(outcome.spec, "yaml"), durable=False)
        except IdseError:  # a profile path that leads out of the repository, say
            failed = True
    if failed and (path.is_file() or path.is_symlink()):
        path.unlink()

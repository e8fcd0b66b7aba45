"""The MCP tools: each one an argument model and a function over the CLI's own core functions.

Every tool returns the JSON data the matching ``idse … --json`` command prints, and an exit code
with the CLI's meaning (0 ok, 1 findings or failures). Expected failures raise ``IdseError`` as
they do under the CLI; the server turns them into tool errors. Nothing here imports the SDK.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from idse_orchestrator.workspace import Project, Workspace

# A build's warnings (a damaged cache moved aside, a file changed during the build) go to the log, on
# stderr: the protocol's stdout carries only replies.
warn = logging.getLogger("idse.mcp").warning

StageName = Literal["intent", "context", "spec", "plan", "tasks", "implementation", "feedback"]


class Args(BaseModel):
    # An unknown argument is a mistake worth reporting, not something to ignore silently.
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, description="Project (default: the only one, or IDSE_PROJECT).")


class SessionArgs(Args):
    session: str | None = Field(None, description="Session id (default: the current session).")


class SessionIdArgs(Args):
    session: str = Field(description="Session id.")


class StageArgs(SessionArgs):
    stage: StageName = Field(description="Pipeline stage.")


class ValidateArgs(Args):
    sessions: list[str] = Field(default_factory=list, description="Sessions (default: the current one).")
    all: bool = Field(False, description="Validate every session of the project.")
    strict: bool = Field(False, description="Warnings fail the run too.")
    rules: list[str] = Field(default_factory=list, description="Only report these rule ids.")


class BuildArgs(Args):
    sessions: list[str] = Field(default_factory=list, description="Sessions (default: all).")
    force: bool = Field(False, description="Run every task even when up to date.")


class ExplainArgs(Args):
    task: str = Field(description="Task name, e.g. 'validate:__blueprint__'.")


class WriteArgs(StageArgs):
    text: str = Field(description="The document's full new text (UTF-8 Markdown).")


class AcceptArgs(SessionArgs):
    stage: StageName | None = Field(None, description="Stage to accept (or give all).")
    all: bool = Field(False, description="Accept every stale stage of the session.")


class CompileArgs(SessionArgs):
    all: bool = Field(False, description="Compile every session whose spec has an Agent Profile.")
    format: Literal["yaml", "json"] = Field("yaml", description="Output format.")
    dry_run: bool = Field(False, description="Return the compiled profiles instead of writing them.")


class SpawnArgs(Args):
    session: str = Field(description="Id of the new feature session.")
    parent: str | None = Field(None, description="Parent session (default: __blueprint__).")


@dataclass(frozen=True)
class Outcome:
    data: dict[str, Any]
    exit_code: int = 0


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[Args]
    run: Callable[[Workspace, Any], Outcome]


def _project(ws: Workspace, args: Args) -> Project:
    return ws.project(args.project)


def status(ws: Workspace, a: SessionArgs) -> Outcome:
    from idse_orchestrator.engine.queries import session_report

    return Outcome(session_report(ws, _project(ws, a), a.session))


def sessions(ws: Workspace, a: Args) -> Outcome:
    from idse_orchestrator.sessions import list_sessions

    proj = _project(ws, a)
    return Outcome({"project": proj.name, "sessions": list_sessions(proj)})


def session_info(ws: Workspace, a: SessionIdArgs) -> Outcome:
    from idse_orchestrator.sessions import session_info as info

    return Outcome(info(ws, _project(ws, a), a.session))


def route(ws: Workspace, a: StageArgs) -> Outcome:
    from idse_orchestrator.agents.registry import route_stage

    proj = _project(ws, a)
    proj.resolve_session(a.session)
    return Outcome(route_stage(ws, proj, a.stage).as_dict())


def validate(ws: Workspace, a: ValidateArgs) -> Outcome:
    from idse_orchestrator.engine.validation import validate as run_validate
    from idse_orchestrator.errors import UsageError
    from idse_orchestrator.governance.report import render_json

    if a.sessions and a.all:
        raise UsageError("give either sessions or all, not both")
    proj = _project(ws, a)
    chosen = None if a.all else (a.sessions or [proj.current_session()])
    result = run_validate(ws, proj, chosen, rule_ids=a.rules or None, strict=a.strict, warn=warn)
    data = json.loads(render_json(result.findings, result.full_ruleset, len(result.sessions)))
    return Outcome(data, result.exit_code)


def build(ws: Workspace, a: BuildArgs) -> Outcome:
    from idse_orchestrator.engine.build import build as run_build

    report = run_build(ws, _project(ws, a), a.sessions or None, force=a.force, warn=warn)
    data = {
        "tasks": report.tasks,
        "findings": [f.to_dict() for f in report.findings],
        "summary": report.summary,
    }
    return Outcome(data, report.exit_code)


def explain(ws: Workspace, a: ExplainArgs) -> Outcome:
    from idse_orchestrator.engine.queries import explain_task

    found, reasons = explain_task(ws, _project(ws, a), a.task)
    shown = {"run": "stale", "maybe": "maybe", "up-to-date": "up-to-date"}[found]
    return Outcome({"task": a.task, "status": shown, "reasons": reasons})


def read_document(ws: Workspace, a: StageArgs) -> Outcome:
    from idse_orchestrator.stages import stage
    from idse_orchestrator.status import read_document as read

    proj = _project(ws, a)
    sid = proj.resolve_session(a.session)
    text = read(proj, sid, stage(a.stage))
    path = ws.rel(proj.document_path(sid, stage(a.stage)))
    return Outcome({"session": sid, "stage": a.stage, "path": path, "exists": text is not None, "text": text})


def write_document(ws: Workspace, a: WriteArgs) -> Outcome:
    """Write one pipeline document atomically, then validate its session: the document's findings."""
    from idse_orchestrator.engine.build import lock_path
    from idse_orchestrator.engine.outcome import VALIDATION_FAMILIES
    from idse_orchestrator.errors import BadFile, UsageError
    from idse_orchestrator.fsutil import MAX_DOCUMENT_BYTES, confined, file_lock, human_size, write_if_changed
    from idse_orchestrator.stages import stage

    proj = _project(ws, a)
    sid = proj.resolve_session(a.session)
    if len(a.text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise UsageError(f"the text is larger than {human_size(MAX_DOCUMENT_BYTES)}")
    if "\x00" in a.text:
        raise UsageError("the text holds a NUL character; documents are UTF-8 text")
    path = proj.document_path(sid, stage(a.stage))
    rel = ws.rel(path)
    try:
        # Refuses a document (or a folder above it) that is a symlink leading out of the repository.
        confined(path)
    except BadFile as exc:
        raise exc.relative_to(ws) from None
    # Under the build lock: a build running now finishes before the document changes under it.
    with file_lock(lock_path(ws, proj), what="build"):
        written = write_if_changed(path, a.text)
    from idse_orchestrator.engine.build import build as run_build

    report = run_build(ws, proj, [sid], families=VALIDATION_FAMILIES, want_reasons=False, warn=warn)
    findings = [f.to_dict() for f in report.findings if f.path == rel]
    errors = any(f["severity"] == "error" for f in findings)
    data = {"session": sid, "stage": a.stage, "path": rel, "written": written, "findings": findings}
    return Outcome(data, 1 if errors else 0)


def accept(ws: Workspace, a: AcceptArgs) -> Outcome:
    from idse_orchestrator.engine.queries import accept_all, accept_stage
    from idse_orchestrator.errors import UsageError

    if (a.stage is None) == (not a.all):
        raise UsageError("name a stage or give all (not both)")
    proj = _project(ws, a)
    if a.all:
        return Outcome(
            {"session": proj.resolve_session(a.session), "accepted": accept_all(ws, proj, a.session)}
        )
    assert a.stage is not None
    upstream = accept_stage(ws, proj, a.session, a.stage)
    return Outcome({"stage": a.stage, "session": proj.resolve_session(a.session), "accepted": upstream})


def compile_agent_spec(ws: Workspace, a: CompileArgs) -> Outcome:
    from idse_orchestrator.agents.compiler import (
        ProfileError,
        compile_profile,
        profile_data,
        profile_sessions,
        write_profile,
    )
    from idse_orchestrator.errors import UsageError

    if a.all and a.session:
        raise UsageError("all and session exclude each other")
    proj = _project(ws, a)
    chosen = profile_sessions(ws, proj) if a.all else [proj.resolve_session(a.session)]
    compiled: list[dict[str, Any]] = []
    failures: list[str] = []
    for sid in chosen:
        try:
            if a.dry_run:
                compiled.append(
                    {"session": sid, "profile": profile_data(compile_profile(ws, proj, sid).spec)}
                )
            else:
                path, changed = write_profile(ws, proj, sid, a.format)
                compiled.append({"session": sid, "path": ws.rel(path), "changed": changed})
        except ProfileError as exc:
            if not a.all:
                raise
            failures.append(exc.message)
    return Outcome({"compiled": compiled, "failures": failures}, 1 if failures else 0)


def spawn(ws: Workspace, a: SpawnArgs) -> Outcome:
    from idse_orchestrator.sessions import session_info as info
    from idse_orchestrator.sessions import spawn_session

    proj = _project(ws, a)
    created = spawn_session(ws, proj, a.session, a.parent)
    return Outcome({"created": created, "session": info(ws, proj, a.session)})


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "status",
        "Each stage of a session: status, agent, why stale; validation; last sync.",
        SessionArgs,
        status,
    ),
    ToolSpec("sessions", "The project's sessions: id, type, status, parent, current.", Args, sessions),
    ToolSpec(
        "session_info",
        "One session's metadata and lineage (ancestors, children).",
        SessionIdArgs,
        session_info,
    ),
    ToolSpec("route", "The IDE agent that owns a stage: {stage, agent, mode, role}.", StageArgs, route),
    ToolSpec(
        "validate", "Check sessions against the constitution: findings and summary.", ValidateArgs, validate
    ),
    ToolSpec(
        "build", "Run the task graph (only what is out of date): tasks, findings, summary.", BuildArgs, build
    ),
    ToolSpec("explain", "Why a build task would rerun: {task, status, reasons}.", ExplainArgs, explain),
    ToolSpec("read_document", "A pipeline document's text.", StageArgs, read_document),
    ToolSpec(
        "write_document",
        "Replace a pipeline document (atomically) and return that document's new findings.",
        WriteArgs,
        write_document,
    ),
    ToolSpec(
        "accept", "Record that a stale stage was reviewed against its current upstream.", AcceptArgs, accept
    ),
    ToolSpec(
        "compile_agent_spec",
        "Compile the spec's '## Agent Profile' block into build/agents/<session>.profile.yaml.",
        CompileArgs,
        compile_agent_spec,
    ),
    ToolSpec("spawn", "Start a feature session from its parent's intent and context.", SpawnArgs, spawn),
)
BY_NAME: dict[str, ToolSpec] = {t.name: t for t in TOOLS}


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    return spec.args.model_json_schema()


def rules_data(ws: Workspace) -> dict[str, Any]:
    """The rule set with this workspace's overrides, as `idse rules --json` prints it."""
    from idse_orchestrator.governance.report import ruleset_data
    from idse_orchestrator.governance.ruleset import effective_ruleset

    return ruleset_data(effective_ruleset(ws.config.rules))


def documents(ws: Workspace) -> list[tuple[str, str, str, Path]]:
    """Every pipeline document on disk: (project, session, stage, path)."""
    from idse_orchestrator.stages import STAGES
    from idse_orchestrator.workspace import Project

    out = []
    for name in ws.project_names():
        proj = Project(ws, name)
        for sid in proj.session_ids():
            for st in STAGES:
                path = proj.document_path(sid, st)
                if path.is_file():
                    out.append((name, sid, st.name, path))
    return out

"""IDE agent instruction files (CLAUDE.md, AGENTS.md, ...) rendered from the registry.

idse owns only a managed block between two marker lines; everything else in those files belongs to the
user and is kept byte for byte. A file without a block gets one appended (or is created).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idse_orchestrator.errors import BadFile
from idse_orchestrator.models import AgentEntry, AgentRegistry
from idse_orchestrator.stages import STAGES
from idse_orchestrator.workspace import Project, Workspace

BEGIN_MARKER = "<!-- idse:begin (managed by idse generate-agent-files; edits inside are overwritten) -->"
END_MARKER = "<!-- idse:end -->"
# Detection is by prefix so a user who shortened the begin comment still has a recognised block.
_BEGIN_PREFIX = "<!-- idse:begin"
_END_PREFIX = "<!-- idse:end"


@dataclass(frozen=True)
class AgentFileKind:
    rel: str  # repo-relative path of the file
    agent_id: str  # registry id of the agent that reads it
    template: str  # template name, overridable in .idse/templates/

    @property
    def title(self) -> str:
        return AGENT_TITLES.get(self.agent_id, self.agent_id)


# Template names follow the agent ids, not the output names: a `CLAUDE.md` or `AGENTS.md` inside the
# templates folder would itself be picked up as instructions by those agents.
AGENT_FILE_KINDS: tuple[AgentFileKind, ...] = (
    AgentFileKind("CLAUDE.md", "claude-code", "agents/claude-code.md"),
    AgentFileKind("AGENTS.md", "codex", "agents/codex.md"),
    AgentFileKind(".github/copilot-instructions.md", "copilot", "agents/copilot.md"),
    AgentFileKind(".cursor/rules/idse.mdc", "cursor", "agents/cursor.mdc"),
    AgentFileKind("GEMINI.md", "gemini", "agents/gemini.md"),
)
AGENT_FILE_PATHS: tuple[str, ...] = tuple(k.rel for k in AGENT_FILE_KINDS)
AGENT_TITLES: dict[str, str] = {
    "claude-code": "Claude Code",
    "codex": "Codex",
    "copilot": "GitHub Copilot",
    "cursor": "Cursor",
    "gemini": "Gemini",
}


@dataclass(frozen=True)
class AgentFileOutput:
    """One agent file to write: where, from which template, and the managed block it must hold."""

    rel: str
    path: Path  # absolute
    template: Path  # the resolved template file (a repo override or the shipped one)
    agent: str | None  # id of the agent the file addresses; None when the registry lacks it
    block: str  # the managed block, marker lines included, ending with a newline
    preamble: str  # written before the block only when the file is created (e.g. Cursor front matter)

    def content(self, current: str | None) -> str:
        """The file's new text given its current text (``None`` when absent). Pure."""
        return merge_block(current, self.block, self.preamble, self.rel)


def selected_kinds(ws: Workspace, registry: AgentRegistry | None = None) -> list[AgentFileKind]:
    """The files chosen by ``agent_files`` in the config, in config order.

    Unset, the files that already exist plus those of the agents in ``registry``: a repository whose
    registry has no Cursor agent does not get a Cursor rule dropped into it.
    """
    chosen = ws.config.agent_files
    if chosen is None:
        ids = {a.id for a in registry.agents} if registry is not None else set()
        return [k for k in AGENT_FILE_KINDS if k.agent_id in ids or (ws.root / k.rel).is_file()]
    by_rel = {k.rel: k for k in AGENT_FILE_KINDS}
    out: list[AgentFileKind] = []
    for rel in chosen:
        if rel not in by_rel:
            raise BadFile(
                ws.rel(ws.config_path),
                f"agent_files: unknown file {rel!r}; choose from {', '.join(AGENT_FILE_PATHS)}",
            )
        if by_rel[rel] not in out:
            out.append(by_rel[rel])
    return out


def _agent_data(agent: AgentEntry, documents: dict[str, str]) -> dict[str, Any]:
    data = agent.model_dump(mode="json")
    data["documents"] = [{"stage": s, "path": documents[s]} for s in agent.stages]
    return data


# Agent files are committed: they name sessions by this placeholder, never the current session, so
# switching sessions does not make every committed copy out of date.
SESSION_PLACEHOLDER = "<session>"


def template_context(
    ws: Workspace, project: Project, registry: AgentRegistry, kind: AgentFileKind
) -> dict[str, Any]:
    """Everything a template may use (documented in docs/agents.md)."""
    from idse_orchestrator.agents.registry import overlaps, unrouted_stages

    session_dir = f"{ws.rel(project.sessions_dir)}/{SESSION_PLACEHOLDER}"
    documents = {st.name: f"{session_dir}/{st.relpath}" for st in STAGES}
    agents = [_agent_data(a, documents) for a in registry.agents]
    mine = next((a for a in agents if a["id"] == kind.agent_id), None)
    stages = []
    for st in STAGES:
        owner = registry.route(st.name)
        stages.append(
            {
                "name": st.name,
                "path": documents[st.name],
                "agent": owner.id if owner else None,
                "role": owner.role if owner else None,
                "mode": owner.mode if owner else None,
            }
        )
    return {
        "project": project.name,
        "session": SESSION_PLACEHOLDER,
        "session_dir": session_dir,
        "sessions_dir": ws.rel(project.sessions_dir),
        "current_session_path": ws.rel(project.current_session_path),
        "registry_path": ws.rel(project.registry_path),
        "file": kind.rel,
        "file_agent": kind.agent_id,
        "title": kind.title,
        "agent": mine,
        "agents": agents,
        "stages": stages,
        "unrouted": unrouted_stages(registry),
        "overlaps": [o.as_dict() for o in overlaps(registry)],
    }


def split_preamble(rendered: str) -> tuple[str, str]:
    """Split YAML front matter (``---`` ... ``---``) off the top of a rendered template."""
    if rendered.startswith("---\n"):
        end = rendered.find("\n---\n", 3)
        if end != -1:
            return rendered[: end + 5], rendered[end + 5 :]
    return "", rendered


def managed_block(body: str) -> str:
    return f"{BEGIN_MARKER}\n{body.strip(chr(10))}\n{END_MARKER}\n"


def find_block(text: str, rel: str) -> tuple[int, int] | None:
    """1-based (begin, end) lines of the managed block, ``None`` if there is none.

    Marker lines inside fenced code do not count (a README may show them). Anything ambiguous is an
    error rather than a guess, because guessing wrong would overwrite the user's text.
    """
    if _BEGIN_PREFIX not in text and _END_PREFIX not in text:
        return None
    from idse_orchestrator.markdown import parse

    fenced: set[int] = set()
    for fence in parse(text).fences:
        fenced.update(range(fence.start, fence.end + 1))
    begin: int | None = None
    end: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if lineno in fenced:
            continue
        if line.startswith(_BEGIN_PREFIX):
            if begin is not None:
                raise BadFile(
                    f"{rel}:{lineno}",
                    f"a second '{_BEGIN_PREFIX}' marker (the first is on line {begin}); "
                    "keep one managed block and delete the other",
                )
            begin = lineno
        elif line.startswith(_END_PREFIX):
            if begin is None or end is not None:
                raise BadFile(
                    f"{rel}:{lineno}", f"'{END_MARKER}' without a '{_BEGIN_PREFIX}' marker before it"
                )
            end = lineno
    if begin is None:
        return None
    if end is None:
        raise BadFile(
            f"{rel}:{begin}",
            f"'{_BEGIN_PREFIX}' marker without a matching '{END_MARKER}'; restore the end marker "
            "(or delete the begin marker to get a fresh block appended)",
        )
    return begin, end


def merge_block(current: str | None, block: str, preamble: str, rel: str) -> str:
    """Put ``block`` into ``current``: replace the existing block, else append, else create the file."""
    if current is None or not current.strip():
        return preamble + block
    span = find_block(current, rel)
    if span is None:
        return current.rstrip("\n") + "\n\n" + block
    lines = current.splitlines(keepends=True)
    begin, end = span
    return "".join(lines[: begin - 1]) + block + "".join(lines[end:])


def agent_file_plan(ws: Workspace, project: Project) -> list[AgentFileOutput]:
    """The agent files selected by the config, each with its rendered managed block.

    Inputs: the registry file, the templates and the config (not the current session).
    """
    from idse_orchestrator.templating import render, template_path

    registry = project.registry()
    out = []
    for kind in selected_kinds(ws, registry):
        rendered = render(kind.template, template_context(ws, project, registry, kind), ws)
        preamble, body = split_preamble(rendered)
        out.append(
            AgentFileOutput(
                rel=kind.rel,
                path=ws.root / kind.rel,
                template=template_path(kind.template, ws),
                agent=kind.agent_id if any(a.id == kind.agent_id for a in registry.agents) else None,
                block=managed_block(body),
                preamble=preamble,
            )
        )
    return out


def read_current(ws: Workspace, output: AgentFileOutput) -> str | None:
    """The file's current text, ``None`` when absent. A symlink is refused: replacing it would
    silently turn a shared file (CLAUDE.md -> AGENTS.md is common) into two diverging copies."""
    from idse_orchestrator.fsutil import read_text

    if output.path.is_symlink():
        raise BadFile(
            output.rel,
            "is a symbolic link; idse writes agent files as regular files: remove the link or leave "
            "the file out of agent_files in .idse/config.yaml",
        )
    if not output.path.exists():
        return None
    try:
        return read_text(output.path)
    except BadFile as exc:
        raise exc.at(output.rel) from None


def planned_contents(ws: Workspace, project: Project) -> list[tuple[AgentFileOutput, str | None, str]]:
    """(output, current text, new text) for every selected file; raises before anything is written."""
    result = []
    for output in agent_file_plan(ws, project):
        current = read_current(ws, output)
        result.append((output, current, output.content(current)))
    return result


def agent_files_report(ws: Workspace, project: Project, *, write: bool) -> dict[str, list[str]]:
    """``changed``: files written (``write``) or out of date (not ``write``); ``unchanged``: the rest.

    Every file is checked before any is written, so a malformed one leaves all of them untouched.
    """
    from idse_orchestrator.fsutil import write_if_changed

    changed: list[str] = []
    unchanged: list[str] = []
    for output, current, new in planned_contents(ws, project):
        differs = write_if_changed(output.path, new) if write else current != new
        (changed if differs else unchanged).append(output.rel)
    return {"changed": changed, "unchanged": unchanged}


def write_agent_files(ws: Workspace, project: Project) -> list[str]:
    """Write the selected agent files; returns the repo-relative paths that changed."""
    return agent_files_report(ws, project, write=True)["changed"]


def stale_agent_files(ws: Workspace, project: Project) -> list[str]:
    """Repo-relative paths of the selected agent files that are missing or out of date."""
    return agent_files_report(ws, project, write=False)["changed"]

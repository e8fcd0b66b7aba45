"""``meta.md``: the project's rollup in Markdown (sessions, status matrix, lineage, stale stages,
findings), written by the build's ``meta`` task and readable on GitHub.

Only a marked block of the file is idse's. A ``meta.md`` written by hand (the reference tool keeps
one) is never overwritten: the block is appended below the user's text once and replaced in place
afterwards, exactly like the agent instruction files. Text outside the block is the user's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idse_orchestrator import layout
from idse_orchestrator.stages import STAGE_NAMES
from idse_orchestrator.views.overview import ProjectView, SessionView

TEMPLATE = "meta.md.j2"
BEGIN_MARKER = "<!-- idse:begin (managed by idse build; edits inside are overwritten) -->"
END_MARKER = "<!-- idse:end -->"
# How many findings of one session meta.md lists; `idse validate --session S` gives them all.
FINDINGS_PER_SESSION = 20

STATUS_ICONS = {
    "complete": "✅",
    "in_progress": "🔵",
    "pending": "🟡",
    "stale": "⚠️",
    "missing": "⬜",
    "unknown": "❔",
}


def md_escape(text: object) -> str:
    """Text inside a Markdown table cell or list item: no table breaks, no stray HTML or emphasis."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for char, entity in (
        ("<", "&lt;"),
        (">", "&gt;"),
        ("*", "\\*"),
        ("_", "\\_"),
        ("[", "\\["),
        ("]", "\\]"),
    ):
        out = out.replace(char, entity)
    return out


def _link(view: ProjectView, finding: dict[str, Any]) -> tuple[str, str]:
    """(label, link relative to meta.md) of a finding's location."""
    path = str(finding.get("path") or "")
    prefix = f"{layout.project_dir(view.project)}/"
    rel = path[len(prefix) :] if path.startswith(prefix) else "../../../" + path
    line = finding.get("line")
    label = path.rsplit("/", 1)[-1] + (f":{line}" if line else "")
    return label, rel + (f"#L{line}" if line else "")


def _finding_rows(view: ProjectView, findings: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for f in findings[:FINDINGS_PER_SESSION]:
        label, link = _link(view, f)
        rows.append(
            {
                "severity": str(f.get("severity", "")),
                "rule": str(f.get("rule", "")),
                "label": md_escape(label),
                "link": link.replace(" ", "%20").replace("(", "%28").replace(")", "%29"),
                "message": md_escape(f.get("message", "")),
            }
        )
    return rows


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _findings_summary(s: SessionView) -> str:
    parts = []
    if s.errors:
        parts.append(_plural(s.errors, "error"))
    if s.warnings:
        parts.append(_plural(s.warnings, "warning"))
    return ", ".join(parts) or "—"


def meta_context(view: ProjectView) -> dict[str, Any]:
    counts = view.counts()
    sessions = []
    for s in view.sessions:
        shown = [f for f in s.findings if f.get("severity") in ("error", "warning")]
        sessions.append(
            {
                "id": s.id,
                "current": s.current,
                "type": s.type,
                "status": s.status,
                "parent": s.parent or "—",
                "owner": md_escape(s.owner) if s.owner else "—",
                "complete": f"{s.complete}/{len(STAGE_NAMES)}",
                "findings": _findings_summary(s),
                "cells": [
                    f"{STATUS_ICONS.get(s.stages[st], '❔')} {s.stages[st].replace('_', ' ')}"
                    for st in STAGE_NAMES
                ],
                "indent": "  " * s.depth,
                "stale": [
                    {"stage": st, "why": md_escape("; ".join(s.why.get(st, [])) or "upstream changed")}
                    for st in s.stale
                ],
                # Info notes ("still the untouched template") would drown the rest: counted only.
                "finding_rows": _finding_rows(view, shown),
                "more_findings": max(0, len(shown) - FINDINGS_PER_SESSION),
                "infos": len(s.findings) - len(shown),
                "problem": md_escape(s.problem) if s.problem else "",
                "built": s.built,
            }
        )
    headers = []
    for st in STAGE_NAMES:
        agent = view.agents.get(st)
        headers.append(f"{st}<br>{md_escape(agent) if agent else '(unrouted)'}")
    return {
        "project": view.project,
        "counts": counts,
        "summary": ", ".join(
            [
                _plural(counts["sessions"], "session"),
                _plural(counts["errors"], "error"),
                _plural(counts["warnings"], "warning"),
                _plural(counts["stale"], "stale stage"),
            ]
        ),
        "stage_headers": headers,
        "sessions": sessions,
        "project_findings": _finding_rows(view, view.findings),
        "legend": " · ".join(f"{icon} {name.replace('_', ' ')}" for name, icon in STATUS_ICONS.items()),
    }


def render_meta(view: ProjectView, ws: Any = None) -> str:
    from idse_orchestrator.templating import render

    body = render(TEMPLATE, meta_context(view), ws)
    return f"{BEGIN_MARKER}\n{body.strip(chr(10))}\n{END_MARKER}\n"


def merge(current: str | None, block: str, rel: str) -> str:
    """The file with ``block`` in place: the file itself when there is none (or it is blank), the
    block replaced where it is, or appended below the user's own text."""
    from idse_orchestrator.agents.files import find_block

    if current is None or not current.strip():
        return block
    span = find_block(current, rel)  # ambiguous markers are an error: never guess over user text
    if span is None:
        return current.rstrip("\n") + "\n\n" + block
    lines = current.splitlines(keepends=True)
    begin, end = span
    return "".join(lines[: begin - 1]) + block + "".join(lines[end:])


def write_meta(root: Path, project: str, cache: str = "") -> bool:
    """Bring ``meta.md`` up to date; True when its bytes changed."""
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.fsutil import read_text, write_if_changed
    from idse_orchestrator.views.overview import project_overview
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(root)
    path = Project(ws, project).path / "meta.md"
    rel = ws.rel(path)
    try:
        current: str | None = read_text(path) if path.exists() or path.is_symlink() else None
    except BadFile as exc:
        if not exc.problem.startswith(("is a binary file", "is not valid UTF-8")):
            # A folder, a FIFO, a link out of the repository: not something to write through.
            raise exc.relative_to(ws) from None
        current = None  # not Markdown anyone wrote: a damaged copy of ours, rebuilt whole
    text = merge(current, render_meta(project_overview(root, project, cache), ws), rel)
    return write_if_changed(path, text)

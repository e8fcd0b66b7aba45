"""The project overview: every session's identity, stage statuses, staleness and findings.

Read from the build's results (``sessions/<id>.json`` per session, ``_project.json``), the session
metadata and the agent registry; never from the clock, so it is a pure function of those files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idse_orchestrator.stages import BLUEPRINT, STAGE_NAMES, STAGES

# Session metadata may carry an owner (the reference tool writes one); idse itself does not require it.
OWNER_KEYS = ("owner", "assignee", "author")


@dataclass
class SessionView:
    id: str
    type: str
    status: str
    parent: str | None
    owner: str | None
    current: bool
    built: bool  # the build has results for this session
    stages: dict[str, str]  # stage -> missing | pending | in_progress | complete | stale | unknown
    why: dict[str, list[str]]
    findings: list[dict[str, Any]]
    problem: str | None = None  # its session.json could not be used
    children: list[str] = field(default_factory=list)
    depth: int = 0

    @property
    def errors(self) -> int:
        return sum(f.get("severity") == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.get("severity") == "warning" for f in self.findings)

    @property
    def stale(self) -> list[str]:
        return [s for s in STAGE_NAMES if self.stages.get(s) == "stale"]

    @property
    def complete(self) -> int:
        return sum(self.stages.get(s) == "complete" for s in STAGE_NAMES)


@dataclass
class ProjectView:
    project: str
    current: str
    agents: dict[str, str | None]  # stage -> agent id (None: unrouted, "?": registry unreadable)
    sessions: list[SessionView]  # in lineage order: each parent before its children
    findings: list[dict[str, Any]]  # project-wide (agent registry)
    documents: dict[str, str] = field(default_factory=dict)  # stage -> document path in a session

    @property
    def by_id(self) -> dict[str, SessionView]:
        return {s.id: s for s in self.sessions}

    def counts(self) -> dict[str, int]:
        out = {"sessions": len(self.sessions), "errors": 0, "warnings": 0, "stale": 0}
        for s in self.sessions:
            out["errors"] += s.errors
            out["warnings"] += s.warnings
            out["stale"] += len(s.stale)
        out["errors"] += sum(f.get("severity") == "error" for f in self.findings)
        out["warnings"] += sum(f.get("severity") == "warning" for f in self.findings)
        return out


SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def finding_key(f: dict[str, Any]) -> tuple[int, str, int, str, str]:
    """Errors first, then by place: the order people read findings in."""
    return (
        SEVERITY_RANK.get(str(f.get("severity")), 3),
        str(f.get("path")),
        f.get("line") or 0,
        str(f.get("rule")),
        str(f.get("message")),
    )


def _owner(meta: Any) -> str | None:
    extra = getattr(meta, "model_extra", None) or {}
    for key in OWNER_KEYS:
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _lineage_order(views: dict[str, SessionView]) -> list[SessionView]:
    """Parents before children, siblings by id; a session whose parent is unknown (or a cycle) is a
    root of its own, so every session appears exactly once."""
    kids: dict[str | None, list[str]] = {}
    for sid, view in views.items():
        parent = view.parent if view.parent in views and view.parent != sid else None
        kids.setdefault(parent, []).append(sid)
    for items in kids.values():
        items.sort(key=lambda s: (s != BLUEPRINT, s))
    ordered: list[SessionView] = []
    seen: set[str] = set()

    def visit(sid: str, depth: int) -> None:
        stack = [(sid, depth)]
        while stack:
            node, d = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            view = views[node]
            view.depth = d
            view.children = list(kids.get(node, []))
            ordered.append(view)
            stack.extend((c, d + 1) for c in reversed(kids.get(node, [])))

    for root in kids.get(None, []):
        visit(root, 0)
    for sid in sorted(set(views) - seen):  # parents forming a cycle: shown as roots
        visit(sid, 0)
    return ordered


def project_overview(root: Path, project: str, cache: str = "") -> ProjectView:
    from idse_orchestrator.engine.context import BuildContext
    from idse_orchestrator.engine.results import read_result
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.workspace import Project, Workspace

    ws = Workspace(root)
    proj = Project(ws, project)
    sessions = proj.session_ids()
    current = proj.current_session()
    ctx = BuildContext(str(root), project, tuple(sessions), current, cache=cache)
    agents: dict[str, str | None]
    try:
        registry = proj.registry()
        agents = {}
        for stage in STAGE_NAMES:
            entry = registry.route(stage)
            agents[stage] = entry.id if entry else None
    except BadFile:
        agents = dict.fromkeys(STAGE_NAMES, "?")
    views: dict[str, SessionView] = {}
    for sid in sessions:
        meta, problem = proj.metadata_or_default(sid)
        result = read_result(ctx.abs(ctx.session_result_rel(sid))) or {}
        statuses = result.get("statuses") if isinstance(result.get("statuses"), dict) else {}
        findings = [f for f in result.get("findings", []) if isinstance(f, dict)]
        findings.sort(key=finding_key)
        views[sid] = SessionView(
            id=sid,
            type=meta.type,
            status=meta.status,
            parent=meta.parent,
            owner=_owner(meta),
            current=sid == current,
            built=bool(result),
            stages={s: str((statuses or {}).get(s, "unknown")) for s in STAGE_NAMES},
            why={k: list(v) for k, v in (result.get("why") or {}).items() if isinstance(v, list)},
            findings=findings,
            problem=problem,
        )
    project_findings = (read_result(ctx.abs(ctx.project_result_rel())) or {}).get("findings", [])
    return ProjectView(
        project=project,
        current=current,
        agents=agents,
        sessions=_lineage_order(views),
        findings=sorted((f for f in project_findings if isinstance(f, dict)), key=finding_key),
        documents={s.name: s.relpath for s in STAGES},
    )

"""`idse site`: a static HTML dashboard of a project, from the build's results.

``index.html`` holds the overview matrix (sessions × stages, coloured by status) as a table a small
inline script filters, so it stays usable at thousands of sessions; ``sessions/<id>.html`` holds one
session: its stages and agents, staleness, lineage, findings linked to the lines of its documents
(shown on the page, so the links work from ``file://`` and on GitHub Pages), and its part of the
task graph as inline SVG. No external asset, no timestamp; a page whose bytes did not change is not
rewritten, and pages of sessions that no longer exist are removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from idse_orchestrator import layout
from idse_orchestrator.stages import BY_NAME, STAGE_NAMES
from idse_orchestrator.views.overview import ProjectView, SessionView

# Above this many sessions the overview leaves the lineage picture out: the table is the overview.
LINEAGE_GRAPH_LIMIT = 60
STATUS_LABEL = {
    "complete": "complete",
    "in_progress": "in progress",
    "pending": "pending",
    "stale": "stale",
    "missing": "missing",
    "unknown": "not built",
}


@dataclass
class SiteReport:
    out: Path
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "written": self.written,
            "unchanged": self.unchanged,
            "removed": self.removed,
        }


def _environment(ws: Any) -> Any:
    import jinja2

    from idse_orchestrator.fsutil import read_text
    from idse_orchestrator.templating import template_path

    def load(name: str) -> str:
        return read_text(template_path(f"site/{name}", ws))

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # every document line and finding message is escaped
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _session_graphs(tasks: Sequence[Mapping[str, Any]], view: ProjectView) -> dict[str, dict[str, Any]]:
    """Each session's part of the readable task graph, documents coloured by their stage's status."""
    from idse_orchestrator.engine.graph import graph_model, pipeline_key

    model = graph_model(tasks, None, detail=False)
    by_session: dict[str, dict[str, Any]] = {}
    home: dict[str, str] = {}
    for node in sorted(model["nodes"], key=pipeline_key):
        sid = node.get("session")
        if not sid or sid not in view.by_id:
            continue
        home[node["id"]] = sid
        cls = "file" if node["kind"] == "file" else "task"
        stage = stage_of(node["id"], view.project, sid) if node["kind"] == "file" else None
        if stage is not None:
            cls = view.by_id[sid].stages.get(stage, "unknown")
        graph = by_session.setdefault(sid, {"nodes": [], "edges": []})
        graph["nodes"].append({"id": node["id"], "label": node["label"], "cls": cls})
    for edge in model["edges"]:
        a, b = home.get(edge["from"]), home.get(edge["to"])
        if a is not None and a == b:
            by_session[a]["edges"].append(edge)
    for sid, graph in by_session.items():
        ids = [n["id"] for n in graph["nodes"]]
        base = f"{layout.session_dir(view.project, sid)}/"
        graph["columns"] = [
            [i for i in ids if i.startswith(base) and stage_of(i, view.project, sid)],
            [i for i in ids if i.startswith("validate:")] + [i for i in ids if i.startswith("compile:")],
        ]
    return by_session


def _lineage_graph(view: ProjectView) -> dict[str, Any]:
    nodes, edges = [], []
    for s in view.sessions:
        done = s.complete == len(STAGE_NAMES)
        cls = "stale" if s.stale else "failed" if s.errors else "complete" if done else "session"
        nodes.append({"id": s.id, "label": s.id, "cls": cls, "href": f"sessions/{s.id}.html"})
        if s.parent and s.parent in view.by_id and s.parent != s.id:
            edges.append({"from": s.parent, "to": s.id})
    return {"nodes": nodes, "edges": edges}


def _documents(root: Path, project: str, s: SessionView) -> list[dict[str, Any]]:
    from idse_orchestrator.errors import BadFile
    from idse_orchestrator.fsutil import read_text

    marks: dict[tuple[str, int], str] = {}
    for f in s.findings:
        stage = stage_of(str(f.get("path", "")), project, s.id)
        if stage and f.get("line"):
            worst = marks.get((stage, int(f["line"])))
            if worst != "error":
                marks[(stage, int(f["line"]))] = str(f.get("severity"))
    docs = []
    for name in STAGE_NAMES:
        rel = f"{layout.session_dir(project, s.id)}/{BY_NAME[name].relpath}"
        try:
            text: str | None = read_text(root / rel)
        except BadFile as exc:
            text, problem = None, exc.problem
        else:
            problem = ""
        lines = (text or "").splitlines()
        docs.append(
            {
                "stage": name,
                "path": rel,
                "lines": len(lines),
                "html": Markup(_source_rows(name, lines, marks)),
                "problem": problem if text is None else "",
                "open": any(stage == name for stage, _ in marks),
            }
        )
    return docs


def _source_rows(stage: str, lines: list[str], marks: dict[tuple[str, int], str]) -> str:
    """A document as numbered table rows, each line addressable (``#spec-L12``) and marked by the
    worst finding on it. Built here rather than in the template: thousands of lines per page."""
    from html import escape

    out = []
    for n, line in enumerate(lines, start=1):
        mark = marks.get((stage, n), "")
        cls = f' class="{mark}"' if mark else ""
        anchor = f"{stage}-L{n}"
        out.append(
            f'<tr id="{anchor}"{cls}><td class="ln"><a href="#{anchor}">{n}</a></td>'
            f"<td>{escape(line, quote=False)}</td></tr>\n"
        )
    return "".join(out)


def stage_of(path: str, project: str, session: str) -> str | None:
    prefix = f"{layout.session_dir(project, session)}/"
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    return next((n for n in STAGE_NAMES if BY_NAME[n].relpath == rest), None)


def _finding_rows(view: ProjectView, s: SessionView) -> list[dict[str, Any]]:
    rows = []
    for f in s.findings:
        stage = stage_of(str(f.get("path", "")), view.project, s.id)
        line = f.get("line")
        anchor = f"{stage}-L{line}" if stage and line else (f"doc-{stage}" if stage else "")
        where = str(f.get("path", "")).rsplit("/", 1)[-1] + (f":{line}" if line else "")
        rows.append({**f, "anchor": anchor, "where": where})
    return rows


def session_context(root: Path, view: ProjectView, s: SessionView, svg: str) -> dict[str, Any]:
    ancestors: list[str] = []
    cursor = s.parent
    while cursor and cursor in view.by_id and cursor not in ancestors and cursor != s.id:
        ancestors.append(cursor)
        cursor = view.by_id[cursor].parent
    return {
        "project": view.project,
        "s": s,
        "stages": [
            {
                "name": name,
                "status": s.stages[name],
                "label": STATUS_LABEL.get(s.stages[name], s.stages[name]),
                "agent": view.agents.get(name) or "unrouted",
                "why": s.why.get(name, []),
                "findings": sum(
                    1 for f in s.findings if stage_of(str(f.get("path", "")), view.project, s.id) == name
                ),
            }
            for name in STAGE_NAMES
        ],
        "ancestors": list(reversed(ancestors)),
        "findings": _finding_rows(view, s),
        "documents": _documents(root, view.project, s),
        "svg": svg,
        "status_label": STATUS_LABEL,
    }


def index_context(view: ProjectView, lineage_svg: str) -> dict[str, Any]:
    return {
        "project": view.project,
        "view": view,
        "counts": view.counts(),
        "stages": [{"name": n, "agent": view.agents.get(n) or "unrouted"} for n in STAGE_NAMES],
        "lineage_svg": lineage_svg,
        "lineage_limit": LINEAGE_GRAPH_LIMIT,
        "status_label": STATUS_LABEL,
        "project_findings": view.findings,
    }


def _write_page(path: Path, text: str) -> bool:
    """Write unless the bytes are the same; not fsynced (the site is derived and rebuilt at will)."""
    from idse_orchestrator.fsutil import atomic_write_bytes

    data = text.encode("utf-8")
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write_bytes(path, data, durable=False)
    return True


def write_site(
    root: Path,
    project: str,
    out: Path,
    tasks: Sequence[Mapping[str, Any]],
    *,
    use_dot: bool = True,
    cache: str = "",
) -> SiteReport:
    """Write the site into ``out``; only pages whose bytes changed are written."""
    from idse_orchestrator.views.overview import project_overview
    from idse_orchestrator.views.svg import render_svg
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(root)
    view = project_overview(root, project, cache)
    # Derived and disposable, like the rest of the cache: Graphviz output by content.
    svg_cache = Path(root) / layout.cache_dir(cache) / "svg"
    used: set[str] = set()
    env = _environment(ws)
    report = SiteReport(out)
    pages: dict[str, str] = {}
    lineage = ""
    if len(view.sessions) <= LINEAGE_GRAPH_LIMIT:
        lineage = render_svg(_lineage_graph(view), use_dot=use_dot, cache_dir=svg_cache, used=used)
    pages["index.html"] = env.get_template("index.html.j2").render(**index_context(view, lineage))
    graphs = _session_graphs(tasks, view)
    page = env.get_template("session.html.j2")
    for s in view.sessions:
        graph = graphs.get(s.id)
        svg = ""
        if graph and graph["nodes"]:
            svg = render_svg(graph, use_dot=use_dot, cache_dir=svg_cache, used=used)
        pages[f"sessions/{s.id}.html"] = page.render(**session_context(root, view, s, svg))
    for rel, text in sorted(pages.items()):
        if _write_page(out / rel, text):
            report.written.append(rel)
        else:
            report.unchanged += 1
    if use_dot and svg_cache.is_dir():
        for old in svg_cache.glob("*.svg"):  # drawings no page uses any more
            if old.name not in used:
                old.unlink(missing_ok=True)
    folder = out / "sessions"
    if folder.is_dir():
        for old in sorted(folder.glob("*.html")):
            if f"sessions/{old.name}" not in pages and old.is_file():
                old.unlink()
                report.removed.append(f"sessions/{old.name}")
    return report


def default_out(ws: Any, project: Any) -> Path:
    return Path(project.build_dir) / "site"


def make_site(
    ws: Any,
    project: Any,
    out: Path | None = None,
    *,
    use_dot: bool = True,
    warn: Any = None,
) -> tuple[SiteReport, list[str]]:
    """`idse site`: bring the project's results up to date with a full build, then write the site.
    Returns the report and the names of build tasks that failed (their sessions show what is known)."""
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.engine.queries import task_list

    report = build(ws, project, warn=warn or (lambda _m: None), want_reasons=False)
    target = out if out is not None else default_out(ws, project)
    site = write_site(
        ws.root, project.name, target, task_list(ws, project, None), use_dot=use_dot, cache=report.cache
    )
    return site, list(report.failed)

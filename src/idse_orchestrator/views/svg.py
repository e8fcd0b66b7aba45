"""Small directed graphs as inline SVG, without a network: Graphviz ``dot`` when it is installed,
otherwise a simple layered layout of our own (left to right, one column per depth).

A graph is ``nodes`` (``id``, ``label``, ``cls``: a status or kind, ``href`` optional) and ``edges``
(``from``, ``to``). Output is deterministic for the same graph (and the same Graphviz version).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from typing import Any

# fill, stroke per class: statuses of stages and tasks, and kinds of nodes.
STYLE = {
    "complete": ("#d4edda", "#28a745"),
    "up-to-date": ("#d4edda", "#28a745"),
    "in_progress": ("#d6e6fb", "#3b7dd8"),
    "pending": ("#fff3cd", "#d39e00"),
    "stale": ("#ffe0c2", "#e8710a"),
    "failed": ("#f8d7da", "#dc3545"),
    "missing": ("#eeeeee", "#999999"),
    "unknown": ("#eeeeee", "#999999"),
    "task": ("#e8eef7", "#4a6fa5"),
    "file": ("#ffffff", "#999999"),
    "session": ("#e8eef7", "#4a6fa5"),
    "current": ("#dbe9ff", "#1f5fbf"),
}
_CACHE: dict[str, str] = {}
_VERSIONS: dict[str, str] = {}


def _style(cls: str) -> tuple[str, str]:
    return STYLE.get(cls, STYLE["task"])


def to_dot(graph: dict[str, Any], rankdir: str = "LR") -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "digraph g {",
        f'  rankdir={rankdir}; bgcolor="transparent"; nodesep=0.15; ranksep=0.35;',
        '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", height=0.3];',
        '  edge [color="#8a94a6", arrowsize=0.6];',
    ]
    # Nodes are numbered, not named: sessions shaped alike give the same text, rendered once.
    key = {node["id"]: f"n{i}" for i, node in enumerate(graph["nodes"])}
    for node in graph["nodes"]:
        fill, line = _style(node.get("cls", "task"))
        attrs = {"label": node.get("label", node["id"]), "fillcolor": fill, "color": line}
        if node.get("cls") == "file":
            attrs["shape"] = "note"
        if node.get("href"):
            attrs["href"] = node["href"]
            attrs["target"] = "_top"
        lines.append(f"  {key[node['id']]} [{', '.join(f'{k}={q(v)}' for k, v in attrs.items())}];")
    for e in graph["edges"]:
        if e["from"] in key and e["to"] in key:
            lines.append(f"  {key[e['from']]} -> {key[e['to']]};")
    # Columns kept in the given order (pipeline order) by invisible edges within one rank.
    for column in graph.get("columns", []):
        members = [key[n] for n in column if n in key]
        if len(members) > 1:
            lines.append(f"  {{ rank=same; {' -> '.join(members)} [style=invis]; }}")
    lines.append("}")
    return "\n".join(lines)


def _strip_prolog(svg: str) -> str:
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    body = re.sub(r"<!--.*?-->\n?", "", body, flags=re.S)  # comments carry the Graphviz version
    return body.strip() + "\n"


def _dot_version(exe: str) -> str:
    if exe not in _VERSIONS:
        proc = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False)
        _VERSIONS[exe] = (proc.stderr or proc.stdout).strip()
    return _VERSIONS[exe]


def render_svg(
    graph: dict[str, Any],
    *,
    use_dot: bool = True,
    cache_dir: Path | None = None,
    used: set[str] | None = None,
) -> str:
    """The graph as an ``<svg>`` element (no XML prolog), ready to inline in HTML. Graphviz output
    is kept in ``cache_dir`` by content, so a site rebuilt with nothing changed runs no ``dot``."""
    dot_text = to_dot(graph)
    exe = shutil.which("dot") if use_dot else None
    if exe is not None:
        key = hashlib.sha256(f"{_dot_version(exe)}\n{dot_text}".encode()).hexdigest()
        if used is not None:
            used.add(f"{key[:32]}.svg")
        saved = cache_dir / f"{key[:32]}.svg" if cache_dir else None
        if key not in _CACHE:
            _CACHE[key] = _dot_svg(exe, dot_text, saved)
        elif saved is not None and _CACHE[key] and not saved.is_file():
            _save(saved, _CACHE[key])  # drawn in this process for another workspace
        if _CACHE[key]:
            return _CACHE[key]
    return layered_svg(graph)


def _dot_svg(exe: str, dot_text: str, saved: Path | None) -> str:
    if saved is not None and saved.is_file():
        return saved.read_text("utf-8")
    proc = subprocess.run([exe, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        return ""  # a Graphviz that fails on a graph: the simple layout is used, the page still renders
    svg = _strip_prolog(proc.stdout.decode("utf-8"))
    if saved is not None:
        _save(saved, svg)
    return svg


def _save(path: Path, svg: str) -> None:
    from idse_orchestrator.fsutil import atomic_write_text

    atomic_write_text(path, svg, durable=False)


# -- the layout without Graphviz --------------------------------------------------------------------

CHAR_W = 6.4
NODE_H = 24
GAP_X = 46
GAP_Y = 10
PAD = 8


def _ranks(graph: dict[str, Any]) -> dict[str, int]:
    """Longest path from a source (cycles broken by visiting order)."""
    ids = [n["id"] for n in graph["nodes"]]
    preds: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph["edges"]:
        if e["from"] in preds and e["to"] in preds:
            preds[e["to"]].append(e["from"])
    rank: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(node: str) -> int:
        stack = [(node, False)]
        while stack:
            cur, done = stack.pop()
            if cur in rank:
                continue
            if done:
                visiting.discard(cur)
                rank[cur] = 1 + max((rank.get(p, 0) for p in preds[cur] if p in rank), default=-1)
                continue
            visiting.add(cur)
            stack.append((cur, True))
            stack.extend((p, False) for p in preds[cur] if p not in rank and p not in visiting)
        return rank[node]

    for i in ids:
        depth(i)
    return rank


def layered_svg(graph: dict[str, Any]) -> str:
    ranks = _ranks(graph)
    columns: dict[int, list[dict[str, Any]]] = {}
    for node in graph["nodes"]:  # the caller's order is kept within a column
        columns.setdefault(ranks[node["id"]], []).append(node)
    # Rows on a grid: each node takes the free row nearest the mean row of the nodes it comes from,
    # in the caller's order (pipeline order), so a document, its check and what that writes line up.
    preds: dict[str, list[str]] = {}
    for e in graph["edges"]:
        preds.setdefault(e["to"], []).append(e["from"])
    rows: dict[str, int] = {}
    pos: dict[str, tuple[float, float, float]] = {}  # id -> x, y, width
    x = 4.0
    last_row = 0
    for r in sorted(columns):
        taken: set[int] = set()
        col = columns[r]
        for i, node in enumerate(col):
            ys = [rows[p] for p in preds.get(node["id"], []) if p in rows]
            want = round(sum(ys) / len(ys)) if ys else i
            row = next(
                c
                for d in range(len(col) + want + 1)
                for c in (want + d, want - d)
                if c >= 0 and c not in taken
            )
            taken.add(row)
            rows[node["id"]] = row
            last_row = max(last_row, row)
        width = max(len(n.get("label", n["id"])) * CHAR_W + 2 * PAD for n in col)
        for node in col:
            w = len(node.get("label", node["id"])) * CHAR_W + 2 * PAD
            pos[node["id"]] = (x, 4 + rows[node["id"]] * (NODE_H + GAP_Y), w)
        x += width + GAP_X
    width = x - GAP_X + 4
    height = 4 + (last_row + 1) * (NODE_H + GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" class="graph" role="img">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a6"/>'
        "</marker></defs>",
    ]
    for e in graph["edges"]:
        if e["from"] not in pos or e["to"] not in pos:
            continue
        x1, y1, w1 = pos[e["from"]]
        x2, y2, _ = pos[e["to"]]
        sx, sy, tx, ty = x1 + w1, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        mid = (sx + tx) / 2
        out.append(
            f'<path d="M{sx:.1f},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ty:.1f} {tx:.1f},{ty:.1f}" '
            'fill="none" stroke="#8a94a6" stroke-width="1" marker-end="url(#arrow)"/>'
        )
    for node in graph["nodes"]:
        nx, ny, w = pos[node["id"]]
        fill, line = _style(node.get("cls", "task"))
        label = escape(node.get("label", node["id"]))
        rx = 2 if node.get("cls") == "file" else 8
        shape = (
            f'<g><title>{escape(node["id"])}</title><rect x="{nx:.1f}" y="{ny:.1f}" width="{w:.1f}" '
            f'height="{NODE_H}" rx="{rx}" fill="{fill}" stroke="{line}"/>'
            f'<text x="{nx + w / 2:.1f}" y="{ny + NODE_H / 2 + 4:.1f}" text-anchor="middle" '
            f'font-family="Helvetica,Arial,sans-serif" font-size="11">{label}</text></g>'
        )
        if node.get("href"):
            shape = f'<a href="{escape(node["href"])}">{shape}</a>'
        out.append(shape)
    out.append("</svg>")
    return "\n".join(out) + "\n"

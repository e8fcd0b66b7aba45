"""Mermaid output of the task graph, kept inside Mermaid's default limits.

GitHub and the Mermaid CLI refuse a diagram with more than 500 edges or 50,000 characters. When the
graph is bigger, the largest sessions are collapsed into one node each (labelled with how to see
them: ``idse graph --session S``); when even that is too big, the collapsed sessions past the first
few are merged into one "more sessions" node. DOT output is never collapsed.
"""

from __future__ import annotations

from typing import Any

from idse_orchestrator.engine.graph import STATUS_STYLE

MAX_EDGES = 500
MAX_CHARS = 50_000
_WORST = ("failed", "stale", "up-to-date")
MORE = "more-sessions"


def _label(text: str) -> str:
    # Mermaid labels are quoted; quotes and angle brackets must be entities to render on GitHub.
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _mermaid(model: dict[str, Any], note: str = "") -> str:
    ids = {node["id"]: f"n{i}" for i, node in enumerate(model["nodes"])}
    lines = ["flowchart LR"]
    if note:
        lines.append(f"  %% {note}")
    for status, (fill, line) in STATUS_STYLE.items():
        lines.append(f"  classDef {status.replace('-', '_')} fill:{fill},stroke:{line}")
    lines.append("  classDef file fill:#ffffff,stroke:#999999")
    lines.append("  classDef note fill:#f6f6f6,stroke:#bbbbbb,color:#555555")
    clusters: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for node in model["nodes"]:
        (clusters.setdefault(node["session"], []) if node.get("session") else loose).append(node)

    def declare(node: dict[str, Any], indent: str) -> None:
        label = _label(node.get("label") or node["id"])
        shape = '("{}")' if node["kind"] == "task" else '["{}"]'
        lines.append(f"{indent}{ids[node['id']]}{shape.format(label)}")

    for node in loose:
        declare(node, "  ")
    for i, (session, members) in enumerate(sorted(clusters.items())):
        lines.append(f'  subgraph c{i} ["{_label(session)}"]')
        for node in members:
            declare(node, "    ")
        lines.append("  end")
    # Classes after every node, outside the subgraphs: the plainest form every renderer accepts.
    for node in model["nodes"]:
        cls = node.get("status", "").replace("-", "_") if node["kind"] == "task" else node["kind"]
        if cls:
            lines.append(f"  class {ids[node['id']]} {cls}")
    for edge in model["edges"]:
        if edge["from"] in ids and edge["to"] in ids:
            lines.append(f"  {ids[edge['from']]} --> {ids[edge['to']]}")
    return "\n".join(lines)


def fits(model: dict[str, Any], text: str) -> bool:
    return len(model["edges"]) <= MAX_EDGES and len(text) <= MAX_CHARS


def collapse(model: dict[str, Any], sessions: set[str], keep: int | None = None) -> dict[str, Any]:
    """``sessions`` each become one node; with ``keep``, only the first ``keep`` of them (by id)
    stay apart and the rest become one "more sessions" node."""
    ordered = sorted(sessions)
    kept = set(ordered if keep is None else ordered[:keep])
    where: dict[str, str] = {}
    members: dict[str, list[dict[str, Any]]] = {}
    nodes: list[dict[str, Any]] = []
    for node in model["nodes"]:
        session = node.get("session")
        if session in sessions:
            group = f"session {session}" if session in kept else MORE
            where[node["id"]] = group
            members.setdefault(group, []).append(node)
        else:
            nodes.append(node)
    for group, items in sorted(members.items()):
        tasks = [n for n in items if n["kind"] == "task"]
        worst = [s for s in _WORST if any(n.get("status") == s for n in tasks)]
        if group == MORE:
            count = len(sessions) - len(kept)
            label = f"{count} more sessions, collapsed: idse graph --session S draws one"
        else:
            sid = group.split(" ", 1)[1]
            label = f"{sid}: {len(tasks)} tasks, collapsed: idse graph --session {sid}"
        node = {"id": group, "kind": "task", "label": label, "session": None}
        if worst:
            node["status"] = worst[0]
        elif any("status" in n for n in tasks):
            node["status"] = "stale"
        nodes.append(node)
    edges: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for edge in model["edges"]:
        a, b = where.get(edge["from"], edge["from"]), where.get(edge["to"], edge["to"])
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            edges.append({"from": a, "to": b})
    return {"nodes": nodes, "edges": edges}


def render_mermaid(model: dict[str, Any]) -> str:
    text = _mermaid(model)
    if fits(model, text):
        return text
    sizes: dict[str, int] = {}
    for node in model["nodes"]:
        if node.get("session"):
            sizes[node["session"]] = sizes.get(node["session"], 0) + 1
    # Largest sessions first (ties by id), in doubling batches: few renders even at 1,000 sessions.
    order = sorted(sizes, key=lambda s: (-sizes[s], s))
    count = 1
    while True:
        chosen = set(order[:count])
        small = collapse(model, chosen)
        note = (
            f"{len(chosen)} of {len(order)} sessions collapsed to stay within Mermaid's limits "
            f"({MAX_EDGES} edges, {MAX_CHARS:,} characters); --format dot draws everything"
        )
        text = _mermaid(small, note)
        if fits(small, text) or count >= len(order):
            break
        count = min(len(order), count * 2)
    if fits(small, text):
        return text
    everyone = set(order)
    lo, hi = 0, len(order)  # largest number of collapsed sessions shown apart that still fits
    best = _mermaid(collapse(model, everyone, 0), note)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        trial = collapse(model, everyone, mid)
        trial_text = _mermaid(trial, note)
        if fits(trial, trial_text):
            lo, best = mid, trial_text
        else:
            hi = mid - 1
    return best

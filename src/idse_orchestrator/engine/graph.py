"""`idse graph`: the task graph (tasks and files as nodes) as DOT, Mermaid or JSON.

Built from idse's own task dictionaries, so it shows files as well as tasks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

STATUS_STYLE = {
    "up-to-date": ("#d4edda", "#28a745"),
    "stale": ("#fff3cd", "#d39e00"),
    "failed": ("#f8d7da", "#dc3545"),
}


def task_name(task: Mapping[str, Any]) -> str:
    return str(task["basename"]) if task.get("name") is None else f"{task['basename']}:{task['name']}"


def graph_model(tasks: Sequence[Mapping[str, Any]], statuses: dict[str, str] | None = None) -> dict[str, Any]:
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, str]] = []
    for task in tasks:
        name = task_name(task)
        node: dict[str, Any] = {"id": name, "kind": "task"}
        if statuses is not None:
            node["status"] = statuses.get(name, "stale")
        nodes[name] = node
    for task in tasks:
        name = task_name(task)
        for dep in task.get("file_dep", []):
            nodes.setdefault(dep, {"id": dep, "kind": "file"})
            edges.append({"from": dep, "to": name})
        for target in [*task.get("targets", []), *(o.split("#", 1)[0] for o in task.get("outputs", []))]:
            nodes.setdefault(target, {"id": target, "kind": "file"})
            edges.append({"from": name, "to": target})
        for dep in task.get("task_dep", []):
            edges.append({"from": dep, "to": name})
    return {"nodes": sorted(nodes.values(), key=lambda n: (n["kind"], n["id"])), "edges": edges}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(model: dict[str, Any]) -> str:
    lines = ["digraph idse {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for node in model["nodes"]:
        attrs = {"shape": "box" if node["kind"] == "task" else "note"}
        if node["kind"] == "task":
            attrs["style"] = "rounded,filled"
            fill, line = STATUS_STYLE.get(node.get("status", ""), ("#e8eef7", "#4a6fa5"))
            attrs["fillcolor"] = fill
            attrs["color"] = line
        rendered = ", ".join(f"{k}={_dot_quote(v)}" for k, v in attrs.items())
        lines.append(f"  {_dot_quote(node['id'])} [{rendered}];")
    for edge in model["edges"]:
        lines.append(f"  {_dot_quote(edge['from'])} -> {_dot_quote(edge['to'])};")
    lines.append("}")
    return "\n".join(lines)


def _mermaid_label(text: str) -> str:
    # Mermaid labels are quoted; quotes and angle brackets must be entities to render on GitHub.
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def render_mermaid(model: dict[str, Any]) -> str:
    ids = {node["id"]: f"n{i}" for i, node in enumerate(model["nodes"])}
    lines = ["flowchart LR"]
    for status, (fill, line) in STATUS_STYLE.items():
        lines.append(f"  classDef {status.replace('-', '_')} fill:{fill},stroke:{line}")
    lines.append("  classDef file fill:#ffffff,stroke:#999999")
    for node in model["nodes"]:
        label = _mermaid_label(node["id"])
        if node["kind"] == "task":
            lines.append(f'  {ids[node["id"]]}("{label}")')
        else:
            lines.append(f'  {ids[node["id"]]}["{label}"]')
        cls = "file" if node["kind"] == "file" else node.get("status", "").replace("-", "_")
        if cls:
            lines.append(f"  class {ids[node['id']]} {cls}")
    for edge in model["edges"]:
        if edge["from"] in ids and edge["to"] in ids:
            lines.append(f"  {ids[edge['from']]} --> {ids[edge['to']]}")
    return "\n".join(lines)


def render(fmt: str, model: dict[str, Any]) -> str:
    if fmt == "dot":
        return render_dot(model)
    if fmt == "mermaid":
        return render_mermaid(model)
    return json.dumps(model, indent=2)

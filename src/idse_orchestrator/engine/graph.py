"""`idse graph`: the task graph (tasks and files as nodes) as DOT, Mermaid, JSON, SVG or PNG.

Built from idse's own task dictionaries, so it shows files as well as tasks. By default it shows what
people reason about: documents, the tasks that check and compile them, and what those write, with
short labels and one cluster per session; the build's cache files and the edges they imply appear
with ``detail``. The blueprint's spec, which every feature's Agent Profile takes defaults from, is
drawn once with a note instead of one edge per session. Mermaid output stays within Mermaid's
default limits by collapsing sessions (see ``graph_mermaid``); DOT always gets the whole graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

STATUS_STYLE = {
    "up-to-date": ("#d4edda", "#28a745"),
    "stale": ("#fff3cd", "#d39e00"),
    "failed": ("#f8d7da", "#dc3545"),
}
CACHE_PREFIX = ".idse/.cache/"
FANOUT = "blueprint-spec-defaults"
_SESSION_FILE = re.compile(r"^\.idse/projects/[^/]+/sessions/([^/]+)/(.+)$")
_RESULT_FILE = re.compile(r"^.*/results/[^/]+/sessions/([^/]+)\.json$")
_SESSION_CACHE_FILE = re.compile(r"^.*/results/[^/]+/([^/]+)/([^/]+)$")
_PROFILE_FILE = re.compile(r"^\.idse/projects/[^/]+/build/agents/([^/]+)\.profile\.yaml$")
_PROJECT_FILE = re.compile(r"^\.idse/projects/[^/]+/(.+)$")


def task_name(task: Mapping[str, Any]) -> str:
    return str(task["basename"]) if task.get("name") is None else f"{task['basename']}:{task['name']}"


def _task_label(task: Mapping[str, Any]) -> tuple[str, str | None]:
    """(short label, session) of a task."""
    base, name = str(task["basename"]), task.get("name")
    owner = task.get("owner")
    short = {"validate": "validate", "compile": "compile profile", "sync": "push"}.get(base)
    if short is not None:
        return short, str(owner or name)
    if base == "registry":
        return "check registry", None
    return (base if name is None else f"{base} {name}"), (str(owner) if owner else None)


def file_label(path: str) -> tuple[str, str | None]:
    """(short label, session) of a file: relative to its session or project folder."""
    if m := _SESSION_FILE.match(path):
        return m.group(2), m.group(1)
    if m := _PROFILE_FILE.match(path):
        return f"{m.group(1)}.profile.yaml", m.group(1)
    if path.startswith(CACHE_PREFIX) and (m := _RESULT_FILE.match(path)):
        return "result", m.group(1)
    if path.startswith(CACHE_PREFIX) and (m := _SESSION_CACHE_FILE.match(path)):
        return f"result {m.group(2)}", m.group(1)
    if path.startswith(CACHE_PREFIX):
        return "cache " + path.rsplit("/", 1)[-1], None
    if m := _PROJECT_FILE.match(path):
        return m.group(1), None
    if path.startswith(".idse/templates/"):
        return path[len(".idse/") :], None
    return path, None


def graph_model(
    tasks: Sequence[Mapping[str, Any]], statuses: dict[str, str] | None = None, *, detail: bool = True
) -> dict[str, Any]:
    """Nodes (``id``, ``kind``, ``label``, ``session``) and directed edges. ``detail``: every file a
    task reads or writes, cache included; otherwise the readable view described above."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def edge(a: str, b: str) -> None:
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append({"from": a, "to": b})

    def file_node(path: str) -> bool:
        if not detail and path.startswith(CACHE_PREFIX):
            return False
        if path not in nodes:
            label, session = file_label(path)
            nodes[path] = {"id": path, "kind": "file", "label": label, "session": session}
        return True

    for task in tasks:
        name = task_name(task)
        label, session = _task_label(task)
        node: dict[str, Any] = {"id": name, "kind": "task", "label": label, "session": session}
        if statuses is not None:
            node["status"] = statuses.get(name, "stale")
        nodes[name] = node
    task_deps = {task_name(t): list(t.get("task_dep", [])) for t in tasks}
    feeds: dict[str, set[str]] = {}  # file -> tasks it is a file_dep of
    for task in tasks:
        for dep in task.get("file_dep", []):
            feeds.setdefault(dep, set()).add(task_name(task))
    # A file read by many tasks that all run before one task that reads it too (a session's
    # metadata): one edge to that task says it, instead of one per stage.
    hub: set[tuple[str, str]] = set()
    if not detail:
        for task in tasks:
            before = set(task_deps[task_name(task)])
            for dep in task.get("file_dep", []):
                shared = feeds.get(dep, set()) & before
                if len(shared) >= 3:
                    hub.update((dep, u) for u in shared)
    fanout: list[str] = []
    for task in tasks:
        name = task_name(task)
        deps = list(task.get("file_dep", [])) + (list(task.get("reads", [])) if detail else [])
        for dep in deps:
            if not detail:
                owner = nodes[name]["session"]
                dep_session = file_label(dep)[1]
                if dep_session is not None and owner is not None and dep_session != owner:
                    fanout.append(owner)  # another session's document: the blueprint's spec
                    continue
                if (dep, name) in hub:
                    continue
                # Implied by a path through a task that reads the file and runs before this one.
                shared = feeds.get(dep, set()) & set(task_deps.get(name, []))
                if shared and not all((dep, u) in hub for u in shared):
                    continue
            if file_node(dep):
                edge(dep, name)
        for target in [*task.get("targets", []), *(o.split("#", 1)[0] for o in task.get("outputs", []))]:
            if file_node(target):
                edge(name, target)
        for dep in task.get("task_dep", []):
            if dep in nodes:
                edge(dep, name)
    if fanout:
        from idse_orchestrator.stages import BLUEPRINT, BY_NAME

        count = len(set(fanout))
        spec = next(
            (n for n in nodes if n.endswith(f"/sessions/{BLUEPRINT}/{BY_NAME['spec'].relpath}")), None
        )
        if spec is None:
            spec = f".idse/projects/{_project_of(tasks)}/sessions/{BLUEPRINT}/{BY_NAME['spec'].relpath}"
            file_node(spec)
        plural = "s" if count != 1 else ""
        label = f"Agent Profile defaults of {count} session{plural}"
        nodes[FANOUT] = {"id": FANOUT, "kind": "note", "label": label, "session": None}
        edge(spec, FANOUT)
    order = {"task": 0, "file": 1, "note": 2}
    return {"nodes": sorted(nodes.values(), key=lambda n: (order[n["kind"]], n["id"])), "edges": edges}


def _project_of(tasks: Sequence[Mapping[str, Any]]) -> str:
    for task in tasks:
        for path in task.get("file_dep", []):
            if m := re.match(r"^\.idse/projects/([^/]+)/", path):
                return m.group(1)
    return "project"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_node(node: dict[str, Any]) -> str:
    attrs = {"shape": {"task": "box", "file": "note", "note": "plaintext"}[node["kind"]]}
    if node.get("label") and node["label"] != node["id"]:
        attrs["label"] = node["label"]
        attrs["tooltip"] = node["id"]
    if node["kind"] == "task":
        attrs["style"] = "rounded,filled"
        fill, line = STATUS_STYLE.get(node.get("status", ""), ("#e8eef7", "#4a6fa5"))
        attrs["fillcolor"] = fill
        attrs["color"] = line
    elif node["kind"] == "note":
        attrs["fontcolor"] = "#666666"
    return f"{_dot_quote(node['id'])} [{', '.join(f'{k}={_dot_quote(v)}' for k, v in attrs.items())}];"


def pipeline_key(node: dict[str, Any]) -> tuple[int, int, str]:
    """Pipeline order inside a session (intent first), which Graphviz keeps for ranks of equal depth."""
    from idse_orchestrator.stages import STAGES

    text = node["id"]
    for i, stage in enumerate(STAGES):
        if text.endswith((f"/{stage.name}", f"/{stage.relpath}", f"/{stage.name}.json")):
            return (i, 0 if node["kind"] == "file" else 1, text)
    return (len(STAGES), 0, text)


def render_dot(model: dict[str, Any]) -> str:
    lines = ["digraph idse {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    clusters: dict[str, list[dict[str, Any]]] = {}
    for node in model["nodes"]:
        if node.get("session"):
            clusters.setdefault(node["session"], []).append(node)
        else:
            lines.append(f"  {_dot_node(node)}")
    for i, (session, members) in enumerate(sorted(clusters.items())):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label={_dot_quote(session)}; style="rounded"; color="#bbbbbb";')
        lines.extend(f"    {_dot_node(node)}" for node in sorted(members, key=pipeline_key))
        lines.append("  }")
    for e in model["edges"]:
        lines.append(f"  {_dot_quote(e['from'])} -> {_dot_quote(e['to'])};")
    lines.append("}")
    return "\n".join(lines)


def render(fmt: str, model: dict[str, Any]) -> str:
    if fmt == "dot":
        return render_dot(model)
    if fmt == "mermaid":
        from idse_orchestrator.engine.graph_mermaid import render_mermaid

        return render_mermaid(model)
    return json.dumps(model, indent=2)


def render_image(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG bytes from Graphviz ``dot``; a one-line usage error when it is not installed."""
    import shutil
    import subprocess

    from idse_orchestrator.errors import Failed, UsageError

    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            f"--format {fmt} needs Graphviz 'dot', which is not installed "
            "(install graphviz, or use --format dot, mermaid or json)"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise Failed(f"Graphviz 'dot' failed: {detail[0]}")
    return proc.stdout

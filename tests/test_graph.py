"""`idse graph`: the task graph as JSON, DOT and Mermaid, with --status, --session and --output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from idse_orchestrator.stages import BY_NAME, STAGE_NAMES

PROJECT = "demo"
BLUEPRINT = "__blueprint__"
FEAT = "feat"
RESULTS = f".idse/.cache/results/{PROJECT}"
SESSIONS = f".idse/projects/{PROJECT}/sessions"


def doc_rel(session: str, stage: str) -> str:
    return f"{SESSIONS}/{session}/{BY_NAME[stage].relpath}"


def graph(cli, *args: str) -> str:
    result = cli("graph", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def graph_json(cli, *args: str) -> dict:
    return json.loads(graph(cli, "--format", "json", *args))


def task_statuses(cli, *args: str) -> dict[str, str]:
    model = graph_json(cli, "--status", *args)
    return {n["id"]: n["status"] for n in model["nodes"] if n["kind"] == "task"}


@pytest.fixture
def two(ws, cli):
    """__blueprint__ and `feat` (current), built once."""
    assert cli("session", "create", FEAT).exit_code == 0
    assert cli("build").exit_code == 0
    return ws


# ---------------------------------------------------------------------------------------- DOT parsing

_DOT_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<id>[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)'
    r"|(?P<op>->|--|[{}\[\];,=]))",
    re.S,
)


def _dot_tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _DOT_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad DOT at offset {pos}: {text[pos : pos + 30]!r}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
        tokens.append((kind, value))
        pos = m.end()
    return tokens


def parse_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """A strict parser for the DOT subset a digraph needs; returns (declared nodes, edges).

    Raises ValueError on anything it does not understand, unbalanced braces, or an edge whose
    endpoint was never declared as a node.
    """
    toks = _dot_tokens(text)
    i = 0

    def take(kind: str | None = None, value: str | None = None) -> str:
        nonlocal i
        if i >= len(toks):
            raise ValueError("unexpected end of DOT")
        k, v = toks[i]
        if (kind and k != kind) or (value is not None and v != value):
            raise ValueError(f"expected {value or kind}, got {v!r}")
        i += 1
        return v

    def peek() -> tuple[str, str] | None:
        return toks[i] if i < len(toks) else None

    def ident() -> str:
        tok = peek()
        if tok is None or tok[0] not in ("str", "id"):
            raise ValueError(f"expected an id, got {tok!r}")
        return take()

    def attr_list() -> None:
        take("op", "[")
        while peek() != ("op", "]"):
            ident()
            take("op", "=")
            ident()
            if peek() in (("op", ","), ("op", ";")):
                take()
        take("op", "]")

    take("id", "digraph")
    if peek() and peek()[0] in ("id", "str"):
        ident()
    take("op", "{")
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    while peek() != ("op", "}"):
        tok = peek()
        if tok is None:
            raise ValueError("unbalanced braces: missing '}'")
        if tok[0] == "id" and tok[1] in ("graph", "node", "edge"):
            take()
            attr_list()
        else:
            first = ident()
            if peek() == ("op", "="):
                take()
                ident()
            elif peek() == ("op", "->"):
                chain = [first]
                while peek() == ("op", "->"):
                    take()
                    chain.append(ident())
                edges.extend(zip(chain, chain[1:], strict=False))
                if peek() == ("op", "["):
                    attr_list()
            else:
                nodes.add(first)
                if peek() == ("op", "["):
                    attr_list()
        if peek() == ("op", ";"):
            take()
    take("op", "}")
    if i != len(toks):
        raise ValueError("text after the closing brace")
    undeclared = {end for edge in edges for end in edge} - nodes
    if undeclared:
        raise ValueError(f"edge endpoints never declared: {sorted(undeclared)[:3]}")
    return nodes, edges


def check_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Parse with pydot / graphviz when installed as well, then with the structural parser."""
    try:
        import pydot
    except ImportError:
        pydot = None
    if pydot is not None:
        parsed = pydot.graph_from_dot_data(text)
        assert parsed, "pydot could not parse the DOT output"
    if shutil.which("dot"):
        run = subprocess.run(["dot", "-Tcanon"], input=text, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
    return parse_dot(text)


def test_the_dot_checker_rejects_broken_dot():
    good = 'digraph g {\n  "a" [shape="box"];\n  "b";\n  "a" -> "b";\n}'
    assert parse_dot(good) == ({"a", "b"}, [("a", "b")])
    for bad in (
        good[:-1],  # unbalanced braces
        good.replace('  "b";\n', ""),  # edge endpoint not declared
        good.replace('"a" [', '"a"x" ['),  # raw quote inside an id
        good.replace("->", "=>"),
    ):
        with pytest.raises(ValueError):
            parse_dot(bad)


# ---------------------------------------------------------------------------------- Mermaid checking

_M_NODE = re.compile(r'^  (n\d+)(\("([^"]*)"\)|\["([^"]*)"\])$')
_M_EDGE = re.compile(r"^  (n\d+) --> (n\d+)$")
_M_CLASS = re.compile(r"^  class (n\d+) (\w+)$")
_M_CLASSDEF = re.compile(r"^  classDef (\w+) \S+$")


def unescape_label(label: str) -> str:
    return label.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_mermaid(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]], dict[str, str]]:
    """Returns ({id: (label, shape)}, edges by label, {label: class}) after checking every line."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart LR"
    nodes: dict[str, tuple[str, str]] = {}
    classdefs: set[str] = set()
    classes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        if m := _M_CLASSDEF.match(line):
            classdefs.add(m.group(1))
        elif m := _M_NODE.match(line):
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            label = m.group(3) if m.group(3) is not None else m.group(4)
            assert "<" not in label and ">" not in label, line
            assert re.fullmatch(r"(?:[^&]|&(?:quot|lt|gt|amp);)*", label), f"bare '&' in label: {line}"
            nodes[m.group(1)] = (unescape_label(label), "task" if m.group(2).startswith("(") else "file")
        elif m := _M_CLASS.match(line):
            assert m.group(1) in nodes, f"class before node declared: {line}"
            assert m.group(2) in classdefs, f"undefined class: {line}"
            classes[nodes[m.group(1)][0]] = m.group(2)
        elif m := _M_EDGE.match(line):
            assert m.group(1) in nodes and m.group(2) in nodes, f"edge with undeclared node: {line}"
            edges.append((nodes[m.group(1)][0], nodes[m.group(2)][0]))
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    return nodes, edges, classes


# ---------------------------------------------------------------------------------------------- JSON


def test_json_graph_has_task_and_file_nodes_and_directed_edges(two, cli):
    model = graph_json(cli)
    kinds = {n["id"]: n["kind"] for n in model["nodes"]}
    assert set(kinds.values()) == {"task", "file"}
    assert len(kinds) == len(model["nodes"]), "node ids are unique"
    assert all("status" not in n for n in model["nodes"]), "no status without --status"
    edges = {(e["from"], e["to"]) for e in model["edges"]}
    for a, b in edges:
        assert a in kinds and b in kinds
        assert {kinds[a], kinds[b]} == {"task", "file"} or kinds[a] == kinds[b] == "task"

    # The tasks are exactly those `idse build` runs.
    build = json.loads(cli("build", "--json").stdout)
    tasks = {i for i, k in kinds.items() if k == "task"}
    assert tasks == {t["name"] for t in build["tasks"]}

    for session in (BLUEPRINT, FEAT):
        for stage in STAGE_NAMES:
            task = f"validate:{session}/{stage}"
            result = f"{RESULTS}/{session}/{stage}.json"
            assert (doc_rel(session, stage), task) in edges  # file -> task
            assert (task, result) in edges  # task -> file
            # The session check runs after each validation and reruns when a document changes.
            assert (task, f"session:{session}") in edges
            assert (doc_rel(session, stage), f"session:{session}") in edges
            assert kinds[doc_rel(session, stage)] == kinds[result] == "file"
        assert (f"session:{session}", f"{RESULTS}/{session}/_session.json") in edges
        baselines = f".idse/projects/{PROJECT}/sessions/{session}/metadata/baselines.json"
        assert (f"session:{session}", baselines) in edges
    assert (f"session:{FEAT}", "state") in edges
    assert ("compile:" + FEAT, f".idse/projects/{PROJECT}/build/agents/{FEAT}.profile.yaml") in edges
    assert ("state", f".idse/projects/{PROJECT}/session_state.json") in edges
    assert (f"{RESULTS}/{BLUEPRINT}/_session.json", "state") not in edges, "state follows the current session"
    assert ("registry", f"{RESULTS}/_project.json") in edges


# ----------------------------------------------------------------------------------------------- DOT


def test_dot_output_parses_and_matches_the_json_graph(two, cli):
    text = graph(cli, "--format", "dot")
    nodes, edges = check_dot(text)
    model = graph_json(cli)
    assert nodes == {n["id"] for n in model["nodes"]}
    assert sorted(edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    with_status = graph(cli, "--format", "dot", "--status")
    assert check_dot(with_status)[0] == nodes


def test_dot_and_mermaid_escape_awkward_names():
    from idse_orchestrator.engine.graph import graph_model, render

    nasty_file = 'docs/a "quoted" <b>&amp; back\\slash.md'
    tasks = [
        {"basename": 'check"it', "name": "<x&y>", "file_dep": [nasty_file], "targets": ["out/[1].json"]},
        {"basename": "end", "name": None, "file_dep": ["out/[1].json"], "targets": []},
    ]
    model = graph_model(tasks, {'check"it:<x&y>': "failed", "end": "up-to-date"})
    ids = {n["id"] for n in model["nodes"]}
    assert ids == {'check"it:<x&y>', "end", nasty_file, "out/[1].json"}

    nodes, edges = check_dot(render("dot", model))
    assert nodes == ids
    assert sorted(edges) == sorted((e["from"], e["to"]) for e in model["edges"])

    m_nodes, m_edges, classes = check_mermaid(render("mermaid", model))
    assert {label for label, _ in m_nodes.values()} == ids
    assert sorted(m_edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    assert classes['check"it:<x&y>'] == "failed"
    assert classes[nasty_file] == "file"


# ------------------------------------------------------------------------------------------- Mermaid


def test_mermaid_is_the_default_and_matches_the_json_graph(two, cli):
    text = graph(cli)
    assert text == graph(cli, "--format", "mermaid")
    nodes, edges, classes = check_mermaid(text)
    model = graph_json(cli)
    assert {label: shape for label, shape in nodes.values()} == {n["id"]: n["kind"] for n in model["nodes"]}
    assert sorted(edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    assert set(classes.values()) == {"file"}, "tasks carry no status class without --status"


# -------------------------------------------------------------------------------------------- status


def test_status_marks_up_to_date_stale_and_failed(two, cli, tmp_path):
    statuses = task_statuses(cli)
    assert set(statuses.values()) == {"up-to-date"}

    spec = tmp_path / doc_rel(FEAT, "spec")
    spec.write_text(spec.read_text() + "\nEdited.\n")
    statuses = task_statuses(cli)
    assert statuses[f"validate:{FEAT}/spec"] == "stale"
    assert statuses[f"validate:{BLUEPRINT}/spec"] == "up-to-date"
    assert all(
        statuses[f"validate:{s}/{st}"] == "up-to-date"
        for s in (BLUEPRINT, FEAT)
        for st in STAGE_NAMES
        if (s, st) != (FEAT, "spec")
    )
    _, _, classes = check_mermaid(graph(cli, "--status"))
    assert classes[f"validate:{FEAT}/spec"] == "stale"
    assert classes[f"validate:{FEAT}/plan"] == "up_to_date"

    # A task that cannot write its result fails, and the graph says so until it succeeds.
    target = tmp_path / RESULTS / FEAT / "spec.json"
    target.unlink()
    target.mkdir()
    assert cli("build").exit_code == 1
    statuses = task_statuses(cli)
    assert statuses[f"validate:{FEAT}/spec"] == "failed"
    assert statuses[f"validate:{FEAT}/plan"] == "up-to-date"
    _, _, classes = check_mermaid(graph(cli, "--status"))
    assert classes[f"validate:{FEAT}/spec"] == "failed"
    assert '"#f8d7da"' in graph(cli, "--format", "dot", "--status")

    target.rmdir()
    assert cli("build").exit_code == 0
    assert set(task_statuses(cli).values()) == {"up-to-date"}


def test_status_before_any_build_is_stale(ws, cli):
    assert set(task_statuses(cli).values()) == {"stale"}


# ----------------------------------------------------------------------------------- session / output


def test_session_restricts_the_graph(two, cli):
    model = graph_json(cli, "--session", BLUEPRINT)
    ids = {n["id"] for n in model["nodes"]}
    tasks = {n["id"] for n in model["nodes"] if n["kind"] == "task"}
    assert tasks == {f"validate:{BLUEPRINT}/{s}" for s in STAGE_NAMES} | {
        f"session:{BLUEPRINT}",
        f"compile:{BLUEPRINT}",
        "registry",
    }
    assert not any(f"/{FEAT}/" in i or i.endswith(f":{FEAT}") for i in ids)

    feat = graph_json(cli, "-s", FEAT, "--status")
    feat_tasks = {n["id"] for n in feat["nodes"] if n["kind"] == "task"}
    # A graph (or build) of some sessions leaves the project-wide session_state.json alone.
    assert "state" not in feat_tasks and f"session:{FEAT}" in feat_tasks
    # The only blueprint node is its spec: feat's Agent Profile takes the blueprint's as defaults.
    blueprint_spec = f".idse/projects/demo/sessions/{BLUEPRINT}/specs/spec.md"
    assert [n["id"] for n in feat["nodes"] if BLUEPRINT in n["id"]] == [blueprint_spec]

    both, full = graph_json(cli, "-s", FEAT, "-s", BLUEPRINT), graph_json(cli)
    assert both["nodes"] == full["nodes"]
    assert sorted(map(str, both["edges"])) == sorted(map(str, full["edges"]))

    bad = cli("graph", "--session", "nope")
    assert bad.exit_code == 2
    assert "'nope'" in bad.stderr and bad.stdout == ""


@pytest.mark.parametrize("fmt", ["json", "dot", "mermaid"])
def test_output_writes_the_file(two, cli, tmp_path, fmt):
    expected = graph(cli, "--format", fmt)
    out = tmp_path / "out" / f"graph.{fmt}"
    out.parent.mkdir()
    result = cli("graph", "--format", fmt, "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.read_text() == expected
    # Overwrites an existing file.
    out.write_text("old")
    assert cli("graph", "--format", fmt, "-o", str(out)).exit_code == 0
    assert out.read_text() == expected


def test_graph_runs_nothing(two, cli, tmp_path, snapshot):
    spec = tmp_path / doc_rel(FEAT, "spec")
    spec.write_text(spec.read_text() + "\nEdited.\n")
    before = snapshot(tmp_path)
    for fmt in ("json", "dot", "mermaid"):
        graph(cli, "--format", fmt, "--status")
    assert snapshot(tmp_path) == before

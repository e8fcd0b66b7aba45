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


def result_rel(session: str) -> str:
    """The one result file of ``validate:<session>``."""
    return f"{RESULTS}/sessions/{session}.json"


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
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []

    def stmt_list() -> None:
        take("op", "{")
        while peek() != ("op", "}"):
            tok = peek()
            if tok is None:
                raise ValueError("unbalanced braces: missing '}'")
            if tok[0] == "id" and tok[1] in ("graph", "node", "edge"):
                take()
                attr_list()
            elif tok == ("id", "subgraph"):
                take()
                if peek() and peek()[0] in ("id", "str"):
                    ident()
                stmt_list()
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

    stmt_list()
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

_M_NODE = re.compile(r'^(?:  |    )(n\d+)(\("([^"]*)"\)|\["([^"]*)"\])$')
_M_EDGE = re.compile(r"^  (n\d+) --> (n\d+)$")
_M_CLASS = re.compile(r"^  class (n\d+) (\w+)$")
_M_CLASSDEF = re.compile(r"^  classDef (\w+) \S+$")
_M_SUBGRAPH = re.compile(r'^  subgraph (c\d+) \["([^"]*)"\]$')


def unescape_label(label: str) -> str:
    return label.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class Mermaid:
    """A checked Mermaid flowchart: nodes (label, shape, cluster), edges and classes by node key."""

    def __init__(self, text: str) -> None:
        lines = text.rstrip("\n").split("\n")
        assert lines[0] == "flowchart LR"
        self.nodes: dict[str, tuple[str, str, str | None]] = {}
        self.clusters: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self.edges: list[tuple[str, str]] = []
        self.comments: list[str] = []
        classdefs: set[str] = set()
        cluster: str | None = None
        for line in lines[1:]:
            if m := _M_CLASSDEF.match(line):
                classdefs.add(m.group(1))
            elif line.startswith("  %% "):
                self.comments.append(line[5:])
            elif m := _M_SUBGRAPH.match(line):
                assert cluster is None, "subgraphs are not nested"
                cluster = m.group(1)
                self.clusters[cluster] = unescape_label(m.group(2))
            elif line == "  end":
                assert cluster is not None
                cluster = None
            elif m := _M_NODE.match(line):
                assert line.startswith("    ") == (cluster is not None), f"indentation: {line!r}"
                assert m.group(1) not in self.nodes, f"node declared twice: {line}"
                label = m.group(3) if m.group(3) is not None else m.group(4)
                assert "<" not in label and ">" not in label, line
                assert re.fullmatch(r"(?:[^&]|&(?:quot|lt|gt|amp);)*", label), f"bare '&' in label: {line}"
                shape = "task" if m.group(2).startswith("(") else "file"
                self.nodes[m.group(1)] = (unescape_label(label), shape, cluster)
            elif m := _M_CLASS.match(line):
                assert cluster is None
                assert m.group(1) in self.nodes, f"class before node declared: {line}"
                assert m.group(2) in classdefs, f"undefined class: {line}"
                self.classes[m.group(1)] = m.group(2)
            elif m := _M_EDGE.match(line):
                assert cluster is None
                assert m.group(1) in self.nodes and m.group(2) in self.nodes, (
                    f"edge with undeclared node: {line}"
                )
                self.edges.append((m.group(1), m.group(2)))
            else:
                raise AssertionError(f"unexpected Mermaid line: {line!r}")
        assert cluster is None, "a subgraph is not closed"

    def by_id(self, model: dict) -> tuple[dict[str, str], list[tuple[str, str]], dict[str, str]]:
        """Uncollapsed output numbers nodes in the JSON model's order: ({id: label}, edges, classes)."""
        ids = {f"n{i}": node["id"] for i, node in enumerate(model["nodes"])}
        assert set(self.nodes) == set(ids)
        labels = {ids[k]: label for k, (label, _, _) in self.nodes.items()}
        return labels, [(ids[a], ids[b]) for a, b in self.edges], {ids[k]: v for k, v in self.classes.items()}


# ---------------------------------------------------------------------------------------------- JSON


def test_detail_graph_has_every_task_and_file_and_directed_edges(two, cli):
    model = graph_json(cli, "--detail")
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

    labels = {n["id"]: n["label"] for n in model["nodes"]}
    for session in (BLUEPRINT, FEAT):
        task, result = f"validate:{session}", result_rel(session)
        metadata = f"{SESSIONS}/{session}/metadata/session.json"
        # One task per session reads its seven documents and its metadata (file -> task) ...
        reads = {doc_rel(session, stage) for stage in STAGE_NAMES} | {metadata}
        if session == FEAT:
            reads.add(doc_rel(BLUEPRINT, "spec"))  # feat's Agent Profile takes the blueprint's as defaults
        assert {a for a, b in edges if b == task} == reads
        assert all(kinds[f] == "file" for f in reads)
        # ... and writes one result and the tracked baselines (task -> file).
        baselines = f".idse/projects/{PROJECT}/sessions/{session}/metadata/baselines.json"
        assert {b for a, b in edges if a == task} >= {result, baselines}
        assert kinds[result] == "file" and labels[result] == "result" and labels[task] == "validate"
        # meta.md reads every session's result by content.
        assert (result, "meta") in edges and (task, "meta") in edges
    # No result file per document.
    assert not any(i.startswith(f"{RESULTS}/{s}/") for i in kinds for s in (BLUEPRINT, FEAT))
    assert (f"validate:{FEAT}", "state") in edges and (result_rel(FEAT), "state") in edges
    assert ("compile:" + FEAT, f".idse/projects/{PROJECT}/build/agents/{FEAT}.profile.yaml") in edges
    assert ("state", f".idse/projects/{PROJECT}/session_state.json") in edges
    assert ("meta", f".idse/projects/{PROJECT}/meta.md") in edges
    assert ("registry", f"{RESULTS}/_project.json") in edges
    bp_spec = doc_rel(BLUEPRINT, "spec")
    assert (bp_spec, f"compile:{FEAT}") in edges and (bp_spec, f"validate:{FEAT}") in edges


def test_the_default_graph_is_the_readable_one(two, cli):
    model = graph_json(cli)
    detail = graph_json(cli, "--detail")
    nodes = {n["id"]: n for n in model["nodes"]}
    edges = {(e["from"], e["to"]) for e in model["edges"]}
    # Same tasks; no cache file.
    assert {i for i, n in nodes.items() if n["kind"] == "task"} == {
        n["id"] for n in detail["nodes"] if n["kind"] == "task"
    }
    assert not any(i.startswith(".idse/.cache/") for i in nodes)
    # Short labels, and each node knows its session (None: project-wide).
    assert nodes[f"validate:{FEAT}"]["label"] == "validate"
    assert nodes[f"validate:{FEAT}"]["session"] == FEAT
    assert nodes[doc_rel(FEAT, "spec")]["label"] == "specs/spec.md"
    assert nodes[doc_rel(FEAT, "spec")]["session"] == FEAT
    assert nodes["state"]["session"] is None
    assert nodes[".idse/projects/demo/meta.md"]["label"] == "meta.md"
    assert all(len(n["label"]) <= 40 for n in model["nodes"])
    for session in (BLUEPRINT, FEAT):
        task = f"validate:{session}"
        metadata = f"{SESSIONS}/{session}/metadata/session.json"
        docs = {doc_rel(session, stage) for stage in STAGE_NAMES}
        # A session's documents and metadata feed its validation; nothing of another session does.
        assert {a for a, b in edges if b == task} == docs | {metadata}
        # Implied by the path through the session's validation (which runs first): not drawn twice.
        assert {b for a, b in edges if a == metadata} == {task}, "the metadata feeds the validation, once"
        assert not any(a in docs and b in ("meta", "state") for a, b in edges)
        assert (task, "meta") in edges
    assert (f"validate:{FEAT}", "state") in edges and (f"validate:{BLUEPRINT}", "state") not in edges
    # The blueprint's spec fans out to every feature's Agent Profile: drawn once, with a note.
    bp_spec = doc_rel(BLUEPRINT, "spec")
    assert (bp_spec, f"compile:{FEAT}") not in edges and (bp_spec, f"validate:{FEAT}") not in edges
    fan = [n for n in model["nodes"] if n["kind"] == "note"]
    assert [n["label"] for n in fan] == ["Agent Profile defaults of 1 session"]
    assert [e for e in model["edges"] if e["to"] == fan[0]["id"]] == [{"from": bp_spec, "to": fan[0]["id"]}]
    # Every edge left out of the detail graph is a cache file's, the blueprint's fan-out, or one
    # implied by a path through a task that reads the file and runs before: nothing else is lost.
    full = {(e["from"], e["to"]) for e in detail["edges"]}
    assert edges - full == {(bp_spec, fan[0]["id"])}
    left_out = full - edges
    implied = {(a, b) for a, b in left_out if any((a, t) in full and (t, b) in full for t in nodes)}
    fanned = {(a, b) for a, b in left_out if a == bp_spec and b.endswith(f":{FEAT}")}
    cache = {(a, b) for a, b in left_out if ".idse/.cache/" in a + b}
    assert fanned == {(bp_spec, f"compile:{FEAT}"), (bp_spec, f"validate:{FEAT}")}
    assert left_out == implied | fanned | cache
    assert (f"{SESSIONS}/{FEAT}/metadata/session.json", "meta") in implied  # through validate:feat
    assert (f".idse/projects/{PROJECT}/agent_registry.json", "state") in implied  # through registry
    assert len(model["edges"]) < len(detail["edges"])


# ----------------------------------------------------------------------------------------------- DOT


@pytest.mark.parametrize("detail", [[], ["--detail"]], ids=["default", "detail"])
def test_dot_output_parses_and_matches_the_json_graph(two, cli, detail):
    text = graph(cli, "--format", "dot", *detail)
    nodes, edges = check_dot(text)
    model = graph_json(cli, *detail)
    assert nodes == {n["id"] for n in model["nodes"]}
    assert sorted(edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    assert text.count("subgraph cluster_") == 2, "one cluster per session"
    assert 'label="validate"' in text
    assert ('label="result"' in text) == bool(detail), "result files are drawn with --detail only"
    with_status = graph(cli, "--format", "dot", "--status", *detail)
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

    labels, m_edges, classes = Mermaid(render("mermaid", model)).by_id(model)
    assert labels[nasty_file] == nasty_file and labels['check"it:<x&y>'] == 'check"it <x&y>'
    assert sorted(m_edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    assert classes['check"it:<x&y>'] == "failed"
    assert classes[nasty_file] == "file"


# ------------------------------------------------------------------------------------------- Mermaid


def test_mermaid_is_the_default_and_matches_the_json_graph(two, cli):
    text = graph(cli)
    assert text == graph(cli, "--format", "mermaid")
    chart = Mermaid(text)
    model = graph_json(cli)
    labels, edges, classes = chart.by_id(model)
    assert labels == {n["id"]: n["label"] for n in model["nodes"]}
    assert sorted(edges) == sorted((e["from"], e["to"]) for e in model["edges"])
    assert set(classes.values()) == {"file", "note"}, "tasks carry no status class without --status"
    assert sorted(chart.clusters.values()) == [BLUEPRINT, FEAT]
    in_feat = {k for k, (_, _, c) in chart.nodes.items() if c and chart.clusters[c] == FEAT}
    ids = {f"n{i}": n["id"] for i, n in enumerate(model["nodes"])}
    assert {ids[k] for k in in_feat} == {n["id"] for n in model["nodes"] if n["session"] == FEAT}


def _many_sessions(two, count: int) -> list[dict]:
    """The task dicts of ``count`` feature sessions shaped like `feat` (built from its real tasks)."""
    from idse_orchestrator.engine.queries import task_list

    ws = two
    tasks = task_list(ws, ws.project(PROJECT), None)
    feat = [t for t in tasks if t.get("owner") == FEAT]
    others = [t for t in tasks if t.get("owner") != FEAT]
    out = list(others)
    for i in range(count):
        sid = f"s{i:04d}"
        for t in feat:
            text = json.dumps({k: v for k, v in t.items() if k != "actions"})
            text = text.replace(f"/{FEAT}/", f"/{sid}/").replace(f":{FEAT}", f":{sid}")
            text = text.replace(f'"{FEAT}"', f'"{sid}"').replace(f"{FEAT}.profile", f"{sid}.profile")
            text = text.replace(f"/{FEAT}.json", f"/{sid}.json")  # its result file
            out.append(json.loads(text))
    return out


def test_fifteen_sessions_fit_mermaid_without_collapsing(two):
    from idse_orchestrator.engine.graph import graph_model, render

    model = graph_model(_many_sessions(two, 15), None, detail=False)
    text = render("mermaid", model)
    chart = Mermaid(text)
    assert not chart.comments and len(chart.edges) == len(model["edges"]) <= 500 and len(text) <= 50_000
    assert len(chart.clusters) == 17


@pytest.mark.parametrize("count", [50, 1000])
def test_mermaid_stays_within_its_limits_by_collapsing_sessions(two, count):
    from idse_orchestrator.engine.graph import graph_model, render

    model = graph_model(_many_sessions(two, count), None, detail=False)
    assert len(model["edges"]) > 500
    text = render("mermaid", model)
    chart = Mermaid(text)
    assert len(chart.edges) <= 500 and len(text) <= 50_000
    assert chart.comments and "collapsed" in chart.comments[0] and "--format dot" in chart.comments[0]
    collapsed = [label for label, _, _ in chart.nodes.values() if "collapsed" in label]
    assert collapsed, "sessions are collapsed into one node each"
    assert any("idse graph --session s0" in label for label in collapsed), collapsed[:3]
    if count == 1000:
        assert any(label.startswith("more than") or "more sessions" in label for label in collapsed)
    # DOT gets the whole graph, every session drawn.
    nodes, edges = parse_dot(render("dot", model))
    assert len(edges) == len(model["edges"]) and f"validate:s{count - 1:04d}" in nodes


def test_a_small_graph_is_not_collapsed(two, cli):
    assert not Mermaid(graph(cli)).comments


# -------------------------------------------------------------------------------------------- status


def test_status_marks_up_to_date_stale_and_failed(two, cli, tmp_path):
    statuses = task_statuses(cli)
    assert set(statuses.values()) == {"up-to-date"}

    spec = tmp_path / doc_rel(FEAT, "spec")
    spec.write_text(spec.read_text() + "\nEdited.\n")
    statuses = task_statuses(cli)
    # What reads feat's spec is stale, and so is what reads feat's result (it may change); the
    # blueprint's tasks and the registry check are not.
    stale = {name for name, status in statuses.items() if status == "stale"}
    assert stale == {f"validate:{FEAT}", f"compile:{FEAT}", "state", "meta"}
    assert statuses[f"validate:{BLUEPRINT}"] == statuses[f"compile:{BLUEPRINT}"] == "up-to-date"
    assert statuses["registry"] == "up-to-date"

    def mermaid_classes() -> dict[str, str]:
        return Mermaid(graph(cli, "--status")).by_id(graph_json(cli, "--status"))[2]

    classes = mermaid_classes()
    assert classes[f"validate:{FEAT}"] == "stale"
    assert classes[f"validate:{BLUEPRINT}"] == "up_to_date"

    # A task that cannot write its result fails, and the graph says so until it succeeds.
    target = tmp_path / result_rel(FEAT)
    target.unlink()
    target.mkdir()
    assert cli("build").exit_code == 1
    statuses = task_statuses(cli)
    assert statuses[f"validate:{FEAT}"] == "failed"
    assert statuses[f"validate:{BLUEPRINT}"] == "up-to-date"
    assert mermaid_classes()[f"validate:{FEAT}"] == "failed"
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
    assert tasks == {f"validate:{BLUEPRINT}", f"compile:{BLUEPRINT}", "registry"}
    assert not any(f"/{FEAT}/" in i or i.endswith(f":{FEAT}") for i in ids)

    feat = graph_json(cli, "-s", FEAT, "--status", "--detail")
    feat_tasks = {n["id"] for n in feat["nodes"] if n["kind"] == "task"}
    # A graph (or build) of some sessions leaves the project-wide session_state.json alone.
    assert "state" not in feat_tasks and "meta" not in feat_tasks and f"validate:{FEAT}" in feat_tasks
    # The only blueprint node is its spec: feat's Agent Profile takes the blueprint's as defaults.
    blueprint_spec = f".idse/projects/demo/sessions/{BLUEPRINT}/specs/spec.md"
    assert [n["id"] for n in feat["nodes"] if BLUEPRINT in n["id"]] == [blueprint_spec]
    readable = graph_json(cli, "-s", FEAT)
    assert {(e["from"], e["to"]) for e in readable["edges"] if e["from"] == blueprint_spec} == {
        (blueprint_spec, "blueprint-spec-defaults")
    }

    for detail in ([], ["--detail"]):
        both, full = graph_json(cli, "-s", FEAT, "-s", BLUEPRINT, *detail), graph_json(cli, *detail)
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


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_svg_and_png_are_rendered_by_graphviz(two, cli, tmp_path):
    svg = tmp_path / "g.svg"
    assert cli("graph", "--format", "svg", "-o", str(svg)).exit_code == 0
    text = svg.read_text()
    assert "<svg" in text and ">validate</text>" in text and "cluster" in text
    png = tmp_path / "g.png"
    assert cli("graph", "--format", "png", "-o", str(png), "--status").exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # To stdout as well (an SVG is text).
    result = cli("graph", "--format", "svg", "-s", FEAT)
    assert result.exit_code == 0 and "<svg" in result.stdout


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_svg_and_png_without_graphviz_are_a_clear_usage_error(two, cli, tmp_path, monkeypatch, fmt):
    empty = tmp_path / "no-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a real PATH without Graphviz
    out = tmp_path / f"g.{fmt}"
    result = cli("graph", "--format", fmt, "-o", str(out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Graphviz 'dot'" in lines[0] and "--format dot" in lines[0]
    assert result.stdout == "" and not out.exists()


def test_graph_runs_nothing(two, cli, tmp_path, snapshot):
    spec = tmp_path / doc_rel(FEAT, "spec")
    spec.write_text(spec.read_text() + "\nEdited.\n")
    before = snapshot(tmp_path)
    for fmt in ("json", "dot", "mermaid"):
        graph(cli, "--format", fmt, "--status")
        graph(cli, "--format", fmt, "--detail")
    assert snapshot(tmp_path) == before

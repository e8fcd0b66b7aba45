"""`meta.md`: the project rollup the build writes (sessions, status matrix, lineage, stale stages,
findings), deterministic, rewritten only when an input changed, and never over a person's own text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from idse_orchestrator.stages import BY_NAME, STAGE_NAMES

PROJECT = "demo"
BLUEPRINT = "__blueprint__"
PROJ = f".idse/projects/{PROJECT}"
META = f"{PROJ}/meta.md"
BEGIN = "<!-- idse:begin"
END = "<!-- idse:end -->"


def doc(root: Path, session: str, stage: str) -> Path:
    return root / PROJ / "sessions" / session / BY_NAME[stage].relpath


def build(cli, *args: str) -> dict:
    result = cli("build", "--json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


def ran(report: dict) -> set[str]:
    return {t["name"] for t in report["tasks"] if t["status"] == "ran"}


def fill(path: Path) -> None:
    path.write_text(path.read_text("utf-8").replace("[REQUIRES INPUT]", "Answered."), "utf-8")


def table(text: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table under ``## heading`` (header row first, separator dropped)."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    assert all(set(c) <= set("- ") for c in cells[1]), "a Markdown table has a separator row"
    assert len({len(c) for c in cells}) == 1, "every row has as many cells as the header"
    return [cells[0], *cells[2:]]


@pytest.fixture
def project(ws, cli, tmp_path):
    """The blueprint filled in, `feat` spawned from it with spec..feedback filled, `child` spawned from
    feat, and feat's spec edited after a build so its later stages are stale; a broken plan in child."""
    for stage in STAGE_NAMES:
        fill(doc(tmp_path, BLUEPRINT, stage))
    assert cli("spawn", "feat").exit_code == 0
    for stage in STAGE_NAMES:
        fill(doc(tmp_path, "feat", stage))
    assert cli("spawn", "child", "--from", "feat").exit_code == 0
    build(cli)
    spec = doc(tmp_path, "feat", "spec")
    spec.write_text(spec.read_text() + "\nA late change.\n")
    tasks = doc(tmp_path, "child", "tasks")
    tasks.write_text(tasks.read_text().replace("- [ ] [REQUIRES INPUT] Task 1", "- Task 1"))
    return tmp_path


def test_the_build_writes_the_rollup(project, cli):
    report = build(cli)
    assert "meta" in ran(report)
    text = (project / META).read_text("utf-8")
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)

    sessions = table(text, "Sessions")
    assert sessions[0] == ["session", "type", "status", "parent", "owner", "stages complete", "findings"]
    rows = {r[0].split()[0].strip("`"): r for r in sessions[1:]}
    assert list(rows) == [BLUEPRINT, "feat", "child"], "lineage order: parents before children"
    assert rows[BLUEPRINT][1:4] == ["blueprint", "draft", "—"]
    assert rows["child"][1:4] == ["feature", "draft", "`feat`"]
    assert "(current)" in sessions[3][0]  # spawn makes the new session current
    assert rows[BLUEPRINT][5] == "7/7"
    assert "1 error" in rows["child"][6]

    matrix = table(text, "Status matrix")
    assert [h.split("<br>")[0] for h in matrix[0]] == ["session", *STAGE_NAMES]
    assert all("<br>" in h for h in matrix[0][1:]), "each stage names the agent it is routed to"
    feat = next(r for r in matrix[1:] if r[0] == "`feat`")
    assert [c.split()[-1] for c in feat[1:]] == ["complete"] * 3 + ["stale"] * 4

    lineage = text.split("## Lineage\n", 1)[1].split("\n## ", 1)[0]
    assert "\n- `__blueprint__` (blueprint, draft)\n  - `feat` (feature, draft)\n    - `child`" in lineage

    stale = text.split("## Stale stages\n", 1)[1].split("\n## ", 1)[0]
    assert "- `feat` / plan: spec changed since plan was last accepted" in stale

    findings = text.split("## Findings\n", 1)[1]
    child = findings.split("### `child`", 1)[1].split("###", 1)[0]
    assert "**error** IDSE-T001 [tasks.md:" in child
    # The link is relative to meta.md and points at the line.
    link = re.search(r"\]\((sessions/child/tasks/tasks\.md)#L(\d+)\)", child)
    assert link is not None
    lines = (project / PROJ / link.group(1)).read_text().splitlines()
    assert lines[int(link.group(2)) - 1].startswith("- Task 1")


def test_rewritten_only_when_an_input_changed(project, cli):
    build(cli)
    meta = project / META
    before = meta.read_bytes()
    mtime = meta.stat().st_mtime_ns
    assert "meta" not in ran(build(cli))

    # An edit that changes no result (same findings, same statuses) leaves it alone.
    feedback = doc(project, BLUEPRINT, "feedback")
    feedback.write_text(feedback.read_text() + "\nMore words.\n")
    report = build(cli)
    assert f"validate:{BLUEPRINT}" in ran(report)
    assert meta.read_bytes() == before and meta.stat().st_mtime_ns == mtime

    # The session's own status is an input (its metadata).
    assert cli("session", "set-status", "child", "review").exit_code == 0
    assert "meta" in ran(build(cli))
    assert "| `child` (current) | feature | review |" in meta.read_text()

    # A session appearing or disappearing changes the rollup.
    assert cli("session", "create", "other").exit_code == 0
    build(cli)
    assert "`other`" in meta.read_text()
    import shutil

    shutil.rmtree(project / PROJ / "sessions" / "other")
    (project / PROJ / "CURRENT_SESSION").write_text("feat\n")
    assert "meta" in ran(build(cli))
    assert "`other`" not in meta.read_text()


def test_an_edit_that_changes_a_finding_reaches_the_rollup(project, cli):
    """The project-wide tasks are not even checked after an edit whose session results keep their
    bytes; one that changes a result brings them back (meta.md, session_state.json)."""
    import os
    import time

    # Files changed within the last two seconds are checked by content, whatever their stat says:
    # give the workspace the age a real one has between two edits.
    past = time.time() - 60
    for path in [project / ".idse", *(project / ".idse").rglob("*")]:
        if ".cache" not in path.parts:
            os.utime(path, (past, past))
    build(cli)
    summary = next((project / ".idse/.cache/results").rglob("sessions/child.json"))
    kept = summary.stat().st_mtime_ns
    tasks = doc(project, "child", "tasks")
    tasks.write_text(tasks.read_text() + "\nMore words.\n")
    report = build(cli)
    assert ran(report) == {"validate:child"}, "nothing else reads child's tasks.md or a changed result"
    assert summary.stat().st_mtime_ns == kept, "a result with the same bytes is not rewritten"

    tasks.write_text(tasks.read_text() + "\n- [REQUIRES INPUT] Task 9\n")
    report = build(cli)
    assert {"validate:child", "meta", "state"} <= ran(report)
    line = len(tasks.read_text().splitlines())
    findings = (project / META).read_text().split("### `child`", 1)[1].split("###", 1)[0]
    assert f"tasks/tasks.md#L{line})" in findings


def test_the_same_inputs_give_the_same_bytes(project, cli, tmp_path_factory):
    import shutil

    build(cli)
    copy = tmp_path_factory.mktemp("copy")
    shutil.copytree(project / ".idse", copy / ".idse", ignore=shutil.ignore_patterns(".cache", "meta.md"))
    from idse_orchestrator.engine.build import build as core_build
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(copy)
    core_build(ws, ws.project(PROJECT))
    assert (copy / META).read_bytes() == (project / META).read_bytes()
    assert not re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d", (copy / META).read_text()), "no timestamps"


def test_a_hand_written_meta_md_is_kept_and_gets_a_block(ws, cli, tmp_path):
    meta = tmp_path / META
    mine = "# Our project\n\nNotes kept by hand | with a pipe.\n"
    meta.write_text(mine)
    build(cli)
    text = meta.read_text()
    assert text.startswith(mine), "the person's text stays, untouched, above the block"
    assert text.count(BEGIN) == 1 and text.rstrip().endswith(END)

    # Text added outside the block is the person's: no rerun, nothing rewritten.
    meta.write_text(text + "\nA footer.\n")
    assert "meta" not in ran(build(cli))
    assert meta.read_text().endswith("\nA footer.\n")

    # An edit inside the block is repaired in place; the rest stays.
    meta.write_text(meta.read_text().replace("## Lineage", "## Edited by hand"))
    assert "meta" in ran(build(cli))
    repaired = meta.read_text()
    assert "## Lineage" in repaired and "## Edited by hand" not in repaired
    assert repaired.startswith(mine) and repaired.endswith("\nA footer.\n")


def test_two_blocks_are_refused_not_guessed(ws, cli, tmp_path):
    meta = tmp_path / META
    build(cli)
    block = meta.read_text()
    doubled = block.replace("## Lineage", "## Edited") + "\n" + block
    meta.write_text(doubled)
    result = cli("build")
    assert result.exit_code == 1
    assert "FAILED meta" in result.stderr and "a second '<!-- idse:begin' marker" in result.stderr
    assert meta.read_text() == doubled, "nothing is overwritten"


def test_a_damaged_binary_meta_md_is_rebuilt(ws, cli, tmp_path):
    build(cli)
    meta = tmp_path / META
    good = meta.read_bytes()
    meta.write_bytes(b"\x00garbage")
    assert "meta" in ran(build(cli))
    assert meta.read_bytes() == good


def test_a_partial_build_leaves_meta_md_alone(ws, cli, tmp_path):
    assert cli("session", "create", "feat").exit_code == 0
    report = build(cli, "feat")
    assert "meta" not in {t["name"] for t in report["tasks"]}
    assert not (tmp_path / META).exists()
    assert "meta" in ran(build(cli))


def test_a_template_override_is_an_input(ws, cli, tmp_path):
    build(cli)
    override = tmp_path / ".idse/templates/meta.md.j2"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("# {{ project }} has {{ sessions | length }} session(s)\n")
    assert "meta" in ran(build(cli))
    assert "# demo has 1 session(s)" in (tmp_path / META).read_text()
    override.unlink()
    assert "meta" in ran(build(cli))
    assert "## Status matrix" in (tmp_path / META).read_text()


def test_owner_and_awkward_text_stay_inside_their_cells(ws, cli, tmp_path):
    path = tmp_path / PROJ / "sessions" / BLUEPRINT / "metadata/session.json"
    data = json.loads(path.read_text())
    data["owner"] = "ana | ops <team>"
    path.write_text(json.dumps(data))
    build(cli)
    rows = table((tmp_path / META).read_text(), "Sessions")
    assert rows[1][4] == "ana \\| ops &lt;team&gt;"

"""Staleness: a complete stage goes `stale` when an upstream document changes, `idse status --why` says
which, and `idse accept` (or editing the stage itself) clears it."""

from __future__ import annotations

import json

import pytest

from idse_orchestrator.stages import BY_NAME

PROJECT = "demo"
BLUEPRINT = "__blueprint__"
MARKER = "[REQUIRES INPUT]"


def doc(tmp_path, stage: str, session: str = BLUEPRINT):
    return tmp_path / ".idse/projects" / PROJECT / "sessions" / session / BY_NAME[stage].relpath


def complete(tmp_path, stage: str, session: str = BLUEPRINT) -> None:
    path = doc(tmp_path, stage, session)
    path.write_text(path.read_text().replace(MARKER, f"Answered for {stage}."))


def append(tmp_path, stage: str, text: str, session: str = BLUEPRINT) -> None:
    path = doc(tmp_path, stage, session)
    path.write_text(path.read_text() + f"\n{text}\n")


def stages(cli, *args: str) -> dict[str, dict]:
    result = cli("status", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["stages"]


def statuses(cli, *args: str) -> dict[str, str]:
    return {name: s["status"] for name, s in stages(cli, *args).items()}


def build_ok(cli) -> None:
    result = cli("build")
    assert result.exit_code == 0, (result.stdout, result.stderr)


@pytest.fixture
def baseline(ws, cli, tmp_path):
    """intent and context complete, built once."""
    complete(tmp_path, "intent")
    complete(tmp_path, "context")
    build_ok(cli)
    assert statuses(cli)["intent"] == statuses(cli)["context"] == "complete"
    return ws


def test_editing_upstream_makes_the_complete_stage_stale(baseline, cli, tmp_path):
    append(tmp_path, "intent", "A new constraint appeared.")
    st = stages(cli)
    assert st["intent"]["status"] == "complete"
    assert st["context"]["status"] == "stale"
    assert any("intent" in line for line in st["context"]["why"])
    assert st["spec"]["status"] == "pending"
    assert not st["intent"].get("why")

    text = cli("status", "--why")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["context", "stale"])
    assert "intent" in lines[at + 1] and "changed" in lines[at + 1]
    without = cli("status").stdout
    assert "stale" in without and "changed since" not in without

    # Staleness is not forgotten by rebuilding or asking again.
    build_ok(cli)
    build_ok(cli)
    assert statuses(cli)["context"] == "stale"
    assert json.loads(cli("build", "--json").stdout)["summary"]["ran"] == 0


def test_accept_clears_stale(baseline, cli, tmp_path):
    append(tmp_path, "intent", "A new constraint appeared.")
    assert statuses(cli)["context"] == "stale"
    result = cli("accept", "context", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stage"] == "context" and data["session"] == BLUEPRINT
    assert set(data["accepted"]) == {"intent"}
    assert statuses(cli)["context"] == "complete"
    build_ok(cli)
    assert statuses(cli)["context"] == "complete"
    meta = json.loads((doc(tmp_path, "intent").parents[1] / "metadata/session.json").read_text())
    assert meta["accepted"]["context"] == data["accepted"]

    # The acceptance was for that version of intent: a further edit is stale again.
    append(tmp_path, "intent", "And another one.")
    assert statuses(cli)["context"] == "stale"
    assert cli("accept", "context").exit_code == 0
    assert statuses(cli)["context"] == "complete"


def test_editing_the_stage_itself_rebaselines_it(baseline, cli, tmp_path):
    append(tmp_path, "intent", "A new constraint appeared.")
    assert statuses(cli)["context"] == "stale"
    append(tmp_path, "context", "Reviewed against the new intent.")
    st = stages(cli)
    assert st["context"]["status"] == "complete"
    assert not st["context"].get("why")
    build_ok(cli)
    assert statuses(cli)["context"] == "complete"


def test_reverting_the_upstream_edit_clears_stale(baseline, cli, tmp_path):
    path = doc(tmp_path, "intent")
    original = path.read_text()
    path.write_text(original + "\nA passing thought.\n")
    assert statuses(cli)["context"] == "stale"
    path.write_text(original)
    assert statuses(cli)["context"] == "complete"


def test_staleness_reaches_every_complete_downstream_stage(baseline, cli, tmp_path):
    complete(tmp_path, "spec")
    assert statuses(cli)["spec"] == "complete"
    append(tmp_path, "context", "A new risk.")
    st = stages(cli)
    assert st["context"]["status"] == "complete", "context's own edit re-baselines it"
    assert st["spec"]["status"] == "stale"
    assert any("context" in line for line in st["spec"]["why"])
    assert not any("intent" in line for line in st["spec"]["why"])
    assert st["plan"]["status"] == "pending"


def test_staleness_is_per_session(baseline, cli, tmp_path):
    assert cli("session", "create", "other").exit_code == 0
    complete(tmp_path, "intent", "other")
    complete(tmp_path, "context", "other")
    build_ok(cli)
    append(tmp_path, "intent", "Only the blueprint changes.")
    assert statuses(cli, "--session", BLUEPRINT)["context"] == "stale"
    assert statuses(cli, "--session", "other")["context"] == "complete"


@pytest.mark.parametrize("stage", ["spec", "intent"])
def test_accept_is_refused_unless_complete_or_stale(baseline, cli, tmp_path, stage):
    if stage == "intent":  # make intent in progress again
        append(tmp_path, "intent", f"{MARKER} a new open question")
    before = doc(tmp_path, "intent").parents[1].joinpath("metadata/session.json").read_bytes()
    result = cli("accept", stage)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idse: error: ")
    assert stage in lines[0]
    assert doc(tmp_path, "intent").parents[1].joinpath("metadata/session.json").read_bytes() == before


def test_accept_a_complete_stage_is_allowed_and_unknown_stage_is_rejected(baseline, cli):
    result = cli("accept", "context")
    assert result.exit_code == 0
    assert "intent" in result.stdout
    assert statuses(cli)["context"] == "complete"
    assert cli("accept", "nosuchstage").exit_code == 2

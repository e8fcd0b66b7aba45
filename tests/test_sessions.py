"""Sessions: create, switch, list, inspect, spawn with lineage, id safety, template overrides, lifecycle."""

from __future__ import annotations

import json

import pytest
from helpers import assert_one_line_error

from idse_orchestrator import sessions as core
from idse_orchestrator.errors import AlreadyExists, BadFile, InvalidName, NotFound, Refused
from idse_orchestrator.stages import STAGES

BLUEPRINT = "__blueprint__"
MARKER = "[REQUIRES INPUT]"


def sessions_json(cli) -> list[dict]:
    result = cli("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["sessions"]


def info_json(cli, session: str) -> dict:
    result = cli("session-info", session, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def current(ws) -> str:
    return (ws.projects_dir / "demo" / "CURRENT_SESSION").read_text().strip()


def session_dir(ws, session: str):
    return ws.projects_dir / "demo" / "sessions" / session


def metadata(ws, session: str) -> dict:
    return json.loads((session_dir(ws, session) / "metadata/session.json").read_text())


def complete_all(ws, session: str) -> None:
    for stage in STAGES:
        path = session_dir(ws, session) / stage.relpath
        path.write_text(path.read_text().replace(MARKER, f"Written for {stage.name}."))


# -------------------------------------------------------------------------------------------- create


def test_create_makes_a_feature_session_that_becomes_current(ws, cli):
    state_path = ws.projects_dir / "demo/session_state.json"
    assert cli("build").exit_code == 0
    state_before = state_path.read_bytes()
    result = cli("session", "create", "checkout")
    assert result.exit_code == 0, result.stderr
    d = session_dir(ws, "checkout")
    for stage in STAGES:
        text = (d / stage.relpath).read_text()
        assert "checkout" in text.splitlines()[0], stage.name
        assert MARKER in text
    meta = metadata(ws, "checkout")
    assert meta["id"] == "checkout"
    assert meta["project"] == "demo"
    assert meta["type"] == "feature"
    assert meta["parent"] == BLUEPRINT
    assert meta["stack"] == "python", "the blueprint's stack is inherited"

    assert current(ws) == "checkout"
    status = json.loads(cli("status", "--json").stdout)
    assert status["session"] == "checkout"
    assert {s["status"] for s in status["stages"].values()} == {"pending"}
    # session_state.json is the build's: create and status leave it; the next build follows the switch.
    assert state_path.read_bytes() == state_before
    assert json.loads(state_before)["session"] == BLUEPRINT
    assert cli("build").exit_code == 0
    assert json.loads(state_path.read_text())["session"] == "checkout"


def test_create_an_existing_session_is_refused(ws, cli, tmp_path, snapshot):
    assert cli("session", "create", "checkout").exit_code == 0
    (session_dir(ws, "checkout") / "intents/intent.md").write_text("mine\n")
    assert cli("session", "switch", BLUEPRINT).exit_code == 0
    before = snapshot(tmp_path)
    line = assert_one_line_error(cli("session", "create", "checkout"))
    assert "checkout" in line
    assert snapshot(tmp_path) == before


def test_blueprint_cannot_be_created_again(ws, cli, tmp_path, snapshot):
    before = snapshot(tmp_path)
    assert_one_line_error(cli("session", "create", BLUEPRINT))
    assert_one_line_error(cli("spawn", BLUEPRINT))
    assert snapshot(tmp_path) == before


def test_longest_allowed_id_works(ws, cli):
    sid = "a" * 64
    assert cli("session", "create", sid).exit_code == 0
    assert session_dir(ws, sid).is_dir()


# -------------------------------------------------------------------------------------------- switch


def test_switch_changes_the_current_session(ws, cli):
    assert cli("session", "create", "one").exit_code == 0
    assert cli("session", "create", "two").exit_code == 0
    assert current(ws) == "two"
    result = cli("session", "switch", "one")
    assert result.exit_code == 0, result.stderr
    assert current(ws) == "one"
    assert json.loads(cli("status", "--json").stdout)["session"] == "one"
    assert [s["id"] for s in sessions_json(cli) if s["current"]] == ["one"]
    assert cli("session", "switch", BLUEPRINT).exit_code == 0
    assert current(ws) == BLUEPRINT


def test_switch_to_an_unknown_session_changes_nothing(ws, cli, tmp_path, snapshot):
    before = snapshot(tmp_path)
    line = assert_one_line_error(cli("session", "switch", "ghost"))
    assert "ghost" in line
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------ list and inspect


def test_sessions_json_lists_every_session(ws, cli):
    assert cli("session", "create", "zeta").exit_code == 0
    assert cli("spawn", "alpha").exit_code == 0
    rows = sessions_json(cli)
    assert [r["id"] for r in rows] == [BLUEPRINT, "alpha", "zeta"]
    for row in rows:
        assert {"id", "type", "status", "parent", "current"} <= set(row)
        assert row["status"] == "draft"
    by_id = {r["id"]: r for r in rows}
    assert by_id[BLUEPRINT]["type"] == "blueprint" and by_id[BLUEPRINT]["parent"] is None
    assert by_id["zeta"]["type"] == "feature" and by_id["zeta"]["parent"] == BLUEPRINT
    assert [r["id"] for r in rows if r["current"]] == ["alpha"]


def test_sessions_text_marks_the_current_one(ws, cli):
    assert cli("session", "create", "feat").exit_code == 0
    out = cli("sessions").stdout.splitlines()
    marked = [line for line in out if line.startswith("*")]
    assert len(marked) == 1 and "feat" in marked[0]


def test_session_info_shows_lineage(ws, cli):
    assert cli("spawn", "a").exit_code == 0
    assert cli("spawn", "b", "--from", "a").exit_code == 0
    assert cli("session", "create", "c").exit_code == 0

    b = info_json(cli, "b")
    assert b["parent"] == "a"
    assert b["ancestors"] == ["a", BLUEPRINT]
    assert b["children"] == []
    a = info_json(cli, "a")
    assert a["parent"] == BLUEPRINT
    assert a["children"] == ["b"]
    root = info_json(cli, BLUEPRINT)
    assert root["parent"] is None
    assert sorted(root["children"]) == ["a", "c"]
    assert root["current"] is False and info_json(cli, "c")["current"] is True

    text = cli("session-info", "b").stdout
    assert "a, __blueprint__" in text


def test_session_info_of_an_unknown_session(ws, cli):
    assert "ghost" in assert_one_line_error(cli("session-info", "ghost"))


# --------------------------------------------------------------------------------------------- spawn


def test_spawn_copies_intent_and_context_from_the_blueprint(ws, cli):
    bp = session_dir(ws, BLUEPRINT)
    intent = "# Intent\r\n\r\nA goal in our words — café.\r\n\r\n[REQUIRES INPUT] still open\r\n".encode()
    (bp / "intents/intent.md").write_bytes(intent)
    context = (bp / "contexts/context.md").read_bytes().replace(b"Current state", b"The known state")
    (bp / "contexts/context.md").write_bytes(context)

    result = cli("spawn", "feat")
    assert result.exit_code == 0, result.stderr
    child = session_dir(ws, "feat")
    # Copied byte for byte, except a first heading naming the parent, which names the new session.
    assert (child / "intents/intent.md").read_bytes() == intent
    assert context.startswith(b"# Context: __blueprint__\n")
    retitled = b"# Context: feat\n" + context[len(b"# Context: __blueprint__\n") :]
    assert (child / "contexts/context.md").read_bytes() == retitled
    for stage in STAGES[2:]:
        assert "feat" in (child / stage.relpath).read_text().splitlines()[0], stage.name

    meta = metadata(ws, "feat")
    assert meta["parent"] == BLUEPRINT
    assert meta["type"] == "feature"
    assert meta["spawned_from"]["session"] == BLUEPRINT
    assert sorted(meta["spawned_from"]["stages"]) == ["context", "intent"]
    assert current(ws) == "feat"


def test_spawn_from_another_session(ws, cli):
    assert cli("spawn", "parent").exit_code == 0
    d = session_dir(ws, "parent")
    (d / "intents/intent.md").write_text("# Intent: parent\n\nRefined goal.\n")
    (d / "contexts/context.md").write_text("# Context: parent\n\nRefined context.\n")
    assert cli("session", "switch", BLUEPRINT).exit_code == 0

    result = cli("spawn", "child", "--from", "parent")
    assert result.exit_code == 0, result.stderr
    child = session_dir(ws, "child")
    assert (child / "intents/intent.md").read_text() == "# Intent: child\n\nRefined goal.\n"
    assert (child / "contexts/context.md").read_text() == "# Context: child\n\nRefined context.\n"
    assert metadata(ws, "child")["parent"] == "parent"
    assert metadata(ws, "child")["spawned_from"]["session"] == "parent"
    assert current(ws) == "child"
    # Filled copies are complete in the child; the rest starts pending.
    stages = json.loads(cli("status", "--json").stdout)["stages"]
    assert stages["intent"]["status"] == "complete"
    assert stages["context"]["status"] == "complete"
    assert stages["spec"]["status"] == "pending"


def test_spawn_from_an_untouched_blueprint_is_pending(ws, cli):
    assert cli("spawn", "feat").exit_code == 0
    stages = json.loads(cli("status", "--json").stdout)["stages"]
    assert {name: s["status"] for name, s in stages.items()} == {s.name: "pending" for s in STAGES}


def test_spawn_keeps_in_progress_parent_documents_in_progress(ws, cli):
    intent = session_dir(ws, BLUEPRINT) / "intents/intent.md"
    intent.write_text(intent.read_text().replace("What outcome", "Which outcome", 1))
    assert cli("spawn", "feat").exit_code == 0
    stages = json.loads(cli("status", "--json").stdout)["stages"]
    assert stages["intent"]["status"] == "in_progress"
    assert stages["context"]["status"] == "pending"


def test_spawn_from_an_unknown_parent_creates_nothing(ws, cli, tmp_path, snapshot):
    before = snapshot(tmp_path)
    line = assert_one_line_error(cli("spawn", "feat", "--from", "ghost"))
    assert "ghost" in line
    assert snapshot(tmp_path) == before


def test_spawn_over_an_existing_session_is_refused(ws, cli, tmp_path, snapshot):
    assert cli("spawn", "feat").exit_code == 0
    before = snapshot(tmp_path)
    assert_one_line_error(cli("spawn", "feat"))
    assert snapshot(tmp_path) == before


# -------------------------------------------------------------------------------------------- ids

BAD_IDS = ["../x", "a/b", "a\\b", "..", ".hidden", "", "x" * 65, "a b", "x..y", "café", "x\n", "tab\tx"]


def _bad_id_commands(bad: str) -> list[list[str]]:
    return [
        ["session", "create", bad],
        ["spawn", bad],
        ["spawn", bad, "--from", BLUEPRINT],
        ["session", "switch", bad],
        ["session-info", bad],
        ["session", "set-status", bad, "review"],
    ]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_unsafe_session_ids_are_rejected_and_nothing_is_created(ws, cli, tmp_path, snapshot, bad):
    before = snapshot(tmp_path)
    for args in _bad_id_commands(bad):
        assert_one_line_error(cli(*args))
        assert snapshot(tmp_path) == before, args


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_unsafe_parent_ids_are_rejected_and_nothing_is_created(ws, cli, tmp_path, snapshot, bad):
    before = snapshot(tmp_path)
    assert_one_line_error(cli("spawn", "ok", "--from", bad))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_core_functions_validate_ids_before_touching_disk(ws, tmp_path, snapshot, bad):
    project = ws.project("demo")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidName):
        core.create_session(ws, project, bad)
    with pytest.raises(InvalidName):
        core.spawn_session(ws, project, bad)
    with pytest.raises(InvalidName):
        core.switch_session(ws, project, bad)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------ template overrides

OVERRIDE = (
    "# Our intent for {{ session }} in {{ project }} ({{ stack }})\n\n## Goal\n\n[REQUIRES INPUT] ours\n"
)


@pytest.mark.parametrize("where", ["templates/intent.md", "templates/pipeline/intent.md"])
def test_repo_template_override_is_used_for_new_sessions(ws, cli, where):
    blueprint_intent = (session_dir(ws, BLUEPRINT) / "intents/intent.md").read_bytes()
    override = ws.idse_dir / where
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(OVERRIDE)

    assert cli("session", "create", "feat").exit_code == 0
    text = (session_dir(ws, "feat") / "intents/intent.md").read_text()
    assert text == "# Our intent for feat in demo (python)\n\n## Goal\n\n[REQUIRES INPUT] ours\n"
    # Other stages still come from the shipped templates; existing documents are untouched.
    assert "Our intent" not in (session_dir(ws, "feat") / "contexts/context.md").read_text()
    assert (session_dir(ws, BLUEPRINT) / "intents/intent.md").read_bytes() == blueprint_intent
    # A fresh document from an override is still "pending".
    assert json.loads(cli("status", "--json").stdout)["stages"]["intent"]["status"] == "pending"

    assert cli("init", "other").exit_code == 0
    other = ws.projects_dir / "other/sessions" / BLUEPRINT / "intents/intent.md"
    assert other.read_text().startswith("# Our intent for __blueprint__ in other ()")


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_undefined_variable_in_an_override_is_a_clean_error(ws, cli, tmp_path, snapshot, stage):
    (ws.templates_dir).mkdir(parents=True, exist_ok=True)
    (ws.templates_dir / stage.template).write_text("# {{ session }}\n\n{{ nope }}\n")
    before = snapshot(tmp_path)
    line = assert_one_line_error(cli("session", "create", "feat"))
    assert "nope" in line and stage.template in line
    assert snapshot(tmp_path) == before
    assert not session_dir(ws, "feat").exists()


def test_undefined_variable_in_an_override_while_spawning_writes_nothing(ws, cli, tmp_path, snapshot):
    ws.templates_dir.mkdir(parents=True, exist_ok=True)
    (ws.templates_dir / "spec.md").write_text("{{ nope }}\n")
    before = snapshot(tmp_path)
    assert "nope" in assert_one_line_error(cli("spawn", "feat"))
    assert snapshot(tmp_path) == before


def test_undefined_variable_while_initialising_a_project_writes_nothing(ws, cli, tmp_path, snapshot):
    ws.templates_dir.mkdir(parents=True, exist_ok=True)
    (ws.templates_dir / "intent.md").write_text("{{ nope }}\n")
    before = snapshot(tmp_path)
    assert "nope" in assert_one_line_error(cli("init", "other"))
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------ lifecycle


def test_complete_is_refused_while_a_stage_is_open(ws, cli):
    meta_path = session_dir(ws, BLUEPRINT) / "metadata/session.json"
    before = meta_path.read_bytes()
    line = assert_one_line_error(cli("session", "set-status", BLUEPRINT, "complete"))
    assert "intent" in line
    assert meta_path.read_bytes() == before

    complete_all(ws, BLUEPRINT)
    intent = session_dir(ws, BLUEPRINT) / "intents/intent.md"
    intent.write_text(intent.read_text() + "\n[REQUIRES INPUT] one more\n")
    line = assert_one_line_error(cli("session", "set-status", BLUEPRINT, "complete"))
    assert "intent" in line and "spec" not in line
    assert meta_path.read_bytes() == before


def test_complete_is_allowed_when_every_stage_is_complete(ws, cli):
    complete_all(ws, BLUEPRINT)
    result = cli("session", "set-status", BLUEPRINT, "complete")
    assert result.exit_code == 0, result.stderr
    assert metadata(ws, BLUEPRINT)["status"] == "complete"
    assert sessions_json(cli)[0]["status"] == "complete"


def test_a_missing_document_blocks_complete(ws, cli):
    complete_all(ws, BLUEPRINT)
    (session_dir(ws, BLUEPRINT) / "feedback/feedback.md").unlink()
    line = assert_one_line_error(cli("session", "set-status", BLUEPRINT, "complete"))
    assert "feedback" in line and "missing" in line


@pytest.mark.parametrize("status", ["in_progress", "review", "archived", "draft"])
def test_other_statuses_are_recorded(ws, cli, status):
    assert cli("session", "create", "feat").exit_code == 0
    assert cli("session", "switch", BLUEPRINT).exit_code == 0
    result = cli("session", "set-status", "feat", status)
    assert result.exit_code == 0, result.stderr
    assert metadata(ws, "feat")["status"] == status
    assert {r["id"]: r["status"] for r in sessions_json(cli)}["feat"] == status
    assert info_json(cli, "feat")["status"] == status
    # The rest of the metadata survives the rewrite.
    assert metadata(ws, "feat")["parent"] == BLUEPRINT


def test_unknown_status_is_a_usage_error(ws, cli, tmp_path, snapshot):
    before = snapshot(tmp_path)
    assert_one_line_error(cli("session", "set-status", BLUEPRINT, "done"))
    assert_one_line_error(cli("session", "set-status", "ghost", "review"))
    assert snapshot(tmp_path) == before


def test_core_set_status_refuses_and_accepts(ws):
    project = ws.project("demo")
    with pytest.raises(Refused):
        core.set_session_status(ws, project, BLUEPRINT, "complete")
    with pytest.raises(NotFound):
        core.set_session_status(ws, project, BLUEPRINT, "finished")
    complete_all(ws, BLUEPRINT)
    assert core.set_session_status(ws, project, BLUEPRINT, "complete").status == "complete"


def test_core_create_twice_raises(ws):
    project = ws.project("demo")
    core.create_session(ws, project, "feat")
    with pytest.raises(AlreadyExists):
        core.create_session(ws, project, "feat")


# ------------------------------------------------------------------------------------ corrupt metadata

CORRUPT_METADATA = {
    "invalid-json": b"{ not json",
    "empty": b"",
    "a-list": b"[]\n",
    "missing-fields": b'{"id": "feat"}\n',
    "bad-status": b'{"id": "feat", "project": "demo", "status": "finished"}\n',
    "bad-type": b'{"id": "feat", "project": "demo", "type": "epic"}\n',
    "not-utf8": b'{"id": "feat\xff"}',
}


@pytest.mark.parametrize("content", CORRUPT_METADATA.values(), ids=CORRUPT_METADATA.keys())
def test_corrupt_session_metadata_is_a_clear_error(ws, cli, tmp_path, snapshot, content):
    assert cli("session", "create", "feat").exit_code == 0
    meta_path = session_dir(ws, "feat") / "metadata/session.json"
    meta_path.write_bytes(content)
    # Listing and status go on: the damaged file is that session's finding, shown, not fatal.
    listed = cli("sessions", "--json")
    assert listed.exit_code == 0
    rows = {row["id"]: row for row in json.loads(listed.stdout)["sessions"]}
    assert ".idse/projects/demo/sessions/feat/metadata/session.json" in rows["feat"]["problem"]
    assert "problem" not in rows[BLUEPRINT]
    status = cli("status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["validation_status"] == "failing"
    before = snapshot(tmp_path)
    for args in (
        ["session-info", "feat"],
        ["session", "set-status", "feat", "review"],
        ["spawn", "child", "--from", "feat"],
    ):
        line = assert_one_line_error(cli(*args))
        assert ".idse/projects/demo/sessions/feat/metadata/session.json" in line, (args, line)
        assert snapshot(tmp_path) == before, args


def test_core_metadata_raises_bad_file(ws):
    project = ws.project("demo")
    (session_dir(ws, BLUEPRINT) / "metadata/session.json").write_text("{}")
    with pytest.raises(BadFile) as info:
        project.metadata(BLUEPRINT)
    assert "metadata/session.json" in str(info.value)

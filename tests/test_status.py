"""Stage status derived from the documents, the `status` report, agent routing, and session_state.json
(derived, written only by a full `idse build`)."""

from __future__ import annotations

import json

import pytest
from helpers import assert_one_line_error

from idse_orchestrator.markdown import has_marker
from idse_orchestrator.stages import STAGE_NAMES, STAGES
from idse_orchestrator.status import project_status, session_stage_statuses

BLUEPRINT = "__blueprint__"
MARKER = "[REQUIRES INPUT]"


def status_json(cli, *args: str) -> dict:
    result = cli("status", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def stage_statuses(cli, *args: str) -> dict[str, str]:
    return {name: s["status"] for name, s in status_json(cli, *args)["stages"].items()}


def doc(ws, stage, session: str = BLUEPRINT):
    return ws.projects_dir / "demo" / "sessions" / session / stage.relpath


def registry_path(ws):
    return ws.projects_dir / "demo" / "agent_registry.json"


def state_path(ws):
    return ws.projects_dir / "demo" / "session_state.json"


# ------------------------------------------------------------------------------------------- stages


def test_fresh_session_is_pending(ws, cli):
    assert stage_statuses(cli) == dict.fromkeys(STAGE_NAMES, "pending")
    assert session_stage_statuses(ws, ws.project("demo"), BLUEPRINT) == dict.fromkeys(STAGE_NAMES, "pending")


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_stage_lifecycle_follows_the_document(ws, cli, stage):
    path = doc(ws, stage)
    template = path.read_text()
    others = {name: "pending" for name in STAGE_NAMES if name != stage.name}

    # Edited, one marker left.
    path.write_text(template.replace(MARKER, "Answered.") + f"\n{MARKER} one question left\n")
    assert stage_statuses(cli) == {**others, stage.name: "in_progress"}

    # Every marker replaced.
    path.write_text(template.replace(MARKER, "Answered."))
    assert stage_statuses(cli) == {**others, stage.name: "complete"}

    # Back to the untouched template.
    path.write_text(template)
    assert stage_statuses(cli) == {**others, stage.name: "pending"}

    path.unlink()
    assert stage_statuses(cli) == {**others, stage.name: "missing"}


def test_a_small_edit_that_keeps_every_marker_is_in_progress(ws, cli):
    path = doc(ws, STAGES[0])
    path.write_text(path.read_text() + "\nA note.\n")
    assert stage_statuses(cli)["intent"] == "in_progress"


def test_untouched_document_stays_pending_after_the_template_changes(ws, cli):
    # The hash of what was rendered at creation is recorded, so a new template does not flip the status.
    ws.templates_dir.mkdir(parents=True, exist_ok=True)
    (ws.templates_dir / "intent.md").write_text("# New intent template {{ session }}\n\n[REQUIRES INPUT]\n")
    assert stage_statuses(cli)["intent"] == "pending"


HIDDEN_MARKERS = {
    "fenced": "# Intent\n\nDone.\n\n```\n[REQUIRES INPUT]\n```\n",
    "fenced-yaml": '# Spec\n\nDone.\n\n```yaml\nname: "[REQUIRES INPUT]"\n```\n',
    "tilde-fence": "# Intent\n\nDone.\n\n~~~md\n[REQUIRES INPUT]\n~~~\n",
    "fence-in-list": "# Intent\n\n- item\n\n  ```\n  [REQUIRES INPUT]\n  ```\n",
    "unclosed-fence": "# Intent\n\nDone.\n\n```\n[REQUIRES INPUT]\n",
    "indented-code": "# Intent\n\nDone.\n\n    [REQUIRES INPUT]\n",
    "inline-code": "# Intent\n\nWrite `[REQUIRES INPUT]` where input is needed.\n",
    "double-backtick-code": "# Intent\n\nThe marker is ``` `` [REQUIRES INPUT] `` ```.\n",
    "html-comment": "# Intent\n\n<!-- [REQUIRES INPUT] -->\n\nDone.\n",
    "multiline-html-comment": "# Intent\n\n<!--\nguidance\n[REQUIRES INPUT]\n-->\n\nDone.\n",
    "crlf-fence": "# Intent\r\n\r\nDone.\r\n\r\n```\r\n[REQUIRES INPUT]\r\n```\r\n",
    "inline-html-comment": "# Intent\n\nDone. <!-- [REQUIRES INPUT] -->\n",
}

VISIBLE_MARKERS = {
    "paragraph": "# Intent\n\n[REQUIRES INPUT] goal\n",
    "list-item": "# Intent\n\n- [REQUIRES INPUT] goal\n",
    "heading": "# Intent [REQUIRES INPUT]\n",
    "blockquote": "# Intent\n\n> [REQUIRES INPUT]\n",
    "table": "# Intent\n\n| a | b |\n| - | - |\n| [REQUIRES INPUT] | x |\n",
    "beside-code-spans": "# Intent\n\n`a` [REQUIRES INPUT] `b`\n",
    "unmatched-backtick": "# Intent\n\nA ` then [REQUIRES INPUT]\n",
    "after-html-block": "# Intent\n\n<!-- guidance -->\n[REQUIRES INPUT]\n",
    "after-fence": "# Intent\n\n```\ncode\n```\n\n[REQUIRES INPUT]\n",
    "crlf": "# Intent\r\n\r\n[REQUIRES INPUT] goal\r\n",
    "escaped-backticks": "# Intent\n\nA \\`[REQUIRES INPUT]\\` b\n",
}


@pytest.mark.parametrize("text", HIDDEN_MARKERS.values(), ids=HIDDEN_MARKERS.keys())
def test_markers_in_code_and_comments_do_not_count(ws, cli, text):
    assert not has_marker(text)
    doc(ws, STAGES[0]).write_bytes(text.encode())
    assert stage_statuses(cli)["intent"] == "complete"


@pytest.mark.parametrize("text", VISIBLE_MARKERS.values(), ids=VISIBLE_MARKERS.keys())
def test_visible_markers_count(ws, cli, text):
    assert has_marker(text)
    doc(ws, STAGES[0]).write_bytes(text.encode())
    assert stage_statuses(cli)["intent"] == "in_progress"


# ------------------------------------------------------------------------------------------- report


def test_status_json_shape(ws, cli):
    report = status_json(cli)
    assert set(report) == {"project", "session", "stages", "validation_status", "last_sync"}
    assert report["project"] == "demo"
    assert report["session"] == BLUEPRINT
    assert list(report["stages"]) == list(STAGE_NAMES)
    for entry in report["stages"].values():
        assert set(entry) == {"status", "agent"}
    assert report["validation_status"] in ("unknown", "passing", "failing")
    assert report["last_sync"] is None
    core = project_status(ws, ws.project("demo"))
    assert core["stages"] == report["stages"]
    assert (core["project"], core["session"]) == (report["project"], report["session"])


def test_status_text_lists_every_stage(ws, cli):
    doc(ws, STAGES[2]).unlink()
    result = cli("status")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any("demo" in line for line in lines)
    for stage in STAGES:
        (line,) = [x for x in lines if x.split()[:1] == [stage.name]]
        assert ("missing" if stage.name == "spec" else "pending") in line


def build(cli, code: int = 0) -> str:
    """A full `idse build` (the one writer of session_state.json) exiting ``code``; returns its stderr.
    Exit 1 means the build ran and found errors."""
    result = cli("build")
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stderr


def test_status_of_another_session_never_touches_the_state_file(ws, cli):
    build(cli)
    state = state_path(ws).read_bytes()
    assert json.loads(state)["session"] == BLUEPRINT
    assert cli("session", "create", "feat").exit_code == 0
    doc(ws, STAGES[0], "feat").write_text("# Intent\n\nDone.\n")
    assert cli("session", "switch", BLUEPRINT).exit_code == 0
    report = status_json(cli, "--session", "feat")
    assert report["session"] == "feat"
    assert report["stages"]["intent"]["status"] == "complete"
    assert (ws.projects_dir / "demo/CURRENT_SESSION").read_text().strip() == BLUEPRINT
    assert state_path(ws).read_bytes() == state
    assert_one_line_error(cli("status", "--session", "ghost"))
    assert state_path(ws).read_bytes() == state


def test_build_refreshes_session_state_and_status_does_not(ws, cli):
    # Right after init there is no state file, and status does not create one.
    assert not state_path(ws).exists()
    path = doc(ws, STAGES[1])
    path.write_text(path.read_text().replace(MARKER, "Known."))
    assert stage_statuses(cli)["context"] == "complete"
    assert not state_path(ws).exists()

    build(cli, code=1)  # context is complete before its upstream intent: an error finding
    state = json.loads(state_path(ws).read_text())
    assert set(state) == {"project", "session", "stages", "validation_status"}
    assert (state["project"], state["session"]) == ("demo", BLUEPRINT)
    assert state["stages"]["context"]["status"] == "complete"
    assert state["stages"]["intent"]["status"] == "pending"
    assert state["validation_status"] == "failing"

    # A later edit shows in status at once, but in the state file only after the next build.
    before = state_path(ws).read_bytes()
    intent = doc(ws, STAGES[0])
    intent.write_text(intent.read_text().replace(MARKER, "Known."))
    assert stage_statuses(cli)["intent"] == "complete"
    assert state_path(ws).read_bytes() == before
    build(cli)
    state = json.loads(state_path(ws).read_text())
    assert state["stages"]["intent"]["status"] == "complete"
    assert state["validation_status"] == "passing"


def test_session_state_is_derived_and_may_be_deleted(ws, cli):
    build(cli)
    original = state_path(ws).read_bytes()
    state_path(ws).unlink()
    assert stage_statuses(cli) == dict.fromkeys(STAGE_NAMES, "pending")
    assert not state_path(ws).exists()
    assert "session_state.json" not in build(cli)  # a missing derived file is no surprise
    assert state_path(ws).read_bytes() == original
    state = json.loads(original)
    assert (state["project"], state["session"]) == ("demo", BLUEPRINT)
    assert {name: s["status"] for name, s in state["stages"].items()} == dict.fromkeys(STAGE_NAMES, "pending")


# ------------------------------------------------------------------------------------------- agents


def test_agent_is_the_first_listing_the_stage(ws, cli):
    default = status_json(cli)["stages"]
    registry = json.loads(registry_path(ws).read_text())
    for agent in registry["agents"]:
        for stage in agent["stages"]:
            # The report routes to the first agent listing the stage.
            first = next(a["id"] for a in registry["agents"] if stage in a["stages"])
            assert default[stage]["agent"] == first

    registry_path(ws).write_text(
        json.dumps(
            {
                "agents": [
                    {"id": "gemini", "role": "analyst", "mode": "planning", "stages": ["context", "spec"]},
                    {"id": "claude", "role": "architect", "mode": "planning", "stages": ["intent", "spec"]},
                    {
                        "id": "cursor",
                        "role": "builder",
                        "mode": "implementation",
                        "stages": ["implementation"],
                    },
                ]
            }
        )
    )
    stages = status_json(cli)["stages"]
    assert {name: s["agent"] for name, s in stages.items()} == {
        "intent": "claude",
        "context": "gemini",
        "spec": "gemini",
        "plan": None,
        "tasks": None,
        "implementation": "cursor",
        "feedback": None,
    }
    text = cli("status").stdout
    (plan_line,) = [line for line in text.splitlines() if line.split()[:1] == ["plan"]]
    assert "(no agent)" in plan_line


def test_reordering_the_registry_changes_the_route(ws, cli):
    agents = [
        {"id": "a1", "role": "r", "mode": "planning", "stages": ["intent"]},
        {"id": "a2", "role": "r", "mode": "planning", "stages": ["intent"]},
    ]
    registry_path(ws).write_text(json.dumps({"agents": agents}))
    assert status_json(cli)["stages"]["intent"]["agent"] == "a1"
    registry_path(ws).write_text(json.dumps({"agents": agents[::-1]}))
    assert status_json(cli)["stages"]["intent"]["agent"] == "a2"


BAD_REGISTRIES = {
    "invalid-json": b"{agents: []}",
    "missing-mode": b'{"agents": [{"id": "x", "role": "r", "stages": ["intent"]}]}',
    "bad-mode": b'{"agents": [{"id": "x", "role": "r", "mode": "coding", "stages": []}]}',
    "unknown-stage": b'{"agents": [{"id": "x", "role": "r", "mode": "planning", "stages": ["design"]}]}',
    "duplicate-id": b'{"agents": [{"id": "x", "role": "r", "mode": "planning"},'
    b' {"id": "x", "role": "r", "mode": "planning"}]}',
}


@pytest.mark.parametrize("content", BAD_REGISTRIES.values(), ids=BAD_REGISTRIES.keys())
def test_a_bad_registry_is_a_finding_and_status_still_shows_the_stages(ws, cli, tmp_path, snapshot, content):
    registry_path(ws).write_bytes(content)
    before = snapshot(tmp_path, exclude=(".idse/.cache",))
    result = cli("status", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["stages"]) == set(STAGE_NAMES)
    assert {entry["agent"] for entry in report["stages"].values()} == {"?"}
    assert report["validation_status"] == "failing"
    assert snapshot(tmp_path, exclude=(".idse/.cache",)) == before
    validated = json.loads(cli("validate", "--format", "json").stdout)
    assert any(
        f["rule"] == "IDSE-R001" and f["path"] == ".idse/projects/demo/agent_registry.json"
        for f in validated["findings"]
    )


# --------------------------------------------------------------------------------------- state file

BAD_STATES = {
    "invalid-json": b"not json",
    "empty": b"",
    "a-list": b"[]",
    "missing-session": b'{"project": "demo"}',
    "wrong-type": b'{"project": 1, "session": "__blueprint__"}',
    "bad-stage-status": b'{"project": "demo", "session": "__blueprint__",'
    b' "stages": {"intent": {"status": "done"}}}',
    "bad-validation": b'{"project": "demo", "session": "__blueprint__", "validation_status": "green"}',
}


def assert_repaired(ws, cli, expected: bytes) -> None:
    """The next full build regenerates the state file, says so in one warning line, and exits 0."""
    err = build(cli)
    warnings = [line for line in err.splitlines() if "session_state.json" in line]
    assert len(warnings) == 1, err
    assert ".idse/projects/demo/session_state.json" in warnings[0] and "regenerated" in warnings[0]
    assert state_path(ws).read_bytes() == expected
    # ... exactly what a build produces from scratch.
    state_path(ws).unlink()
    build(cli)
    assert state_path(ws).read_bytes() == expected


@pytest.mark.parametrize("content", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_corrupt_session_state_is_ignored_by_status_and_repaired_by_build(
    ws, cli, tmp_path, snapshot, content
):
    build(cli)
    expected = state_path(ws).read_bytes()
    state_path(ws).write_bytes(content)
    before = snapshot(tmp_path, exclude=(".idse/.cache",))
    for args in (["status"], ["status", "--json"]):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert "session_state.json" not in result.stderr
        assert snapshot(tmp_path, exclude=(".idse/.cache",)) == before
    assert status_json(cli)["session"] == BLUEPRINT
    assert_repaired(ws, cli, expected)


def test_switch_ignores_a_corrupt_state_and_build_repairs_it(ws, cli, tmp_path, snapshot):
    assert cli("session", "create", "feat").exit_code == 0
    build(cli)
    assert json.loads(state_path(ws).read_text())["session"] == "feat"
    state_path(ws).write_bytes(b"not json")
    before = snapshot(tmp_path, exclude=(".idse/.cache",))
    result = cli("session", "switch", BLUEPRINT)
    assert result.exit_code == 0, result.stderr
    after = snapshot(tmp_path, exclude=(".idse/.cache",))
    current = ".idse/projects/demo/CURRENT_SESSION"
    assert after[current] == f"{BLUEPRINT}\n".encode()
    assert {k: v for k, v in after.items() if k != current} == {
        k: v for k, v in before.items() if k != current
    }
    assert status_json(cli)["session"] == BLUEPRINT

    # The build regenerates it for the new current session, as a build from scratch would.
    err = build(cli)
    assert "session_state.json was changed outside idse" in err
    repaired = state_path(ws).read_bytes()
    assert json.loads(repaired)["session"] == BLUEPRINT
    state_path(ws).unlink()
    build(cli)
    assert state_path(ws).read_bytes() == repaired

"""`idse migrate`: a 0.1 workspace upgraded in place, idempotently, without losing a byte."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_foreign_workspace import PROJECT, STAGE_FILES, make_legacy_workspace

PROJECT_REL = f".idse/projects/{PROJECT}"
BACKUP = ".idse/.migrate-backup"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    return make_legacy_workspace(tmp_path)


def documents(root: Path) -> dict[str, bytes]:
    """Every pipeline document and the project meta.md, by path."""
    out = {}
    for path in sorted((root / PROJECT_REL).rglob("*.md")):
        if not path.name.endswith(".db.md"):
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def migrate_json(cli, *args: str) -> dict:
    result = cli("migrate", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_shows_the_plan_and_writes_nothing(legacy, tmp_path, cli, snapshot):
    before = snapshot(tmp_path)
    report = migrate_json(cli, "--dry-run")
    assert report["dry_run"] is True and report["backup"] is None
    planned = {(c["action"], c["path"]) for c in report["changes"]}
    assert ("rewrite", f"{PROJECT_REL}/agent_registry.json") in planned
    assert ("rewrite", f"{PROJECT_REL}/sessions/auth/metadata/session.json") in planned
    assert ("create", f"{PROJECT_REL}/sessions/auth/intents/intent.db.md") in planned
    assert report["db_copies"] == [f"{PROJECT_REL}/sessions/auth/intents/intent.db.md"]
    text = cli("migrate", "--dry-run")
    assert text.exit_code == 0 and "nothing was written" in text.stdout
    assert snapshot(tmp_path) == before


def test_migrate_upgrades_and_keeps_every_byte(legacy, tmp_path, cli):
    originals = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    docs_before = documents(tmp_path)
    report = migrate_json(cli)
    assert report["backup"] == f"{BACKUP}/1"
    # Documents and meta.md are untouched but for the Agent Profile block of 0.1 keys (backed up
    # below, like every file rewritten); the store is never written.
    spec = f"{PROJECT_REL}/sessions/auth/specs/spec.md"
    docs_after = documents(tmp_path)
    assert {k: v for k, v in docs_after.items() if k != spec} == {
        k: v for k, v in docs_before.items() if k != spec
    }
    assert docs_after[spec] != docs_before[spec] and b"# source_session: auth" in docs_after[spec]
    db = tmp_path / ".idse/idse.db"
    assert db.read_bytes() == originals[db]
    # Every file rewritten or removed is in the backup, byte for byte.
    backup = tmp_path / BACKUP / "1"
    for change in report["changes"]:
        path = tmp_path / change["path"]
        if change["action"] == "create":
            assert path in originals or not (backup / Path(change["path"]).relative_to(".idse")).exists()
            continue
        saved = backup / Path(change["path"]).relative_to(".idse")
        assert saved.read_bytes() == originals[path], change
    assert json.loads((backup / "migrate.json").read_text())["changes"] == report["changes"]
    # Metadata: our schema, every 0.1 field kept.
    meta = json.loads((legacy / "sessions/auth/metadata/session.json").read_text())
    assert meta["id"] == "auth" and meta["project"] == PROJECT and meta["parent"] == "__blueprint__"
    assert meta["status"] == "in_progress" and meta["type"] == "feature"
    assert meta["extra"]["owner"] == "alice" and meta["extra"]["collaborators"] == ["bob"]
    assert meta["extra"]["created_at"] == "2025-01-02T10:00:00.000001"
    # Registry: a mode for every agent, everything else as it was.
    registry = json.loads((legacy / "agent_registry.json").read_text())
    assert [(a["id"], a["role"], a["mode"]) for a in registry["agents"]] == [
        ("claude-code", "orchestrator", "planning"),
        ("gpt-codex", "implementer", "implementation"),
    ]
    # CURRENT_SESSION carried over; the store's different copy beside its file.
    assert (legacy / "CURRENT_SESSION").read_text() == "auth\n"
    copy = legacy / "sessions/auth/intents/intent.db.md"
    assert copy.read_text(encoding="utf-8").endswith("A paragraph that only the database holds.\n")
    assert not (legacy / "sessions/billing/intents/intent.db.md").exists()


def test_second_run_changes_nothing(legacy, tmp_path, cli, snapshot):
    migrate_json(cli)
    after = snapshot(tmp_path)
    report = migrate_json(cli)
    assert report["changes"] == [] and report["backup"] is None
    assert "up to date" in cli("migrate").stdout
    assert snapshot(tmp_path) == after


def test_commands_work_after_migrate(legacy, cli):
    migrate_json(cli)
    status = cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    stages = json.loads(status.stdout)["stages"]
    assert stages["implementation"]["agent"] == "gpt-codex" and stages["intent"]["agent"] == "claude-code"
    assert cli("sessions").exit_code == 0
    info = cli("session-info", "billing", "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["extra"]["tags"] == ["legacy"]
    validate = cli("validate", "--all", "--format", "json")
    assert validate.exit_code in (0, 1), validate.stderr
    rules = {f["rule"] for f in json.loads(validate.stdout)["findings"]}
    assert "IDSE-M001" not in rules and "IDSE-R001" not in rules
    build = cli("build")
    assert build.exit_code in (0, 1), build.stderr
    state = json.loads((legacy / "session_state.json").read_text())
    assert state["project"] == PROJECT and state["session"] == "auth"
    # The build's new state file is ours: nothing more to migrate.
    assert migrate_json(cli)["changes"] == []


def test_a_changed_db_copy_is_backed_up_before_it_is_replaced(legacy, tmp_path, cli):
    migrate_json(cli)
    copy = legacy / "sessions/auth/intents/intent.db.md"
    copy.write_text("edited by hand\n")
    report = migrate_json(cli)
    assert [c["path"] for c in report["changes"]] == [copy.relative_to(tmp_path).as_posix()]
    assert (tmp_path / BACKUP / "2" / copy.relative_to(tmp_path / ".idse")).read_text() == "edited by hand\n"


def test_store_documents_without_a_session_folder_are_kept(legacy, tmp_path, cli):
    conn = sqlite3.connect(tmp_path / ".idse/idse.db")
    conn.execute("INSERT INTO sessions (id, project_id, session_id) VALUES (99, 1, 'gone')")
    conn.execute(
        "INSERT INTO artifacts (project_id, session_id, stage, content) VALUES (1, 99, 'spec', ?)", ("x\n",)
    )
    conn.commit()
    conn.close()
    migrate_json(cli)
    assert (legacy / "db-only/gone/spec.md").read_text() == "x\n"
    assert [row["id"] for row in json.loads(cli("sessions", "--json").stdout)["sessions"]] == [
        "__blueprint__",
        "auth",
        "billing",
    ]


def test_current_session_from_the_store_when_the_file_is_missing(legacy, cli):
    (legacy / "CURRENT_SESSION").unlink()
    migrate_json(cli)
    assert (legacy / "CURRENT_SESSION").read_text() == "auth\n"


def test_foreign_or_broken_store_is_a_note(legacy, tmp_path, cli):
    db = tmp_path / ".idse/idse.db"
    db.write_bytes(b"not a database")
    report = migrate_json(cli)
    assert any(note.startswith(".idse/idse.db: left as it is") for note in report["notes"])
    assert db.read_bytes() == b"not a database"


def test_broken_metadata_is_left_alone(legacy, cli):
    path = legacy / "sessions/billing/metadata/session.json"
    path.write_text("{ not json")
    report = migrate_json(cli)
    assert path.read_text() == "{ not json"
    assert any("billing/metadata/session.json: left as it is" in note for note in report["notes"])


def test_unknown_fields_and_unmapped_values_are_kept(legacy, cli):
    from test_foreign_workspace import legacy_metadata

    path = legacy / "sessions/billing/metadata/session.json"
    data = legacy_metadata("billing", "no such/parent", status="blocked", custom={"a": 1})
    path.write_text(json.dumps(data))
    migrate_json(cli)
    meta = json.loads(path.read_text())
    assert meta["status"] == "draft" and meta["extra"]["status"] == "blocked"
    assert meta["parent"] is None and meta["extra"]["parent_session"] == "no such/parent"
    assert meta["extra"]["custom"] == {"a": 1}
    assert set(data) - {"session_id", "session_type", "is_blueprint"} <= set(meta["extra"])


def test_our_own_workspace_needs_no_migration(cli, ws, tmp_path, snapshot):
    before = snapshot(tmp_path)
    assert migrate_json(cli)["changes"] == []
    assert snapshot(tmp_path) == before


def test_every_stage_file_name_gets_its_db_copy_name():
    from idse_orchestrator.migrate import db_copy_path

    names = {stage: db_copy_path(Path(rel)).as_posix() for stage, rel in STAGE_FILES.items()}
    assert names["implementation"] == "implementation/README.db.md"
    assert names["intent"] == "intents/intent.db.md"

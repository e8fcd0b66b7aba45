"""Workspaces written by idse-orchestrator 0.1: every session that can be read keeps working.

The workspace is built here from the published description of that layout: sessions whose
``metadata/session.json`` carries ``session_id``/``parent_session``/owner/tags... and no ``id``,
a ``session_state.json`` of its own shape, a registry without agent modes, a project ``meta.md``
and a SQLite store ``.idse/idse.db`` whose copy of a document may differ from the file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

PROJECT = "legacy"
STAGE_FILES = {
    "intent": "intents/intent.md",
    "context": "contexts/context.md",
    "spec": "specs/spec.md",
    "plan": "plans/plan.md",
    "tasks": "tasks/tasks.md",
    "implementation": "implementation/README.md",
    "feedback": "feedback/feedback.md",
}


def legacy_metadata(session: str, parent: str | None, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "session_id": session,
        "name": session,
        "session_type": "blueprint" if parent is None else "feature",
        "description": None,
        "is_blueprint": parent is None,
        "parent_session": parent,
        "related_sessions": [],
        "owner": "alice",
        "collaborators": ["bob"],
        "tags": ["legacy"],
        "status": "in_progress",
        "created_at": "2025-01-02T10:00:00.000001",
        "updated_at": "2025-01-03T11:30:00.000002",
    }
    data.update(extra)
    return data


def _document(stage: str, session: str) -> str:
    # Their templates: other headings than ours, some of it still to fill in.
    return (
        f"# {stage.title()}: {session}\n\n"
        "## Overview\n\n"
        f"Text written by a person for {stage} of {session}, caf\u00e9 \u2713.\n\n"
        "## Notes\n\n- keep this line\n"
    )


def make_legacy_workspace(root: Path, *, with_db: bool = True) -> Path:
    """A 0.1 workspace under ``root`` with sessions ``__blueprint__``, ``auth`` and ``billing``."""
    project = root / ".idse" / "projects" / PROJECT
    sessions = {"__blueprint__": None, "auth": "__blueprint__", "billing": "__blueprint__"}
    for session, parent in sessions.items():
        folder = project / "sessions" / session
        for stage, rel in STAGE_FILES.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_document(stage, session), encoding="utf-8")
        (folder / "metadata").mkdir(parents=True, exist_ok=True)
        (folder / "metadata" / ".owner").write_text("alice\n", encoding="utf-8")
        meta = legacy_metadata(session, parent)
        (folder / "metadata" / "session.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    # An Agent Profile block with a key of theirs.
    spec = project / "sessions" / "auth" / STAGE_FILES["spec"]
    spec.write_text(
        spec.read_text(encoding="utf-8")
        + "\n## Agent Profile\n\n```yaml\nid: auth-agent\nsource_session: auth\n```\n",
        encoding="utf-8",
    )
    (project / "CURRENT_SESSION").write_text("auth\n", encoding="utf-8")
    (project / "session_state.json").write_text(
        json.dumps(
            {
                "project_name": PROJECT,
                "session_id": "auth",
                "is_blueprint": False,
                "stages": {stage: "pending" for stage in STAGE_FILES},
                "validation_status": "failing",
                "created_at": "2025-01-02T10:00:00",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (project / "agent_registry.json").write_text(
        json.dumps(
            {
                "agents": [
                    {
                        "id": "claude-code",
                        "role": "orchestrator",
                        "stages": ["intent", "context", "spec", "plan", "tasks", "feedback"],
                    },
                    {"id": "gpt-codex", "role": "implementer", "stages": ["implementation"]},
                ]
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    (project / "meta.md").write_text("# legacy\n\nProject notes of 0.1.\n", encoding="utf-8")
    if with_db:
        make_legacy_db(root / ".idse" / "idse.db", project)
    return project


def make_legacy_db(path: Path, project: Path) -> None:
    """The 0.1 SQLite store: projects, sessions, artifacts. Its copy of auth's intent differs from
    the file; every other artifact matches its file."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            """
            CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, stack TEXT,
                owner TEXT, created_at TEXT, updated_at TEXT, current_session_id TEXT);
            CREATE TABLE sessions (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL,
                session_id TEXT NOT NULL, name TEXT, session_type TEXT, description TEXT,
                is_blueprint INTEGER, parent_session TEXT, owner TEXT, status TEXT,
                created_at TEXT, updated_at TEXT, UNIQUE(project_id, session_id));
            CREATE TABLE artifacts (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL,
                session_id INTEGER NOT NULL, stage TEXT NOT NULL, idse_id TEXT, content TEXT,
                content_hash TEXT, semantic_fingerprint TEXT, created_at TEXT, updated_at TEXT,
                UNIQUE(session_id, stage));
            CREATE TABLE project_state (project_id INTEGER PRIMARY KEY, state_json TEXT,
                updated_at TEXT, current_session_id TEXT);
            """
        )
        conn.execute("INSERT INTO projects VALUES (1, ?, 'python', 'alice', '', '', 'auth')", (project.name,))
        sessions_dir = project / "sessions"
        for number, folder in enumerate(sorted(sessions_dir.iterdir()), start=1):
            conn.execute(
                "INSERT INTO sessions (id, project_id, session_id, status) VALUES (?, 1, ?, 'draft')",
                (number, folder.name),
            )
            for stage, rel in STAGE_FILES.items():
                content = (folder / rel).read_text(encoding="utf-8")
                if folder.name == "auth" and stage == "intent":
                    content += "\nA paragraph that only the database holds.\n"
                conn.execute(
                    "INSERT INTO artifacts (project_id, session_id, stage, content) VALUES (1, ?, ?, ?)",
                    (number, stage, content),
                )
        conn.commit()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------- tests

SESSIONS_REL = f".idse/projects/{PROJECT}/sessions"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A 0.1 workspace in ``tmp_path`` (the cwd of ``cli``), its registry already upgraded so that
    each test here looks at the metadata alone."""
    project = make_legacy_workspace(tmp_path)
    registry = json.loads((project / "agent_registry.json").read_text())
    for agent in registry["agents"]:
        agent["mode"] = "implementation" if "implementation" in agent["stages"] else "planning"
    (project / "agent_registry.json").write_text(json.dumps(registry))
    return project


def test_legacy_metadata_is_read_through_its_mapping(legacy, cli):
    result = cli("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)["sessions"]}
    assert list(rows) == ["__blueprint__", "auth", "billing"]
    assert rows["__blueprint__"]["type"] == "blueprint" and rows["__blueprint__"]["parent"] is None
    assert rows["auth"] == {
        "id": "auth",
        "type": "feature",
        "status": "in_progress",
        "parent": "__blueprint__",
        "current": True,
        "problem": ".idse/projects/legacy/sessions/auth/metadata/session.json: is in the "
        "idse-orchestrator 0.1 format; run 'idse migrate' to upgrade it",
    }
    info = json.loads(cli("session-info", "billing", "--json").stdout)
    assert info["extra"]["owner"] == "alice" and info["extra"]["tags"] == ["legacy"]
    assert info["ancestors"] == ["__blueprint__"]
    status = cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["session"] == "auth"


def test_legacy_metadata_is_a_finding_on_its_session(legacy, cli):
    result = cli("validate", "--all", "--format", "json")
    assert result.exit_code == 1, result.stderr
    m001 = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "IDSE-M001"]
    assert sorted(f["path"] for f in m001) == [
        f"{SESSIONS_REL}/{s}/metadata/session.json" for s in ("__blueprint__", "auth", "billing")
    ]
    assert all("idse migrate" in f["message"] for f in m001)


@pytest.mark.parametrize("content", [b"{ not json", b"", b"[]", b"\xff\xfe", b'{"id": 5}'])
def test_one_broken_metadata_leaves_the_other_sessions_working(legacy, cli, content):
    (legacy / "sessions" / "billing" / "metadata" / "session.json").write_bytes(content)
    rel = f"{SESSIONS_REL}/billing/metadata/session.json"
    # The other sessions: status, their info (whose children are looked up in every session).
    for session in ("auth", "__blueprint__"):
        result = cli("status", "--session", session, "--json")
        assert result.exit_code == 0, (session, result.stderr)
        info = cli("session-info", session, "--json")
        assert info.exit_code == 0, (session, info.stderr)
    # The broken one falls back to the defaults: a feature of the blueprint.
    children = json.loads(cli("session-info", "__blueprint__", "--json").stdout)["children"]
    assert children == ["auth", "billing"]
    # Validation and the build report the file as a finding of that session and carry on.
    for args in (("validate", "--all", "--format", "json"), ("build", "--json")):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.stderr)
        findings = json.loads(result.stdout)["findings"]
        broken = [f for f in findings if f["rule"] == "IDSE-M001" and f["path"] == rel]
        assert broken and "idse migrate" not in broken[0]["message"], broken
        assert {f["path"].split("/")[4] for f in findings if "/sessions/" in f["path"]} >= {"auth"}


@pytest.mark.parametrize("content", [b"not json", b"", b'{"project_name": "legacy", "stages": {}}'])
def test_session_state_is_derived_data(legacy, cli, content):
    state = legacy / "session_state.json"
    state.write_bytes(content)
    for args in (("status",), ("sessions",), ("session-info", "auth"), ("validate", "--all")):
        result = cli(*args)
        assert result.exit_code in (0, 1), (args, result.stderr)
    assert cli("build").exit_code == 1
    data = json.loads(state.read_text())
    assert data["project"] == PROJECT and data["session"] == "auth"


def test_legacy_registry_is_a_finding_that_names_the_way_out(tmp_path, cli):
    make_legacy_workspace(tmp_path, with_db=False)
    result = cli("status")
    assert result.exit_code == 0, result.stderr  # the stages are shown, each agent as "?"
    assert "failing" in result.stdout
    findings = json.loads(cli("validate", "--all", "--format", "json").stdout)["findings"]
    registry = [f for f in findings if f["rule"] == "IDSE-R001"]
    assert registry and "idse migrate" in registry[0]["message"]
    # Everything else still works.
    assert cli("sessions").exit_code == 0
    assert cli("session-info", "billing").exit_code == 0
    validate = cli("validate", "--all", "--format", "json")
    assert validate.exit_code == 1
    assert "IDSE-R001" in {f["rule"] for f in json.loads(validate.stdout)["findings"]}


def test_status_report_shows_an_unknown_agent_for_a_broken_registry(legacy):
    from idse_orchestrator.status import UNKNOWN_AGENT, project_status
    from idse_orchestrator.workspace import Workspace

    (legacy / "agent_registry.json").write_text("{bad")
    ws = Workspace(legacy.parents[2])
    project = ws.project(PROJECT)
    report = project_status(ws, project, "auth")
    assert {entry["agent"] for entry in report["stages"].values()} == {UNKNOWN_AGENT}


if __name__ == "__main__":  # pragma: no cover - a manual helper
    import sys

    make_legacy_workspace(Path(sys.argv[1]))

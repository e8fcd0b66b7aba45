"""Structured file errors, repo-relative messages, one stage-status rule, spawn titles, nested init."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from idse_orchestrator.errors import BadFile
from idse_orchestrator.stages import BY_NAME, STAGES
from idse_orchestrator.workspace import Project, Workspace

BLUEPRINT = "__blueprint__"
PROJECT_REL = ".idse/projects/demo"
SESSION_REL = f"{PROJECT_REL}/sessions/{BLUEPRINT}"
MARKER = "[REQUIRES INPUT]"


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert lines[0].startswith("idse: error: ")
    return lines[0]


# ------------------------------------------------------------------------------------ BadFile itself


def test_bad_file_carries_path_problem_and_line():
    exc = BadFile(Path("/repo/x: y/.idse/config.yaml"), "must be a YAML mapping")
    assert exc.path == "/repo/x: y/.idse/config.yaml"
    assert (exc.problem, exc.line) == ("must be a YAML mapping", None)
    assert exc.message == str(exc) == "/repo/x: y/.idse/config.yaml: must be a YAML mapping"
    assert exc.detail == "must be a YAML mapping"

    at_line = BadFile("notes.json", "invalid JSON", 3)
    assert at_line.message == "notes.json:3: invalid JSON"
    assert at_line.detail == "line 3: invalid JSON"


def test_bad_file_is_retargeted_without_taking_its_message_apart(tmp_path):
    ws = Workspace(tmp_path / "weird: dir")
    exc = BadFile(ws.root / ".idse/projects/demo/agent_registry.json", "invalid JSON at line 1: x: y", 1)

    rel = exc.relative_to(ws)
    assert isinstance(rel, BadFile)
    assert (rel.path, rel.problem, rel.line) == (".idse/projects/demo/agent_registry.json", exc.problem, 1)
    assert rel.message == ".idse/projects/demo/agent_registry.json:1: invalid JSON at line 1: x: y"
    assert exc.at("elsewhere.json").message == "elsewhere.json:1: invalid JSON at line 1: x: y"
    # A path outside the workspace (or already relative) is kept as it is.
    assert BadFile("/etc/other.yaml", "bad").relative_to(ws).path == "/etc/other.yaml"
    assert rel.relative_to(ws).path == rel.path


def test_bad_file_survives_pickling():
    exc = BadFile("a: b/c.json", "invalid JSON", 2)
    copy = pickle.loads(pickle.dumps(exc))
    assert isinstance(copy, BadFile)
    assert (copy.path, copy.problem, copy.line) == (exc.path, exc.problem, exc.line)
    assert copy.message == exc.message


# ------------------------------------------------------------------- a workspace in a folder "weird: dir"


@pytest.fixture
def weird(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "weird: dir"
    root.mkdir()
    monkeypatch.chdir(root)
    result = cli("init", "demo")
    assert result.exit_code == 0, result.stderr
    return Workspace(root)


BROKEN = {
    "registry": (f"{PROJECT_REL}/agent_registry.json", b'{"agents": [\n', "invalid JSON at line "),
    "metadata": (f"{SESSION_REL}/metadata/session.json", b"{not json", "invalid JSON at line 1"),
    "current": (f"{PROJECT_REL}/CURRENT_SESSION", b"\x00\x01", "is a binary file"),
    "config": (".idse/config.yaml", b"rules: [\n", "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("command", [("status",), ("agents",), ("session-info", BLUEPRINT)])
def test_a_broken_file_is_named_once_repo_relative(weird, cli, case, command):
    rel, content, problem = BROKEN[case]
    (weird.root / rel).write_bytes(content)

    result = cli(*command)
    if result.exit_code == 0 and command == ("status",) and case in ("registry", "metadata"):
        # A damaged session.json or registry is a finding: status goes on; validate names the file.
        findings = json.loads(cli("validate", "--format", "json").stdout)["findings"]
        named = [f for f in findings if f["path"] == rel]
        assert named and all("weird" not in f["message"] and rel not in f["message"] for f in named)
        return
    if result.exit_code == 0 and command != ("status",):  # `status` reads the others
        # This command does not read that file: it must not have mentioned it either.
        assert rel not in result.stderr
        return
    line = one_line_error(result)
    assert line.startswith(f"idse: error: {rel}: {problem}"), line
    assert line.count(rel) == 1, line
    assert "weird" not in line and str(weird.root) not in line, line


def test_config_error_is_repo_relative_from_a_subfolder(weird, cli, monkeypatch):
    (weird.root / ".idse/config.yaml").write_text("rules: 5\n")
    sub = weird.root / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    line = one_line_error(cli("validate"))
    expected = "idse: error: .idse/config.yaml: invalid setting: rules: Input should be a valid dictionary"
    assert line == expected


def test_findings_about_broken_files_hold_the_problem_only(weird, cli):
    (weird.root / f"{PROJECT_REL}/agent_registry.json").write_text("{bad")
    (weird.root / f"{SESSION_REL}/metadata/session.json").write_text("{bad")
    (weird.root / f"{SESSION_REL}/intents/intent.md").write_bytes(b"\x00binary")
    result = cli("validate", "--format", "json")
    assert result.exit_code == 1, result.stderr
    findings = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}

    registry = findings["IDSE-R001"]
    assert registry["path"] == f"{PROJECT_REL}/agent_registry.json"
    assert registry["message"].startswith("agent_registry.json invalid JSON at line 1: ")
    metadata = findings["IDSE-M001"]
    assert metadata["path"] == f"{SESSION_REL}/metadata/session.json"
    assert metadata["message"].startswith("metadata/session.json invalid JSON at line 1: ")
    unreadable = [f for f in json.loads(result.stdout)["findings"] if f["path"].endswith("intent.md")]
    assert any(f["message"] == "intent document is a binary file, expected UTF-8 text" for f in unreadable)
    for finding in findings.values():
        assert "weird" not in finding["message"] and "dir/" not in finding["message"], finding


# ------------------------------------------------------------------------------- one stage-status rule


def test_stage_status_rule():
    from idse_orchestrator.governance.engine import stage_status

    def status(text, unreadable=False, markers=True, untouched=True):
        return stage_status(
            text, unreadable=unreadable, has_markers=lambda _t: markers, untouched=lambda _t: untouched
        )

    assert status(None) == "missing"
    assert status(None, unreadable=True) == "in_progress"
    assert status("done", markers=False) == "complete"
    assert status("template") == "pending"
    assert status("edited", untouched=False) == "in_progress"


@pytest.mark.parametrize(
    "variant", ["absent", "binary", "untouched", "edited", "answered", "marker-in-code", "empty"]
)
def test_status_and_validation_derive_the_same_stage_status(ws, variant):
    from idse_orchestrator.governance.engine import check_document
    from idse_orchestrator.governance.loader import load_document, session_metadata
    from idse_orchestrator.governance.ruleset import load_ruleset
    from idse_orchestrator.status import session_stage_statuses

    project = Project(ws, "demo")
    path = project.document_path(BLUEPRINT, BY_NAME["intent"])
    text = path.read_text()
    if variant == "absent":
        path.unlink()
    elif variant == "binary":
        path.write_bytes(b"\x00")
    elif variant == "edited":
        path.write_text(text.replace("What outcome", "Which outcome"))
    elif variant == "answered":
        path.write_text(text.replace(MARKER, "Answered."))
    elif variant == "marker-in-code":
        path.write_text(text.replace(MARKER, "Answered.") + f"\n```\n{MARKER}\n```\n")
    elif variant == "empty":
        path.write_text("")

    from_status = session_stage_statuses(ws, project, BLUEPRINT)
    meta, _ = session_metadata(project, BLUEPRINT)
    for stage in STAGES:
        doc = load_document(ws, project, BLUEPRINT, stage, meta)
        assert check_document(doc, load_ruleset())[0] == from_status[stage.name], (variant, stage.name)


def test_default_session_metadata_is_the_same_when_missing_or_broken(ws, cli):
    from idse_orchestrator.governance.loader import session_metadata

    assert cli("session", "create", "feat").exit_code == 0
    project = Project(ws, "demo")
    path = project.metadata_path("feat")
    path.unlink()
    missing = project.metadata("feat")
    path.write_text("{broken")
    broken, problem = session_metadata(project, "feat")
    assert problem is not None and problem.startswith("invalid JSON")
    assert broken == missing == project.default_metadata("feat")
    assert (missing.type, missing.parent) == ("feature", BLUEPRINT)
    assert project.default_metadata(BLUEPRINT).parent is None


# --------------------------------------------------------------------------------------- spawn titles


def test_retitle_renames_only_the_first_level_one_heading():
    from idse_orchestrator.sessions import retitle

    text = "# Intent: auth\r\n\r\nAbout auth and oauth.\r\n\r\n# Notes on auth\r\n"
    assert retitle(text, "auth", "login") == text.replace("# Intent: auth", "# Intent: login", 1)
    # Only the whole id, and only where the first heading names it.
    assert retitle("# Intent: auth-v2\n", "auth", "x") == "# Intent: auth-v2\n"
    assert retitle("# Intent: oauth\n", "auth", "x") == "# Intent: oauth\n"
    assert retitle("# Intent: auth.\n", "auth", "x") == "# Intent: x.\n"
    assert retitle("# Intent\n\nauth\n", "auth", "x") == "# Intent\n\nauth\n"
    assert retitle("## Intent: auth\n", "auth", "x") == "## Intent: auth\n"
    fenced = "```\n# Intent: auth\n```\n\n# Intent: auth\n"
    assert retitle(fenced, "auth", "x") == "```\n# Intent: auth\n```\n\n# Intent: x\n"
    assert retitle("Intent: auth\n============\n", "auth", "x") == "Intent: x\n============\n"
    assert retitle("", "auth", "x") == ""


def test_spawned_documents_name_the_new_session(ws, cli):
    bp = ws.root / SESSION_REL
    intent = (bp / "intents/intent.md").read_text()
    context = (bp / "contexts/context.md").read_text()
    assert intent.startswith(f"# Intent: {BLUEPRINT}\n") and context.startswith(f"# Context: {BLUEPRINT}\n")

    assert cli("spawn", "feat").exit_code == 0
    child = ws.root / PROJECT_REL / "sessions/feat"
    assert (child / "intents/intent.md").read_text() == intent.replace(BLUEPRINT, "feat", 1)
    assert (child / "contexts/context.md").read_text() == context.replace(BLUEPRINT, "feat", 1)
    # The retitled copies of untouched templates are still untouched.
    stages = json.loads(cli("status", "--json").stdout)["stages"]
    assert stages["intent"]["status"] == stages["context"]["status"] == "pending"
    result = cli("validate", "--format", "json")
    untouched = {f["path"] for f in json.loads(result.stdout)["findings"] if f["rule"] == "IDSE-A005"}
    assert f"{PROJECT_REL}/sessions/feat/intents/intent.md" in untouched


def test_spawn_keeps_a_parent_heading_that_names_no_session(ws, cli):
    bp = ws.root / SESSION_REL
    (bp / "intents/intent.md").write_text("# Payments\n\nA goal for __blueprint__.\n")
    assert cli("spawn", "feat").exit_code == 0
    child = ws.root / PROJECT_REL / "sessions/feat/intents/intent.md"
    assert child.read_text() == "# Payments\n\nA goal for __blueprint__.\n"


# ----------------------------------------------------------------------------------------- nested init


def test_init_inside_a_workspace_is_refused(ws, cli, monkeypatch, snapshot):
    sub = ws.root / "services" / "api"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    before = snapshot(ws.root)

    line = one_line_error(cli("init", "api"))
    assert f"inside the idse workspace at {ws.root.resolve()} " in line
    assert "--force" in line
    assert snapshot(ws.root) == before

    result = cli("init", "api", "--force")
    assert result.exit_code == 0, result.stderr
    assert (sub / ".idse/projects/api").is_dir()
    # That workspace exists now: adding a project to it is not a new nesting.
    assert cli("init", "web").exit_code == 0


def test_init_at_the_workspace_root_adds_a_project(ws, cli):
    assert cli("init", "second").exit_code == 0
    assert sorted(p.name for p in (ws.root / ".idse/projects").iterdir()) == ["demo", "second"]


def test_enclosing_workspace_core(tmp_path):
    from idse_orchestrator.errors import UsageError
    from idse_orchestrator.sessions import enclosing_workspace, init_project

    outer = Workspace(tmp_path)
    init_project(outer, "demo")
    inner = Workspace(tmp_path / "inner")
    inner.root.mkdir()
    found = enclosing_workspace(inner)
    assert found is not None and found.root == tmp_path.resolve()
    with pytest.raises(UsageError):
        init_project(inner, "other")
    assert not inner.idse_dir.exists()
    assert init_project(inner, "other", force=True)


# -------------------------------------------------------------------------------------- the sync record


def test_a_broken_sync_record_names_its_line(ws):
    from idse_orchestrator.sync.record import load_record, record_path

    project = Project(ws, "demo")
    path = record_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{\n  "version": 1,\n  "clone": oops\n}\n')
    with pytest.raises(BadFile) as exc:
        load_record(project)
    assert exc.value.path == f"{PROJECT_REL}/.sync/record.json"
    assert exc.value.line == 3
    assert exc.value.message.startswith(f"{PROJECT_REL}/.sync/record.json:3: invalid JSON; delete it")

"""End-to-end behaviour of the foundation commands: init, projects, discovery, docs, help, --version."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from helpers import assert_one_line_error, run_idse

import idse_orchestrator
from idse_orchestrator.cli import COMMANDS
from idse_orchestrator.stages import STAGE_NAMES, STAGES
from idse_orchestrator.templating import package_templates_dir

BLUEPRINT = "__blueprint__"
BLUEPRINT_FILES = (
    "intents/intent.md",
    "contexts/context.md",
    "specs/spec.md",
    "plans/plan.md",
    "tasks/tasks.md",
    "implementation/README.md",
    "feedback/feedback.md",
    "metadata/session.json",
)


def expected_init_files(project: str) -> set[str]:
    base = f".idse/projects/{project}"
    return {
        ".idse/config.yaml",
        ".idse/.gitignore",
        f"{base}/CURRENT_SESSION",
        f"{base}/agent_registry.json",
        *(f"{base}/sessions/{BLUEPRINT}/{rel}" for rel in BLUEPRINT_FILES),
    }


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def idse_ancestor(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if (candidate / ".idse").is_dir():
            return candidate
    return None


# --------------------------------------------------------------------------------------------- init


def test_init_creates_exactly_the_workspace_files(cli, tmp_path):
    result = cli("init", "demo", "--stack", "python")
    assert result.exit_code == 0, result.stderr
    assert files_under(tmp_path) == expected_init_files("demo")

    idse = tmp_path / ".idse"
    assert ".cache/" in (idse / ".gitignore").read_text().splitlines()
    project = idse / "projects" / "demo"
    assert (project / "CURRENT_SESSION").read_text().strip() == BLUEPRINT

    registry = json.loads((project / "agent_registry.json").read_text())
    assert set(registry) == {"agents"}
    assert registry["agents"], "the default registry routes the stages to agents"
    for agent in registry["agents"]:
        assert {"id", "role", "mode", "stages"} <= set(agent)
        assert agent["mode"] in ("planning", "implementation")
        assert set(agent["stages"]) <= set(STAGE_NAMES)
    routed = {stage for agent in registry["agents"] for stage in agent["stages"]}
    assert routed == set(STAGE_NAMES)

    meta = json.loads((project / "sessions" / BLUEPRINT / "metadata" / "session.json").read_text())
    assert meta["id"] == BLUEPRINT
    assert meta["project"] == "demo"
    assert meta["type"] == "blueprint"
    assert meta["parent"] is None
    assert meta["stack"] == "python"


def test_init_leaves_session_state_to_the_first_build(cli, tmp_path):
    # session_state.json is derived; its one writer is a full `idse build`, not init or status.
    state_path = tmp_path / ".idse/projects/demo/session_state.json"
    assert cli("init", "demo", "--stack", "python").exit_code == 0
    assert not state_path.exists()
    assert cli("status").exit_code == 0
    assert not state_path.exists()
    result = cli("build")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    state = json.loads(state_path.read_text())
    assert state["project"] == "demo"
    assert state["session"] == BLUEPRINT
    assert {name: s["status"] for name, s in state["stages"].items()} == dict.fromkeys(STAGE_NAMES, "pending")


def test_init_documents_come_from_the_templates(cli, tmp_path):
    assert cli("init", "demo", "--stack", "rust").exit_code == 0
    session = tmp_path / ".idse/projects/demo/sessions" / BLUEPRINT
    for stage in STAGES:
        text = (session / stage.relpath).read_text()
        assert BLUEPRINT in text.splitlines()[0], f"{stage.name}: the title names the session"
        assert "[REQUIRES INPUT]" in text
        assert "{{" not in text and "{%" not in text
    # The stack is rendered into the documents that mention it.
    assert "rust" in (session / "intents/intent.md").read_text()


def test_init_without_stack_records_none(cli, tmp_path):
    assert cli("init", "demo").exit_code == 0
    meta = json.loads(
        (tmp_path / ".idse/projects/demo/sessions" / BLUEPRINT / "metadata/session.json").read_text()
    )
    assert meta["stack"] in (None, "")


def test_init_json_lists_the_created_files(cli, tmp_path):
    result = cli("init", "demo", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["project"] == "demo"
    assert set(data["created"]) == files_under(tmp_path)


def test_reinit_refuses_and_changes_nothing(ws, cli, tmp_path, snapshot):
    intent = tmp_path / ".idse/projects/demo/sessions" / BLUEPRINT / "intents/intent.md"
    intent.write_text("# Intent\n\nMy own words.\n")
    before = snapshot(tmp_path)

    line = assert_one_line_error(cli("init", "demo"))
    assert "demo" in line and "--force" in line
    assert snapshot(tmp_path) == before
    assert intent.read_bytes() == b"# Intent\n\nMy own words.\n"

    # Also with another stack: nothing is silently rewritten.
    assert_one_line_error(cli("init", "demo", "--stack", "node"))
    assert snapshot(tmp_path) == before


def test_init_force_adds_only_missing_files(ws, cli, tmp_path, snapshot):
    assert cli("build").exit_code == 0  # so that session_state.json exists too (init must not touch it)
    assert (tmp_path / ".idse/projects/demo/session_state.json").is_file()
    session = tmp_path / ".idse/projects/demo/sessions" / BLUEPRINT
    plan = session / "plans/plan.md"
    original_plan = plan.read_bytes()
    plan.unlink()
    (tmp_path / ".idse/.gitignore").unlink()
    spec = session / "specs/spec.md"
    spec.write_text("# Spec\n\nEdited by hand.\n")
    config = tmp_path / ".idse/config.yaml"
    config.write_text("version: 1\n# mine\n")
    before = snapshot(tmp_path)

    result = cli("init", "demo", "--force")
    assert result.exit_code == 0, result.stderr
    assert plan.read_bytes() == original_plan
    assert ".cache/" in (tmp_path / ".idse/.gitignore").read_text()
    after = snapshot(tmp_path)
    assert spec.read_bytes() == b"# Spec\n\nEdited by hand.\n"
    assert config.read_bytes() == b"version: 1\n# mine\n"
    # Everything that existed is byte-for-byte unchanged, session_state.json included.
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {".idse/.gitignore", plan.relative_to(tmp_path).as_posix()}


def test_init_force_on_a_complete_project_adds_nothing(ws, cli, tmp_path, snapshot):
    before = snapshot(tmp_path)
    result = cli("init", "demo", "--force", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["created"] == []
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "..", ".hidden", "", "x" * 65, "a b", "x..y"])
def test_init_rejects_unsafe_project_names(cli, tmp_path, snapshot, name):
    assert_one_line_error(cli("init", name))
    assert snapshot(tmp_path) == {}


# ----------------------------------------------------------------------------------- several projects


@pytest.fixture
def two_projects(ws, cli):
    assert cli("init", "other", "--stack", "node").exit_code == 0
    return ws


def test_second_project_shares_the_workspace(two_projects, cli, tmp_path):
    assert files_under(tmp_path / ".idse/projects/other") == {
        p.removeprefix(".idse/projects/other/") for p in expected_init_files("other") if "/projects/" in p
    }
    meta = json.loads(
        (tmp_path / ".idse/projects/other/sessions" / BLUEPRINT / "metadata/session.json").read_text()
    )
    assert meta["project"] == "other" and meta["stack"] == "node"


def test_two_projects_without_choice_is_a_usage_error(two_projects, cli):
    for args in (["status"], ["sessions"], ["session", "create", "feat"], ["spawn", "feat"]):
        line = assert_one_line_error(cli(*args))
        assert "demo" in line and "other" in line
        assert "--project" in line
    assert not (two_projects.projects_dir / "demo/sessions/feat").exists()
    assert not (two_projects.projects_dir / "other/sessions/feat").exists()


@pytest.mark.parametrize("flag", ["--project", "-p"])
def test_project_option_chooses_the_project(two_projects, cli, flag):
    result = cli("status", "--json", flag, "other")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["project"] == "other"

    assert cli("session", "create", "feat", flag, "other").exit_code == 0
    assert (two_projects.projects_dir / "other/sessions/feat").is_dir()
    assert not (two_projects.projects_dir / "demo/sessions/feat").exists()


def test_idse_project_env_chooses_the_project(two_projects, cli, monkeypatch):
    monkeypatch.setenv("IDSE_PROJECT", "other")
    result = cli("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["project"] == "other"
    # An explicit --project wins over the environment.
    result = cli("status", "--json", "--project", "demo")
    assert json.loads(result.stdout)["project"] == "demo"


def test_unknown_project_is_a_usage_error(two_projects, cli, monkeypatch):
    line = assert_one_line_error(cli("status", "--project", "nope"))
    assert "nope" in line
    monkeypatch.setenv("IDSE_PROJECT", "nope")
    assert_one_line_error(cli("status"))


def test_single_project_is_chosen_automatically(ws, cli):
    result = cli("status", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["project"] == "demo"


# ------------------------------------------------------------------------------------------ discovery


def test_discovery_walks_up_from_a_subdirectory(ws, cli, tmp_path, monkeypatch):
    sub = tmp_path / "src" / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    result = cli("status", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["project"] == "demo"

    assert cli("session", "create", "feat").exit_code == 0
    assert (tmp_path / ".idse/projects/demo/sessions/feat/intents/intent.md").is_file()
    assert not (sub / ".idse").exists()
    assert list(sub.iterdir()) == []


OUTSIDE_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["sessions"],
    ["sessions", "--json"],
    ["session", "create", "feat"],
    ["session", "switch", "feat"],
    ["session", "set-status", "feat", "review"],
    ["session-info", BLUEPRINT],
    ["spawn", "feat"],
    ["docs", "install"],
]


@pytest.mark.parametrize("args", OUTSIDE_COMMANDS, ids=" ".join)
def test_outside_a_workspace_every_command_fails_cleanly(cli, tmp_path, snapshot, args):
    if idse_ancestor(tmp_path) is not None:
        pytest.skip(f"an ancestor of {tmp_path} holds .idse/")
    line = assert_one_line_error(cli(*args))
    assert "idse init" in line
    assert snapshot(tmp_path) == {}


def test_outside_a_workspace_in_a_subprocess(tmp_path):
    if idse_ancestor(tmp_path) is not None:
        pytest.skip(f"an ancestor of {tmp_path} holds .idse/")
    proc = run_idse("status", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unknown_command_is_a_usage_error(cli):
    assert_one_line_error(cli("no-such-command"))


# ----------------------------------------------------------------------------------------------- docs


def shipped_docs() -> dict[str, bytes]:
    base = package_templates_dir() / "docs"
    return {p.name: p.read_bytes() for p in base.iterdir() if p.is_file() and not p.name.startswith("_")}


def test_docs_install_writes_every_shipped_doc(ws, cli, tmp_path):
    docs = shipped_docs()
    assert {"philosophy.md", "pipeline.md", "constitution.md", "agent-roles.md", "getting-started.md"} <= set(
        docs
    )
    result = cli("docs", "install")
    assert result.exit_code == 0, result.stderr
    target = tmp_path / ".idse/docs"
    for name, data in docs.items():
        assert (target / name).read_bytes() == data


def test_docs_install_keeps_edits_unless_forced(ws, cli, tmp_path):
    assert cli("docs", "install").exit_code == 0
    target = tmp_path / ".idse/docs"
    edited = target / "philosophy.md"
    edited.write_text("# Our philosophy\n")
    removed = target / "pipeline.md"
    removed.unlink()

    result = cli("docs", "install")
    assert result.exit_code == 0
    assert edited.read_text() == "# Our philosophy\n"
    assert "philosophy.md" in result.stdout
    assert removed.read_bytes() == shipped_docs()["pipeline.md"]

    result = cli("docs", "install", "--force")
    assert result.exit_code == 0
    assert edited.read_bytes() == shipped_docs()["philosophy.md"]


def test_docs_install_json_reports_written_and_kept(ws, cli, tmp_path):
    first = json.loads(cli("docs", "install", "--json").stdout)
    assert {Path(p).name for p in first["written"]} == set(shipped_docs())
    (tmp_path / ".idse/docs/constitution.md").write_text("ours\n")
    second = json.loads(cli("docs", "install", "--json").stdout)
    assert second["written"] == []
    assert [Path(p).name for p in second["kept"]] == ["constitution.md"]


# ----------------------------------------------------------------------------------------------- help


def load_command(name: str) -> click.Command:
    module_name, attr = COMMANDS[name].split(":")
    try:
        module = importlib.import_module(f"idse_orchestrator.cli.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"idse_orchestrator.cli.{module_name}":
            raise
        pytest.skip(f"idse_orchestrator.cli.{module_name} is not written yet")
    return getattr(module, attr)


def command_paths(command: click.Command, prefix: list[str]) -> list[list[str]]:
    paths = [prefix]
    if isinstance(command, click.Group):
        for sub in sorted(command.commands):
            paths.extend(command_paths(command.commands[sub], [*prefix, sub]))
    return paths


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(cli, name):
    command = load_command(name)
    for path in command_paths(command, [name]):
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.stderr)
        assert result.stdout.startswith("Usage: idse " + " ".join(path)), path
        assert result.stderr == ""


def test_top_level_help_lists_every_command(cli):
    for name in COMMANDS:
        load_command(name)
    result = cli("--help")
    assert result.exit_code == 0, result.stderr
    for name in COMMANDS:
        assert f"  {name} " in result.stdout or f"  {name}\n" in result.stdout, name


# -------------------------------------------------------------------------------------------- version


HEAVY = ("click", "pydantic", "jinja2", "doit", "yaml")


def test_version_is_printed_without_heavy_imports(tmp_path):
    code = (
        "import sys\n"
        "from idse_orchestrator.entry import main\n"
        "rc = main(['--version'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})\n"
        "print('HEAVY', heavy, rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert idse_orchestrator.__version__ in lines[0]
    assert lines[-1] == "HEAVY [] 0"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_from_the_real_program(tmp_path, flag):
    proc = run_idse(flag, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"idse {idse_orchestrator.__version__}")
    assert proc.stderr == ""


def test_version_in_process_matches(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert idse_orchestrator.__version__ in result.stdout


# ------------------------------------------------------------------------------------------- non-TTY


def test_non_tty_session_never_waits_for_input(tmp_path):
    proc = run_idse("init", "demo", "--stack", "python", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert files_under(tmp_path) == expected_init_files("demo")

    proc = run_idse("status", "--json", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["session"] == BLUEPRINT

    proc = run_idse("init", "demo", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr

    proc = run_idse("spawn", "feat", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = run_idse("sessions", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    assert "feat" in proc.stdout

"""`idse docs`: every documentation page ships with idse and reads offline; no message points at a file
that an installed user does not have."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from helpers import assert_one_line_error

from idse_orchestrator.cli import COMMANDS
from idse_orchestrator.cli import cli as root_command

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "idse_orchestrator"
REFERENCE = sorted(p for p in (REPO / "docs").iterdir() if p.suffix in (".md", ".yaml"))
METHOD = sorted((REPO / "templates" / "docs").glob("*.md"))


def test_every_page_is_listed_once_with_its_title(cli):
    result = cli("docs", "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)["pages"]
    assert [(p["kind"], p["file"]) for p in listed] == [("reference", p.name) for p in REFERENCE] + [
        ("method", p.name) for p in METHOD
    ]
    names = [p["name"] for p in listed]
    assert len(names) == len(set(names))
    by_name = {p["name"]: p for p in listed}
    assert {
        "sync",
        "agents",
        "mcp",
        "artifact-core-protocol",
        "artifact-core-openapi",
        "getting-started",
    } <= set(names)
    assert by_name["sync"]["title"].startswith("Sync")
    text = cli("docs").stdout
    assert "reference:" in text and "method:" in text and "  mcp " in text


@pytest.mark.parametrize("path", REFERENCE + METHOD, ids=lambda p: p.name)
def test_show_prints_the_page_exactly(cli, path):
    for name in (path.stem, path.name):
        result = cli("docs", "show", name)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == path.read_text("utf-8")


def test_an_unknown_page_is_a_one_line_error_with_a_suggestion(cli):
    line = assert_one_line_error(cli("docs", "show", "synk"))
    assert "did you mean sync" in line


def test_docs_install_still_copies_the_method_docs(cli, ws, tmp_path):
    result = cli("docs", "install", "--json")
    assert result.exit_code == 0, result.stderr
    written = json.loads(result.stdout)["written"]
    assert sorted(Path(p).name for p in written) == [p.name for p in METHOD]


def _command_paths(command: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                out += _command_paths(sub, (*path, name))
    return out


# A repository path in a message: docs/<page>, but not .idse/docs/ (the workspace's own folder).
REPO_DOC = re.compile(r"(?<![.\w/])docs/")


def test_no_help_text_points_at_a_repository_file(cli):
    ctx = click.Context(root_command)
    paths = [
        p for name in sorted(COMMANDS) for p in _command_paths(root_command.get_command(ctx, name), (name,))
    ]
    assert len(paths) > len(COMMANDS)
    for path in [(), *paths]:
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.stderr)
        assert not REPO_DOC.search(result.stdout), (path, result.stdout)


def test_no_message_in_the_code_points_at_a_repository_file():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and REPO_DOC.search(node.value)
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


@pytest.mark.slow
def test_the_distribution_ships_every_page(tmp_path):
    """setuptools' build_py selects exactly what a wheel's purelib receives, from the same configuration."""
    import shutil

    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for rel in ("src", "tasks", "templates", "docs"):
        shutil.copytree(REPO / rel, source / rel, ignore=ignore)
    for rel in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / rel, source / rel)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "-d", str(out)]
    proc = subprocess.run(cmd, cwd=source, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in REFERENCE:
        shipped = out / "idse_orchestrator" / "manual" / path.name
        assert shipped.read_bytes() == path.read_bytes(), path.name
    for path in METHOD:
        assert (out / "idse_orchestrator" / "templates" / "docs" / path.name).is_file(), path.name


def _readme_yaml_blocks() -> list[object]:
    import yaml

    text = (REPO / "README.md").read_text("utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_the_readme_ci_recipe_runs_here(cli, ws):
    """Every `idse …` step of the README's CI job is a command that succeeds on a fresh workspace."""
    import shlex

    (job,) = [b["jobs"]["idse"] for b in _readme_yaml_blocks() if isinstance(b, dict) and "jobs" in b]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any(r.startswith("pip install") for r in runs)
    commands = [shlex.split(r) for r in runs if r.startswith("idse ")]
    assert ["idse", "build"] in commands
    for argv in commands:
        result = cli(*argv[1:])
        assert result.exit_code == 0, (argv, result.stderr)


def test_the_readme_pre_commit_snippet_names_the_hooks():
    import yaml

    (config,) = [b for b in _readme_yaml_blocks() if isinstance(b, dict) and "repos" in b]
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [h["id"] for h in config["repos"][0]["hooks"]] == [h["id"] for h in hooks]

"""The everyday commands answered without click (``idse_orchestrator.quick``) print exactly what the
click commands print: same exit code, same stdout, same stderr, for any command line (hypothesis
draws them from the options both know and some they do not), and the plain forms really skip click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from idse_orchestrator.quick import parse  # noqa: E402

TOKENS = [
    "--json", "--why", "--all", "--strict", "--force", "--project", "-p", "demo", "nope", "--project=demo",
    "--project=", "--session", "-s", "__blueprint__", "feat", "ghost", "--format", "text", "json",
    "--format=text", "spec", "plan", "bogus", "--help", "--", "-x", "--jobs", "2", "-pdemo",
]  # fmt: skip
COMMANDS = ["status", "sessions", "route", "validate", "build", "stats"]
PREFIXES = [[], ["--color", "always"], ["--color=never"], ["--color", "sometimes"], ["--color"]]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the blueprint and `feat` (current), one document with a placeholder, built."""
    from idse_orchestrator.cli import run

    root = tmp_path_factory.mktemp("quick")
    previous = Path.cwd()
    import os

    os.chdir(root)
    try:
        assert run(["init", "demo", "--stack", "python"]) == 0
        assert run(["session", "create", "feat"]) == 0
        spec = root / ".idse/projects/demo/sessions/feat/specs/spec.md"
        spec.write_text(spec.read_text("utf-8") + "\nEdited, [REQUIRES INPUT] still.\n", "utf-8")
        assert run(["build"]) in (0, 1)
    finally:
        os.chdir(previous)
    return root


def both(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    from idse_orchestrator.cli import run
    from idse_orchestrator.entry import main

    capsys.readouterr()
    code = main(list(args))
    quick = (code, *capsys.readouterr())
    code = run(list(args))
    return quick, (code, *capsys.readouterr())


@settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
@given(
    prefix=st.sampled_from(PREFIXES),
    command=st.sampled_from(COMMANDS),
    rest=st.lists(st.sampled_from(TOKENS), max_size=4),
)
def test_the_same_output_as_the_click_command(workspace, monkeypatch, capsys, prefix, command, rest):
    monkeypatch.chdir(workspace)
    args = [*prefix, command, *rest]
    quick, clicked = both(args, capsys)
    assert quick == clicked, args


@pytest.mark.parametrize("value", ["demo", "nope", ""])
def test_idse_project_from_the_environment(workspace, monkeypatch, capsys, value):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("IDSE_PROJECT", value)
    for args in (["status"], ["sessions", "--json"], ["route", "plan"], ["validate"]):
        quick, clicked = both(args, capsys)
        assert quick == clicked, args


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json", "--why", "-s", "__blueprint__"],
        ["--color", "always", "status", "--project=demo"],
        ["sessions", "--json"],
        ["route", "spec", "--session", "feat"],
        ["validate", "--all", "--strict"],
        ["validate", "-s", "feat", "-s", "__blueprint__", "--format", "text"],
        ["build"],
        ["build", "--json", "-p", "demo"],
    ],
)
def test_plain_forms_are_answered_without_click(workspace, args):
    assert parse(args) is not None
    code = (
        "import sys\n"
        "from idse_orchestrator.entry import main\n"
        f"code = main({args!r})\n"
        "print('CLICK=' + str('click' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=workspace, capture_output=True, text=True)
    assert "CLICK=False" in out.stdout, out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--help"],
        ["status", "extra"],
        ["route"],
        ["validate", "--json"],
        ["validate", "--format", "sarif"],
        ["build", "--dry-run"],
        ["build", "feat"],
        ["status", "--project"],
        ["status", "--json=1"],
        ["--color", "pink", "status"],
        ["init", "x"],
    ],
)
def test_every_other_form_is_left_to_click(args):
    assert parse(args) is None


def test_shell_completion_is_left_to_click(monkeypatch):
    assert parse(["status"]) is not None
    monkeypatch.setenv("_IDSE_COMPLETE", "bash_complete")
    assert parse(["status"]) is None


def test_a_bug_ends_as_in_the_click_path(workspace, monkeypatch, capsys):
    """A bug inside a body: one line naming the crash report, exit 3, in both ways."""
    from idse_orchestrator import quick

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.chdir(workspace)
    monkeypatch.setattr(quick, "open_project", broken)
    monkeypatch.delenv("IDSE_DEBUG", raising=False)
    fast, clicked = both(["sessions"], capsys)
    assert fast[0] == clicked[0] == 3
    assert fast[2].startswith("idse: error: internal error: ZeroDivisionError: boom (crash report: ")
    assert clicked[2].startswith("idse: error: internal error: ZeroDivisionError: boom (crash report: ")

"""`idse completion`: the script click generates, and what the shell gets back when it calls `idse` with
`_IDSE_COMPLETE` set, from a real workspace (session ids, stages, rule ids, agent ids, pages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IDSE = [sys.executable, "-m", "idse_orchestrator"]


def complete(cwd: Path, words: str, shell: str = "bash") -> list[str]:
    """What the shell's completion function receives for the command line ``words`` (cursor at its end)."""
    parts = words.split(" ")
    env = {**os.environ, "_IDSE_COMPLETE": f"{shell}_complete", "COMP_WORDS": words}
    # bash and zsh pass the index of the word being completed; fish passes that word itself.
    env["COMP_CWORD"] = str(len(parts) - 1) if shell != "fish" else parts[-1]
    out = subprocess.run(
        [*IDSE], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    if shell == "bash":
        return [line.split(",", 1)[1] for line in out.stdout.splitlines() if line]
    if shell == "zsh":
        lines = out.stdout.splitlines()
        return [lines[i + 1] for i in range(0, len(lines), 3)]
    return [line.split(",", 1)[1].split("\t")[0] for line in out.stdout.splitlines()]


@pytest.fixture
def workspace(cli, ws, tmp_path):
    assert cli("spawn", "checkout-flow").exit_code == 0
    return tmp_path


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_calls_idse_back(cli, shell):
    result = cli("completion", shell)
    assert result.exit_code == 0, result.stderr
    assert f"_IDSE_COMPLETE={shell}_complete" in result.stdout


def test_an_unknown_shell_is_a_usage_error(cli):
    from idse_orchestrator.cli.completion import completion_script
    from idse_orchestrator.errors import UsageError

    result = cli("completion", "tcsh")
    assert result.exit_code == 2 and result.stdout == ""
    with pytest.raises(UsageError):
        completion_script("tcsh")


def test_values_from_the_workspace(workspace):
    assert complete(workspace, "idse sta") == ["status"]
    assert complete(workspace, "idse status --session ") == ["__blueprint__", "checkout-flow"]
    assert complete(workspace, "idse validate -s ch") == ["checkout-flow"]
    assert complete(workspace, "idse build ") == ["__blueprint__", "checkout-flow"]
    assert complete(workspace, "idse session switch chec") == ["checkout-flow"]
    assert complete(workspace, "idse spawn x --from __") == ["__blueprint__"]
    assert complete(workspace, "idse route ") == [
        "intent",
        "context",
        "spec",
        "plan",
        "tasks",
        "implementation",
        "feedback",
    ]
    assert complete(workspace, "idse accept im") == ["implementation"]
    assert complete(workspace, "idse rules show IDSE-R00") == ["IDSE-R001", "IDSE-R002", "IDSE-R003"]
    assert "IDSE-A006" in complete(workspace, "idse validate --rule IDSE-A")
    assert complete(workspace, "idse agents set-mode ") == ["claude-code", "codex", "copilot"]
    assert complete(workspace, "idse status --project ") == ["demo"]
    assert complete(workspace, "idse docs show sy") == ["sync"]
    assert complete(workspace, "idse sync resolve checkout-flow sp") == ["spec"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_the_same_values(workspace, shell):
    assert complete(workspace, "idse status --session ", shell) == ["__blueprint__", "checkout-flow"]


def test_outside_a_workspace_nothing_is_offered_and_nothing_fails(tmp_path):
    assert complete(tmp_path, "idse status --session ") == []
    assert complete(tmp_path, "idse route sp") == ["spec"]
    assert complete(tmp_path, "idse rules show IDSE-A00") == [f"IDSE-A00{i}" for i in range(1, 7)]


def test_bash_runs_the_script(workspace):
    """The script itself, sourced by a real bash: COMPREPLY after completing `idse route sp`."""
    bash = shutil.which("bash")
    idse = Path(sys.executable).parent / "idse"
    if bash is None or not idse.exists():
        pytest.skip("needs bash and the idse console script beside the interpreter")
    script = subprocess.run(
        [str(idse), "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    # bash passes the command name as $1 to a completion function.
    probe = script + "\nCOMP_WORDS=(idse session-info che); COMP_CWORD=2; _idse_completion idse\n"
    probe += "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    env = {**os.environ, "PATH": f"{idse.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        [bash, "--norc", "-c", probe], cwd=workspace, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["checkout-flow"]


def values(args: list[str], incomplete: str) -> list[str]:
    """The same completion, computed in this process by click's own machinery."""
    from click.shell_completion import BashComplete

    from idse_orchestrator.cli import cli

    return [
        c.value for c in BashComplete(cli, {}, "idse", "_IDSE_COMPLETE").get_completions(args, incomplete)
    ]


def test_in_process_every_kind_of_value(workspace):
    assert values(["status", "--session"], "") == ["__blueprint__", "checkout-flow"]
    assert values(["status", "--project", "demo", "--session"], "c") == ["checkout-flow"]
    assert values(["agents", "--project", "demo", "set-mode"], "co") == ["codex", "copilot"]
    assert values(["route"], "t") == ["tasks"]
    assert values(["rules", "show"], "IDSE-M") == ["IDSE-M001"]
    assert values(["docs", "show"], "mc") == ["mcp"]
    assert values(["status", "--project"], "") == ["demo"]


def test_in_process_a_damaged_file_offers_nothing(workspace):
    (workspace / ".idse/projects/demo/agent_registry.json").write_text("{not json")
    assert values(["agents", "set-mode"], "") == []
    assert values(["status", "--session"], "") == ["__blueprint__", "checkout-flow"]

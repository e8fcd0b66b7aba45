"""`.pre-commit-hooks.yaml`, run by the real `pre-commit` in a repository that uses this one as its hook
source, the way a user's repository does (pre-commit installs idse from that source into its own venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOOKS = ("idse-validate", "idse-agent-files")


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_hook_file_names_the_documented_hooks():
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [h["id"] for h in hooks] == list(HOOKS)
    for hook in hooks:
        assert hook["entry"].startswith("idse ") and hook["language"] == "python"
        assert hook["pass_filenames"] is False


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding this checkout's files (tracked or new, not ignored) as they are now,
    committed: pre-commit installs a hook repository at a commit."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of idse-orchestrator")
    source = tmp_path_factory.mktemp("hook-source")
    for rel in git(REPO, "ls-files", "--cached", "--others", "--exclude-standard").splitlines():
        src = REPO / rel
        if src.is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / rel)
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "hook source")
    return source, git(source, "rev-parse", "HEAD")


def pre_commit(target: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_hooks_pass_fail_and_skip_as_a_user_sees(hook_source, tmp_path):
    pytest.importorskip("pre_commit", reason="pre-commit is in the test extra")
    source, rev = hook_source
    target = tmp_path / "user-repo"
    target.mkdir()
    home = tmp_path / "pre-commit-home"
    git(target, "init", "-q")
    init = [sys.executable, "-m", "idse_orchestrator", "init", "demo"]
    subprocess.run(init, cwd=target, check=True, capture_output=True)
    config = f"repos:\n  - repo: {source}\n    rev: {rev}\n    hooks:\n" + "".join(
        f"      - id: {hook}\n" for hook in HOOKS
    )
    (target / ".pre-commit-config.yaml").write_text(config)
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "workspace")

    # The agent files were never written: the agent-files hook fails and says which.
    first = pre_commit(target, home, "run", "--all-files")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "idse validate" in first.stdout and "out of date  CLAUDE.md" in first.stdout

    subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", "generate-agent-files"],
        cwd=target,
        check=True,
        capture_output=True,
    )
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "agent files")
    clean = pre_commit(target, home, "run", "--all-files")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # A document that loses a required section: idse-validate fails with the finding's rule id.
    intent = target / ".idse/projects/demo/sessions/__blueprint__/intents/intent.md"
    intent.write_text("# Intent: __blueprint__\n\nNothing else.\n")
    git(target, "add", "-A")
    broken = pre_commit(target, home, "run")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "IDSE-A003" in broken.stdout

    # A change outside .idse/ and the agent files: both hooks are skipped.
    git(target, "checkout", "-q", "--", ".")
    git(target, "reset", "-q")
    git(target, "checkout", "-q", "--", ".")
    (target / "README.txt").write_text("hello\n")
    git(target, "add", "README.txt")
    other = pre_commit(target, home, "run")
    assert other.returncode == 0, other.stdout + other.stderr
    assert other.stdout.count("Skipped") == 2, other.stdout

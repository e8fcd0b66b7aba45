"""A read-only workspace: read commands work (results computed in a temporary folder, one warning),
write commands say the workspace is read-only. Runs as an unprivileged user (root can write anything);
skipped with the reason where that is not possible."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fault suite: real processes, kills, timing

CODE = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"


def as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", CODE]
    else:
        cmd = [sys.executable, "-c", CODE]
    env = {k: v for k, v in os.environ.items() if k not in ("HOME",)}
    env["HOME"] = str(root)
    return subprocess.run([*cmd, *args], cwd=root, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def read_only_repo():
    base = Path(tempfile.mkdtemp(prefix="idse-ro-"))
    os.chmod(base, 0o755)
    root = base / "repo"
    root.mkdir()
    code = subprocess.run([sys.executable, "-c", CODE, "init", "demo"], cwd=root, capture_output=True)
    assert code.returncode == 0
    assert subprocess.run([sys.executable, "-c", CODE, "build"], cwd=root).returncode == 0
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
    probe = as_nobody(root, "--version")
    if probe.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot run idse as an unprivileged user here: {probe.stderr.strip()[:200]}")
    if os.geteuid() != 0 and os.access(root, os.W_OK):
        pytest.skip("this user can write a chmod a-w folder")
    yield root
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    shutil.rmtree(base, ignore_errors=True)


def test_read_commands_work_read_only(read_only_repo):
    before = {p: p.stat().st_mtime_ns for p in read_only_repo.rglob("*")}
    for args in (("validate",), ("status",), ("validate", "--format", "json"), ("sessions",)):
        result = as_nobody(read_only_repo, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "internal error" not in result.stderr
    result = as_nobody(read_only_repo, "validate")
    assert result.stderr.count("read-only") == 1
    assert "IDSE-A005" in result.stdout  # the findings are the real ones
    assert {p: p.stat().st_mtime_ns for p in read_only_repo.rglob("*")} == before


def test_write_commands_say_the_workspace_is_read_only(read_only_repo):
    for args in (("build",), ("session", "create", "feat"), ("session", "switch", "__blueprint__")):
        result = as_nobody(read_only_repo, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        said = result.stderr.lower()
        assert ("read-only" in said or "permission denied" in said) and "internal error" not in said
        assert len(result.stderr.strip().splitlines()) == 1

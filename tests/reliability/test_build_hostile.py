"""Hostile conditions for the build path, run as real processes: FIFOs and devices where documents
should be, symlinks out of the repository, absurdly nested JSON, damaged caches, `kill -9` of a
parallel build. Each must end in a finding or a one-line error, never a hang or an internal error.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from build_oracle import alive, children_of
from helpers import run_idse

pytestmark = pytest.mark.slow  # a fault suite: real processes, kills, timing

PROJ = ".idse/projects/demo"
BP = f"{PROJ}/sessions/__blueprint__"


def idse(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_idse(*args, cwd=root, timeout=timeout)


def no_internal_error(result: subprocess.CompletedProcess[str]) -> None:
    assert "internal error" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), result


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    assert idse(tmp_path, "init", "demo").returncode == 0
    return tmp_path


def test_a_fifo_spec_is_a_finding_not_a_hang(repo):
    spec = repo / BP / "specs/spec.md"
    spec.unlink()
    os.mkfifo(spec)
    result = idse(repo, "build", timeout=60)
    no_internal_error(result)
    assert result.returncode == 1
    assert "IDSE-A002" in result.stdout


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_spec_linked_to_a_device_is_never_read(repo, device):
    spec = repo / BP / "specs/spec.md"
    spec.unlink()
    spec.symlink_to(device)
    result = idse(repo, "build", timeout=60)
    no_internal_error(result)
    assert result.returncode == 1
    assert "IDSE-A002" in result.stdout


def test_a_document_linked_outside_the_repository_is_never_read(repo, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.md"
    outside.write_text("# Plan\n\nTOP-SECRET-PLAN\n")
    plan = repo / BP / "plans/plan.md"
    plan.unlink()
    plan.symlink_to(outside)
    result = idse(repo, "build")
    no_internal_error(result)
    assert result.returncode == 1
    assert "outside the repository" in result.stdout
    assert idse(repo, "spawn", "feat").returncode == 0
    for path in repo.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"TOP-SECRET-PLAN" not in path.read_bytes(), path


def test_a_document_linked_inside_the_repository_is_followed(repo):
    real = repo / "docs/plan.md"
    real.parent.mkdir()
    plan = repo / BP / "plans/plan.md"
    real.write_bytes(plan.read_bytes())
    plan.unlink()
    plan.symlink_to(real)
    result = idse(repo, "validate", "--format", "json")
    no_internal_error(result)
    assert "IDSE-A002" not in result.stdout


@pytest.mark.parametrize(
    "rel", [f"{PROJ}/agent_registry.json", f"{BP}/metadata/session.json", f"{PROJ}/session_state.json"]
)
def test_absurdly_nested_json_is_bad_input_not_a_crash(repo, rel):
    (repo / rel).write_text("[" * 100_000)
    for args in (("build",), ("status",), ("validate",), ("sessions",)):
        result = idse(repo, *args)
        no_internal_error(result)


def test_damaged_cache_contents_are_moved_aside_and_rebuilt(repo):
    assert idse(repo, "build").returncode == 0
    cache = repo / ".idse/.cache"
    result_file = cache / "results/demo/sessions/__blueprint__.json"
    assert result_file.is_file()
    result_file.write_text(json.dumps({"schema": 1, "findings": "not a list", "statuses": 7}))
    conn = sqlite3.connect(cache / "demo.index.sqlite")
    conn.executescript("drop table owners; create table owners (x int);")
    conn.close()
    conn = sqlite3.connect(cache / "demo.doit.sqlite")
    conn.executescript("drop table doit; create table doit (nonsense int);")
    conn.close()
    first = idse(repo, "build")
    no_internal_error(first)
    assert first.returncode == 0, first.stderr
    again = idse(repo, "build")
    assert again.returncode == 0 and "up to date" in again.stdout


def test_a_lock_path_that_is_a_directory_and_a_cache_that_is_a_file(repo):
    cache = repo / ".idse/.cache"
    assert idse(repo, "build").returncode == 0
    lock = cache / "demo.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    result = idse(repo, "build")
    no_internal_error(result)
    assert result.returncode == 0, result.stderr
    import shutil

    shutil.rmtree(cache)
    cache.write_text("not a folder")
    result = idse(repo, "build")
    no_internal_error(result)
    assert result.returncode == 0, result.stderr
    assert idse(repo, "status").returncode == 0


def test_kill_9_of_a_parallel_build_frees_the_lock_and_its_workers(repo):
    for i in range(8):
        assert idse(repo, "session", "create", f"f{i}").returncode == 0
    code = "import sys; from idse_orchestrator.cli import run; sys.exit(run(['build', '-j', '2', '--force']))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo)
    workers: set[int] = set()
    deadline = time.monotonic() + 20
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = children_of(proc.pid)
        time.sleep(0.05)
    if not workers:
        pytest.skip("the build finished before its workers could be observed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers), "build workers outlived the killed build"
    started = time.monotonic()
    result = idse(repo, "build", timeout=50)
    no_internal_error(result)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30, "the next build waited for a dead process's lock"


def test_an_interrupted_write_leaves_no_temporary_file_in_the_workspace(repo, monkeypatch):
    """A write killed between creating its temporary file and renaming it leaves nothing that
    `git add -A` would stage: temporary files live in the git-ignored cache folder."""
    from idse_orchestrator import fsutil

    target = repo / BP / "plans/plan.md"

    def crash(src, dst):  # the process dies right before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(fsutil.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        fsutil.atomic_write_text(target, "new text\n")
    monkeypatch.undo()
    leftovers = [p for p in repo.rglob("*.tmp") if ".cache" not in p.parts]
    assert leftovers == []
    assert target.read_text() != "new text\n"


def test_a_failed_task_names_the_problem_not_a_python_class(repo, tmp_path_factory):
    missing = tmp_path_factory.mktemp("r") / "not-there"
    env = {**os.environ, "IDSE_SYNC_BACKEND": "filesystem", "IDSE_SYNC_URL": str(missing)}
    code = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "build", "--sync"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    failed = [ln for ln in result.stderr.splitlines() if ln.startswith("FAILED sync:")]
    assert failed and all("does not exist" in ln for ln in failed)
    assert "idse_orchestrator." not in result.stderr and "Error:" not in result.stderr


def test_two_projects_sharing_an_agent_file_never_leave_it_stale(tmp_path):
    assert idse(tmp_path, "init", "first").returncode == 0
    assert idse(tmp_path, "init", "second").returncode == 0
    assert idse(tmp_path, "generate-agent-files", "--project", "first").returncode == 0
    for project in ("second", "first", "second"):
        assert idse(tmp_path, "build", "--project", project).returncode == 0
        check = idse(tmp_path, "generate-agent-files", "--check", "--project", project)
        assert check.returncode == 0, (project, check.stdout, check.stderr)


def test_ctrl_c_of_a_parallel_build_ends_it_cleanly(repo):
    """Ctrl-C (twice) reaches the whole foreground process group: the build and its workers."""
    import random

    for i in range(12):
        assert idse(repo, "session", "create", f"c{i}").returncode == 0
    code = "import sys; from idse_orchestrator.cli import run; sys.exit(run(['build', '-j', '2', '--force']))"
    rng = random.Random(7)
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=repo, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        time.sleep(rng.uniform(0.3, 1.2))
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(rng.uniform(0.0, 0.3))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # impatient: a second Ctrl-C
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail("a Ctrl-C'd parallel build hung")
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130, -2), (proc.returncode, err)
    result = idse(repo, "build")
    assert result.returncode == 0, result.stderr

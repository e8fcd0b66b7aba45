"""Hostile conditions for creating and reading sessions: a full disk or `kill -9` in the middle of
`idse session create` / `idse spawn`, session names that look like lock files, an oversized
CURRENT_SESSION, a metadata parent that is not a session id. Each must leave a session whole or
absent and end in a finding or a one-line error, never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_one_line_error, run_idse

from idse_orchestrator import sessions as core
from idse_orchestrator.stages import METADATA_RELPATH, STAGES
from idse_orchestrator.workspace import format_size

pytestmark = pytest.mark.slow  # a fault suite: real processes, kills, timing

PROJ = ".idse/projects/demo"
SESSIONS = f"{PROJ}/sessions"


def idse(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_idse(*args, cwd=root, timeout=timeout)


RUN = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"


def no_internal_error(result) -> None:
    assert "internal error" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in (root / SESSIONS).iterdir())


def staging(root: Path) -> list[str]:
    return [name for name in entries(root) if name.startswith(core.STAGING_PREFIX)]


def current(root: Path) -> str:
    return (root / PROJ / "CURRENT_SESSION").read_text().strip()


def assert_complete(root: Path, session: str) -> None:
    folder = root / SESSIONS / session
    for stage in STAGES:
        assert (folder / stage.relpath).is_file(), (session, stage.relpath)
        assert (folder / stage.relpath).read_text().strip(), (session, stage.relpath)
    meta = json.loads((folder / METADATA_RELPATH).read_text())
    assert meta["id"] == session


def listed(cli) -> list[str]:
    result = cli("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)["sessions"]]


# ------------------------------------------------------------------------ disk full in the middle


REAL_WRITER = core.atomic_write_text


def failing_writer(monkeypatch, after: int) -> list[Path]:
    """Make the session writer run out of space once ``after`` files have been written."""
    real = REAL_WRITER
    written: list[Path] = []

    def write(path: Path, text: str, *, durable: bool = True) -> None:
        if len(written) >= after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text, durable=durable)
        written.append(path)

    monkeypatch.setattr(core, "atomic_write_text", write)
    return written


@pytest.mark.parametrize("after", [0, 2, 7], ids=["first-file", "third-file", "metadata"])
@pytest.mark.parametrize(
    "command", [["session", "create", "feat"], ["spawn", "feat"]], ids=["create", "spawn"]
)
def test_a_full_disk_leaves_no_session_and_the_same_create_then_works(ws, cli, monkeypatch, command, after):
    root = ws.root
    written = failing_writer(monkeypatch, after)
    line = assert_one_line_error(cli(*command))
    assert len(written) == after
    assert "No space left on device" in line and "nothing was created" in line, line
    assert entries(root) == ["__blueprint__"]  # no session, no staging folder
    assert current(root) == "__blueprint__"
    assert listed(cli) == ["__blueprint__"]

    # Not monkeypatch.undo(): that would also undo the fixture's chdir into tmp_path.
    monkeypatch.setattr(core, "atomic_write_text", REAL_WRITER)
    result = cli(*command)
    assert result.exit_code == 0, result.stderr
    assert_complete(root, "feat")
    assert current(root) == "feat"
    assert entries(root) == ["__blueprint__", "feat"]


def test_losing_the_race_to_another_create_is_refused_and_cleans_up(ws, cli, monkeypatch):
    assert cli("session", "create", "feat").exit_code == 0
    real = core._new_session
    theirs = ws.root / SESSIONS / "late"

    def racing(*args, **kwargs):
        meta = real(*args, **kwargs)
        # Another process creates the same session after the check, before the rename.
        theirs.mkdir()
        (theirs / "notes.md").write_text("theirs\n")
        return meta

    monkeypatch.setattr(core, "_new_session", racing)
    line = assert_one_line_error(cli("session", "create", "late"))
    assert "already exists" in line
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.md"]
    assert staging(ws.root) == []
    assert current(ws.root) == "feat"


# --------------------------------------------------------------------- leftovers of a killed run


def leftover(root: Path, session: str = "feat") -> Path:
    """A staging folder as a create killed half-way through leaves it: some documents, no metadata."""
    folder = root / SESSIONS / f"{core.STAGING_PREFIX}{session}.dead"
    (folder / STAGES[0].relpath).parent.mkdir(parents=True)
    (folder / STAGES[0].relpath).write_text("# half\n")
    return folder


def test_a_leftover_staging_folder_is_ignored_by_every_command(ws, cli):
    leftover(ws.root)
    assert listed(cli) == ["__blueprint__"]
    for args in (
        ["validate", "--all"],
        ["build"],
        ["status"],
        ["session-info", "__blueprint__"],
    ):
        result = cli(*args)
        no_internal_error(result)
        assert result.exit_code in (0, 1), (args, result.stderr)
        assert core.STAGING_PREFIX not in result.stdout + result.stderr, args
    line = assert_one_line_error(cli("session-info", f"{core.STAGING_PREFIX}feat.dead"))
    assert "must not start with a dot" in line


@pytest.mark.parametrize(
    "command", [["session", "create", "feat"], ["spawn", "other"]], ids=["create", "spawn"]
)
def test_the_next_create_removes_leftovers(ws, cli, command):
    leftover(ws.root, "feat")
    leftover(ws.root, "gone")
    assert cli(*command).exit_code == 0
    assert staging(ws.root) == []


def test_a_staging_folder_still_being_written_is_left_alone(ws, cli):
    import fcntl

    folder = leftover(ws.root, "busy")
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the live process creating it holds it
        assert cli("session", "create", "feat").exit_code == 0
        assert folder.is_dir()
    finally:
        os.close(fd)
    assert cli("session", "create", "next").exit_code == 0
    assert not folder.exists()


# ------------------------------------------------------------------------------- kill -9 midway


# The real CLI, with each file write announced on stdout and slowed a little: a kill can then be
# aimed into the write phase instead of hoping a random delay lands in its few milliseconds.
RUN_SLOW_WRITES = """
import sys, time
from idse_orchestrator import sessions
real = sessions.atomic_write_text
def write(*args, **kwargs):
    print("writing", flush=True)
    time.sleep(0.01)
    real(*args, **kwargs)
sessions.atomic_write_text = write
from idse_orchestrator.cli import run
sys.exit(run(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_during_create_leaves_the_session_whole_or_absent(tmp_path, cli):
    root = tmp_path
    assert idse(root, "init", "demo").returncode == 0
    started = time.monotonic()
    assert idse(root, "session", "create", "probe").returncode == 0
    full = time.monotonic() - started
    rng = random.Random(20240517)
    outcomes = {"absent": 0, "complete": 0, "interrupted": 0}
    for round_ in range(20):
        session = f"feat{round_}"
        before = current(root)
        aimed = round_ % 2 == 0
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_SLOW_WRITES if aimed else RUN, "session", "create", session],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if aimed:  # some time after the first file of the session is being written
            assert proc.stdout is not None
            proc.stdout.readline()
            delay = rng.uniform(0, 0.1)
        else:  # anywhere from start-up to just after the end
            delay = rng.uniform(0.3 * full, 1.1 * full)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        context = f"round {round_}, killed {delay:.3f}s {'into writing' if aimed else 'after start'}"
        if staging(root):
            outcomes["interrupted"] += 1
        folder = root / SESSIONS / session
        if folder.exists():
            outcomes["complete"] += 1
            assert_complete(root, session)
            assert current(root) in (before, session), context
            line = assert_one_line_error(cli("session", "create", session))
            assert line.endswith("already exists in project 'demo'"), context
        else:
            outcomes["absent"] += 1
            assert current(root) == before, context
            assert session not in listed(cli), context
            result = cli("session", "create", session)
            assert result.exit_code == 0, (context, result.stderr)
            assert_complete(root, session)
            assert staging(root) == [], context
        assert not [n for n in listed(cli) if n.startswith(".")], context
        result = cli("validate", "--session", session)
        no_internal_error(result)
        assert result.exit_code in (0, 1), (context, result.stderr)
    assert outcomes["interrupted"] >= 1, outcomes  # the kills did land in the middle of a create


# ------------------------------------------------------------------------- lock-like session names


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_only_idse_lock_files_are_ignored_by_git(ws, cli, tmp_path):
    root = ws.root
    assert git(root, "init", "-q").returncode == 0
    assert cli("session", "create", "release.lock").exit_code == 0
    assert cli("build").exit_code in (0, 1)
    remote = tmp_path / "remote"
    with (root / ".idse/config.yaml").open("a") as fh:
        fh.write(f"sync:\n  backend: filesystem\n  url: {remote}\n")
    result = cli("sync", "init")
    assert result.exit_code == 0, result.stderr
    assert cli("sync", "push").exit_code == 0
    ours = [".idse/.cache/demo.lock", f"{PROJ}/.sync.lock"]
    for rel in ours:
        assert (root / rel).exists(), rel  # written by the commands above
    # The local store's lock is taken when a pull writes into the workspace.
    ours.append(f"{PROJ}/.store.lock")
    leftover(root, "x")
    ours.append(f"{SESSIONS}/{core.STAGING_PREFIX}x.dead/{STAGES[0].relpath}")
    for rel in ours:
        assert git(root, "check-ignore", "-q", rel).returncode == 0, f"{rel} should be ignored"
    session = f"{SESSIONS}/release.lock"
    for rel in [session, *(f"{session}/{s.relpath}" for s in STAGES), f"{session}/{METADATA_RELPATH}"]:
        assert git(root, "check-ignore", "-q", rel).returncode == 1, f"{rel} must not be ignored"
    status = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    assert f"{session}/{STAGES[0].relpath}" in status


# ------------------------------------------------------------------------------ CURRENT_SESSION size


def test_an_oversized_current_session_states_the_real_limit(ws, cli, tmp_path, snapshot):
    (ws.root / PROJ / "CURRENT_SESSION").write_text("a" * 5000 + "\n")
    before = snapshot(tmp_path)
    for args in (["status"], ["sessions"], ["session-info", "__blueprint__"]):
        result = cli(*args)
        line = assert_one_line_error(result)
        assert line == (
            f"idse: error: {PROJ}/CURRENT_SESSION: is larger than 4 KB; it should hold one session id"
        ), args
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("size", "shown"),
    [(100, "100 bytes"), (4096, "4 KB"), (1536, "1.5 KB"), (1024 * 1024, "1 MB"), (5 * 1024 * 1024, "5 MB")],
)
def test_format_size(size, shown):
    assert format_size(size) == shown


# --------------------------------------------------------------------- a parent that is not an id


BAD_PARENTS = ["../../../etc", "/etc", ".hidden", "a/b", "x" * 65, "", "has space"]


def set_parent(root: Path, session: str, parent: str) -> str:
    rel = f"{SESSIONS}/{session}/{METADATA_RELPATH}"
    data = json.loads((root / rel).read_text())
    data["parent"] = parent
    (root / rel).write_text(json.dumps(data))
    return rel


@pytest.mark.parametrize("parent", BAD_PARENTS)
def test_a_parent_that_is_not_a_session_id_is_m001(ws, cli, parent):
    assert cli("session", "create", "feat").exit_code == 0
    rel = set_parent(ws.root, "feat", parent)
    result = cli("validate", "--all", "--format", "json")
    no_internal_error(result)
    assert result.exit_code == 1, result.stderr
    findings = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "IDSE-M001"]
    assert [(f["path"], f["severity"]) for f in findings] == [(rel, "error")]
    assert "parent" in findings[0]["message"] and "not a valid session id" in findings[0]["message"]


@pytest.mark.parametrize("parent", BAD_PARENTS)
def test_a_parent_that_is_not_a_session_id_names_the_file(ws, cli, parent):
    assert cli("session", "create", "feat").exit_code == 0
    rel = set_parent(ws.root, "feat", parent)
    # Commands about that session stop with one line naming the file...
    for args in (["session-info", "feat"], ["spawn", "child", "--from", "feat"]):
        line = assert_one_line_error(cli(*args))
        assert line.startswith(f"idse: error: {rel}: "), (args, line)
        assert "not a valid session id" in line, (args, line)
    assert not (ws.root / SESSIONS / "child").exists()
    # ...while listing and status go on, naming it as that session's problem.
    listed = cli("sessions", "--json")
    assert listed.exit_code == 0
    row = {r["id"]: r for r in json.loads(listed.stdout)["sessions"]}["feat"]
    assert row["problem"].startswith(f"{rel}: ") and "not a valid session id" in row["problem"]
    status = cli("status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["validation_status"] == "failing"


def test_a_valid_parent_still_works(ws, cli):
    assert cli("session", "create", "feat").exit_code == 0
    assert cli("spawn", "child", "--from", "feat").exit_code == 0
    result = cli("session-info", "child", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ancestors"] == ["feat", "__blueprint__"]

"""Two workspaces syncing through a `filesystem` remote (a shared directory): the three-way semantics."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from test_sync_support import BLUEPRINT, PROJECT, Workspaces, one_line_error, sync_env

STAGES7 = ("intent", "context", "spec", "plan", "tasks", "implementation", "feedback")


@pytest.fixture
def wss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Workspaces:
    shared = tmp_path / "shared"
    shared.mkdir()
    sync_env(monkeypatch, IDSE_SYNC_URL=f"file://{shared}")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    return w


def remote_doc(wss: Workspaces, stage: str, session: str = BLUEPRINT) -> Path:
    from idse_orchestrator.stages import BY_NAME

    return wss.tmp / "shared/projects" / PROJECT / "sessions" / session / BY_NAME[stage].relpath


def test_round_trip_between_two_workspaces(wss: Workspaces) -> None:
    assert set(wss.states("a").values()) == {"local-only"}
    pushed = wss.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 0, pushed
    report = json.loads(pushed.stdout)
    assert [t["stage"] for t in report["transferred"]] == list(STAGES7)
    assert report["last_sync"] and report["last_sync"].endswith("Z")
    # b starts from its own templates, identical to a's: everything is already in sync.
    assert set(wss.states("b").values()) == {"in-sync"}
    # Being in sync is recorded by a pull (status only looks), which gives b a base to compare to.
    assert wss.run("b", "sync", "pull").exit_code == 0

    wss.write("b", "spec", "# Spec\n\nWritten in b.\n")
    assert wss.states("b")["__blueprint__/spec"] == "local-ahead"
    assert wss.run("b", "sync", "push").exit_code == 0
    assert wss.states("a")["__blueprint__/spec"] == "remote-ahead"
    pulled = wss.run("a", "sync", "pull")
    assert pulled.exit_code == 0, pulled
    assert "pulled" in pulled.stdout and "__blueprint__/spec" in pulled.stdout
    assert wss.read("a", "spec") == "# Spec\n\nWritten in b.\n"
    assert set(wss.states("a").values()) == {"in-sync"}
    assert set(wss.states("b").values()) == {"in-sync"}
    # last_sync is kept per clone in the git-ignored .sync/ directory; sync never writes session_state.json.
    project_dir = wss.path("a") / ".idse/projects" / PROJECT
    last = json.loads((project_dir / ".sync/last_sync.json").read_text())["last_sync"]
    assert last.endswith("Z") and last >= report["last_sync"]
    assert json.loads(wss.run("a", "status", "--json").stdout)["last_sync"] == last
    assert (project_dir / ".sync/.gitignore").read_text().splitlines()[-1] == "*"
    assert not (project_dir / "session_state.json").exists()


def test_push_uploads_only_what_changed_and_skips_remote_ahead(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("b", "plan", "# Plan from b\n")
    assert wss.run("b", "sync", "push").exit_code == 0
    wss.write("a", "tasks", "# Tasks from a\n")
    result = wss.run("a", "sync", "push", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert [(t["session"], t["stage"]) for t in report["transferred"]] == [(BLUEPRINT, "tasks")]
    assert report["skipped"] == [{"session": BLUEPRINT, "stage": "plan", "state": "remote-ahead"}]
    assert remote_doc(wss, "plan").read_text() == "# Plan from b\n"


def test_resolve_refuses_without_conflict_or_confirmation(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    not_conflict = wss.run("a", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes")
    assert not_conflict.exit_code == 2
    assert "not in conflict" in one_line_error(not_conflict)
    no_side = wss.run("a", "sync", "resolve", BLUEPRINT, "spec", "--yes")
    assert no_side.exit_code == 2
    # stdin is not a TTY under pytest: no prompt, a clear refusal instead.
    no_yes = wss.run("a", "sync", "resolve", BLUEPRINT, "spec", "--theirs")
    assert no_yes.exit_code == 2 and "--yes" in one_line_error(no_yes)
    bad = wss.run("a", "sync", "resolve", "../x", "spec", "--theirs", "--yes")
    assert bad.exit_code == 2


def test_same_edit_on_both_sides_is_not_a_conflict(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "plan", "# Same plan\n")
    wss.write("b", "plan", "# Same plan\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.states("b")["__blueprint__/plan"] == "in-sync"
    assert wss.run("b", "sync", "pull").exit_code == 0


def test_dry_run_changes_nothing(wss: Workspaces) -> None:
    before_remote = sorted((wss.tmp / "shared").rglob("*"))
    result = wss.run("a", "sync", "push", "--dry-run", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["transferred"]) == 7
    assert sorted((wss.tmp / "shared").rglob("*")) == before_remote
    assert not (wss.path("a") / ".idse/projects/demo/.sync").exists()
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("b", "spec", "# b\n")
    wss.write("a", "spec", "# a\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    snapshot = wss.documents("b")
    dry = wss.run("b", "sync", "pull", "--dry-run")
    assert dry.exit_code == 1 and "conflict" in dry.stdout
    assert wss.documents("b") == snapshot


def test_new_session_arrives_with_its_lineage(wss: Workspaces) -> None:
    assert wss.run("a", "spawn", "login-flow").exit_code == 0
    wss.write("a", "spec", "# Login spec\n", session="login-flow")
    assert wss.run("a", "sync", "push", "--session", "login-flow").exit_code == 0
    assert wss.states("b", "--session", "login-flow") == {f"login-flow/{s}": "remote-only" for s in STAGES7}
    # The blueprint was not pushed: --session limited the scope.
    assert not remote_doc(wss, "spec").exists()
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.read("b", "spec", session="login-flow") == "# Login spec\n"
    info = wss.run("b", "session-info", "login-flow", "--json")
    assert info.exit_code == 0, info
    meta = json.loads(info.stdout)
    assert meta["parent"] == BLUEPRINT and meta["stack"] == "python" and meta["type"] == "feature"


def test_deleted_local_document_is_restored_not_propagated(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.doc("a", "feedback").unlink()
    assert wss.states("a")["__blueprint__/feedback"] == "remote-only"
    assert wss.run("a", "sync", "push").exit_code == 0
    assert remote_doc(wss, "feedback").exists()
    assert wss.run("a", "sync", "pull").exit_code == 0
    assert wss.doc("a", "feedback").exists()


def test_record_is_per_clone_and_ignored_by_git(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    record_dir = wss.path("a") / ".idse/projects/demo/.sync"
    assert (record_dir / ".gitignore").read_text().strip().endswith("*")
    assert json.loads((record_dir / "record.json").read_text())["version"] == 1
    old = wss.read("a", "plan")
    wss.write("a", "plan", "# Plan v2\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    # A copy of the workspace (say, a clone where the record was committed) holding an older file:
    # trusting a's record would call it a local edit and push the old text over the new one.
    shutil.copytree(wss.path("a"), wss.path("c"))
    wss.write("c", "plan", old)
    result = wss.run("c", "sync", "push")
    assert "another copy" in result.stderr
    assert result.exit_code == 1 and "conflict" in result.stdout
    assert remote_doc(wss, "plan").read_text() == "# Plan v2\n"


def test_unchanged_files_are_not_read_again(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    from idse_orchestrator.sync.confine import Root

    # Fingerprints are trusted only for files older than the racy window: age the documents.
    past = time.time() - 3600
    for stage in STAGES7:
        os.utime(wss.doc("a", stage), (past, past))
    assert wss.run("a", "sync", "push").exit_code == 0
    reads: list[Path] = []
    real = Root.read_text

    # Every read of sync goes through Root.read_text; count those of a's documents.
    def counting(self: Root, path: Path, **kw: int) -> str | None:
        if wss.path("a") in path.parents and "sessions" in path.parts:
            reads.append(path)
        return real(self, path, **kw)

    monkeypatch.setattr(Root, "read_text", counting)
    assert set(wss.states("a").values()) == {"in-sync"}
    assert reads == []
    wss.write("a", "tasks", "# touched\n")
    assert wss.states("a")["__blueprint__/tasks"] == "local-ahead"
    assert reads == [wss.doc("a", "tasks")]


def test_missing_directory_and_init(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    target = wss.tmp / "not-mounted"
    monkeypatch.setenv("IDSE_SYNC_URL", str(target))
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1 and "does not exist" in one_line_error(result)
    assert not target.exists()
    assert wss.run("a", "sync", "init").exit_code == 0
    assert wss.run("a", "sync", "init").exit_code == 0  # idempotent
    assert wss.run("a", "sync", "push").exit_code == 0
    monkeypatch.setenv("IDSE_SYNC_URL", str(wss.path("a") / ".idse"))
    itself = wss.run("a", "sync", "status")
    assert itself.exit_code == 2 and "own .idse" in one_line_error(itself)


def test_human_output_and_subprocess_without_tty(wss: Workspaces) -> None:
    import subprocess
    import sys

    assert wss.run("a", "sync", "push").exit_code == 0
    proc = subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", "sync", "status"],
        cwd=wss.path("a"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert "__blueprint__/spec" in proc.stdout and "in-sync" in proc.stdout and "last sync" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", "sync", "resolve", BLUEPRINT, "spec", "--ours"],
        cwd=wss.path("a"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 2 and "--yes" in proc.stderr


def test_last_sync_is_shown_by_idse_status_and_kept(wss: Workspaces) -> None:
    pushed = json.loads(wss.run("a", "sync", "push", "--json").stdout)
    status = wss.run("a", "status", "--json")
    assert json.loads(status.stdout)["last_sync"] == pushed["last_sync"]
    assert wss.run("a", "session", "create", "other").exit_code == 0
    # A full build writes session_state.json, which no longer carries last_sync, and keeps it.
    assert wss.run("a", "build").exit_code == 0
    state = json.loads((wss.path("a") / ".idse/projects" / PROJECT / "session_state.json").read_text())
    assert state["session"] == "other" and "last_sync" not in state
    assert json.loads(wss.run("a", "status", "--json").stdout)["last_sync"] == pushed["last_sync"]
    # Nothing synced and something left undone (a conflict): last_sync stays as it was.
    wss.write("a", "spec", "# a\n")
    remote_doc(wss, "spec").write_text("# changed on the drive\n")
    later = json.loads(wss.run("a", "sync", "push", "--session", BLUEPRINT, "--json").stdout)
    assert later["transferred"] == [] and later["last_sync"] == pushed["last_sync"]


def test_unreadable_local_document_is_named(wss: Workspaces) -> None:
    wss.doc("a", "plan").write_bytes(b"\x00\x01binary")
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 2
    assert "plans/plan.md" in one_line_error(result) and "binary" in result.stderr
    assert not (wss.tmp / "shared/projects").exists()

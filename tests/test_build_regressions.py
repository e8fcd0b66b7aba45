"""The five ways 0.1.0's `idse build` disagreed with a clean build, each pinned as a plain test.

Each scenario ends by comparing with a from-scratch build of a copy (tests/build_oracle.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from build_oracle import (
    PROJ,
    build_in_process,
    check_step,
    derived_files,
    doc_path,
    edit_profile_description,
    fill_document,
    init_workspace,
    run_cli,
)


def three_sessions(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init_workspace(root)  # __blueprint__ and feat-a, filled
    assert run_cli(root, "session", "create", "feat-b") == 0
    for i in range(7):
        fill_document(root, "feat-b", i)
    assert build_in_process(root)["code"] == 0
    return root


def test_editing_one_session_keeps_every_other_session_watched(tmp_path):
    root = three_sessions(tmp_path)
    spec_a = doc_path(root, "feat-a", 2)
    spec_a.write_text(spec_a.read_text() + "\nMore.\n")
    first = build_in_process(root)
    # feat-a's later stages turn stale, which meta.md shows.
    assert first["ran"] == {"validate:feat-a", "compile:feat-a", "meta"}
    spec_b = doc_path(root, "feat-b", 2)
    spec_b.write_text(spec_b.read_text().replace("## Acceptance Criteria", "## Criteria"))
    second = build_in_process(root)
    assert second["code"] == 1
    assert any(rule == "IDSE-A003" and "feat-b" in path for rule, _, path, _, _ in second["findings"])
    assert run_cli(root, "validate", "--session", "feat-b") == 1
    check_step(root, tmp_path / "clean", "missing section in feat-b")


def test_a_damaged_state_file_never_leaves_a_profile_stale(tmp_path):
    root = three_sessions(tmp_path)
    state = root / PROJ / "session_state.json"
    state.write_text("{ not json")
    spec_a = doc_path(root, "feat-a", 2)
    spec_a.write_text(spec_a.read_text() + "\nMore.\n")
    edit_profile_description(root, "feat-b", "the new description")
    report = build_in_process(root)
    assert report["failed"] == set(), "a damaged derived file is regenerated, not a failure"
    assert any("session_state.json was changed outside idse" in w for w in report["warnings"])
    assert json.loads(state.read_text())["session"] == "feat-b"
    profile = root / PROJ / "build/agents/feat-b.profile.yaml"
    assert "the new description" in profile.read_text()
    assert build_in_process(root)["ran"] == set()
    check_step(root, tmp_path / "clean", "after repair")


def test_a_deleted_profile_is_written_again(tmp_path):
    root = three_sessions(tmp_path)
    profile = root / PROJ / "build/agents/feat-a.profile.yaml"
    good = profile.read_bytes()
    profile.unlink()
    report = build_in_process(root)
    assert report["ran"] == {"compile:feat-a"}
    assert profile.read_bytes() == good


def test_a_fresh_clone_with_a_restored_cache_writes_its_ignored_profiles(tmp_path):
    root = three_sessions(tmp_path)
    clone = tmp_path / "clone"
    import shutil

    shutil.copytree(root, clone)
    shutil.rmtree(clone / PROJ / "build")  # git-ignored: a fresh clone does not have them
    report = build_in_process(clone)
    assert {"compile:__blueprint__", "compile:feat-a", "compile:feat-b"} <= report["ran"]
    assert derived_files(clone) == derived_files(root)


def test_a_hand_edited_state_file_is_repaired(tmp_path):
    root = three_sessions(tmp_path)
    state = root / PROJ / "session_state.json"
    good = state.read_bytes()
    data = json.loads(good)
    data["validation_status"] = "failing"
    state.write_text(json.dumps(data))
    report = build_in_process(root)
    assert report["ran"] == {"state"}
    assert state.read_bytes() == good


def test_an_edit_saved_during_a_build_is_seen_by_the_next_one(tmp_path, monkeypatch):
    """A document that changes between being read and being recorded is not recorded as checked."""
    root = three_sessions(tmp_path)
    spec = doc_path(root, "feat-a", 2)
    spec.write_text(spec.read_text() + "\nFirst edit.\n")

    import idse_orchestrator.governance.engine as engine

    real = engine.check_document

    def check_then_edit(doc, ruleset):  # the user saves again while the build is checking
        out = real(doc, ruleset)
        if doc.path.endswith("feat-a/specs/spec.md") and "## Acceptance Criteria" in spec.read_text():
            spec.write_text(spec.read_text().replace("## Acceptance Criteria", "## Criteria"))
        return out

    monkeypatch.setattr(engine, "check_document", check_then_edit)
    first = build_in_process(root)
    assert any("changed while the build ran" in w for w in first["warnings"])
    monkeypatch.setattr(engine, "check_document", real)
    second = build_in_process(root)
    assert "validate:feat-a" in second["ran"]
    assert second["code"] == 1
    assert any(rule == "IDSE-A003" and "feat-a" in path for rule, _, path, _, _ in second["findings"])
    check_step(root, tmp_path / "clean", "after the racing edit")


def test_another_sync_remote_is_pushed_to_by_the_next_build(tmp_path, monkeypatch):
    """The remote's identity is an input of the sync tasks (the build's fast path included)."""
    root = tmp_path / "repo"
    init_workspace(root)
    monkeypatch.setenv("IDSE_SYNC_BACKEND", "filesystem")
    first, second = tmp_path / "remote-1", tmp_path / "remote-2"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("IDSE_SYNC_URL", str(first))
    assert run_cli(root, "build", "--sync") == 0
    assert run_cli(root, "build", "--sync") == 0
    pushed = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.md"))
    assert len(pushed) == 14  # two sessions, seven documents each
    monkeypatch.setenv("IDSE_SYNC_URL", str(second))
    assert run_cli(root, "build", "--sync") == 0
    assert sorted(p.relative_to(second).as_posix() for p in second.rglob("*.md")) == pushed


def test_a_registry_replaced_by_a_folder_and_restored_is_checked_again(tmp_path):
    root = three_sessions(tmp_path)
    registry = root / PROJ / "agent_registry.json"
    saved = registry.read_bytes()
    registry.unlink()
    registry.mkdir()
    assert build_in_process(root)["code"] == 1
    registry.rmdir()
    registry.write_bytes(saved)  # byte-identical: only the path's kind changed twice
    report = build_in_process(root)
    assert report["code"] == 0 and "registry" in report["ran"]
    check_step(root, tmp_path / "clean", "registry restored")

"""Atomic writes: a new file appears whole under its name with the mode a plain open() gives and no
temporary name anywhere (unnamed until complete, where the system can), an existing file is replaced
keeping its mode, and the same holds where unnamed files cannot be made (the temporary-file way)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from idse_orchestrator import fsutil
from idse_orchestrator.engine import results


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".idse" / ".cache").mkdir(parents=True)
    (tmp_path / ".idse" / "projects" / "p" / "sessions" / "s" / "metadata").mkdir(parents=True)
    return tmp_path


def everything(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(params=["unnamed", "temporary-file"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "temporary-file":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif not hasattr(os, "O_TMPFILE"):
        pytest.skip("this system has no O_TMPFILE")
    return str(request.param)


def test_a_new_file_appears_whole_with_the_usual_mode_and_nothing_else(repo: Path, way: str) -> None:
    target = repo / ".idse/projects/p/sessions/s/metadata/baselines.json"
    before = everything(repo)
    fsutil.atomic_write_bytes(target, b'{"stages": {}}\n')
    assert target.read_bytes() == b'{"stages": {}}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~fsutil._UMASK
    assert everything(repo) == sorted([*before, target.relative_to(repo).as_posix()])
    assert not [p for p in repo.rglob("*.tmp")], "no temporary file left anywhere"


def test_an_existing_file_is_replaced_and_keeps_its_mode(repo: Path, way: str) -> None:
    target = repo / ".idse/projects/p/sessions/s/metadata/baselines.json"
    target.write_bytes(b"old\n")
    target.chmod(0o600)
    fsutil.atomic_write_bytes(target, b"new\n", durable=False)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in repo.rglob("*.tmp")]


def test_a_result_is_written_whole_and_the_same_bytes_leave_it_alone(repo: Path, way: str) -> None:
    target = repo / ".idse/.cache/results/p/sessions/s.json"
    target.parent.mkdir(parents=True)
    results.write_result(target, {"session": "s", "findings": []})
    first = target.stat()
    assert results.read_result(target) == {"schema": results.SCHEMA, "session": "s", "findings": []}
    results.write_result(target, {"session": "s", "findings": []})
    assert target.stat().st_ino == first.st_ino and target.stat().st_mtime_ns == first.st_mtime_ns
    results.write_result(target, {"session": "s", "findings": [{"rule": "X"}]})
    assert results.read_result(target)["findings"] == [{"rule": "X"}]  # type: ignore[index]
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.json"]


def test_a_file_created_meanwhile_is_replaced_not_refused(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("this system has no O_TMPFILE")
    target = repo / ".idse/projects/p/sessions/s/metadata/baselines.json"
    real_link = os.link

    def racing(src: str, dst: str, **kwargs: object) -> None:
        target.write_bytes(b"theirs\n")  # another writer wins the race for the name
        real_link(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", racing)
    fsutil.atomic_write_bytes(target, b"ours\n")
    assert target.read_bytes() == b"ours\n"

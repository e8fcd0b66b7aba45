"""What a task read is checked by stat when the stat can vouch for the content, by content otherwise."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from idse_orchestrator.engine.outputs import changed_reads, read_stamp


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # task paths are relative to the repository root
    return tmp_path


def test_a_fresh_file_is_checked_by_content(here: Path) -> None:
    Path("r.json").write_text('{"a": 1}')
    stamp = read_stamp("r.json")
    assert stamp[1:] == [None, None]  # written just now: its mtime cannot vouch for it
    values = {"reads": {"r.json": stamp}}
    assert changed_reads(values, ["r.json"]) == []
    Path("r.json").write_text('{"a": 2}')  # same size, possibly the same mtime tick
    assert changed_reads(values, ["r.json"]) == ["changed_input: r.json"]


def test_an_old_file_is_checked_by_stat_and_an_edit_is_seen(here: Path) -> None:
    Path("r.json").write_text('{"a": 1}')
    old = time.time() - 60
    os.utime("r.json", (old, old))
    stamp = read_stamp("r.json")
    assert stamp[1] is not None
    values = {"reads": {"r.json": stamp}}
    assert changed_reads(values, ["r.json"]) == []
    Path("r.json").write_text('{"a": 2}')
    assert changed_reads(values, ["r.json"]) == ["changed_input: r.json"]
    os.remove("r.json")
    assert changed_reads(values, ["r.json"]) == ["changed_input: r.json"]


def test_a_touched_but_identical_file_is_unchanged(here: Path) -> None:
    Path("r.json").write_text('{"a": 1}')
    old = time.time() - 60
    os.utime("r.json", (old, old))
    values = {"reads": {"r.json": read_stamp("r.json")}}
    os.utime("r.json", None)  # a checkout or copy: new mtime, same bytes
    assert changed_reads(values, ["r.json"]) == []


def test_a_record_of_another_shape_means_read_again(here: Path) -> None:
    Path("r.json").write_text("{}")
    assert changed_reads({"reads": {"r.json": "0123abcd"}}, ["r.json"]) == ["changed_input: r.json"]
    assert changed_reads({}, ["r.json"]) == ["no_input_record"]

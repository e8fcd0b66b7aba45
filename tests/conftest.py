"""Shared fixtures: run the CLI in-process, an initialised workspace, a snapshot of a directory tree.

Keep this file small and generic: every test module of the project uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from idse_orchestrator.workspace import Workspace

PROJECT = "demo"
BLUEPRINT = "__blueprint__"


class Result(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


CliRunner = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_idse_project_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's IDSE_PROJECT must not leak into tests."""
    monkeypatch.delenv("IDSE_PROJECT", raising=False)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """``cli("status", "--json")`` runs ``idse`` in-process and returns ``Result(exit_code, stdout, stderr)``.

    The working directory starts as ``tmp_path``; change it with ``monkeypatch.chdir``.
    """
    from idse_orchestrator.cli import run

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> Result:
        capsys.readouterr()  # drop anything printed before this call
        code = run(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


@pytest.fixture
def ws(cli: CliRunner, tmp_path: Path) -> Workspace:
    """A workspace in ``tmp_path`` made by ``idse init demo --stack python``; cwd is ``tmp_path``."""
    result = cli("init", PROJECT, "--stack", "python")
    assert result.exit_code == 0, result.stderr
    return Workspace(tmp_path)


def snapshot_tree(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, bytes | None]:
    """Every file (bytes) and directory (None) under ``root``, keyed by POSIX relative path.

    ``exclude`` lists relative paths (e.g. ``".idse/.cache"``) whose whole subtree is left out.
    """
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == ex or rel.startswith(ex + "/") for ex in exclude):
            continue
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


@pytest.fixture
def snapshot() -> Callable[..., dict[str, bytes | None]]:
    """``snapshot(path, exclude=(...))``: compare two calls to prove a command changed nothing."""
    return snapshot_tree

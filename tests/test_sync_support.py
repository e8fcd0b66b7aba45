"""Helpers for the sync tests: several workspaces in one test, each driven through the real CLI.

No tests here; the sync test modules import ``Workspaces`` and ``sync_env``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from artifact_core_server import ArtifactCoreServer

from idse_orchestrator.stages import BY_NAME

PROJECT = "demo"
BLUEPRINT = "__blueprint__"


class Result(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def sync_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Start from no IDSE_SYNC_* setting at all, with fast retries, then set ``values``."""
    for name in list(os.environ):
        if name.startswith("IDSE_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("IDSE_PROJECT", raising=False)
    defaults = {"IDSE_SYNC_RETRIES": "1", "IDSE_SYNC_BACKOFF": "0", "IDSE_SYNC_TIMEOUT": "5"}
    for name, value in {**defaults, **values}.items():
        monkeypatch.setenv(name, value)


class Workspaces:
    """Named workspaces under ``tmp_path``; ``run(name, ...)`` runs ``idse`` in-process inside one."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.tmp = tmp_path
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def path(self, name: str) -> Path:
        return self.tmp / name

    def make(self, name: str, project: str = PROJECT) -> Path:
        self.path(name).mkdir()
        result = self.run(name, "init", project, "--stack", "python")
        assert result.exit_code == 0, result
        return self.path(name)

    def run(self, name: str, *args: str) -> Result:
        from idse_orchestrator.cli import run

        self.monkeypatch.chdir(self.path(name))
        self.capsys.readouterr()
        code = run(list(args))
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def doc(self, name: str, stage: str, session: str = BLUEPRINT, project: str = PROJECT) -> Path:
        return self.path(name) / ".idse/projects" / project / "sessions" / session / BY_NAME[stage].relpath

    def read(self, name: str, stage: str, session: str = BLUEPRINT) -> str:
        return self.doc(name, stage, session).read_text(encoding="utf-8")

    def write(self, name: str, stage: str, text: str, session: str = BLUEPRINT) -> None:
        path = self.doc(name, stage, session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def documents(self, name: str) -> dict[str, bytes]:
        """Every file under the workspace's sessions/, by relative path: a snapshot to compare."""
        root = self.path(name) / ".idse/projects" / PROJECT / "sessions"
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    def states(self, name: str, *extra: str) -> dict[str, str]:
        import json

        result = self.run(name, "sync", "status", "--json", *extra)
        assert result.exit_code in (0, 1), result
        data = json.loads(result.stdout)
        return {f"{a['session']}/{a['stage']}": a["state"] for a in data["artifacts"]}


def one_line_error(result: Result) -> str:
    """The stderr of a failed command must be exactly one ``idse: error:`` line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("idse: error: "), lines[0]
    return lines[0]


def serve_artifact_core(token: str, delay: float = 1.0) -> Iterator[ArtifactCoreServer]:
    """A fixture body: an Artifact Core test server for one test (``yield from`` it)."""
    srv = ArtifactCoreServer(token=token, delay=delay).start()
    yield srv
    srv.stop()


def artifact_core_workspaces(
    server: ArtifactCoreServer,
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *names: str,
    **env: str,
) -> Workspaces:
    """Workspaces ``names`` (made now) syncing with ``server``; ``env`` adds IDSE_SYNC_* settings."""
    sync_env(
        monkeypatch, IDSE_SYNC_URL=server.url, IDSE_SYNC_TOKEN=token, IDSE_SYNC_BACKEND="artifact-core", **env
    )
    w = Workspaces(tmp_path, monkeypatch, capsys)
    for name in names:
        w.make(name)
    return w

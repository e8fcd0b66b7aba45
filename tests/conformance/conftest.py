"""Fixtures of the conformance suite: ``remote``, one per backend of ``backends.FACTORIES`` (skipped
with the factory's reason when it cannot run here), and ``wss``, two workspaces ``a`` and ``b``
pointed at it, with the remote prepared by ``idse sync init``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sync_support import Workspaces, sync_env

from .backends import FACTORIES, Factory, Remote


@pytest.fixture(params=FACTORIES, ids=[f.name for f in FACTORIES])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    factory: Factory = request.param
    reason = factory.unavailable()
    if reason is not None:
        pytest.skip(reason)
    workdir = tmp_path / "remote"
    workdir.mkdir()
    with factory.start(workdir) as started:
        yield started


@pytest.fixture
def wss(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Workspaces:
    # A remote is reached only as its factory says (firestore: not through an emulator variable).
    for name in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    sync_env(monkeypatch, **remote.env)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    init = w.run("a", "sync", "init")
    assert init.exit_code == 0, init
    return w

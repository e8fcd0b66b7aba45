"""A fault at every request of a push and of a pull: the command fails with one line, leaves the
local files intact, and a rerun finishes the job with both sides in sync.

Each request k of the command fails on every attempt (the retries included) with each fault kind of
the test server: 500s, a dropped connection before or after the request is applied, a timeout.
Requests go one at a time here (IDSE_SYNC_CONCURRENCY=1) so that request k and its retry are the
k-th and (k+1)-th the server sees; test_sync_scale.py covers faults with concurrent requests.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_core_server import ArtifactCoreServer
from test_sync_support import (
    Workspaces,
    artifact_core_workspaces,
    one_line_error,
    serve_artifact_core,
)

TOKEN = "fault-token"
RETRIES = 1
KINDS = ("500", "drop", "drop-after", "timeout")
PUSH_REQUESTS = 10  # list, 7 PUTs, GET state, PUT state
PULL_REQUESTS = 9  # list, GET state (new session's lineage), 7 GETs
# Short while a fault is injected, so a timeout fault costs little; generous for the reruns.
FAULT_TIMEOUT = "0.3"


@pytest.fixture
def server() -> Iterator[ArtifactCoreServer]:
    yield from serve_artifact_core(TOKEN, delay=0.8)


@pytest.fixture
def wss(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Workspaces:
    return artifact_core_workspaces(
        server,
        TOKEN,
        tmp_path,
        monkeypatch,
        capsys,
        "template",
        IDSE_SYNC_RETRIES=str(RETRIES),
        IDSE_SYNC_TIMEOUT=FAULT_TIMEOUT,
        IDSE_SYNC_CONNECT_TIMEOUT="1",
        IDSE_SYNC_CONCURRENCY="1",
    )


def fresh(wss: Workspaces, name: str, source: str = "template") -> None:
    if wss.path(name).exists():
        shutil.rmtree(wss.path(name))
    shutil.copytree(wss.path(source), wss.path(name))


def reset(server: ArtifactCoreServer) -> None:
    server.clear_faults()
    server.artifacts.clear()
    server.states.clear()
    server.count = 0


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*.tmp")]


def test_push_request_count(wss: Workspaces, server: ArtifactCoreServer) -> None:
    fresh(wss, "a")
    assert wss.run("a", "sync", "push").exit_code == 0
    assert server.count == PUSH_REQUESTS


@pytest.mark.parametrize("kind", KINDS)
def test_push_fault_at_every_request(wss: Workspaces, server: ArtifactCoreServer, kind: str) -> None:
    for k in range(PUSH_REQUESTS):
        reset(server)
        fresh(wss, "a")
        wss.write("a", "spec", f"# spec edited before push {k}\n")
        before = wss.documents("a")
        server.fail(k, kind, times=RETRIES + 1)
        failed = wss.run("a", "sync", "push")
        assert failed.exit_code == 1, (k, failed)
        one_line_error(failed)
        assert wss.documents("a") == before, k
        assert no_temp_files(wss.path("a"))

        server.clear_faults()
        wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "10")
        rerun = wss.run("a", "sync", "push", "--json")
        assert rerun.exit_code == 0, (k, rerun)
        assert set(wss.states("a").values()) == {"in-sync"}, k
        assert json.loads(rerun.stdout)["last_sync"] is not None
        fresh(wss, "b")
        assert wss.run("b", "sync", "pull").exit_code == 1  # b's own spec differs and it has no base
        assert wss.run("b", "sync", "resolve", "__blueprint__", "spec", "--theirs", "--yes").exit_code == 0
        assert wss.documents("b") == wss.documents("a"), k
        wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", FAULT_TIMEOUT)


def test_pull_request_count(wss: Workspaces, server: ArtifactCoreServer) -> None:
    _publish(wss, server)
    fresh(wss, "b")
    count = server.count
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert server.count - count == PULL_REQUESTS


def _publish(wss: Workspaces, server: ArtifactCoreServer) -> None:
    """The remote holds the blueprint and a feature session `feat`, pushed from workspace `a`."""
    reset(server)
    fresh(wss, "a")
    assert wss.run("a", "spawn", "feat").exit_code == 0
    wss.write("a", "plan", "# feature plan\n", session="feat")
    assert wss.run("a", "sync", "push").exit_code == 0


@pytest.mark.parametrize("kind", KINDS)
def test_pull_fault_at_every_request(wss: Workspaces, server: ArtifactCoreServer, kind: str) -> None:
    _publish(wss, server)
    published = wss.documents("a")
    for k in range(PULL_REQUESTS):
        fresh(wss, "b")
        server.clear_faults()
        server.count = 0
        server.fail(k, kind, times=RETRIES + 1)
        failed = wss.run("b", "sync", "pull")
        assert failed.exit_code == 1, (k, failed)
        one_line_error(failed)
        # Whatever was written is complete and correct; nothing else changed.
        for rel, data in wss.documents("b").items():
            assert rel.endswith("session.json") or published.get(rel) == data, (k, rel)
        assert no_temp_files(wss.path("b"))

        server.clear_faults()
        wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "10")
        rerun = wss.run("b", "sync", "pull")
        assert rerun.exit_code == 0, (k, rerun)
        assert set(wss.states("b").values()) == {"in-sync"}, k
        docs = {k2: v for k2, v in wss.documents("b").items() if not k2.endswith("session.json")}
        assert docs == {k2: v for k2, v in published.items() if not k2.endswith("session.json")}
        meta = json.loads(
            (wss.path("b") / ".idse/projects/demo/sessions/feat/metadata/session.json").read_text()
        )
        assert meta["parent"] == "__blueprint__" and meta["stack"] == "python"
        wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", FAULT_TIMEOUT)

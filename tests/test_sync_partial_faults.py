"""Partial faults against the real test server: a no-op push writes nothing, authentication errors
are final, a reply cut or stalled after its headers is retried, an oversized document is that
document's failure only, and the documented session id pattern agrees with the client."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from artifact_core_server import ArtifactCoreServer
from test_sync_support import (
    BLUEPRINT,
    PROJECT,
    Workspaces,
    artifact_core_workspaces,
    one_line_error,
    serve_artifact_core,
    sync_env,
)

TOKEN = "partial-token"


@pytest.fixture
def server() -> Iterator[ArtifactCoreServer]:
    yield from serve_artifact_core(TOKEN, delay=2.5)


@pytest.fixture
def wss(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Workspaces:
    return artifact_core_workspaces(
        server, TOKEN, tmp_path, monkeypatch, capsys, "a", IDSE_SYNC_CONCURRENCY="1"
    )


def writes(server: ArtifactCoreServer) -> list[tuple[str, str, int | str]]:
    return [entry for entry in server.log if entry[0] == "PUT"]


def test_noop_push_writes_nothing(wss: Workspaces, server: ArtifactCoreServer) -> None:
    assert wss.run("a", "session", "create", "login-flow").exit_code == 0
    assert wss.run("a", "sync", "push").exit_code == 0
    assert server.states[PROJECT]["sessions"][BLUEPRINT]["stack"] == "python"
    before = len(server.log)
    again = wss.run("a", "sync", "push")
    assert again.exit_code == 0, again
    assert writes(server)[-1:] and not [e for e in server.log[before:] if e[0] == "PUT"], server.log[before:]


def test_http_401_is_final(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSE_SYNC_TOKEN", "wrong-token")
    monkeypatch.setenv("IDSE_SYNC_RETRIES", "3")
    result = wss.run("a", "sync", "push")
    assert result.exit_code != 0
    line = one_line_error(result)
    assert "authentication failed (401)" in line and "wrong-token" not in line
    assert server.count == 1


@pytest.mark.parametrize("kind", ["truncate", "stall-body"])
def test_body_cut_or_stalled_is_retried(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "1")
    monkeypatch.setenv("IDSE_SYNC_RETRIES", "3")
    server.fail(0, kind)  # the listing's first attempt
    assert wss.run("a", "sync", "push").exit_code == 0
    assert server.log[1][0] == "GET" and server.count > 2
    assert set(wss.states("a").values()) == {"in-sync"}


@pytest.mark.parametrize(
    ("kind", "what"), [("truncate", "connection dropped"), ("stall-body", "no response")]
)
def test_body_fault_every_attempt_counts_them(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch, kind: str, what: str
) -> None:
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "1")
    monkeypatch.setenv("IDSE_SYNC_RETRIES", "2")
    server.fail(0, kind, times=3)
    result = wss.run("a", "sync", "push")
    assert result.exit_code != 0
    line = one_line_error(result)
    assert what in line and "(3 attempts)" in line, line
    assert server.count == 3


PG_DSN = os.environ.get("IDSE_TEST_PG_DSN", "")


@pytest.mark.skipif(not PG_DSN, reason="IDSE_TEST_PG_DSN is not set: no PostgreSQL server")
def test_postgres_authentication_failure_is_final(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(PG_DSN)
    params.update(user=f"idse_no_such_role_{os.getpid()}", password="wrong-pass-4711")
    dsn = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    calls = []
    real_connect = psycopg.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counting)
    sync_env(monkeypatch, IDSE_SYNC_DSN=dsn, IDSE_SYNC_RETRIES="3", IDSE_SYNC_BACKOFF="0.5")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    result = w.run("a", "sync", "status")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "authentication failed" in line and "wrong-pass-4711" not in line, line
    assert len(calls) == 1


def test_oversized_document_is_rejected_and_the_rest_synced(
    wss: Workspaces, server: ArtifactCoreServer
) -> None:
    big = "# big\n" + "x" * (5 * 1024 * 1024 + 10)
    wss.write("a", "plan", big)
    result = wss.run("a", "sync", "push", "--json")
    assert result.exit_code == 1, result
    report = json.loads(result.stdout)
    assert [(r["stage"], r["side"]) for r in report["rejected"]] == [("plan", "local")]
    assert "larger than" in report["rejected"][0]["reason"]
    assert server.content(PROJECT, BLUEPRINT, "plan") is None
    assert server.content(PROJECT, BLUEPRINT, "spec") == wss.read("a", "spec")
    assert len(report["transferred"]) == 6
    text = wss.run("a", "sync", "push")
    assert text.exit_code == 1 and "rejected local" in text.output and "plan" in text.output


IDS = [
    "__blueprint__",
    "a",
    "login-flow",
    "v1.2",
    "v1..2",
    "..",
    ".",
    "a.",
    "a..",
    ".hidden",
    "-x",
    "_x",
    "__blueprint",
    "x/y",
    "x\\y",
    "a b",
    "é",
    "",
    "1.-_.x",
    "a" * 64,
    "a" * 65,
    "a." * 32,
    "a.." + "b" * 10,
]


def _param_schema(name: str) -> dict[str, Any]:
    import yaml

    spec = yaml.safe_load((Path(__file__).parents[1] / "docs/artifact-core-openapi.yaml").read_text())
    schema: dict[str, Any] = spec["components"]["parameters"][name]["schema"]
    return schema


def _documented(schema: dict[str, Any], value: str) -> bool:
    import re

    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
        and re.search(schema["pattern"], value) is not None
    )


@pytest.mark.parametrize("value", IDS)
def test_documented_session_pattern_agrees_with_the_client(value: str) -> None:
    from idse_orchestrator import ids

    assert _documented(_param_schema("session"), value) == ids.is_valid_session_id(value)


@pytest.mark.parametrize("value", [v for v in IDS if v != "__blueprint__"])
def test_documented_project_pattern_agrees_with_the_client(value: str) -> None:
    from idse_orchestrator import ids
    from idse_orchestrator.errors import InvalidName

    try:
        ids.project_name(value)
        valid = True
    except InvalidName:
        valid = False
    assert _documented(_param_schema("project"), value) == valid


@pytest.mark.skipif(not PG_DSN, reason="IDSE_TEST_PG_DSN is not set: no PostgreSQL server")
def test_postgres_server_stopped_mid_push_is_a_clean_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal
    import threading
    import time
    import uuid

    import psycopg

    from idse_orchestrator.sync.backends import postgres

    schema = f"idse_test_{uuid.uuid4().hex[:12]}"
    sync_env(monkeypatch, IDSE_SYNC_DSN=PG_DSN, IDSE_SYNC_SCHEMA=schema, IDSE_SYNC_TIMEOUT="2")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    stopped: list[int] = []
    timers: list[threading.Timer] = []
    real_write = postgres.PostgresStore.write_artifacts

    def stop_then_write(self: postgres.PostgresStore, items: list[Any]) -> Any:
        pid = self._connection().info.backend_pid
        try:
            os.kill(pid, signal.SIGSTOP)  # the server process serving this connection: silent
        except PermissionError:
            pytest.skip("cannot signal the PostgreSQL server process (another user)")
        stopped.append(pid)
        # Safety net: a client that waits forever fails this test instead of hanging the suite.
        timer = threading.Timer(30, lambda: os.kill(pid, signal.SIGCONT))
        timer.daemon = True
        timers.append(timer)
        timer.start()
        return real_write(self, items)

    try:
        assert w.run("a", "sync", "init").exit_code == 0
        monkeypatch.setattr(postgres.PostgresStore, "write_artifacts", stop_then_write)
        started = time.monotonic()
        result = w.run("a", "sync", "push")
        elapsed = time.monotonic() - started
        assert stopped, "the push never reached its writes"
        assert result.exit_code == 1, result
        line = one_line_error(result)
        assert "no answer within" in line and "stopped responding" in line, line
        assert elapsed < 8, elapsed  # the timeout (2 s) and a margin, not forever
    finally:
        for timer in timers:
            timer.cancel()
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

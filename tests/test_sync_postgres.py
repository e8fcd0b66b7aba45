"""The `postgres` backend against a real PostgreSQL server (IDSE_TEST_PG_DSN; `.ci/run` provides one).

Each test works in its own schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sync_support import Workspaces, one_line_error, sync_env

DSN = os.environ.get("IDSE_TEST_PG_DSN", "")
pytestmark = pytest.mark.skipif(
    not DSN, reason="IDSE_TEST_PG_DSN is not set: no PostgreSQL server to test the postgres backend against"
)


@pytest.fixture
def schema() -> Iterator[str]:
    import psycopg

    name = f"idse_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def wss(
    schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Workspaces:
    sync_env(monkeypatch, IDSE_SYNC_DSN=DSN, IDSE_SYNC_SCHEMA=schema)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    return w


def sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def test_init_is_needed_and_idempotent(wss: Workspaces, schema: str) -> None:
    before = wss.run("a", "sync", "status")
    assert before.exit_code == 1 and "run 'idse sync init'" in one_line_error(before)
    assert wss.run("a", "sync", "init").exit_code == 0
    again = wss.run("a", "sync", "init")
    assert again.exit_code == 0 and "idse_artifacts" in again.stdout
    rls = sql(
        "SELECT relname, relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND relkind = 'r' ORDER BY relname",
        schema,
    )
    assert rls == [("idse_artifacts", True), ("idse_project_state", True)]


def test_optimistic_concurrency_in_the_store(wss: Workspaces, schema: str) -> None:
    from idse_orchestrator.sync.settings import load_settings
    from idse_orchestrator.sync.store import content_sha256, open_store
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(wss.path("a"))
    settings = load_settings(ws, ws.project())
    store = open_store(settings, ws)
    try:
        store.init()
        first = store.write_artifact("s1", "spec", "one", content_sha256("one"), None)
        assert first.ok and first.revision == "1"
        again = store.write_artifact("s1", "spec", "two", content_sha256("two"), None)
        assert (again.ok, again.revision, again.sha256) == (False, "1", content_sha256("one"))
        stale = store.write_artifact("s1", "spec", "two", content_sha256("two"), "7")
        assert not stale.ok and stale.revision == "1"
        assert not store.write_artifact("s1", "spec", "two", content_sha256("two"), "not-a-number").ok

        # Many writers from the same base: exactly one wins.
        outcomes: list[bool] = []

        def writer(i: int) -> None:
            own = open_store(settings, ws)
            try:
                text = f"writer {i}"
                outcomes.append(own.write_artifact("s1", "spec", text, content_sha256(text), "1").ok)
            finally:
                own.close()

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == [False] * 5 + [True]
        final = store.read_artifact("s1", "spec")
        assert final is not None and final.revision == "2" and final.sha256 == content_sha256(final.content)
        store.write_project_state({"sessions": {"s1": {"type": "feature"}}})
        assert store.read_project_state() == {"sessions": {"s1": {"type": "feature"}}}
    finally:
        store.close()


def test_password_is_masked_and_never_printed(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Pw-0f-the-DB-9931"
    monkeypatch.setenv(
        "IDSE_SYNC_DSN", f"postgresql://postgres:{secret}@127.0.0.1:1/postgres?connect_timeout=1"
    )
    shown = wss.run("a", "sync", "config")
    assert shown.exit_code == 0 and "postgres:***@127.0.0.1:1" in shown.stdout
    failed = wss.run("a", "sync", "push")
    assert failed.exit_code == 1 and "cannot reach the database" in one_line_error(failed)
    monkeypatch.setenv(
        "IDSE_SYNC_DSN", f"host=127.0.0.1 port=1 user=postgres password={secret} connect_timeout=1"
    )
    kv = wss.run("a", "sync", "config", "--json")
    assert json.loads(kv.stdout)["settings"]["dsn"].endswith("password=*** connect_timeout=1")
    failed_kv = wss.run("a", "sync", "status")
    assert failed_kv.exit_code == 1
    for result in (shown, failed, kv, failed_kv):
        assert secret not in result.output


class KillConnectionAt:
    """Wraps the real store; before store call number ``k`` the server kills its connection."""

    def __init__(self, inner: Any, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0
        self.description = inner.description

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name in ("close", "init"):
            return method

        def call(*args: Any) -> Any:
            if self.calls == self.k:
                conn = self.inner._connection()
                sql("SELECT pg_terminate_backend(%s)", conn.info.backend_pid)
            self.calls += 1
            return method(*args)

        return call


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_resume_after_a_dropped_connection_at_every_call(
    wss: Workspaces, schema: str, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    import shutil

    from idse_orchestrator.sync import store as store_module

    real_open = store_module.open_store
    assert wss.run("a", "sync", "init").exit_code == 0
    assert wss.run("a", "spawn", "feat").exit_code == 0
    wss.write("a", "spec", "# feature spec\n", session="feat")
    if direction == "pull":
        assert wss.run("a", "sync", "push").exit_code == 0
    source = wss.documents("a")
    # push: list, one batch of 7 writes (one transaction), project state read and write;
    # pull: list, one batch of 7 reads (one query), project state (the new session's lineage)
    calls = 4 if direction == "push" else 3
    for k in range(calls):
        if direction == "push":
            # Every round starts from an empty remote and no sync record.
            sql(f'DELETE FROM "{schema}".idse_artifacts')
            sql(f'DELETE FROM "{schema}".idse_project_state')
            shutil.rmtree(wss.path("a") / ".idse/projects/demo/.sync", ignore_errors=True)
            name = "a"
        else:
            name = f"b{k}"
            wss.make(name)
        before = wss.documents(name)
        monkeypatch.setattr(
            store_module, "open_store", lambda s, w, k=k: KillConnectionAt(real_open(s, w), k)
        )
        failed = wss.run(name, "sync", direction, "--session", "feat")
        assert failed.exit_code == 1, (k, failed)
        assert "database" in one_line_error(failed)
        changed = {rel: data for rel, data in wss.documents(name).items() if before.get(rel) != data}
        assert all(source.get(rel) == data for rel, data in changed.items() if "metadata" not in rel), k
        monkeypatch.setattr(store_module, "open_store", real_open)
        assert wss.run(name, "sync", direction, "--session", "feat").exit_code == 0, k
        assert set(wss.states(name, "--session", "feat").values()) == {"in-sync"}, k
        if direction == "pull":
            assert wss.read(name, "spec", session="feat") == "# feature spec\n"


def test_a_stuck_database_times_out(wss: Workspaces, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    assert wss.run("a", "sync", "init").exit_code == 0
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "0.5")
    with psycopg.connect(DSN) as blocker:
        blocker.execute(f'LOCK TABLE "{schema}".idse_artifacts IN ACCESS EXCLUSIVE MODE')
        result = wss.run("a", "sync", "push")
        blocker.rollback()
    assert result.exit_code == 1 and "statement timeout" in one_line_error(result)
    assert wss.run("a", "sync", "push").exit_code == 0

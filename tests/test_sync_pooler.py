"""The postgres backend behind a transaction-mode connection pooler (Supabase's port 6543, PgBouncer
``pool_mode=transaction``): prepared statements off when configured or detected, ``sslmode=require``
for a database that is not on this machine.

The pooler tests run a real PgBouncer (tests/pgbouncer.py) in front of IDSE_TEST_PG_DSN; the rest of
the behaviour through it is the conformance suite's (tests/conformance/)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgbouncer import PG_DSN, PgBouncer, available
from test_sync_support import Workspaces, one_line_error, sync_env

psycopg = pytest.importorskip("psycopg", reason="psycopg (the postgres extra) is not installed")

from idse_orchestrator.errors import RemoteError  # noqa: E402
from idse_orchestrator.sync.backends.postgres import connection_options  # noqa: E402

NO_PREPARE = {"prepare_threshold": None}


@pytest.mark.parametrize(
    ("dsn", "pooler", "expected"),
    [
        ("postgresql://u@127.0.0.1:5432/db", "auto", {}),
        ("postgresql://u@localhost/db", "auto", {}),
        ("host=/var/run/postgresql dbname=db", "auto", {}),
        ("dbname=db", "auto", {}),  # no host: the local Unix socket
        ("postgresql://u@127.0.0.1:6543/db", "auto", NO_PREPARE),
        ("postgresql://u@127.0.0.1:6432/db", "auto", NO_PREPARE),
        ("postgresql://u@127.0.0.1:6543/db", "none", {}),
        ("postgresql://u@127.0.0.1:5432/db", "transaction", NO_PREPARE),
        # Supabase: the pooler host in session mode (5432) and transaction mode (6543)
        (
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres",
            "auto",
            {**NO_PREPARE, "sslmode": "require"},
        ),
        (
            "postgresql://postgres.abc@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
            "auto",
            {**NO_PREPARE, "sslmode": "require"},
        ),
        # A direct connection to a remote database: TLS required, statements prepared.
        ("postgresql://postgres@db.abc.supabase.co:5432/postgres", "auto", {"sslmode": "require"}),
        ("host=db.example.com sslmode=disable", "auto", {}),  # the DSN's own choice wins
        ("host=db.example.com sslmode=verify-full", "auto", {}),
        ("host=db.example.com hostaddr=127.0.0.1", "auto", {}),  # connects to loopback
        ("host=localhost,db.example.com", "auto", {"sslmode": "require"}),
        ("postgresql://u@[::1]:5432/db", "auto", {}),
        ("postgresql://u@mypooler.example.com/db", "auto", {"sslmode": "require"}),  # not a "pooler" label
    ],
)
def test_connection_options(dsn: str, pooler: str, expected: dict[str, object]) -> None:
    assert connection_options(dsn, pooler, env={}) == expected


def test_libpq_environment_is_honoured() -> None:
    assert connection_options("dbname=db", "auto", env={"PGHOST": "db.example.com"}) == {"sslmode": "require"}
    assert connection_options("host=db.example.com", "auto", env={"PGSSLMODE": "disable"}) == {}
    assert connection_options("dbname=db", "auto", env={"PGPORT": "6543"}) == NO_PREPARE


def test_pooler_setting_is_shown_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_env(monkeypatch, IDSE_SYNC_DSN="postgresql://u@127.0.0.1:6543/db")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    shown = w.run("a", "sync", "config")
    assert shown.exit_code == 0 and "pooler" in shown.stdout and "auto" in shown.stdout
    monkeypatch.setenv("IDSE_SYNC_POOLER", "sometimes")
    bad = w.run("a", "sync", "config")
    assert bad.exit_code == 2 and "IDSE_SYNC_POOLER" in one_line_error(bad)


REASON = available()


@pytest.fixture
def bouncer() -> Iterator[PgBouncer]:
    if REASON is not None:
        pytest.skip(REASON)
    srv = PgBouncer.start()
    yield srv
    srv.stop()


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"idse_test_{uuid.uuid4().hex[:12]}"
    yield name
    if PG_DSN:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_through_a_transaction_pooler(
    bouncer: PgBouncer,
    schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sync_env(monkeypatch, IDSE_SYNC_DSN=bouncer.dsn, IDSE_SYNC_SCHEMA=schema, IDSE_SYNC_POOLER="none")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    assert w.run("a", "session", "create", "one").exit_code == 0
    assert w.run("a", "sync", "init").exit_code == 0
    # Told there is no pooler, a statement run often enough is prepared on one server connection,
    # then missing on the next: this PgBouncer really is in transaction mode, and the setting is
    # what makes it work.
    with pytest.raises(RemoteError, match="prepared statement"):
        _list_repeatedly(w.path("a"))
    monkeypatch.setenv("IDSE_SYNC_POOLER", "transaction")
    _list_repeatedly(w.path("a"))
    init = w.run("a", "sync", "init")
    assert init.exit_code == 0 and "through a transaction pooler" in init.stdout
    pushed = w.run("a", "sync", "push")
    assert pushed.exit_code == 0, pushed
    assert set(w.states("a").values()) == {"in-sync"}


def _list_repeatedly(root: Path, times: int = 12) -> None:
    """One store, many transactions: what a long push does."""
    from idse_orchestrator.sync.settings import load_settings
    from idse_orchestrator.sync.store import open_store
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(root)
    store = open_store(load_settings(ws, ws.project()), ws)
    try:
        for _ in range(times):
            store.list_artifacts()
    finally:
        store.close()

"""The ``postgres`` store: two tables in any PostgreSQL database (a Supabase connection string works).

Revisions are a per-row counter. A write is a single conditional statement (``UPDATE … WHERE
revision = base`` or ``INSERT … ON CONFLICT DO NOTHING``); no row affected means someone else wrote
first, which is reported as a conflict, never overwritten. A push writes a batch of documents in
one transaction, its statements pipelined (``write_artifacts``), not one transaction per document;
a pull reads a batch in one statement (``read_artifacts``).
psycopg is an optional extra and is imported only here. Behind a transaction-mode pooler
(PgBouncer ``pool_mode=transaction``, Supabase's pooler on port 6543) consecutive transactions may
run on different server connections, so nothing may outlive a transaction: settings are ``SET
LOCAL`` and prepared statements are off (``connection_options``). A refused login is final (never
retried); every network wait is bounded client-side (connect_timeout, keepalives, tcp_user_timeout
and a per-transaction watchdog), so a server that stops answering is an error, not a hang.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult
from idse_orchestrator.workspace import Workspace

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

ARTIFACTS = "idse_artifacts"
STATE = "idse_project_state"
_QUOTED = re.compile(r'"([^"]*)"')
_PUNCTUATION = re.compile(r"[^\w\s]?")
# Refusals of the credentials (SQLSTATE class 28, or libpq's own text when it carries no SQLSTATE):
# final, since a wrong password stays wrong however often it is retried.
_AUTH = re.compile(
    r"authentication failed|password authentication|no password supplied|pg_hba\.conf rejects"
    r"|role \"[^\"]*\" does not exist|SASL authentication|password is required",
    re.IGNORECASE,
)
# Ports of transaction-mode poolers: Supabase's (6543) and PgBouncer's default (6432).
POOLER_PORTS = frozenset({"6543", "6432"})
INSTALL_HINT = "the postgres sync backend needs psycopg: pip install 'idse-orchestrator[postgres]'"


class PostgresStore:
    def __init__(self, settings: SyncSettings) -> None:
        assert settings.dsn is not None
        self.settings = settings
        self.dsn = settings.dsn.get_secret_value()
        self.project = settings.project
        self.schema = settings.db_schema
        where = redact(self.dsn) + (f" schema {self.schema}" if self.schema else "")
        self.description = f"postgres {where} (project {self.project})"
        self.options = connection_options(self.dsn, settings.pooler)
        self._conn: psycopg.Connection[Any] | None = None

    def _table(self, name: str) -> sql.Composable:
        from psycopg import sql

        if self.schema:
            return sql.Identifier(self.schema, name)
        return sql.Identifier(name)

    def _error(self, exc: Exception) -> RemoteError:
        import psycopg

        text = self.settings.scrub(" ".join(str(exc).split()))[:300]
        if isinstance(exc, psycopg.errors.UndefinedTable):
            return RemoteError(f"{self.description}: the sync tables do not exist; run 'idse sync init'")
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return RemoteError(
                f"{self.description}: no answer within {self.settings.timeout:g}s (statement timeout)"
            )
        if isinstance(exc, psycopg.OperationalError):
            return RemoteError(f"{self.description}: cannot reach the database: {text}")
        return RemoteError(f"{self.description}: database error: {text}")

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is not None and not self._conn.closed:
            return self._conn
        attempt = 0
        while True:
            try:
                conn = psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    **self.options,
                    connect_timeout=max(2, round(self.settings.connect_timeout)),
                    application_name="idse",
                    # A server that vanishes mid-statement is noticed instead of waited for forever.
                    keepalives=1,
                    keepalives_idle=max(1, round(self.settings.timeout)),
                    keepalives_interval=max(1, round(self.settings.timeout / 3)),
                    keepalives_count=3,
                    # Data sent and never acknowledged (a cable pulled mid-statement) ends the
                    # connection too; a server that is alive but silent is the watchdog's (``_bounded``).
                    tcp_user_timeout=max(1000, int(self.settings.timeout * 1000)),
                )
                break
            except psycopg.OperationalError as exc:
                if is_auth_failure(exc):
                    raise RemoteError(
                        f"{self.description}: authentication failed; check the user and password "
                        "in IDSE_SYNC_DSN (1 attempt)"
                    ) from None
                attempt += 1
                if attempt > self.settings.retries:
                    raise self._error(exc) from None
                time.sleep(self.settings.backoff * (2 ** (attempt - 1)))
            except psycopg.ProgrammingError as exc:
                raise bad_dsn(self.settings, exc) from None
            except psycopg.Error as exc:
                raise self._error(exc) from None
        self._conn = conn
        return conn

    @contextlib.contextmanager
    def _bounded(self, conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
        """Bound a round of statements client-side: a server that stops answering (a stopped
        process still has its socket acknowledged by the kernel, so keepalives see nothing) gets
        its connection shut down after ``seconds``, which ends the wait with a clean error."""
        import psycopg

        fired = threading.Event()

        def expire() -> None:
            fired.set()
            with contextlib.suppress(OSError, ValueError):
                sock = socket.socket(fileno=os.dup(conn.fileno()))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except psycopg.Error as exc:
            if fired.is_set():
                self._drop()
                raise RemoteError(
                    f"{self.description}: no answer within {seconds:g}s (the server stopped responding)"
                ) from None
            raise self._error(exc) from None
        finally:
            timer.cancel()
        if fired.is_set():  # expired just as the answer came: the connection is unusable now
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _deadline(self) -> float:
        """How long one transaction may take before the server is taken for gone: a live server
        ends any statement at its statement_timeout (``timeout``), so it answers within this."""
        return self.settings.timeout + max(1.0, self.settings.timeout / 2)

    def _run(self, query: sql.Composable | str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._connection()
        rows: list[tuple[Any, ...]] = []
        # The timeout is set per transaction (SET LOCAL): a transaction-mode pooler hands the
        # server connection to other clients afterwards, so session settings must not linger.
        with self._bounded(conn, self._deadline()), conn.transaction():
            millis = str(int(self.settings.timeout * 1000))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (millis,))
            cur = conn.execute(query, params)  # type: ignore[arg-type]
            rows = list(cur.fetchall()) if cur.description else []
        return rows

    def list_artifacts(self) -> list[ArtifactRef]:
        from psycopg import sql

        rows = self._run(
            sql.SQL(
                "SELECT session, stage, sha256, revision FROM {} WHERE project = %s ORDER BY session, stage"
            ).format(self._table(ARTIFACTS)),
            (self.project,),
        )
        return [ArtifactRef(str(s), str(st), str(h), str(r)) for s, st, h, r in rows]

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        from psycopg import sql

        rows = self._run(
            sql.SQL(
                "SELECT content, sha256, revision FROM {} WHERE project = %s AND session = %s AND stage = %s"
            ).format(self._table(ARTIFACTS)),
            (self.project, session, stage),
        )
        if not rows:
            return None
        content, digest, revision = rows[0]
        return Artifact(session, stage, str(content), str(digest), str(revision))

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        from psycopg import sql

        table = self._table(ARTIFACTS)
        if base_revision is None:
            rows = self._run(
                sql.SQL(
                    "INSERT INTO {} (project, session, stage, content, sha256, revision) "
                    "VALUES (%s, %s, %s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING revision"
                ).format(table),
                (self.project, session, stage, content, sha256),
            )
        elif base_revision.isdigit() and len(base_revision) < 19:
            rows = self._run(
                sql.SQL(
                    "UPDATE {} SET content = %s, sha256 = %s, revision = revision + 1 "
                    "WHERE project = %s AND session = %s AND stage = %s AND revision = %s RETURNING revision"
                ).format(table),
                (content, sha256, self.project, session, stage, int(base_revision)),
            )
        else:
            rows = []  # not a revision this store ever issued: cannot be current
        if rows:
            return WriteResult(True, str(rows[0][0]), sha256)
        current = self._run(
            sql.SQL(
                "SELECT revision, sha256 FROM {} WHERE project = %s AND session = %s AND stage = %s"
            ).format(table),
            (self.project, session, stage),
        )
        if not current:
            return WriteResult(False, None, None)
        return WriteResult(False, str(current[0][0]), str(current[0][1]))

    def read_artifacts(self, keys: list[tuple[str, str]]) -> list[Artifact | None]:
        """``read_artifact`` for each (session, stage), in one statement: one round trip per batch."""
        from psycopg import sql

        if not keys:
            return []
        rows = self._run(
            sql.SQL(
                "SELECT a.session, a.stage, a.content, a.sha256, a.revision FROM {} a "
                "JOIN unnest(%s::text[], %s::text[]) AS k(session, stage) "
                "ON a.session = k.session AND a.stage = k.stage WHERE a.project = %s"
            ).format(self._table(ARTIFACTS)),
            ([k[0] for k in keys], [k[1] for k in keys], self.project),
        )
        found = {(str(s), str(st)): (str(c), str(h), str(r)) for s, st, c, h, r in rows}
        out: list[Artifact | None] = []
        for session, stage in keys:
            hit = found.get((session, stage))
            out.append(None if hit is None else Artifact(session, stage, *hit))
        return out

    def write_artifacts(self, items: list[tuple[str, str, str, str, str | None]]) -> list[WriteResult]:
        """``write_artifact`` for each (session, stage, content, sha256, base_revision), all in one
        transaction and one pipeline: one round trip and one commit for the batch. The answers are
        those each write would give on its own."""
        from psycopg import sql

        if not items:
            return []
        table = self._table(ARTIFACTS)
        insert = sql.SQL(
            "INSERT INTO {} (project, session, stage, content, sha256, revision) "
            "VALUES (%s, %s, %s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING revision"
        ).format(table)
        update = sql.SQL(
            "UPDATE {} SET content = %s, sha256 = %s, revision = revision + 1 "
            "WHERE project = %s AND session = %s AND stage = %s AND revision = %s RETURNING revision"
        ).format(table)
        current = sql.SQL(
            "SELECT revision, sha256 FROM {} WHERE project = %s AND session = %s AND stage = %s"
        ).format(table)
        conn = self._connection()
        out: list[WriteResult] = []
        with self._bounded(conn, self._deadline()), conn.transaction():
            millis = str(int(self.settings.timeout * 1000))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (millis,))
            with conn.pipeline():
                cursors: list[psycopg.Cursor[Any] | None] = []
                for session, stage, content, sha256, base in items:
                    if base is None:
                        params: tuple[Any, ...] = (self.project, session, stage, content, sha256)
                        cursors.append(conn.execute(insert, params))
                    elif base.isdigit() and len(base) < 19:
                        params = (content, sha256, self.project, session, stage, int(base))
                        cursors.append(conn.execute(update, params))
                    else:
                        cursors.append(None)  # not a revision this store ever issued
            answers = [list(cur.fetchall()) if cur is not None else [] for cur in cursors]
            for (session, stage, _content, sha256, _base), rows in zip(items, answers, strict=True):
                if rows:
                    out.append(WriteResult(True, str(rows[0][0]), sha256))
                    continue
                now = conn.execute(current, (self.project, session, stage)).fetchall()
                if not now:
                    out.append(WriteResult(False, None, None))
                else:
                    out.append(WriteResult(False, str(now[0][0]), str(now[0][1])))
        return out

    def read_project_state(self) -> dict[str, Any]:
        from psycopg import sql

        rows = self._run(
            sql.SQL("SELECT state FROM {} WHERE project = %s").format(self._table(STATE)), (self.project,)
        )
        if not rows or not isinstance(rows[0][0], dict):
            return {}
        return dict(rows[0][0])

    def write_project_state(self, state: dict[str, Any]) -> None:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        self._run(
            sql.SQL(
                "INSERT INTO {} (project, state) VALUES (%s, %s) "
                "ON CONFLICT (project) DO UPDATE SET state = EXCLUDED.state"
            ).format(self._table(STATE)),
            (self.project, Jsonb(state)),
        )

    def init(self) -> str:
        from psycopg import sql

        if self.schema:
            self._run(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        artifacts, state = self._table(ARTIFACTS), self._table(STATE)
        self._run(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " project text NOT NULL, session text NOT NULL, stage text NOT NULL,"
                " content text NOT NULL, sha256 text NOT NULL, revision bigint NOT NULL,"
                " PRIMARY KEY (project, session, stage))"
            ).format(artifacts)
        )
        self._run(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (project text PRIMARY KEY, state jsonb NOT NULL)").format(
                state
            )
        )
        # Row level security with no policy: the owner connecting directly keeps access, while
        # Supabase's public REST API (anon/authenticated roles) cannot read or change the documents.
        for table in (artifacts, state):
            self._run(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
        via = " through a transaction pooler" if self.options.get("prepare_threshold", 0) is None else ""
        return f"tables {ARTIFACTS} and {STATE} ready in {self.description}{via}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _is_local(host: str) -> bool:
    """A Unix socket or a loopback address: traffic that never leaves the machine."""
    if not host or host.startswith(("/", "@")) or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_options(dsn: str, pooler: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Connection parameters added to the DSN's own (which win wherever they say something).

    - ``prepare_threshold``: ``None`` (never prepare) behind a transaction-mode pooler, set with
      ``pooler: transaction`` or detected with ``auto``: a pooler port (6543, 6432) or a host named
      ``pooler`` (``aws-0-eu-central-1.pooler.supabase.com``); psycopg's default otherwise.
    - ``sslmode=require`` for a host that is not local, unless the DSN (or ``PGSSLMODE``) says
      otherwise: libpq's own default (``prefer``) falls back to plain text without a word.
    """
    from psycopg.conninfo import conninfo_to_dict

    env = os.environ if env is None else env
    params = conninfo_to_dict(dsn)
    hosts = [h.strip() for h in str(params.get("host") or env.get("PGHOST") or "").split(",")]
    ports = [p.strip() for p in str(params.get("port") or env.get("PGPORT") or "").split(",")]
    options: dict[str, Any] = {}
    detected = any(p in POOLER_PORTS for p in ports) or any(
        "pooler" in h.lower().split(".") for h in hosts if not _is_local(h)
    )
    if pooler == "transaction" or (pooler == "auto" and detected):
        options["prepare_threshold"] = None
    # hostaddr, when given, is where libpq actually connects (host then only names the server).
    addresses = [a.strip() for a in str(params.get("hostaddr") or "").split(",") if a.strip()] or hosts
    remote = any(not _is_local(a) for a in addresses)
    if remote and not params.get("sslmode") and not env.get("PGSSLMODE"):
        options["sslmode"] = "require"
    return options


def is_auth_failure(exc: Exception) -> bool:
    """Whether ``exc`` is the server refusing the credentials (not a transient fault)."""
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state.startswith("28"):
        return True
    return bool(_AUTH.search(str(exc)))


def bad_dsn(settings: SyncSettings, exc: Exception) -> UsageError:
    """A connection string libpq cannot parse: bad input (exit 2), shown without any of its text.

    libpq quotes the offending part of the string in its message; every quoted part but a lone
    punctuation mark is dropped, and the rest scrubbed, so no fragment of a password is shown."""
    reason = " ".join(str(exc).split())
    reason = _QUOTED.sub(lambda m: m.group(0) if _PUNCTUATION.fullmatch(m.group(1)) else '"…"', reason)
    where = settings.sources.get("dsn", "sync.dsn").removeprefix("env ")
    if where == "config":
        where = "sync.dsn in .idse/config.yaml"
    return UsageError(f"{where}: not a valid PostgreSQL connection string ({settings.scrub(reason)[:200]})")


def open_store(settings: SyncSettings, ws: Workspace) -> PostgresStore:
    if settings.dsn is None:
        raise UsageError("the postgres backend needs a connection string: set IDSE_SYNC_DSN (or sync.dsn)")
    try:
        import psycopg
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    try:
        psycopg.conninfo.conninfo_to_dict(settings.dsn.get_secret_value())
    except psycopg.Error as exc:
        raise bad_dsn(settings, exc) from None
    return PostgresStore(settings)

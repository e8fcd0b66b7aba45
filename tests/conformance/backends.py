"""The backends the conformance suite (and ``benchmarks/bench_sync.py --backends``) runs against.

``FACTORIES`` is the registry: one ``Factory`` per backend. Adding a backend is appending one
factory (its fake server, if it needs one, in a module of its own beside this one). A factory gives:

- ``name``: the test id, e.g. ``"notion"``;
- ``unavailable() -> str | None``: why the backend cannot run here (the skip reason), or ``None``;
- ``start(workdir) -> context manager yielding a Remote``: a fresh, empty remote for one test,
  torn down on exit (``workdir`` is a private, empty folder it may use).

A ``Remote`` (see the protocol below) gives:

- ``env``: the ``IDSE_SYNC_*`` variables that reach it (backend, url or dsn, token, schema, …), and
  nothing about retries or timeouts, which the suite sets itself;
- ``secrets``: every secret in ``env`` (token, password, signature) or reached through it (the
  private key of a key file it names, the access token obtained with it), none empty: the suite
  checks that no output or file of the workspace ever contains one, and that ``sync config`` masks
  those in ``env``. Give the backend one even when the fake does not check it (the filesystem
  remote gets a ``?sig=`` in its URL);
- ``put_raw(session, stage, content) -> bool``: write a document as another writer would, names
  unchecked (``../evil`` included); ``False`` when the store cannot hold such a name at all;
- ``content(session, stage) -> str | None``: read a document directly;
- ``faults``: the fault kinds ``fail`` can inject, among ``"429"``, ``"500"``, ``"timeout"``; empty
  when the backend has no injection point, with ``no_faults`` saying why (shown as the skip reason);
- ``fail(kind, at, times=1)``: the request ``at`` (0-based, counted from now, one request at a time)
  and the ``times - 1`` after it fail with ``kind``; a ``"timeout"`` answers after more than
  ``FAULT_TIMEOUT`` seconds (or never);
- ``served() -> int``: requests answered so far (only needed when ``faults`` is not empty).

Remote project names are the workspace's project (``demo``) unless the suite sets
``IDSE_SYNC_PROJECT``; every project of a remote starts empty.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from artifact_core_server import ArtifactCoreServer
from pgbouncer import PG_DSN, PgBouncer
from pgbouncer import available as pgbouncer_unavailable

from idse_orchestrator.stages import BY_NAME

from .cloud_backends import firestore, no_firestore, notion

PROJECT = "demo"
FAULT_KINDS = ("429", "500", "timeout")
# The client's timeout while faults are injected: a "timeout" fault must take longer than this.
FAULT_TIMEOUT = 0.3


class Remote(Protocol):
    env: dict[str, str]
    secrets: list[str]
    faults: tuple[str, ...]
    no_faults: str

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool: ...

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None: ...

    def fail(self, kind: str, at: int, times: int = 1) -> None: ...

    def served(self) -> int: ...


@dataclass(frozen=True)
class Factory:
    name: str
    start: Callable[[Path], AbstractContextManager[Remote]]
    unavailable: Callable[[], str | None] = lambda: None


class _NoFaults:
    faults: tuple[str, ...] = ()
    no_faults = ""

    def fail(self, kind: str, at: int, times: int = 1) -> None:
        raise AssertionError(f"no fault injection: {self.no_faults}")

    def served(self) -> int:
        raise AssertionError(f"no request count: {self.no_faults}")


# -- filesystem ---------------------------------------------------------------------------------


class FilesystemRemote(_NoFaults):
    no_faults = "a directory has no requests to fail: faults are its I/O errors (test_sync_filesystem.py)"

    def __init__(self, root: Path) -> None:
        self.root = root
        secret = f"sig-{uuid.uuid4().hex}"
        # A query is not part of the directory (docs/sync.md) but is scrubbed like any URL secret.
        self.env = {"IDSE_SYNC_BACKEND": "filesystem", "IDSE_SYNC_URL": f"file://{root}?sig={secret}"}
        self.secrets = [secret]

    def _path(self, session: str, stage: str, project: str) -> Path | None:
        # A directory can hold a hostile name only if it is one plain path component.
        if stage not in BY_NAME or "/" in session or "\\" in session or session in ("", ".", ".."):
            return None
        return self.root / "projects" / project / "sessions" / session / BY_NAME[stage].relpath

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool:
        path = self._path(session, stage, project)
        if path is None:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))
        return True

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None:
        path = self._path(session, stage, project)
        return path.read_bytes().decode("utf-8") if path is not None and path.is_file() else None


@contextlib.contextmanager
def filesystem(workdir: Path) -> Iterator[Remote]:
    root = workdir / "shared"
    root.mkdir()
    yield FilesystemRemote(root)


# -- artifact-core ------------------------------------------------------------------------------


class ArtifactCoreRemote:
    faults = FAULT_KINDS
    no_faults = ""

    def __init__(self, server: ArtifactCoreServer) -> None:
        self.server = server
        token = f"tok-{uuid.uuid4().hex}"
        server.token = token
        self.env = {
            "IDSE_SYNC_BACKEND": "artifact-core",
            "IDSE_SYNC_URL": server.url,
            "IDSE_SYNC_TOKEN": token,
        }
        self.secrets = [token]

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool:
        self.server.put_raw(project, session, stage, content)
        return True

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None:
        return self.server.content(project, session, stage)

    def fail(self, kind: str, at: int, times: int = 1) -> None:
        self.server.fail(self.server.count + at, kind, times)

    def served(self) -> int:
        return self.server.count


@contextlib.contextmanager
def artifact_core(workdir: Path) -> Iterator[Remote]:
    server = ArtifactCoreServer(delay=FAULT_TIMEOUT + 0.5).start()
    try:
        yield ArtifactCoreRemote(server)
    finally:
        server.stop()


# -- postgres, directly and through PgBouncer in transaction mode -------------------------------


def _sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _with_password(dsn: str, password: str) -> str:
    """``dsn`` carrying a password (the test server trusts loopback, so it is never asked for: it is
    there to be kept out of every output)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    params["password"] = password
    return make_conninfo(**params)


class PostgresRemote(_NoFaults):
    no_faults = (
        "SQL has no 429 or 500 to inject; dropped connections and a stopped server are tested in "
        "test_sync_postgres.py and test_sync_partial_faults.py"
    )

    def __init__(self, dsn: str, schema: str, pooler: bool) -> None:
        self.schema = schema
        password = f"pw-{uuid.uuid4().hex}"
        self.env = {
            "IDSE_SYNC_BACKEND": "postgres",
            "IDSE_SYNC_DSN": _with_password(dsn, password),
            "IDSE_SYNC_SCHEMA": schema,
        }
        if pooler:
            self.env["IDSE_SYNC_POOLER"] = "transaction"
        self.secrets = [password]

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool:
        from idse_orchestrator.sync.store import content_sha256

        # The tables exist once the suite has run `idse sync init`.
        _sql(
            f'INSERT INTO "{self.schema}".idse_artifacts VALUES (%s, %s, %s, %s, %s, 1) '
            "ON CONFLICT (project, session, stage) DO UPDATE SET content = EXCLUDED.content, "
            "sha256 = EXCLUDED.sha256, revision = idse_artifacts.revision + 1",
            project,
            session,
            stage,
            content,
            content_sha256(content),
        )
        return True

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None:
        rows = _sql(
            f'SELECT content FROM "{self.schema}".idse_artifacts WHERE project = %s AND session = %s '
            "AND stage = %s",
            project,
            session,
            stage,
        )
        return str(rows[0][0]) if rows else None


@contextlib.contextmanager
def _schema() -> Iterator[str]:
    name = f"idse_conf_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        _sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[Remote]:
    with _schema() as schema:
        yield PostgresRemote(PG_DSN, schema, pooler=False)


@contextlib.contextmanager
def postgres_pgbouncer(workdir: Path) -> Iterator[Remote]:
    bouncer = PgBouncer.start()
    try:
        with _schema() as schema:
            yield PostgresRemote(bouncer.dsn, schema, pooler=True)
    finally:
        bouncer.stop()


def _no_postgres() -> str | None:
    if not PG_DSN:
        return "IDSE_TEST_PG_DSN is not set: no PostgreSQL server"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg (the postgres extra) is not installed"
    return None


FACTORIES: list[Factory] = [
    Factory("filesystem", filesystem),
    Factory("artifact-core", artifact_core),
    Factory("postgres", postgres, _no_postgres),
    Factory("postgres-pgbouncer", postgres_pgbouncer, lambda: _no_postgres() or pgbouncer_unavailable()),
    Factory("notion", functools.partial(notion, delay=FAULT_TIMEOUT + 0.5)),
    Factory("firestore", functools.partial(firestore, delay=FAULT_TIMEOUT + 0.5), no_firestore),
]


def fresh_dir(root: Path, name: str) -> Path:
    """An empty folder ``root/name`` (emptied if it exists): a factory's ``workdir``."""
    path = root / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.chmod(path, 0o755)
    return path

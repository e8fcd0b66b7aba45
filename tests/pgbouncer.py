"""A real PgBouncer in transaction mode on 127.0.0.1, in front of the PostgreSQL of IDSE_TEST_PG_DSN.

``PgBouncer.start(upstream_dsn)`` runs Debian's ``pgbouncer`` binary (``pool_mode = transaction``,
the mode of Supabase's pooler on port 6543) on a free loopback port and returns it; ``dsn`` is the
connection string through it, ``stop()`` ends it. ``available()`` says why it cannot run here
(no binary, no PostgreSQL), for a skip reason.

``server_round_robin = 1`` hands the server connections out in turn instead of reusing the last
one, so that consecutive transactions of one client really land on different server connections
whenever the pool holds several: what a busy pooler does, and what breaks prepared statements.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_DSN = os.environ.get("IDSE_TEST_PG_DSN", "")


def binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def available() -> str | None:
    """``None`` when a PgBouncer can be started here, else the reason it cannot."""
    if not PG_DSN:
        return "IDSE_TEST_PG_DSN is not set: no PostgreSQL server to put PgBouncer in front of"
    if binary() is None:
        return "no pgbouncer binary (Debian package 'pgbouncer'): transaction-pooler tests skipped"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PgBouncer:
    def __init__(self, proc: subprocess.Popen[bytes], folder: Path, port: int, user: str, dbname: str):
        self.proc = proc
        self.folder = folder
        self.port = port
        self.dsn = f"postgresql://{user}@127.0.0.1:{port}/{dbname}"

    @classmethod
    def start(cls, upstream: str = PG_DSN, pool_size: int = 4) -> PgBouncer:
        from psycopg.conninfo import conninfo_to_dict

        exe = binary()
        assert exe is not None, available()
        params = conninfo_to_dict(upstream)
        user = str(params.get("user") or "postgres")
        dbname = str(params.get("dbname") or user)
        server = " ".join(
            f"{key}={_quote(str(params[key]))}" for key in ("host", "port", "password") if params.get(key)
        )
        # Readable by the user PgBouncer drops to when started as root (it refuses to run as root).
        folder = Path(tempfile.mkdtemp(prefix="idse-pgbouncer-"))
        folder.chmod(0o755)
        port = _free_port()
        users = folder / "users.txt"
        users.write_text(f'"{user}" ""\n')
        ini = folder / "pgbouncer.ini"
        lines = [
            "[databases]",
            f"* = {server}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {users}",
            "pool_mode = transaction",
            f"default_pool_size = {pool_size}",
            "server_round_robin = 1",
            "max_client_conn = 200",
            "ignore_startup_parameters = extra_float_digits",
            "logfile =",
            "pidfile =",
        ]
        if os.geteuid() == 0:
            lines.append(f"user = {_unprivileged_user()}")
        ini.write_text("\n".join(lines) + "\n")
        for path in (users, ini):
            path.chmod(0o644)
        proc = subprocess.Popen(
            [exe, str(ini)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        bouncer = cls(proc, folder, port, user, dbname)
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(f"pgbouncer exited with {proc.returncode}: {err[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                bouncer.stop()
                raise RuntimeError("pgbouncer did not start listening within 15 s")
            time.sleep(0.05)
        bouncer.fill_pool(pool_size)
        return bouncer

    def fill_pool(self, count: int) -> None:
        """Open ``count`` server connections (clients holding a transaction at the same time), so
        that round robin spreads the next transactions over all of them."""
        import psycopg

        clients = [psycopg.connect(self.dsn, prepare_threshold=None) for _ in range(count)]
        try:
            for client in clients:
                client.execute("SELECT 1")  # opens a transaction: a server connection is held
            for client in clients:
                client.commit()  # a clean end: the server connection goes back to the pool
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _unprivileged_user() -> str:
    for name in ("pgci", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("no unprivileged user to run pgbouncer as")

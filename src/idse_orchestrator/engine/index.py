"""The build index: a memo of doit's last answer, so a no-op ``idse build`` costs one ``stat`` per file.

doit's dependency database is the one source of truth for what is up to date. The index only
remembers, per *owner* (a session id, or "" for the project-wide tasks), that all of that owner's
tasks were up to date or ran successfully in one doit run, together with the stat of every file
those tasks read, wrote or whose appearance would change them. While none of those files changed,
and doit's database is the very file the index saw, doit would answer "up to date" again, so the
build skips asking it. Anything else (a changed file, an owner never recorded, a failed, skipped or
interrupted task, a database touched by someone else) sends the owner back to doit.

Files modified within ``RACY_WINDOW_NS`` of being recorded could change again without changing
their stat (coarse timestamps); they are recorded as never matching, so doit checks their content.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from idse_orchestrator.engine.outputs import fingerprint

PROJECT_OWNER = ""
SCHEMA = "2"
RACY_WINDOW_NS = 2_000_000_000
_NEVER = -2  # a size no file has: a racy file never matches its record


class OwnerRow:
    def __init__(self, families: tuple[str, ...], tasks: list[str], findings: list[dict[str, Any]]) -> None:
        self.families = families
        self.tasks = tasks
        self.findings = findings
        self._entries: list[dict[str, Any]] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OwnerRow) and (self.families, self.tasks, self.findings) == (
            other.families,
            other.tasks,
            other.findings,
        )

    __hash__ = None  # type: ignore[assignment]

    def uptodate_entries(self) -> list[dict[str, Any]]:
        """The owner's tasks as build-report entries, all up to date; made once per row (rows are
        kept per process, so a watch round or a no-op build does not allocate them again)."""
        if self._entries is None:
            # No reasons as an empty tuple, not a list: a dict holding only atomic values is not
            # tracked by the cycle collector, and a watch or a 1,000-session build keeps thousands.
            self._entries = [{"name": name, "status": "up-to-date", "reasons": ()} for name in self.tasks]
        return self._entries


_DECODED: dict[tuple[str, str, str, str], OwnerRow] = {}


def _decoded(owner: str, families: str, tasks: str, findings: str) -> OwnerRow:
    """A row as stored, decoded once per process (``idse watch`` reads every row each round);
    rows are read-only to their users."""
    key = (owner, families, tasks, findings)
    row = _DECODED.get(key)
    if row is None:
        if len(_DECODED) > 200_000:
            _DECODED.clear()
        row = _DECODED[key] = OwnerRow(tuple(json.loads(families)), json.loads(tasks), json.loads(findings))
    return row


class BuildIndex:
    """sqlite3 file in the cache folder; portable, and updated row by row (cost grows with the change)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level="DEFERRED")
        try:
            self.conn.executescript(
                """
                create table if not exists meta (key text primary key, value text);
                create table if not exists files (
                    path text not null, owner text not null, mtime_ns integer, size integer,
                    primary key (path, owner));
                create table if not exists owners (
                    owner text primary key, families text, tasks text, findings text);
                create index if not exists files_by_owner on files (owner);
                """
            )
            if self.meta("schema") != SCHEMA:
                with self.conn:
                    self.conn.execute("drop table files")
                    self.conn.execute("drop table owners")
                    self.conn.execute("delete from meta")
                self.__init_tables()
            # A foreign or damaged schema fails here (and the file is moved aside), not mid-build.
            self.conn.execute("select owner, families, tasks, findings from owners limit 1").fetchall()
            self.conn.execute("select path, owner, mtime_ns, size from files limit 1").fetchall()
        except sqlite3.DatabaseError:
            self.conn.close()
            raise

    def __init_tables(self) -> None:
        self.conn.executescript(
            """
            create table if not exists files (
                path text not null, owner text not null, mtime_ns integer, size integer,
                primary key (path, owner));
            create table if not exists owners (
                owner text primary key, families text, tasks text, findings text);
            create index if not exists files_by_owner on files (owner);
            """
        )
        with self.conn:
            self.conn.execute("insert or replace into meta values ('schema', ?)", (SCHEMA,))

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("select value from meta where key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def trusted(
        self, wanted: dict[str, tuple[str, ...]], changed: set[str] | None = None
    ) -> dict[str, OwnerRow]:
        """Rows of the wanted owners, each recorded for at least the families wanted of it, whose
        files are all unchanged. One pass over the files, one ``stat`` per distinct path.

        ``changed``: the files a watcher saw change since the last build; then only the owners of
        those files are distrusted, nothing is stat'ed. A path the index never recorded (a new
        file) falls back to the full check."""
        rows: dict[str, OwnerRow] = {}
        for owner, fams, tasks, findings in self.conn.execute(
            "select owner, families, tasks, findings from owners"
        ):
            if owner not in wanted:
                continue
            row = _decoded(owner, fams, tasks, findings)
            if set(wanted[owner]) <= set(row.families):
                rows[owner] = row
        if changed is not None:
            marks = ",".join("?" * len(changed))
            hits = list(
                self.conn.execute(f"select path, owner from files where path in ({marks})", tuple(changed))
            )
            if {path for path, _ in hits} == changed:
                for _, owner in hits:
                    rows.pop(owner, None)
                return rows
        seen: dict[str, tuple[int, int]] = {}
        for path, owner, mtime, size in self.conn.execute("select path, owner, mtime_ns, size from files"):
            if owner not in rows:
                continue
            fp = seen.get(path)
            if fp is None:
                fp = seen[path] = fingerprint(path)
            if fp != (mtime, size):
                del rows[owner]
        return rows

    def changed(self, owner: str, paths: set[str]) -> bool:
        """Whether any of ``paths`` that ``owner``'s row recorded differs from its record now."""
        if not paths:
            return False
        marks = ",".join("?" * len(paths))
        query = f"select path, mtime_ns, size from files where owner=? and path in ({marks})"
        return any(fingerprint(p) != (m, z) for p, m, z in self.conn.execute(query, (owner, *paths)))

    def record(
        self,
        meta: dict[str, str],
        owners: dict[str, tuple[tuple[str, ...], list[str], Iterable[str], list[dict[str, Any]]]],
        forget: Iterable[str],
        exact: set[str] | None = None,
    ) -> None:
        """Replace what is known of ``owners`` (families, task names, files stat'ed now, findings) and
        drop ``forget``, in one transaction. ``exact`` files were just written by the build itself and
        are not treated as racy."""
        now = time.time_ns()
        with self.conn:
            for key, value in meta.items():
                self.conn.execute("insert or replace into meta values (?, ?)", (key, value))
            for owner in forget:
                self.conn.execute("delete from files where owner=?", (owner,))
                self.conn.execute("delete from owners where owner=?", (owner,))
            for owner, (families, tasks, files, findings) in owners.items():
                self.conn.execute("delete from files where owner=?", (owner,))
                rows = []
                for path in sorted(set(files)):
                    mtime, size = fingerprint(path)
                    if size >= 0 and now - mtime < RACY_WINDOW_NS and path not in (exact or ()):
                        size = _NEVER
                    rows.append((path, owner, mtime, size))
                self.conn.executemany("insert into files values (?, ?, ?, ?)", rows)
                self.conn.execute(
                    "insert or replace into owners values (?, ?, ?, ?)",
                    (owner, json.dumps(sorted(families)), json.dumps(sorted(tasks)), json.dumps(findings)),
                )

    def owners(self) -> list[str]:
        return [str(r[0]) for r in self.conn.execute("select owner from owners")]

    def reset(self) -> None:
        with self.conn:
            self.conn.execute("delete from files")
            self.conn.execute("delete from owners")
            self.conn.execute("delete from meta where key != 'schema'")

"""The build index: a stat fingerprint of every file the last successful build read or wrote.

It lets a no-op ``idse build`` answer from one ``stat`` per file, without loading doit or any
document, and lets an incremental build hand doit only the tasks whose inputs could have changed.
doit still decides what actually reruns (content-based md5): the index only narrows what it is
shown. Each file is recorded once per *owner* (a session id, or "" for project-wide tasks) whose
tasks declare it, so a file shared by many sessions (the blueprint's spec) wakes all of them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PROJECT_OWNER = ""
SCHEMA = 1


def fingerprint(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


@dataclass
class IndexState:
    key: str | None
    files: dict[str, list[tuple[str, int, int]]] = field(
        default_factory=dict
    )  # path -> [(owner, mtime, size)]
    owners: set[str] = field(default_factory=set)


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
                create table if not exists owners (owner text primary key, tasks text, findings text);
                """
            )
        except sqlite3.DatabaseError:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def get_key(self) -> str | None:
        row = self.conn.execute("select value from meta where key='build_key'").fetchone()
        return str(row[0]) if row else None

    def changed_owners(self, owners: set[str] | None) -> tuple[set[str], set[str]]:
        """(owners with a changed file, owners known to the index) — restricted to ``owners`` if given."""
        known = {str(r[0]) for r in self.conn.execute("select owner from owners")}
        seen: dict[str, tuple[int, int]] = {}
        changed: set[str] = set()
        for path, owner, mtime, size in self.conn.execute("select path, owner, mtime_ns, size from files"):
            if owners is not None and owner not in owners:
                continue
            if owner in changed:
                continue
            fp = seen.get(path)
            if fp is None:
                fp = seen[path] = fingerprint(path)
            if fp != (mtime, size):
                changed.add(owner)
        return changed, known

    def owner_rows(self, owners: Iterable[str]) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
        out = {}
        wanted = set(owners)
        for owner, tasks, findings in self.conn.execute("select owner, tasks, findings from owners"):
            if owner in wanted:
                out[owner] = (json.loads(tasks), json.loads(findings) if findings != "[]" else [])
        return out

    def record(self, key: str, owners: dict[str, tuple[list[str], set[str], list[dict[str, Any]]]]) -> None:
        """Replace what is known of ``owners``: their task names, files (stat now) and findings."""
        with self.conn:
            self.conn.execute("insert or replace into meta values ('build_key', ?)", (key,))
            for owner, (tasks, files, findings) in owners.items():
                self.conn.execute("delete from files where owner=?", (owner,))
                self.conn.executemany(
                    "insert into files values (?, ?, ?, ?)",
                    [(path, owner, *fingerprint(path)) for path in sorted(files)],
                )
                self.conn.execute(
                    "insert or replace into owners values (?, ?, ?)",
                    (owner, json.dumps(sorted(tasks)), json.dumps(findings)),
                )

    def forget(self, owners: Iterable[str]) -> None:
        with self.conn:
            for owner in owners:
                self.conn.execute("delete from files where owner=?", (owner,))
                self.conn.execute("delete from owners where owner=?", (owner,))

    def reset(self) -> None:
        with self.conn:
            self.conn.execute("delete from files")
            self.conn.execute("delete from owners")
            self.conn.execute("delete from meta")

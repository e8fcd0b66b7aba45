"""Assertions and readers shared by the test modules (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def assert_one_line_error(result: Any, code: int = 2) -> str:
    """The command failed with ``code`` and said so in exactly one line, without a traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("idse: error: ")
    return str(lines[0])


def db_tasks(path: Path) -> set[str]:
    """Task ids stored in doit's sqlite3 dependency database."""
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("select task_id from doit")}
    finally:
        conn.close()

"""Assertions and readers shared by the test modules (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
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


def run_idse(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real program in a child process: stdin, stdout and stderr are not terminals, and the
    caller's IDSE_PROJECT / IDSE_DEBUG / NO_COLOR do not leak in (``env`` adds variables)."""
    base = {k: v for k, v in os.environ.items() if k not in ("IDSE_PROJECT", "IDSE_DEBUG", "NO_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
    )

"""Cached task results (validation findings, derived statuses) stored as JSON targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from idse_orchestrator.fsutil import atomic_write_text

SCHEMA = 1


def write_result(path: Path, data: dict[str, Any]) -> None:
    payload = {"schema": SCHEMA, **data}
    # Derived data: atomic (never torn) but not fsynced; a lost result is simply rebuilt.
    atomic_write_text(path, json.dumps(payload, sort_keys=True, separators=(",", ":")) + "\n", durable=False)


def read_result(path: Path) -> dict[str, Any] | None:
    """The result, or None when absent or unusable (a damaged cache entry is simply rebuilt)."""
    from idse_orchestrator.fsutil import read_derived_json

    data = read_derived_json(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data

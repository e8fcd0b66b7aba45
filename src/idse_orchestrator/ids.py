"""Validation of names that become path components (sessions, projects).

A bad name must be rejected before anything touches the filesystem.
"""

from __future__ import annotations

import re

from idse_orchestrator.errors import InvalidName
from idse_orchestrator.stages import BLUEPRINT

MAX_LEN = 64
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidName(f"invalid {kind} id: it must not be empty")
    shown = value if len(value) <= MAX_LEN else value[:MAX_LEN] + "..."
    if len(value) > MAX_LEN:
        raise InvalidName(f"invalid {kind} id {shown!r}: longer than {MAX_LEN} characters")
    if "/" in value or "\\" in value:
        raise InvalidName(f"invalid {kind} id {shown!r}: path separators are not allowed")
    if ".." in value:
        raise InvalidName(f"invalid {kind} id {shown!r}: '..' is not allowed")
    if value.startswith("."):
        raise InvalidName(f"invalid {kind} id {shown!r}: must not start with a dot")
    if not _SLUG.fullmatch(value):
        raise InvalidName(
            f"invalid {kind} id {shown!r}: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )
    return value


def session_id(value: str) -> str:
    """Validate a session id; ``__blueprint__`` is the one reserved id that is always allowed."""
    if value == BLUEPRINT:
        return value
    return _check("session", value)


def project_name(value: str) -> str:
    return _check("project", value)


def is_valid_session_id(value: str) -> bool:
    try:
        session_id(value)
    except InvalidName:
        return False
    return True

"""Values computed once per build instead of once per task: a session's metadata, a template's text.

A build reads the same sources many times (seven validations and a session check read one
``session.json``; every document of a stage reads its template). Within one doit run they are read
once. This is sound because of how a build treats files that change while it runs: every source is
stat'ed (and, when fresh, digested) before doit starts and compared afterwards, and the tasks of a
file that changed are forgotten and rerun next build (see ``reconcile``). A value remembered here was
read after that first look, so a change it hides is one the comparison sees.

Outside a build (``idse status``, the CLI's own reads) nothing is remembered. In ``--jobs`` workers
(forked from the build) the scope is inherited, each worker keeping its own values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_active = False
_values: dict[Hashable, Any] = {}


@contextlib.contextmanager
def build_scope() -> Iterator[None]:
    """Remember values for the duration of one doit run."""
    global _active
    _values.clear()
    _active = True
    try:
        yield
    finally:
        _active = False
        _values.clear()


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per build for ``key`` (every time outside a build)."""
    if not _active:
        return compute()
    try:
        return _values[key]  # type: ignore[no-any-return]
    except KeyError:
        value = _values[key] = compute()
        return value


def scope(name: str) -> dict[Hashable, Any] | None:
    """A dictionary that lives as long as the current build (None outside one), for callers that
    remember many small values and cannot afford a closure per lookup."""
    if not _active:
        return None
    found: dict[Hashable, Any] = _values.setdefault(("scope", name), {})
    return found

"""Push then pull returns the exact bytes, for documents hypothesis makes up (unicode, CRLF, tabs,
trailing spaces, code fences, no final newline), through a filesystem remote."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sync_support import Workspaces, sync_env

STAGES7 = ("intent", "context", "spec", "plan", "tasks", "implementation", "feedback")
PIECES = st.sampled_from(
    ["\r\n", "\n", "\t", "   \n", "```yaml\nk: v\n```\n", "<!-- c -->", "é", "漢字", "🙂"]
)
TEXT = st.lists(
    st.one_of(
        PIECES, st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
    ),
    max_size=30,
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(docs=st.lists(TEXT.map("".join), min_size=7, max_size=7))
def test_push_then_pull_returns_the_original_bytes(monkeypatch: pytest.MonkeyPatch, capsys, docs) -> None:
    base = Path(tempfile.mkdtemp(prefix="idse-rt-"))
    try:
        shared = base / "shared"
        shared.mkdir()
        sync_env(monkeypatch, IDSE_SYNC_URL=f"file://{shared}")
        w = Workspaces(base, monkeypatch, capsys)
        w.make("a")
        w.make("b")
        for stage, text in zip(STAGES7, docs, strict=True):
            w.doc("a", stage).write_bytes(text.encode("utf-8"))
        assert w.run("a", "sync", "push").exit_code == 0
        shutil.rmtree(w.path("b") / ".idse/projects/demo/sessions")
        pulled = w.run("b", "sync", "pull")
        assert pulled.exit_code == 0, pulled
        for stage, text in zip(STAGES7, docs, strict=True):
            assert w.doc("b", stage).read_bytes() == text.encode("utf-8"), stage
    finally:
        shutil.rmtree(base, ignore_errors=True)

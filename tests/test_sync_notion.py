"""Two workspaces syncing through a Notion API server on 127.0.0.1.

Notion cannot be reached from here and ships no emulator: ``notion_server`` (``notion_api``)
implements the subset of the public API the store uses, from Notion's API reference, and enforces
its documented limits (2,000 characters per rich-text segment, 100 blocks per request, the payload
size), so these tests prove the store stays within them. Results are paginated three at a time,
so every listing here crosses ``has_more``/``next_cursor`` pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from notion_server import NotionRemote, notion_remote
from test_sync_support import BLUEPRINT, PROJECT, Workspaces, one_line_error, sync_env

TOKEN = "secret_N0tion-T0KEN-4711-do-not-print"
TRICKY = (
    "# Spec\r\n\r\ntrailing spaces   \r\n"
    "```python\nprint('fence')  \n```\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n"
    "<!-- an HTML comment -->\n"
    "unicode: é 漢字 🧪 \u200b and a tab\there\n"
    "no newline at the end   "
)


@pytest.fixture
def remote() -> Iterator[NotionRemote]:
    made = notion_remote(token=TOKEN, max_page_size=3)
    yield made
    made.stop()


@pytest.fixture
def wss(
    remote: NotionRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Workspaces:
    sync_env(monkeypatch, **remote.env)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    return w


def content(remote: NotionRemote, stage: str, session: str = BLUEPRINT) -> str | None:
    return remote.server.content(PROJECT, session, stage)


def test_round_trip_is_byte_exact_within_notion_limits(wss: Workspaces, remote: NotionRemote) -> None:
    big = "".join(f"line {i:06d} · ünïcödé 🧪 with trailing space \n" for i in range(4_000))  # ~200 KB
    astral = "🧪" * 5_000  # two UTF-16 units each: segments must count them as Notion does
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "spec", TRICKY)
    wss.write("a", "plan", big)
    wss.write("a", "tasks", astral)
    wss.write("a", "feedback", "")
    assert len(big.encode()) > 200_000
    assert wss.run("a", "sync", "push").exit_code == 0
    assert content(remote, "spec") == TRICKY and content(remote, "plan") == big
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.documents("b") == wss.documents("a")
    assert wss.doc("b", "spec").read_bytes() == TRICKY.encode("utf-8")
    assert set(wss.states("b").values()) == {"in-sync"}
    assert remote.server.violations == []
    # Three results per page here: listings of the database and of the blocks went page by page.
    assert remote.server.cursors_followed > 5
    assert any("start_cursor=" in e[1] for e in remote.server.log)


def test_more_than_100_blocks_go_in_several_requests(
    wss: Workspaces, remote: NotionRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Smaller blocks than the store's default, so a 200 KB document needs over 100 of them: the
    # creating request cannot hold them all, and appends are split at 100 blocks.
    from idse_orchestrator.sync.backends import notion_blocks

    monkeypatch.setattr(notion_blocks, "BLOCK_BYTES", 2_100)
    big = "".join(f"{i:07d} exact text with trailing spaces   \n" for i in range(5_000))
    wss.write("a", "plan", big)
    assert wss.run("a", "sync", "push").exit_code == 0
    appends = [e for e in remote.server.log if e[0] == "PATCH" and e[1].endswith("/children")]
    assert len(appends) >= 2
    assert content(remote, "plan") == big
    assert remote.server.violations == []
    assert wss.run("b", "sync", "pull").exit_code == 1  # b's template plan differs: a conflict, kept
    assert wss.doc("b", "plan").with_name("plan.remote.md").read_text() == big


@pytest.mark.parametrize("moment", ["while-appending", "right-after-commit"])
def test_a_concurrent_write_is_a_conflict_never_an_overwrite(
    wss: Workspaces, remote: NotionRemote, moment: str
) -> None:
    """Another client writes while our write is under way: before our switch (seen by the check
    just before it) or right after it (seen by the check after it). Either way: a conflict."""
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "plan", "# a's plan\n")
    committed: list[str] = []

    def other_writer(method: str, path: str) -> None:
        appending = method == "PATCH" and path.endswith("/children")
        after_commit = method == "GET" and "/pages/" in path and bool(committed)
        if method == "PATCH" and "/pages/" in path:
            committed.append(path)
        if (moment == "while-appending" and appending) or (moment == "right-after-commit" and after_commit):
            remote.server.before = None
            remote.server.put(remote.database, PROJECT, BLUEPRINT, "plan", "# written meanwhile\n")

    remote.server.before = other_writer
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1, result
    assert content(remote, "plan") == "# written meanwhile\n"
    assert wss.read("a", "plan") == "# a's plan\n"
    assert wss.doc("a", "plan").with_name("plan.remote.md").read_text() == "# written meanwhile\n"


def test_an_edit_made_in_notion_is_never_overwritten(wss: Workspaces, remote: NotionRemote) -> None:
    """Someone adds a note to the page in Notion (last_edited_time moves): the next push is a
    conflict, and once settled, the note is still there and never read as part of the document."""
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    server = remote.server
    page = server.find(PROJECT, BLUEPRINT, "spec")[0]
    note = {
        "type": "paragraph",
        "paragraph": {"rich_text": [{"type": "text", "text": {"content": "a note"}}]},
    }
    server._add_blocks(page["id"], [note])
    server.tick()
    page["last_edited_time"] = server.now()
    wss.write("a", "spec", "# a's spec\n")
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1 and "conflict" in result.stdout
    assert content(remote, "spec") == wss.read("b", "spec")
    assert wss.run("a", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes").exit_code == 0
    assert content(remote, "spec") == "# a's spec\n"
    kinds = [server.blocks[b]["type"] for b in server.children[page["id"]]]
    assert kinds.count("paragraph") == 1 and kinds.count("code") == 1
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.read("b", "spec") == "# a's spec\n"


@pytest.mark.parametrize(
    "kind", ["429", "500", "drop-after", pytest.param("timeout", marks=pytest.mark.slow)]
)
def test_a_fault_at_every_request_of_a_push_is_retried(
    wss: Workspaces, remote: NotionRemote, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "1")
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")  # one request at a time: each retry follows its fault
    remote.server.delay = 1.5
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "spec", "# measured\n")
    start = remote.server.count
    assert wss.run("a", "sync", "push").exit_code == 0
    per_push = remote.server.count - start
    for position in range(per_push):
        wss.write("a", "spec", f"# version {kind} {position}\n")
        remote.server.fail(remote.server.count + position, kind)
        result = wss.run("a", "sync", "push", "--json")
        assert result.exit_code == 0, (position, result)
        assert [t["stage"] for t in json.loads(result.stdout)["transferred"]] == ["spec"]
        assert content(remote, "spec") == f"# version {kind} {position}\n"
        assert set(wss.states("a").values()) == {"in-sync"}
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.documents("b") == wss.documents("a")
    assert remote.server.violations == []


def test_a_lost_answer_to_a_page_creation_leaves_one_page(wss: Workspaces, remote: NotionRemote) -> None:
    creations = []

    def lose_first_creation(method: str, path: str) -> None:
        if method == "POST" and path == "/v1/pages" and not creations:
            creations.append(remote.server.count - 1)
            remote.server.fail(remote.server.count - 1, "drop-after")

    remote.server.before = lose_first_creation
    assert wss.run("a", "sync", "push").exit_code == 0
    assert creations
    assert len(remote.server.find(PROJECT, BLUEPRINT, "intent")) == 1
    assert content(remote, "intent") == wss.read("a", "intent")


def test_retry_after_is_honoured(wss: Workspaces, remote: NotionRemote) -> None:
    remote.server.retry_after = 1
    remote.server.fail(0, "429")
    assert wss.run("a", "sync", "status").exit_code == 0
    (first, second) = remote.server.log[:2]
    assert first[2] == 429 and second[2] == 200
    assert second[3] - first[3] >= 0.9  # waited at least what Retry-After asked


def test_hostile_names_from_the_remote_write_nothing_outside(
    wss: Workspaces, remote: NotionRemote, tmp_path: Path
) -> None:
    hostile = [
        ("../evil", "spec"),
        ("a/b", "spec"),
        (".hidden", "spec"),
        (BLUEPRINT, "../../x"),
        ("..", "plan"),
    ]
    for session, stage in hostile:
        remote.server.put(remote.database, PROJECT, session, stage, "pwned\n")
    remote.server.put(remote.database, PROJECT, "good-session", "intent", "# fine\n")
    before = set(tmp_path.rglob("*"))
    result = wss.run("b", "sync", "pull", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {(r["session"], r["stage"]) for r in report["rejected"]} == set(hostile)
    assert [(t["session"], t["stage"]) for t in report["transferred"]] == [("good-session", "intent")]
    created = set(tmp_path.rglob("*")) - before
    project = wss.path("b") / ".idse/projects/demo"
    assert all(p.is_relative_to(project) for p in created), created
    assert not any("pwned" in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_tampered_content_is_refused(wss: Workspaces, remote: NotionRemote) -> None:
    remote.server.put(remote.database, PROJECT, BLUEPRINT, "spec", "# tampered\n", sha256="1" * 64)
    result = wss.run("b", "sync", "pull")
    assert result.exit_code == 1 and "does not match its sha256" in one_line_error(result)


def test_init_creates_the_database_in_a_parent_page(
    remote: NotionRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = remote.server.add_page()
    env = {k: v for k, v in remote.env.items() if k != "IDSE_SYNC_DATABASE"}
    sync_env(monkeypatch, **env, IDSE_SYNC_PARENT_PAGE=parent)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    status = w.run("a", "sync", "status")
    assert status.exit_code == 2 and "run 'idse sync init'" in one_line_error(status)
    first = w.run("a", "sync", "init")
    assert first.exit_code == 0 and "created the Notion database" in first.stdout
    again = w.run("a", "sync", "init")  # found by its title: not created twice
    assert again.exit_code == 0 and "ready" in again.stdout
    assert len(remote.server.databases) == 2
    assert w.run("a", "sync", "push").exit_code == 0
    assert set(w.states("a").values()) == {"in-sync"}


def test_a_database_without_the_properties_is_named(
    remote: NotionRemote, wss: Workspaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = remote.server.add_database({"Title": "title"})
    monkeypatch.setenv("IDSE_SYNC_DATABASE", bare)
    status = wss.run("a", "sync", "status")
    assert status.exit_code == 1 and "lacks the properties" in one_line_error(status)
    assert wss.run("a", "sync", "init").exit_code == 0  # adds them
    assert wss.run("a", "sync", "push").exit_code == 0


def test_token_never_printed(wss: Workspaces, remote: NotionRemote, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = [
        wss.run("a", "sync", *args)
        for args in (("config",), ("config", "--json"), ("init",), ("push",), ("status", "--json"))
    ]
    assert [r.exit_code for r in outputs] == [0, 0, 0, 0, 0], outputs
    assert "***" in outputs[0].stdout
    remote.server.fail(remote.server.count, "echo-400")
    echoed = wss.run("a", "sync", "status")
    assert echoed.exit_code == 1 and "unexpected answer 400" in one_line_error(echoed)
    outputs.append(echoed)
    monkeypatch.setenv("IDSE_SYNC_TOKEN", "wrong-" + TOKEN)
    denied = wss.run("a", "sync", "push")
    assert denied.exit_code == 1 and "authentication failed (401)" in one_line_error(denied)
    outputs.append(denied)
    monkeypatch.setenv("IDSE_SYNC_URL", "http://192.0.2.1:9")
    refused = wss.run("a", "sync", "status")
    assert refused.exit_code == 2 and "plain http" in one_line_error(refused)
    outputs.append(refused)
    monkeypatch.delenv("IDSE_SYNC_TOKEN")
    missing = wss.run("a", "sync", "status")
    assert missing.exit_code == 2 and "IDSE_SYNC_TOKEN" in one_line_error(missing)
    for result in outputs:
        assert TOKEN not in result.output


def test_settings_from_config_yaml(
    remote: NotionRemote, wss: Workspaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("IDSE_SYNC_BACKEND", "IDSE_SYNC_DATABASE", "IDSE_SYNC_URL"):
        monkeypatch.delenv(name)
    config = wss.path("a") / ".idse/config.yaml"
    config.write_text(
        config.read_text()
        + f"sync:\n  backend: notion\n  url: {remote.server.url}\n  database: {remote.database}\n"
    )
    shown = json.loads(wss.run("a", "sync", "config", "--json").stdout)
    assert shown["settings"]["database"] == remote.database and shown["sources"]["database"] == "config"
    assert wss.run("a", "sync", "push").exit_code == 0
    monkeypatch.setenv("IDSE_SYNC_DATABASE", "not an id")
    bad = wss.run("a", "sync", "status")
    assert bad.exit_code == 2 and "IDSE_SYNC_DATABASE" in one_line_error(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=9_000))
def test_block_layout_holds_any_text_exactly_within_the_limits(text: str) -> None:
    """The layout alone: any text (astral characters, CR, NUL: any code point but a lone surrogate)
    survives being cut into blocks and joined back, and every piece respects Notion's limits."""
    from idse_orchestrator.sync.backends import notion_blocks as nb

    blocks = nb.code_blocks(text, "0123456789abcdef")
    assert nb.text_of(list(reversed(blocks)), "0123456789abcdef") == text  # order comes from captions
    assert nb.text_of(blocks, "fedcba9876543210") is None  # another write's blocks are not read
    for block in blocks:
        pieces = block["code"]["rich_text"]
        assert len(pieces) <= nb.SEGMENTS_PER_BLOCK
        assert all(len(p["text"]["content"].encode("utf-16-le")) // 2 <= nb.SEGMENT for p in pieces)
    for request in nb.requests_of(blocks):
        assert len(request) <= nb.BLOCKS_PER_REQUEST


def test_missing_blocks_are_never_read_as_a_shorter_document() -> None:
    from idse_orchestrator.sync.backends import notion_blocks as nb

    text = "x" * 150_000
    blocks = nb.code_blocks(text, "0123456789abcdef")
    assert len(blocks) > 2
    assert nb.text_of(blocks[:-1], "0123456789abcdef") is None
    assert nb.text_of(blocks[1:], "0123456789abcdef") is None

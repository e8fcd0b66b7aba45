"""Sync at scale: the record saved once per batch, crash safety of a killed push, concurrent requests
to Artifact Core, batched PostgreSQL writes, and progress on a terminal."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from artifact_core_server import ArtifactCoreServer
from test_sync_support import (
    PROJECT,
    Workspaces,
    artifact_core_workspaces,
    one_line_error,
    serve_artifact_core,
    sync_env,
)

from idse_orchestrator.sync import engine

TOKEN = "scale-token"
REPO = Path(__file__).resolve().parent.parent
RECORD = Path(".idse/projects") / PROJECT / ".sync/record.json"


def _make_workspace_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_workspace", REPO / "benchmarks/make_workspace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(root: Path, sessions: int) -> int:
    """A workspace of ``sessions`` sessions (the blueprint included) in ``root``; its document count."""
    _make_workspace_module().generate(root, sessions, project=PROJECT)
    return sessions * 7


@pytest.fixture
def server() -> Iterator[ArtifactCoreServer]:
    yield from serve_artifact_core(TOKEN)


@pytest.fixture
def wss(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Workspaces:
    return artifact_core_workspaces(server, TOKEN, tmp_path, monkeypatch, capsys)


def puts(server: ArtifactCoreServer) -> Counter[str]:
    """Artifact PUTs the server applied, by path (the project state excluded). A request cut off by
    a killed client arrives incomplete and is refused (400): not counted."""
    return Counter(
        path
        for method, path, status in server.log
        if method == "PUT" and "/artifacts/" in path and status == 200
    )


def base_entries(root: Path) -> int:
    """Bases the record holds, as the next run will read them (the record and its journal)."""
    from idse_orchestrator.sync.record import load_record
    from idse_orchestrator.workspace import Workspace

    record, foreign = load_record(Workspace(root).project(PROJECT))
    assert not foreign
    return sum(len(table) for table in record.remotes.values())


def test_record_saved_once_per_batch(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = generate(wss.path("a"), 12)  # 84 documents
    monkeypatch.setattr(engine, "BATCH", 10)
    saves: list[str] = []
    real_save, real_append = engine.save_record, engine.append_journal
    monkeypatch.setattr(engine, "save_record", lambda p, r: (saves.append("full"), real_save(p, r))[1])
    monkeypatch.setattr(
        engine, "append_journal", lambda p, r: (saves.append("journal"), real_append(p, r))[1]
    )
    assert wss.run("a", "sync", "push").exit_code == 0
    batches = -(-documents // 10)
    # One journal line per batch, one full save at the end; never one per document.
    assert saves.count("journal") <= batches + 1 and saves.count("full") == 1, saves
    assert not (wss.path("a") / RECORD).with_name("journal.jsonl").exists()
    assert base_entries(wss.path("a")) == documents
    assert len(puts(server)) == documents and set(puts(server).values()) == {1}

    saves.clear()
    generate(wss.path("b"), 1)  # the same blueprint (same seed): in sync, recorded with the batch
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert saves.count("journal") <= batches + 1 and saves.count("full") == 1, saves
    assert base_entries(wss.path("b")) == documents
    assert wss.documents("b") == wss.documents("a")


def test_killed_push_loses_at_most_a_batch_and_the_rerun_uploads_nothing_twice(
    wss: Workspaces, server: ArtifactCoreServer
) -> None:
    documents = generate(wss.path("a"), 40)  # 280 documents: 3 batches of 100
    kill_at = 250
    proc: subprocess.Popen[str] | None = None
    killed = threading.Event()
    seen = 0

    def before_put(project: str, session: str, stage: str) -> None:
        nonlocal seen
        seen += 1
        if seen == kill_at and proc is not None:
            proc.send_signal(signal.SIGKILL)
            killed.set()

    server.before_put = before_put
    proc = subprocess.Popen(
        [sys.executable, "-m", "idse_orchestrator", "sync", "push"],
        cwd=wss.path("a"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "IDSE_SYNC_CONCURRENCY": "4"},
    )
    proc.wait(timeout=120)
    assert killed.is_set() and proc.returncode == -signal.SIGKILL
    server.before_put = None
    # The record and its journal hold the batches completed before the kill (one durable line
    # each): only the batch in progress lost its bookkeeping.
    assert base_entries(wss.path("a")) >= 2 * engine.BATCH
    time.sleep(0.2)  # let the server finish requests the killed client had already sent
    before_rerun = sum(puts(server).values())
    assert before_rerun >= kill_at - 4  # at most the requests in flight were cut off

    rerun = wss.run("a", "sync", "push", "--json")
    assert rerun.exit_code == 0, rerun
    report = json.loads(rerun.stdout)
    # What the remote already had is recognised by its hash and recorded, not uploaded again.
    assert len(report["transferred"]) == documents - before_rerun
    assert report["in_sync"] == before_rerun
    counts = puts(server)
    assert len(counts) == documents and set(counts.values()) == {1}, counts.most_common(3)
    assert base_entries(wss.path("a")) == documents
    assert set(wss.states("a").values()) == {"in-sync"}
    again = json.loads(wss.run("a", "sync", "push", "--json").stdout)
    assert again["transferred"] == [] and again["in_sync"] == documents


def test_concurrent_push_and_pull_match_sequential(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = generate(wss.path("a"), 20)
    other = ArtifactCoreServer(token=TOKEN).start()
    try:
        inflight = 0
        peak = 0
        lock = threading.Lock()

        def slow_put(project: str, session: str, stage: str) -> None:
            nonlocal inflight, peak
            with lock:
                inflight += 1
                peak = max(peak, inflight)
            time.sleep(0.005)
            with lock:
                inflight -= 1

        server.before_put = slow_put
        monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "3")
        concurrent = json.loads(wss.run("a", "sync", "push", "--json").stdout)
        assert 2 <= peak <= 3, peak

        monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")
        monkeypatch.setenv("IDSE_SYNC_URL", other.url)
        sequential = json.loads(wss.run("a", "sync", "push", "--json").stdout)
        assert len(concurrent["transferred"]) == documents

        def shape(report: dict[str, Any]) -> list[tuple[str, str]]:
            return [(t["session"], t["stage"]) for t in report["transferred"]]

        assert shape(concurrent) == shape(sequential)
        assert {k: v["content"] for k, v in server.artifacts[PROJECT].items()} == {
            k: v["content"] for k, v in other.artifacts[PROJECT].items()
        }

        # Pull into empty clones, concurrently and one by one: the same files.
        for name, url, workers in (("c", server.url, "4"), ("s", other.url, "1")):
            wss.make(name)
            monkeypatch.setenv("IDSE_SYNC_URL", url)
            monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", workers)
            pulled = json.loads(wss.run(name, "sync", "pull", "--json").stdout)
            assert len(pulled["transferred"]) == documents - 7
            for item in pulled["conflicts"]:  # the clone's own blueprint: take the remote's
                resolved = wss.run(
                    name, "sync", "resolve", item["session"], item["stage"], "--theirs", "--yes"
                )
                assert resolved.exit_code == 0
        assert wss.documents("c") == wss.documents("s")

        def docs(name: str) -> dict[str, bytes]:
            return {rel: data for rel, data in wss.documents(name).items() if "metadata" not in rel}

        assert docs("c") == docs("a")
    finally:
        other.stop()


def test_concurrent_push_failure_is_one_line_and_the_rerun_converges(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = generate(wss.path("a"), 30)
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "4")
    for k in range(1, 5):
        server.fail(40 * k, "500", times=6)
    failed = wss.run("a", "sync", "push")
    assert failed.exit_code == 1
    assert "server error 500" in one_line_error(failed)
    server.clear_faults()
    rerun = wss.run("a", "sync", "push", "--json")
    assert rerun.exit_code == 0, rerun
    assert set(wss.states("a").values()) == {"in-sync"}
    counts = puts(server)
    assert len(counts) == documents
    assert base_entries(wss.path("a")) == documents


def test_concurrency_setting(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    wss.make("a")
    shown = json.loads(wss.run("a", "sync", "config", "--json").stdout)
    assert shown["settings"]["concurrency"] == 4 and shown["sources"]["concurrency"] == "default"
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "8")
    shown = json.loads(wss.run("a", "sync", "config", "--json").stdout)
    assert shown["settings"]["concurrency"] == 8
    assert shown["sources"]["concurrency"] == "env IDSE_SYNC_CONCURRENCY"
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "0")
    bad = wss.run("a", "sync", "status")
    assert bad.exit_code == 2 and "IDSE_SYNC_CONCURRENCY" in one_line_error(bad)


def test_progress_only_on_a_terminal_and_not_with_json(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idse_orchestrator.cli import sync_cmds

    documents = generate(wss.path("a"), 10)
    monkeypatch.setattr(engine, "BATCH", 20)
    monkeypatch.setattr(sync_cmds, "_stderr_is_tty", lambda: True)
    pushed = wss.run("a", "sync", "push")
    assert pushed.exit_code == 0
    assert f"\rpushing 20/{documents}" in pushed.stderr and f"pushing 60/{documents}" in pushed.stderr
    assert pushed.stderr.endswith("\r") and "\n" not in pushed.stderr  # erased at the end
    assert "Pushed 70 artifacts" in pushed.stdout and "pushing" not in pushed.stdout

    wss.make("b")
    as_json = wss.run("b", "sync", "pull", "--json")
    assert as_json.stderr == "" and json.loads(as_json.stdout)["direction"] == "pull"

    monkeypatch.setattr(sync_cmds, "_stderr_is_tty", lambda: False)
    wss.make("c")
    plain = wss.run("c", "sync", "pull")
    assert plain.stderr == ""


def test_progress_line_is_erased_when_the_transfer_fails(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idse_orchestrator.cli import sync_cmds

    generate(wss.path("a"), 10)
    monkeypatch.setattr(engine, "BATCH", 10)
    monkeypatch.setattr(sync_cmds, "_stderr_is_tty", lambda: True)
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")
    server.fail(35, "500", times=2)
    failed = wss.run("a", "sync", "push")
    assert failed.exit_code == 1
    before, _, error = failed.stderr.rpartition("\r")
    assert "pushing 30/70" in before and error.startswith("idse: error: ")


PG_DSN = os.environ.get("IDSE_TEST_PG_DSN", "")


@pytest.mark.skipif(not PG_DSN, reason="IDSE_TEST_PG_DSN is not set: no PostgreSQL server")
def test_postgres_push_is_one_transaction_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uuid

    import psycopg

    from idse_orchestrator.sync.backends.postgres import PostgresStore

    schema = f"idse_test_{uuid.uuid4().hex[:12]}"
    sync_env(monkeypatch, IDSE_SYNC_DSN=PG_DSN, IDSE_SYNC_SCHEMA=schema)
    wss = Workspaces(tmp_path, monkeypatch, capsys)
    try:
        documents = generate(wss.path("a"), 30)  # 210 documents: batches of 100, 100 and 10
        assert wss.run("a", "sync", "init").exit_code == 0
        batches: list[int] = []
        singles: list[int] = []
        real_many, real_one = PostgresStore.write_artifacts, PostgresStore.write_artifact

        def many(self: PostgresStore, items: list[Any]) -> Any:
            batches.append(len(items))
            return real_many(self, items)

        def one(self: PostgresStore, *args: Any) -> Any:
            singles.append(1)
            return real_one(self, *args)

        monkeypatch.setattr(PostgresStore, "write_artifacts", many)
        monkeypatch.setattr(PostgresStore, "write_artifact", one)
        assert wss.run("a", "sync", "push").exit_code == 0
        assert batches == [100, 100, 10] and singles == []
        assert base_entries(wss.path("a")) == documents
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            rows = conn.execute(f'SELECT count(*), max(revision) FROM "{schema}".idse_artifacts').fetchall()
        assert rows == [(documents, 1)]

        # A pull reads a batch in one query, never document by document.
        reads: list[int] = []
        real_reads, real_read = PostgresStore.read_artifacts, PostgresStore.read_artifact

        def read_many(self: PostgresStore, keys: list[Any]) -> Any:
            reads.append(len(keys))
            return real_reads(self, keys)

        def read_one(self: PostgresStore, *args: Any) -> Any:
            singles.append(1)
            return real_read(self, *args)

        monkeypatch.setattr(PostgresStore, "read_artifacts", read_many)
        monkeypatch.setattr(PostgresStore, "read_artifact", read_one)
        wss.make("b")
        pulled = json.loads(wss.run("b", "sync", "pull", "--json").stdout)
        assert len(pulled["transferred"]) == documents - 7 and len(pulled["conflicts"]) == 7
        assert reads == [100, 100, 10] and singles == []
        assert real_reads(PostgresStore.__new__(PostgresStore), []) == []
        monkeypatch.setattr(PostgresStore, "read_artifact", real_read)

        # A batch mixing an update, a stale base, a new row, an existing row and a foreign revision:
        # each answered as a write on its own would be, and only the accepted ones applied.
        from idse_orchestrator.cli.common import open_project
        from idse_orchestrator.sync.settings import load_settings
        from idse_orchestrator.sync.store import content_sha256, open_store

        monkeypatch.chdir(wss.path("a"))
        ws, proj = open_project(None)
        store = open_store(load_settings(ws, proj), ws)
        try:
            assert isinstance(store, PostgresStore)
            new = "# new\n"
            answers = real_many(
                store,
                [
                    ("feature-00001", "spec", new, content_sha256(new), "1"),
                    ("feature-00002", "spec", new, content_sha256(new), "7"),
                    ("feature-99999", "spec", new, content_sha256(new), None),
                    ("feature-00003", "spec", new, content_sha256(new), None),
                    ("feature-00004", "spec", new, content_sha256(new), "r1"),
                    ("feature-88888", "spec", new, content_sha256(new), "3"),
                ],
            )
            kept = [store.read_artifact(f"feature-0000{i}", "spec") for i in (2, 3)]
            assert [(a.ok, a.revision) for a in answers] == [
                (True, "2"),
                (False, "1"),
                (True, "1"),
                (False, "1"),
                (False, "1"),
                (False, None),
            ]
            assert [answers[1].sha256, answers[3].sha256] == [a.sha256 for a in kept if a is not None]
            assert content_sha256(new) not in (answers[1].sha256, answers[3].sha256)
            assert store.read_artifact("feature-00001", "spec").content == new  # type: ignore[union-attr]
            assert store.read_artifact("feature-00002", "spec").content != new  # type: ignore[union-attr]
            assert real_many(store, []) == []
        finally:
            store.close()
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.skipif(not PG_DSN, reason="IDSE_TEST_PG_DSN is not set: no PostgreSQL server")
def test_postgres_write_refused_inside_a_batch_keeps_the_remote_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uuid

    import psycopg

    from idse_orchestrator.sync.backends.postgres import PostgresStore

    schema = f"idse_test_{uuid.uuid4().hex[:12]}"
    sync_env(monkeypatch, IDSE_SYNC_DSN=PG_DSN, IDSE_SYNC_SCHEMA=schema)
    wss = Workspaces(tmp_path, monkeypatch, capsys)
    try:
        wss.make("a")
        assert wss.run("a", "sync", "init").exit_code == 0
        assert wss.run("a", "sync", "push").exit_code == 0
        wss.write("a", "spec", "# spec from a\n")
        wss.write("a", "plan", "# plan from a\n")
        real_many = PostgresStore.write_artifacts

        def racing(self: PostgresStore, items: list[Any]) -> Any:
            # Another writer updates the plan between the listing and this batch.
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(
                    f'UPDATE "{schema}".idse_artifacts SET content = %s, sha256 = %s, '
                    "revision = revision + 1 WHERE stage = 'plan'",
                    ("# plan from elsewhere\n", hashlib.sha256(b"# plan from elsewhere\n").hexdigest()),
                )
            return real_many(self, items)

        monkeypatch.setattr(PostgresStore, "write_artifacts", racing)
        pushed = wss.run("a", "sync", "push", "--json")
        assert pushed.exit_code == 1
        report = json.loads(pushed.stdout)
        assert [t["stage"] for t in report["transferred"]] == ["spec"]
        assert [c["stage"] for c in report["conflicts"]] == ["plan"]
        assert wss.doc("a", "plan").with_name("plan.remote.md").read_text() == "# plan from elsewhere\n"
        assert wss.read("a", "plan") == "# plan from a\n"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_link_swapped_in_before_the_upload_is_rejected(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idse_orchestrator.sync.backends.filesystem import FilesystemStore
    from idse_orchestrator.sync.confine import Escape

    wss.make("a")
    real_read = FilesystemStore.read_artifact

    def escaping(self: FilesystemStore, session: str, stage: str) -> Any:
        if stage == "spec":
            raise Escape("specs/spec.md leads outside the workspace")
        return real_read(self, session, stage)

    monkeypatch.setattr(FilesystemStore, "read_artifact", escaping)
    pushed = wss.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 1
    report = json.loads(pushed.stdout)
    assert [(r["stage"], r["side"]) for r in report["rejected"]] == [("spec", "local")]
    assert len(report["transferred"]) == 6 and "spec" not in {t["stage"] for t in report["transferred"]}


def test_journal_torn_line_and_retired_generation(wss: Workspaces) -> None:
    """A line torn by a crash costs only its own batch; lines a full save already holds are never
    applied again, even when the save's removal of the journal was lost."""
    from idse_orchestrator.sync.record import (
        BaseEntry,
        append_journal,
        journal_path,
        load_record,
        save_record,
    )
    from idse_orchestrator.workspace import Workspace

    wss.make("a")
    project = Workspace(wss.path("a")).project(PROJECT)
    entry = BaseEntry(sha256="a" * 64, revision="r1")
    record, _ = load_record(project)
    record.set_entry("remotes", "remote", "s/intent", entry)
    append_journal(project, record)
    with open(journal_path(project), "ab") as fh:
        fh.write(b'{"generation":0,"clone":1,"remo')  # killed mid-write
    record, _ = load_record(project)
    assert record.remotes["remote"] == {"s/intent": entry}
    record.set_entry("remotes", "remote", "s/spec", entry)
    append_journal(project, record)  # starts on a line of its own
    record, _ = load_record(project)
    assert set(record.remotes["remote"]) == {"s/intent", "s/spec"}

    kept = journal_path(project).read_bytes()
    save_record(project, record)
    assert not journal_path(project).exists()
    journal_path(project).write_bytes(kept)  # as if the removal had been lost to a crash
    record, _ = load_record(project)
    record.set_entry("remotes", "remote", "s/spec", None)
    save_record(project, record)
    journal_path(project).write_bytes(kept)
    record, _ = load_record(project)
    assert set(record.remotes["remote"]) == {"s/intent"}  # the retired lines did not bring it back


def test_pulled_files_are_durable_before_their_bookkeeping(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files of a batch are fsynced together, but always before the journal line that records
    them: a record never describes content the disk may not hold after a power cut."""
    from idse_orchestrator.sync import confine

    documents = generate(wss.path("a"), 6)
    assert wss.run("a", "sync", "push").exit_code == 0
    generate(wss.path("b"), 1)  # the same blueprint: the feature sessions are pulled
    monkeypatch.setattr(engine, "BATCH", 10)
    synced: set[str] = set()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.add(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(confine.os, "fsync", fsync)
    sessions = wss.path("b") / ".idse/projects" / PROJECT / "sessions"
    lines = 0
    real_append = engine.append_journal

    def append(project: Any, record: Any) -> None:
        nonlocal lines
        lines += 1
        on_disk = {os.path.realpath(p) for p in sessions.rglob("*.md")}
        pulled = {p for p in on_disk if "__blueprint__" not in p}
        assert pulled <= synced, sorted(pulled - synced)[:3]
        real_append(project, record)

    monkeypatch.setattr(engine, "append_journal", append)
    if not os.path.exists("/proc/self/fd"):
        pytest.skip("no /proc to name the file an fsync was for")
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert lines >= (documents - 7) // 10
    assert all(
        p in synced for p in {os.path.realpath(p) for p in sessions.rglob("*.md")} if "__blueprint__" not in p
    )

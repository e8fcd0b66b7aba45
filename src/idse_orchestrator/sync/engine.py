"""Three-way sync between the workspace and a design store: status, push, pull, resolve.

Each artifact is compared with its base (hash and revision at the last sync, from the record):
only one side changed -> that side is ahead; both changed -> conflict, which is never overwritten
in either direction (the remote version is saved beside the local file instead). The record keeps
the progress made, so a failure half-way loses little and a rerun finishes the job. Deletions are
not propagated: an artifact missing on one side is restored.

Push and pull work in batches of ``BATCH`` artifacts: the store requests of a batch are sent first
(concurrently when the store allows it, in one transaction when it writes batches), then their
outcomes are applied in order and the record is saved once, atomically. A run killed mid-batch
loses only that batch's bookkeeping: the rerun finds those artifacts with the same hash on both
sides (in sync) and records them without transferring anything again.

Resolving a conflict lives in ``resolve.py``. Local files are read and written only through the
workspace's ``confine.Root``: a document behind a symlink leading out of the workspace is refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

from idse_orchestrator import ids
from idse_orchestrator.errors import BadFile, InvalidName, RemoteError
from idse_orchestrator.fsutil import MAX_DOCUMENT_BYTES, human_size
from idse_orchestrator.stages import BLUEPRINT, BY_NAME, STAGE_NAMES, STAGES
from idse_orchestrator.sync.backends.filesystem import FilesystemStore, local_store
from idse_orchestrator.sync.confine import Escape, Root
from idse_orchestrator.sync.last_sync import read_last_sync, set_last_sync
from idse_orchestrator.sync.lineage import ensure_metadata, push_lineage
from idse_orchestrator.sync.record import (
    BaseEntry,
    SyncRecord,
    append_journal,
    artifact_key,
    cached_sha,
    load_record,
    remember,
    save_record,
)
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.store import Artifact, ArtifactRef, DesignStore, WriteResult, content_sha256
from idse_orchestrator.workspace import Project, Workspace

State = Literal["in-sync", "local-ahead", "remote-ahead", "conflict", "local-only", "remote-only"]
UPLOAD: tuple[State, ...] = ("local-ahead", "local-only")
DOWNLOAD: tuple[State, ...] = ("remote-ahead", "remote-only")
# Artifacts per batch: the record is saved once per batch (and a batch is one database transaction).
BATCH = 100
# Called with (done, total) after each batch of a push or pull.
Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass
class Row:
    session: str
    stage: str
    state: State
    local_sha: str | None
    remote: ArtifactRef | None

    def item(self) -> dict[str, Any]:
        return {"session": self.session, "stage": self.stage, "state": self.state}


@dataclass
class Report:
    direction: str
    dry_run: bool = False
    transferred: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    in_sync: int = 0
    last_sync: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "transferred": self.transferred,
            "conflicts": self.conflicts,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "in_sync": self.in_sync,
            "last_sync": self.last_sync,
        }


@dataclass
class SyncContext:
    ws: Workspace
    project: Project
    store: DesignStore
    local: FilesystemStore
    record: SyncRecord
    record_was_foreign: bool
    # While set (push, pull), ``settle`` only marks the record changed; ``flush`` saves it.
    batching: bool = False
    unsaved: bool = False
    # The worker threads of a push or pull (``_in_parallel``), shut down when it ends.
    workers: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, ws: Workspace, project: Project, store: DesignStore) -> SyncContext:
        record, foreign = load_record(project)
        return cls(ws, project, store, local_store(project), record, foreign)

    @property
    def root(self) -> Root:
        """Every local file sync reads or writes goes through this (the workspace's symlink policy)."""
        return self.local.confine

    @cached_property
    def remote_key(self) -> str:
        # The description is already scrubbed; scrubbing again guarantees no secret reaches the file.
        return redact(self.store.description)

    @property
    def base(self) -> dict[str, BaseEntry]:
        return self.record.remotes.setdefault(self.remote_key, {})

    @property
    def seen(self) -> dict[str, BaseEntry]:
        """The remote version saved in each conflict's `.remote` copy (see ``resolve``)."""
        return self.record.conflicts.setdefault(self.remote_key, {})

    def flush(self) -> None:
        """Save what changed since the last save: the whole record, or while ``batching`` one line
        of its journal (rewriting the whole record after every batch would make a push quadratic)."""
        # The files written first, their bookkeeping after: never a record ahead of the disk.
        self.root.sync_written()
        if self.unsaved:
            if self.batching:
                append_journal(self.project, self.record)
            else:
                save_record(self.project, self.record)
            self.unsaved = False

    def settle(self, session: str, stage: str, sha256: str, revision: str) -> None:
        """Record that both sides hold ``sha256`` (remote at ``revision``) and persist it now, or with
        the batch when ``batching``."""
        key = artifact_key(session, stage)
        self.record.set_entry("remotes", self.remote_key, key, BaseEntry(sha256=sha256, revision=revision))
        self.record.set_entry("conflicts", self.remote_key, key, None)
        try:
            real = self.root.real(self.project.document_path(session, BY_NAME[stage]))
        except Escape:
            self.record.set_file(key, None)
        else:
            remember(self.record, key, real, sha256)
        self.unsaved = True
        if not self.batching:
            self.flush()


def three_way(local: str | None, remote: ArtifactRef | None, base: BaseEntry | None) -> State | None:
    if remote is None:
        return None if local is None else "local-only"
    if local is None:
        return "remote-only"
    if local == remote.sha256:
        return "in-sync"
    if base is None:
        return "conflict"
    local_changed = local != base.sha256
    remote_changed = remote.revision != base.revision or remote.sha256 != base.sha256
    if local_changed and not remote_changed:
        return "local-ahead"
    if remote_changed and not local_changed:
        return "remote-ahead"
    return "conflict"


def name_problem(session: str, stage: str) -> str | None:
    """Why a remote (session, stage) cannot be a path in the workspace, or ``None`` if it can."""
    try:
        ids.session_id(session)
    except InvalidName as exc:
        return exc.message
    if stage not in STAGE_NAMES:
        return f"unknown stage {stage[:64]!r}"
    return None


def _local_sha(ctx: SyncContext, session: str, stage: str) -> str | None:
    """The local document's sha256 (``None`` if absent); ``Escape`` if it is behind a link leading
    out of the workspace."""
    path = ctx.project.document_path(session, BY_NAME[stage])
    real = ctx.root.real(path)
    try:
        if not stat.S_ISREG(os.lstat(real).st_mode):
            return None
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = artifact_key(session, stage)
    digest = cached_sha(ctx.record, key, real)
    if digest is None:
        text = ctx.root.read_text(path)
        if text is None:
            return None
        digest = content_sha256(text)
        remember(ctx.record, key, real, digest)
    return digest


def _order(session: str) -> tuple[int, str]:
    return (0 if session == BLUEPRINT else 1, session)


def classify(ctx: SyncContext, session: str | None) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every artifact in scope with its state, and the remote entries refused for their names."""
    if session is not None:
        ids.session_id(session)
    remote: dict[tuple[str, str], ArtifactRef] = {}
    rejected: list[dict[str, Any]] = []
    # Refused on one side (a symlink leading out of its root): not synced in either direction.
    refused: set[tuple[str, str]] = set()
    for ref in ctx.store.list_artifacts():
        problem = name_problem(ref.session, ref.stage)
        if problem is None and (ref.session, ref.stage) in remote:
            problem = "listed twice"
        if problem is not None:
            rejected.append(_rejected(ref.session, ref.stage, problem, "remote"))
            continue
        if session is not None and ref.session != session:
            continue
        if ref.problem is not None:
            rejected.append(_rejected(ref.session, ref.stage, ref.problem, "remote"))
            refused.add((ref.session, ref.stage))
            continue
        remote[(ref.session, ref.stage)] = ref
    sessions = [session] if session is not None else ctx.project.session_ids()
    local: dict[tuple[str, str], str] = {}
    for sid in sessions:
        for stage in STAGES:
            try:
                digest = _local_sha(ctx, sid, stage.name)
            except Escape as exc:
                rejected.append(_rejected(sid, stage.name, exc.message, "local"))
                refused.add((sid, stage.name))
                continue
            except BadFile as exc:
                if not too_large(exc):
                    raise
                # That document's failure only: the others are synced.
                rejected.append(_rejected(sid, stage.name, f"document {exc.problem}", "local"))
                refused.add((sid, stage.name))
                continue
            if digest is not None:
                local[(sid, stage.name)] = digest
    order = {name: i for i, name in enumerate(STAGE_NAMES)}
    keys = sorted((set(local) | set(remote)) - refused, key=lambda k: (*_order(k[0]), order[k[1]]))
    rows = []
    for sid, stage_name in keys:
        base = ctx.base.get(artifact_key(sid, stage_name))
        state = three_way(local.get((sid, stage_name)), remote.get((sid, stage_name)), base)
        if state is not None:
            rows.append(
                Row(sid, stage_name, state, local.get((sid, stage_name)), remote.get((sid, stage_name)))
            )
    return rows, rejected


def too_large(exc: BadFile) -> bool:
    """Whether ``exc`` is a document over the size limit (refused on its own, not the whole run)."""
    return exc.problem.startswith("is larger than")


def _rejected(session: str, stage: str, reason: str, side: str) -> dict[str, Any]:
    return {"session": session[:200], "stage": stage[:200], "reason": reason, "side": side}


class Oversized(RemoteError):
    """A remote document over the size limit: that document's failure, not the whole run's."""

    def __init__(self, where: str) -> None:
        self.reason = f"document is larger than {human_size(MAX_DOCUMENT_BYTES)}"
        super().__init__(f"{where}: {self.reason}")


def verify(artifact: Artifact, session: str, stage: str) -> Artifact:
    """Refuse remote content that is not the document asked for or does not match its hash."""
    where = f"remote artifact {session}/{stage}"
    if (artifact.session, artifact.stage) != (session, stage):
        raise RemoteError(
            f"{where}: the store answered with {artifact.session[:64]!r}/{artifact.stage[:64]!r}"
        )
    if len(artifact.content.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise Oversized(where)
    if "\x00" in artifact.content:
        raise RemoteError(f"{where}: binary content, expected UTF-8 text")
    if content_sha256(artifact.content) != artifact.sha256:
        raise RemoteError(f"{where}: content does not match its sha256")
    return artifact


def remote_copy_path(project: Project, session: str, stage: str) -> Path:
    """Where the remote side of a conflict is kept: ``spec.md`` -> ``spec.remote.md``."""
    path = project.document_path(session, BY_NAME[stage])
    return path.with_name(f"{path.stem}.remote{path.suffix}")


def write_conflict_copy(ctx: SyncContext, session: str, stage: str, remote: Artifact) -> Path:
    """Save the remote side of a conflict beside the local file, and remember which remote version
    it is: the one ``resolve`` will compare-and-swap against."""
    copy = remote_copy_path(ctx.project, session, stage)
    ctx.root.write_text(copy, remote.content)
    entry = BaseEntry(sha256=remote.sha256, revision=remote.revision)
    ctx.record.set_entry("conflicts", ctx.remote_key, artifact_key(session, stage), entry)
    ctx.unsaved = True
    ctx.flush()
    return copy


def _save_conflict(ctx: SyncContext, session: str, stage: str, remote: Artifact, report: Report) -> None:
    copy = write_conflict_copy(ctx, session, stage, remote)
    report.conflicts.append({"session": session, "stage": stage, "remote_copy": ctx.ws.rel(copy)})


@dataclass
class _Fetched:
    """What the store answered for one row of a batch, gathered before the batch is applied."""

    mine: Artifact | None = None  # push: the local document as read
    result: WriteResult | None = None  # push: the store's answer to the write
    remote: Artifact | None = None  # the remote document, when it was read
    error: Exception | None = None  # raised again when the row is applied, in order


def _accepted(result: WriteResult, mine: Artifact) -> bool:
    # A retried write that had already been applied comes back as a conflict holding our own hash.
    return result.revision is not None and (result.ok or result.sha256 == mine.sha256)


def _keep_remote_copy(
    ctx: SyncContext, row: Row, local_sha: str | None, report: Report, remote: Artifact | None
) -> None:
    if remote is None:
        report.skipped.append({**row.item(), "reason": "deleted on the remote meanwhile; run again"})
        return
    verify(remote, row.session, row.stage)
    if remote.sha256 == local_sha:
        # Both sides made the same edit: nothing to resolve.
        ctx.settle(row.session, row.stage, remote.sha256, remote.revision)
        report.in_sync += 1
        return
    _save_conflict(ctx, row.session, row.stage, remote, report)


def _confirm(ctx: SyncContext, row: Row, report: Report) -> None:
    """An in-sync artifact: make sure the base says so (it may predate an interrupted run)."""
    report.in_sync += 1
    assert row.remote is not None and row.local_sha is not None
    base = ctx.base.get(artifact_key(row.session, row.stage))
    if base is None or (base.sha256, base.revision) != (row.local_sha, row.remote.revision):
        ctx.settle(row.session, row.stage, row.local_sha, row.remote.revision)


def _upload(ctx: SyncContext, row: Row, report: Report, got: _Fetched) -> None:
    mine, result = got.mine, got.result
    if mine is None or result is None:
        report.skipped.append({**row.item(), "reason": "local file deleted meanwhile"})
        return
    if _accepted(result, mine):
        assert result.revision is not None
        ctx.settle(row.session, row.stage, mine.sha256, result.revision)
        report.transferred.append({"session": row.session, "stage": row.stage, "revision": result.revision})
        return
    _keep_remote_copy(ctx, row, mine.sha256, report, got.remote)


def _download(
    ctx: SyncContext, row: Row, report: Report, new_sessions: dict[str, Any], remote: Artifact | None
) -> None:
    if remote is None:
        report.skipped.append({**row.item(), "reason": "deleted on the remote meanwhile"})
        return
    verify(remote, row.session, row.stage)
    if not ctx.root.is_dir(ctx.project.session_path(row.session)):
        ensure_metadata(ctx.project, ctx.root, ctx.store, row.session, new_sessions)
    # The local store refuses the write if the file changed since it was classified.
    result = ctx.local.write_artifact(row.session, row.stage, remote.content, remote.sha256, row.local_sha)
    if result.ok:
        ctx.settle(row.session, row.stage, remote.sha256, remote.revision)
        report.transferred.append({"session": row.session, "stage": row.stage, "revision": remote.revision})
    elif result.sha256 == remote.sha256:
        ctx.settle(row.session, row.stage, remote.sha256, remote.revision)
        report.in_sync += 1
    else:
        _save_conflict(ctx, row.session, row.stage, remote, report)


def _in_parallel(ctx: SyncContext, jobs: list[Callable[[], T]]) -> list[T]:
    """Run ``jobs`` on the store's worker threads (``concurrency``); the results in job order.

    The threads live for the whole push or pull (``ctx.workers``), so a store keeping a connection
    per thread keeps a few, not a few per batch."""
    workers = int(getattr(ctx.store, "concurrency", 1))
    if workers <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    if ctx.workers is None:
        ctx.workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idse-sync")
    futures = [ctx.workers.submit(job) for job in jobs]
    try:
        return [future.result() for future in futures]
    except BaseException:
        # Interrupted (Ctrl-C): the requests not started yet are dropped, not sent.
        for future in futures:
            future.cancel()
        raise


def _captured(job: Callable[[], _Fetched]) -> Callable[[], _Fetched]:
    def run() -> _Fetched:
        try:
            return job()
        except Exception as exc:  # re-raised when its row is applied, after the rows before it
            return _Fetched(error=exc)

    return run


def _fetch(ctx: SyncContext, direction: str, batch: list[Row], wanted: tuple[State, ...]) -> list[_Fetched]:
    """Send the store requests of ``batch``: the writes of a push, the reads of a pull, the reads of
    the conflicts. Local files are read here, on this thread; only store requests run in workers."""
    store = ctx.store
    got = [_Fetched() for _ in batch]
    writes: list[int] = []  # rows to upload
    reads: list[int] = []  # rows whose remote document is needed
    for i, row in enumerate(batch):
        if row.state == "conflict" or (row.state in wanted and direction == "pull"):
            reads.append(i)
        elif row.state in wanted:
            try:
                got[i].mine = ctx.local.read_artifact(row.session, row.stage)
            except (Escape, BadFile) as exc:
                got[i].error = exc
                continue
            if got[i].mine is not None:
                writes.append(i)

    def base_of(i: int) -> str | None:
        remote = batch[i].remote
        return remote.revision if remote else None

    def read(i: int) -> Callable[[], _Fetched]:
        def job() -> _Fetched:
            return _Fetched(remote=store.read_artifact(batch[i].session, batch[i].stage))

        return _captured(job)

    def write(i: int) -> Callable[[], _Fetched]:
        mine = got[i].mine
        assert mine is not None

        def job() -> _Fetched:
            result = store.write_artifact(
                batch[i].session, batch[i].stage, mine.content, mine.sha256, base_of(i)
            )
            remote = (
                None if _accepted(result, mine) else store.read_artifact(batch[i].session, batch[i].stage)
            )
            return _Fetched(mine=mine, result=result, remote=remote)

        return _captured(job)

    write_many = getattr(store, "write_artifacts", None)
    if write_many is not None and writes:
        # One round of the batch's writes (a database transaction); the rare refusals are read after.
        items = []
        for i in writes:
            mine = got[i].mine
            assert mine is not None
            items.append((batch[i].session, batch[i].stage, mine.content, mine.sha256, base_of(i)))
        results: list[WriteResult] = write_many(items)
        for i, result in zip(writes, results, strict=True):
            got[i].result = result
            mine = got[i].mine
            assert mine is not None
            if not _accepted(result, mine):
                reads.append(i)
        jobs, slots = [], []
    else:
        jobs, slots = [write(i) for i in writes], writes
    read_many = getattr(store, "read_artifacts", None)
    if read_many is not None and reads:
        # One round for the batch's reads (a single query).
        remotes: list[Artifact | None] = read_many([(batch[i].session, batch[i].stage) for i in reads])
        for i, remote in zip(reads, remotes, strict=True):
            got[i].remote = remote
    else:
        jobs, slots = jobs + [read(i) for i in reads], slots + reads
    for i, answer in zip(slots, _in_parallel(ctx, jobs), strict=True):
        if answer.error is not None:
            got[i].error = answer.error
            continue
        if answer.result is not None:
            got[i].result = answer.result
        got[i].remote = answer.remote
    return got


def _apply(
    ctx: SyncContext,
    direction: str,
    row: Row,
    got: _Fetched,
    report: Report,
    wanted: tuple[State, ...],
    new_sessions: dict[str, Any],
) -> None:
    if row.state == "in-sync":
        _confirm(ctx, row, report)
        return
    if row.state != "conflict" and row.state not in wanted:
        report.skipped.append(row.item())
        return
    try:
        if got.error is not None:
            raise got.error
        if row.state == "conflict":
            _keep_remote_copy(ctx, row, row.local_sha, report, got.remote)
        elif direction == "push":
            _upload(ctx, row, report, got)
        else:
            _download(ctx, row, report, new_sessions, got.remote)
    except Escape as exc:
        # A link swapped in after the listing: refused like one found by it.
        report.rejected.append(_rejected(row.session, row.stage, exc.message, "local"))
    except Oversized as exc:
        # Like a local one (below): that document's failure only, the others are synced.
        report.rejected.append(_rejected(row.session, row.stage, exc.reason, "remote"))
    except BadFile as exc:
        if not too_large(exc):
            raise
        # Grown past the limit after the listing: that document's failure only.
        report.rejected.append(_rejected(row.session, row.stage, f"document {exc.problem}", "local"))


def _batches(rows: list[Row], size: int) -> Iterable[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def status(ctx: SyncContext, session: str | None = None) -> dict[str, Any]:
    rows, rejected = classify(ctx, session)
    return {
        "remote": ctx.store.description,
        "artifacts": [row.item() for row in rows],
        "rejected": rejected,
        "last_sync": read_last_sync(ctx.ws, ctx.project),
    }


def _run_batches(
    ctx: SyncContext,
    direction: str,
    rows: list[Row],
    wanted: tuple[State, ...],
    report: Report,
    new_sessions: dict[str, Any],
    progress: Progress | None,
    total: int,
) -> None:
    done = 0
    for batch in _batches(rows, BATCH):
        fetched = _fetch(ctx, direction, batch, wanted)
        for row, got in zip(batch, fetched, strict=True):
            _apply(ctx, direction, row, got, report, wanted, new_sessions)
        ctx.flush()
        done += sum(1 for row in batch if row.state == "conflict" or row.state in wanted)
        if progress is not None and total:
            progress(done, total)


def transfer(
    ctx: SyncContext,
    direction: Literal["push", "pull"],
    session: str | None,
    dry_run: bool,
    progress: Progress | None = None,
) -> Report:
    """Push or pull every artifact in scope that is ahead on the sending side.

    ``progress`` is called with (done, total) after each batch, counting the artifacts that needed
    the store (transfers and conflicts)."""
    if direction == "push" and session is not None:
        ctx.project.require_session(session)
    rows, rejected = classify(ctx, session)
    report = Report(direction, dry_run=dry_run, rejected=rejected)
    wanted = UPLOAD if direction == "push" else DOWNLOAD
    if dry_run:
        for row in rows:
            if row.state == "in-sync":
                report.in_sync += 1
            elif row.state == "conflict":
                report.conflicts.append({"session": row.session, "stage": row.stage, "remote_copy": None})
            elif row.state not in wanted:
                report.skipped.append(row.item())
            else:
                report.transferred.append({"session": row.session, "stage": row.stage, "revision": None})
        report.last_sync = read_last_sync(ctx.ws, ctx.project)
        return report
    new_sessions: dict[str, Any] = {}
    total = sum(1 for row in rows if row.state == "conflict" or row.state in wanted)
    ctx.batching = True
    try:
        with ctx.root.defer_sync():
            _run_batches(ctx, direction, rows, wanted, report, new_sessions, progress, total)
    finally:
        # What was settled before a failure is kept: the rerun starts from there.
        ctx.batching = False
        ctx.flush()
        if ctx.workers is not None:
            ctx.workers.shutdown(wait=True, cancel_futures=True)
            ctx.workers = None
    if direction == "push":
        sessions = [session] if session else ctx.project.session_ids()
        push_lineage(ctx.project, ctx.root, ctx.store, sessions)
    # One full write for the whole run, which retires the batches' journal lines.
    save_record(ctx.project, ctx.record)
    everything_in_sync = not (report.conflicts or report.skipped or report.rejected)
    if report.transferred or everything_in_sync:
        report.last_sync = set_last_sync(ctx.ws, ctx.project)
    else:
        report.last_sync = read_last_sync(ctx.ws, ctx.project)
    return report

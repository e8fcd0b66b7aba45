"""`idse sync resolve`: settle a conflict as a compare-and-swap against the remote version saved in
the `.remote` copy (recorded when the copy was written). If the remote moved on since, that is a new
conflict: the copy is refreshed and nothing is overwritten.
"""

from __future__ import annotations

from typing import Any, Literal

from idse_orchestrator.errors import Failed, IdseError, UsageError
from idse_orchestrator.sync.confine import Escape
from idse_orchestrator.sync.engine import (
    SyncContext,
    name_problem,
    remote_copy_path,
    three_way,
    verify,
    write_conflict_copy,
)
from idse_orchestrator.sync.last_sync import set_last_sync
from idse_orchestrator.sync.record import BaseEntry, artifact_key
from idse_orchestrator.sync.store import Artifact, ArtifactRef, content_sha256


def _resolved_against(ctx: SyncContext, session: str, stage: str, remote: Artifact) -> BaseEntry | None:
    """The remote version the user resolves against: the one saved in the `.remote` copy.

    Normally recorded when the copy was written. A copy written before that was recorded counts
    when it holds the current remote content (the user has seen exactly that)."""
    key = artifact_key(session, stage)
    seen = ctx.seen.get(key)
    if seen is not None:
        return seen
    try:
        text = ctx.root.read_text(remote_copy_path(ctx.project, session, stage))
    except Escape:
        raise
    except IdseError:
        return None
    if text is not None and content_sha256(text) == remote.sha256:
        return BaseEntry(sha256=remote.sha256, revision=remote.revision)
    return None


def _changed_again(ctx: SyncContext, session: str, stage: str, remote: Artifact, had_copy: bool) -> Failed:
    """A new conflict found while resolving: refresh the copy, so the next decision is informed."""
    copy = ctx.ws.rel(write_conflict_copy(ctx, session, stage, remote))
    if had_copy:
        what = f"the remote version of {session}/{stage} changed since its copy was saved"
    else:
        what = f"the remote version of {session}/{stage} had not been saved for review"
    return Failed(f"{what}; nothing was overwritten: review {copy} again, then rerun the command")


def resolve(ctx: SyncContext, session: str, stage: str, side: Literal["ours", "theirs"]) -> dict[str, Any]:
    """Settle a conflict by keeping the local version (``ours``) or the remote one (``theirs``).

    Either way only the remote version saved in the `.remote` copy may be replaced (``ours``) or
    taken (``theirs``): the write is a compare-and-swap against it. A remote that moved on since is
    a new conflict: the copy is refreshed, nothing is overwritten, and ``Failed`` says so.
    """
    problem = name_problem(session, stage)
    if problem:
        raise UsageError(problem)
    mine = ctx.local.read_artifact(session, stage)
    remote = ctx.store.read_artifact(session, stage)
    if remote is not None:
        verify(remote, session, stage)
    ref = ArtifactRef(session, stage, remote.sha256, remote.revision) if remote else None
    state = three_way(mine.sha256 if mine else None, ref, ctx.base.get(artifact_key(session, stage)))
    if state != "conflict" or mine is None or remote is None:
        shown = state or "absent on both sides"
        raise UsageError(
            f"{session}/{stage} is {shown}, not in conflict; use 'idse sync push' or 'idse sync pull'"
        )
    copy = remote_copy_path(ctx.project, session, stage)
    seen = _resolved_against(ctx, session, stage, remote)
    if seen is None or (seen.sha256, seen.revision) != (remote.sha256, remote.revision):
        raise _changed_again(ctx, session, stage, remote, had_copy=seen is not None)
    if side == "ours":
        result = ctx.store.write_artifact(session, stage, mine.content, mine.sha256, seen.revision)
        if result.revision is None or not (result.ok or result.sha256 == mine.sha256):
            # Written by someone else between our read and our write.
            now = ctx.store.read_artifact(session, stage)
            if now is None:
                raise Failed(f"{session}/{stage} was deleted on the remote meanwhile; run 'idse sync push'")
            raise _changed_again(ctx, session, stage, verify(now, session, stage), had_copy=True)
        ctx.settle(session, stage, mine.sha256, result.revision)
    else:
        result = ctx.local.write_artifact(session, stage, remote.content, remote.sha256, mine.sha256)
        if not result.ok:
            raise Failed(f"{session}/{stage} changed locally while resolving; run the command again")
        ctx.settle(session, stage, remote.sha256, remote.revision)
    ctx.root.unlink(copy)
    return {"session": session, "stage": stage, "kept": side, "last_sync": set_last_sync(ctx.ws, ctx.project)}

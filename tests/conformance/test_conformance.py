"""What every sync backend must do, checked the same way on each (``backends.FACTORIES``): a byte-exact
round trip, every status state, conflicts in both directions with the conflict copy, resolve,
retries after injected faults, hostile names from the remote refused, secrets never printed nor
written, and ``last_sync`` moved only by a successful sync.

Fault injection needs an injection point in the remote: the test servers have one; a backend
without one says why in its factory, and its fault cases are skipped with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_sync_support import BLUEPRINT, PROJECT, Workspaces, one_line_error

from .backends import FAULT_KINDS, FAULT_TIMEOUT, Remote

STAGES7 = ("intent", "context", "spec", "plan", "tasks", "implementation", "feedback")
BIG = "".join(f"| row {i} | {'ü' * (i % 7)} | `code {i}` |   \n" for i in range(6000))
# What a lossy store would change: line endings, trailing spaces, HTML comments, code fences, tables,
# unicode beyond the BMP, a byte order mark, no final newline, an empty document, 200 KB of text.
TRICKY = {
    "intent": "# Intent\r\n\r\nWindows line endings\r\nand a lone\rreturn\r\n",
    "context": "# Context\n\ntrailing spaces   \n\ttab-indented\n<!-- an HTML comment -->\n\n\n\n",
    "spec": "# Spec\n\n```python\nprint('fenced')  \n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "plan": "# Plan — ünïcödé 漢字 🚀 \u200b zero-width\n\nno final newline",
    "tasks": "# Tasks\n\n" + BIG,
    "implementation": "\ufeff# Implementation after a byte order mark\n",
    "feedback": "",
}


def docs(wss: Workspaces, name: str) -> dict[str, bytes]:
    """The synced documents of a workspace (session metadata is local: lineage travels, not bytes)."""
    return {rel: data for rel, data in wss.documents(name).items() if "/metadata/" not in rel}


def states(wss: Workspaces, name: str) -> dict[str, str]:
    return wss.states(name)


def test_round_trip_is_byte_exact(wss: Workspaces, remote: Remote) -> None:
    assert len(TRICKY["tasks"].encode("utf-8")) > 200_000
    assert wss.run("a", "spawn", "feat").exit_code == 0
    for stage, text in TRICKY.items():
        wss.doc("a", stage, "feat").write_bytes(text.encode("utf-8"))
    pushed = wss.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 0, pushed
    assert len(json.loads(pushed.stdout)["transferred"]) == 14
    for stage, text in TRICKY.items():
        assert remote.content("feat", stage) == text, stage
    pulled = wss.run("b", "sync", "pull", "--json")
    assert pulled.exit_code == 0, pulled
    for stage, text in TRICKY.items():
        assert wss.doc("b", stage, "feat").read_bytes() == text.encode("utf-8"), stage
    assert docs(wss, "b") == docs(wss, "a")
    assert set(states(wss, "a").values()) == set(states(wss, "b").values()) == {"in-sync"}
    meta = json.loads(wss.run("b", "session-info", "feat", "--json").stdout)
    assert meta["parent"] == BLUEPRINT and meta["stack"] == "python"


def test_every_status_state(wss: Workspaces, remote: Remote) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0  # b now has a base for every document
    wss.write("a", "spec", "# spec, edited in a\n")
    wss.write("a", "tasks", "# tasks, edited in a\n")
    assert wss.run("a", "spawn", "from-a").exit_code == 0
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("b", "plan", "# plan, edited in b\n")
    wss.write("b", "tasks", "# tasks, edited in b\n")
    assert wss.run("b", "session", "create", "from-b").exit_code == 0

    seen = states(wss, "b")
    assert seen[f"{BLUEPRINT}/intent"] == "in-sync"
    assert seen[f"{BLUEPRINT}/spec"] == "remote-ahead"
    assert seen[f"{BLUEPRINT}/plan"] == "local-ahead"
    assert seen[f"{BLUEPRINT}/tasks"] == "conflict"
    assert {seen[f"from-a/{s}"] for s in STAGES7} == {"remote-only"}
    assert {seen[f"from-b/{s}"] for s in STAGES7} == {"local-only"}
    status = wss.run("b", "sync", "status")
    assert status.exit_code == 1  # a conflict is a finding
    for state in ("in-sync", "local-ahead", "remote-ahead", "conflict", "local-only", "remote-only"):
        assert state in status.stdout


def test_conflicts_both_ways_keep_both_sides_and_resolve(wss: Workspaces, remote: Remote) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0

    # push: the remote moved on since b's base
    wss.write("a", "spec", "# a's spec\n")
    wss.write("b", "spec", "# b's spec\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    before = wss.documents("b")
    pushed = wss.run("b", "sync", "push", "--json")
    assert pushed.exit_code == 1, pushed
    conflict = json.loads(pushed.stdout)["conflicts"]
    assert [(c["stage"], c["remote_copy"].endswith("specs/spec.remote.md")) for c in conflict] == [
        ("spec", True)
    ]
    assert remote.content(BLUEPRINT, "spec") == "# a's spec\n"  # the remote is not overwritten
    assert wss.read("b", "spec") == "# b's spec\n"  # nor the local file
    copy = wss.doc("b", "spec").with_name("spec.remote.md")
    assert copy.read_text(encoding="utf-8") == "# a's spec\n"
    after = wss.documents("b")
    assert {k for k in after if after[k] != before.get(k)} == {f"{BLUEPRINT}/specs/spec.remote.md"}
    theirs = wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes")
    assert theirs.exit_code == 0, theirs
    assert wss.read("b", "spec") == "# a's spec\n" and not copy.exists()

    # pull: the local file changed since a's base
    wss.write("a", "plan", "# a's plan\n")
    wss.write("b", "plan", "# b's plan\n")
    assert wss.run("b", "sync", "push").exit_code == 0
    pulled = wss.run("a", "sync", "pull", "--json")
    assert pulled.exit_code == 1, pulled
    assert [c["stage"] for c in json.loads(pulled.stdout)["conflicts"]] == ["plan"]
    assert wss.read("a", "plan") == "# a's plan\n"
    assert wss.doc("a", "plan").with_name("plan.remote.md").read_text(encoding="utf-8") == "# b's plan\n"
    assert wss.run("a", "sync", "pull").exit_code == 1  # still a conflict until resolved
    ours = wss.run("a", "sync", "resolve", BLUEPRINT, "plan", "--ours", "--yes")
    assert ours.exit_code == 0, ours
    assert remote.content(BLUEPRINT, "plan") == "# a's plan\n"
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.read("b", "plan") == "# a's plan\n"
    assert set(states(wss, "a").values()) == set(states(wss, "b").values()) == {"in-sync"}


def test_resolve_against_a_remote_that_moved_again_is_refused(wss: Workspaces, remote: Remote) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("b", "intent", "# b's intent\n")
    assert remote.put_raw(BLUEPRINT, "intent", "# written elsewhere\n")
    assert wss.run("b", "sync", "push").exit_code == 1
    assert remote.put_raw(BLUEPRINT, "intent", "# written elsewhere, again\n")
    refused = wss.run("b", "sync", "resolve", BLUEPRINT, "intent", "--ours", "--yes")
    assert refused.exit_code == 1, refused
    one_line_error(refused)
    assert remote.content(BLUEPRINT, "intent") == "# written elsewhere, again\n"
    copy = wss.doc("b", "intent").with_name("intent.remote.md")
    assert copy.read_text(encoding="utf-8") == "# written elsewhere, again\n"  # refreshed
    assert wss.run("b", "sync", "resolve", BLUEPRINT, "intent", "--ours", "--yes").exit_code == 0
    assert remote.content(BLUEPRINT, "intent") == "# b's intent\n"


HOSTILE = [
    ("../evil", "spec"),
    ("a/b", "spec"),
    ("..", "plan"),
    (".hidden", "spec"),
    ("-x", "intent"),
    ("a b", "intent"),
    (BLUEPRINT, "../../x"),
    (BLUEPRINT, "notes"),
]


def test_hostile_names_from_the_remote_write_nothing(wss: Workspaces, remote: Remote, tmp_path: Path) -> None:
    stored = {(s, st) for s, st in HOSTILE if remote.put_raw(s, st, "pwned\n")}
    assert remote.put_raw("good-session", "intent", "# fine\n")
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(wss.path("b"))}
    before = set(wss.path("b").rglob("*"))
    result = wss.run("b", "sync", "pull", "--json")
    report = json.loads(result.stdout)
    rejected = {(r["session"], r["stage"]) for r in report["rejected"]}
    # Every hostile name the remote could hold is refused (reported) or, for a directory, not even
    # listed (a folder that cannot be a session is not idse data); none is written anywhere.
    assert rejected <= stored, rejected - stored
    assert result.exit_code == (1 if rejected else 0), result
    assert report["transferred"] == [
        {"session": "good-session", "stage": "intent", "revision": report["transferred"][0]["revision"]}
    ]
    created = set(wss.path("b").rglob("*")) - before
    project = wss.path("b") / ".idse/projects" / PROJECT
    assert all(p.is_relative_to(project) for p in created), created
    in_sessions = {
        p.relative_to(project / "sessions").parts[0]
        for p in created
        if p.is_relative_to(project / "sessions")
    }
    assert in_sessions == {"good-session"}, in_sessions
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(wss.path("b"))} == outside
    assert not any(p.is_file() and p.read_bytes() == b"pwned\n" for p in wss.path("b").rglob("*")), (
        "hostile content reached the workspace"
    )
    if rejected:
        text = wss.run("b", "sync", "status")
        assert text.exit_code == 1 and "rejected remote" in text.stdout


def test_secrets_are_never_printed_nor_written(wss: Workspaces, remote: Remote) -> None:
    assert remote.secrets and all(remote.secrets)
    outputs = [
        wss.run("a", *args)
        for args in (
            ("sync", "config"),
            ("sync", "config", "--json"),
            ("sync", "init"),
            ("sync", "status", "--json"),
            ("sync", "push"),
            ("sync", "pull", "--json"),
            ("sync", "status"),
            ("sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes"),  # not in conflict: an error
        )
    ]
    wss.write("b", "spec", "# b\n")
    outputs.append(wss.run("b", "sync", "push", "--json"))
    outputs.append(wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes"))
    if remote.faults:
        remote.fail(remote.faults[0], at=0, times=10)
        outputs.append(wss.run("a", "sync", "status"))
    if any(secret in value for secret in remote.secrets for value in remote.env.values()):
        assert "***" in outputs[0].stdout  # shown masked (firestore's are in the key file, not shown)
    assert outputs[7].exit_code == 2
    for result in outputs:
        for secret in remote.secrets:
            assert secret not in result.output, result
    for name in ("a", "b"):
        for path in wss.path(name).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(s.encode() in data for s in remote.secrets), path


def _last_sync(wss: Workspaces, name: str) -> str | None:
    value = json.loads(wss.run(name, "sync", "status", "--json").stdout)["last_sync"]
    return None if value is None else str(value)


def test_last_sync_moves_only_on_success(wss: Workspaces, remote: Remote) -> None:
    assert _last_sync(wss, "a") is None
    dry = wss.run("a", "sync", "push", "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["last_sync"] is None
    pushed = json.loads(wss.run("a", "sync", "push", "--json").stdout)
    first = pushed["last_sync"]
    assert first and _last_sync(wss, "a") == first
    # A conflict left undone, nothing transferred: not a successful sync.
    wss.write("a", "spec", "# a\n")
    assert remote.put_raw(BLUEPRINT, "spec", "# changed on the remote\n")
    conflicted = wss.run("a", "sync", "push", "--json")
    assert conflicted.exit_code == 1
    assert json.loads(conflicted.stdout)["last_sync"] == first == _last_sync(wss, "a")
    if not remote.faults:
        return
    # A remote error half-way: the command fails and last_sync stays.
    assert wss.run("a", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes").exit_code == 0
    resolved = _last_sync(wss, "a")  # a resolve is a successful sync of its document
    assert resolved is not None and resolved >= first
    wss.write("a", "plan", "# plan to push\n")
    wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", str(FAULT_TIMEOUT))
    remote.fail(remote.faults[-1], at=1, times=2)  # the write, on both attempts (one retry)
    failed = wss.run("a", "sync", "push")
    assert failed.exit_code == 1, failed
    one_line_error(failed)
    assert _last_sync(wss, "a") == resolved
    assert wss.read("a", "plan") == "# plan to push\n"


def _fault_kinds(remote: Remote) -> tuple[str, ...]:
    if not remote.faults:
        pytest.skip(f"no fault injection point: {remote.no_faults}")
    assert set(remote.faults) <= set(FAULT_KINDS)
    return remote.faults


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["push", "pull"])
def test_a_fault_at_every_request_is_retried(wss: Workspaces, remote: Remote, direction: str) -> None:
    """One failed attempt at request k (each k of the command, each kind): the retry hides it."""
    kinds = _fault_kinds(remote)
    monkeypatch = wss.monkeypatch
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")  # request k is the k-th the remote sees
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", str(FAULT_TIMEOUT))
    assert wss.run("a", "spawn", "feat").exit_code == 0
    wss.write("a", "plan", "# the feature's plan\n", session="feat")

    def publish(project: str) -> None:
        monkeypatch.setenv("IDSE_SYNC_PROJECT", project)
        assert wss.run("a", "sync", "push", "--session", "feat").exit_code == 0

    # Each round syncs into a project of its own on the remote: every round starts from empty.
    probe = "probe"
    if direction == "pull":
        publish(probe)
    start = remote.served()
    assert wss.run("a" if direction == "push" else "b", "sync", direction, "--session", "feat").exit_code == 0
    count = remote.served() - start
    assert count >= 3
    for kind in kinds:
        for k in range(count):
            project = f"f{kind}-{k}"
            name = "a"
            if direction == "pull":
                publish(project)
                name = f"b-{kind}-{k}"
                wss.make(name)
            monkeypatch.setenv("IDSE_SYNC_PROJECT", project)
            start = remote.served()
            remote.fail(kind, at=k)
            result = wss.run(name, "sync", direction, "--session", "feat", "--json")
            assert result.exit_code == 0, (kind, k, result)
            assert remote.served() - start == count + 1, (kind, k)  # the failed attempt and its retry
            assert json.loads(result.stdout)["last_sync"] is not None
            assert set(wss.states(name, "--session", "feat").values()) == {"in-sync"}, (kind, k)
            assert remote.content("feat", "plan", project) == "# the feature's plan\n"
            if direction == "pull":
                assert wss.read(name, "plan", session="feat") == "# the feature's plan\n"


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_that_persists_is_one_line_and_the_rerun_converges(
    wss: Workspaces, remote: Remote, kind: str
) -> None:
    if kind not in _fault_kinds(remote):
        pytest.skip(f"this remote cannot inject {kind}")
    wss.monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")
    wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", str(FAULT_TIMEOUT))
    before = wss.documents("a")
    if kind == "429":
        # A rate limit is the server pacing us, not a fault: it is waited out a bounded number of
        # times (not counted as attempts), then reported as such.
        from idse_orchestrator.sync.backends.http import RATE_LIMIT_WAITS

        remote.fail(kind, at=3, times=RATE_LIMIT_WAITS + 1)
    else:
        remote.fail(kind, at=3, times=2)  # a write, and its one retry
    failed = wss.run("a", "sync", "push")
    assert failed.exit_code == 1, failed
    line = one_line_error(failed)
    assert ("rate limited" in line) if kind == "429" else ("2 attempt" in line), line
    assert wss.documents("a") == before
    assert _last_sync(wss, "a") is None
    wss.monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "10")
    assert wss.run("a", "sync", "push").exit_code == 0
    assert set(wss.states("a").values()) == {"in-sync"}
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert docs(wss, "b") == docs(wss, "a")


def test_an_oversized_remote_document_fails_alone(wss: Workspaces, remote: Remote) -> None:
    """Pull mirrors push: a document over the 5 MB limit is that document's failure (rejected,
    exit 1); every other document is pulled, and the local file is left alone."""
    big = "# big\n" + "x" * (5 * 1024 * 1024 + 10)
    assert remote.put_raw("feat", "plan", big)
    assert remote.put_raw("feat", "spec", "# a spec\n")
    assert remote.put_raw("feat", "intent", "# an intent\n")
    pulled = wss.run("b", "sync", "pull", "--json")
    assert pulled.exit_code == 1, pulled
    report = json.loads(pulled.stdout)
    assert [(r["session"], r["stage"], r["side"]) for r in report["rejected"]] == [("feat", "plan", "remote")]
    assert "larger than 5 MB" in report["rejected"][0]["reason"]
    assert sorted(t["stage"] for t in report["transferred"]) == ["intent", "spec"]
    assert wss.read("b", "spec", session="feat") == "# a spec\n"
    assert not wss.doc("b", "plan", session="feat").exists()
    assert report["last_sync"] is not None  # something synced
    text = wss.run("b", "sync", "pull")
    assert text.exit_code == 1 and "rejected remote 'feat'/'plan'" in text.stdout
    assert "larger than 5 MB" in text.stdout

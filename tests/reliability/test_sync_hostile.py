"""Hostile conditions for sync, through the real CLI with two workspaces sharing a remote: a remote
that moves on while a conflict is being resolved, contradictory flags, secrets in URLs and DSNs
(parsable or not), and symlinks leading out of the workspace or out of the remote directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_core_server import ArtifactCoreServer
from test_sync_support import BLUEPRINT, PROJECT, Result, Workspaces, one_line_error, sync_env

from idse_orchestrator.stages import BY_NAME

pytestmark = pytest.mark.slow  # a fault suite: real processes, kills, timing

A_FIRST = "# Spec\n\nA-FIRST\n"
A_SECOND = "# Spec\n\nA-FIRST\nA-SECOND\n"
B_EDIT = "# Spec\n\nB-EDIT\n"
TOKEN = "tok-hostile-7731-never-shown"


@pytest.fixture
def wss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Workspaces:
    shared = tmp_path / "shared"
    shared.mkdir()
    sync_env(monkeypatch, IDSE_SYNC_URL=f"file://{shared}")
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    return w


@pytest.fixture
def server() -> Iterator[ArtifactCoreServer]:
    srv = ArtifactCoreServer(token=TOKEN).start()
    yield srv
    srv.stop()


def remote_doc(wss: Workspaces, stage: str, session: str = BLUEPRINT) -> Path:
    return wss.tmp / "shared/projects" / PROJECT / "sessions" / session / BY_NAME[stage].relpath


def remote_copy(wss: Workspaces, name: str, stage: str = "spec") -> Path:
    path = wss.doc(name, stage)
    return path.with_name(f"{path.stem}.remote{path.suffix}")


def files_containing(root: Path, needle: str) -> list[str]:
    """Every regular file under ``root`` (links not followed) whose bytes contain ``needle``."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            if needle.encode() in path.read_bytes() or needle in str(path.relative_to(root)):
                found.append(str(path.relative_to(root)))
    return found


def no_internal_error(result: Result) -> None:
    assert "internal error" not in result.stderr, result
    assert "Traceback" not in result.output, result


# -- 1. resolve is a compare-and-swap against the version in the .remote copy ------------------------


def conflict_then_a_second_remote_edit(wss: Workspaces) -> None:
    """b's spec conflicts with a's A-FIRST (saved in b's copy); then a pushes A-SECOND on top."""
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "spec", A_FIRST)
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("b", "spec", B_EDIT)
    assert wss.run("b", "sync", "push").exit_code == 1
    assert remote_copy(wss, "b").read_text() == A_FIRST
    wss.write("a", "spec", A_SECOND)
    assert wss.run("a", "sync", "push").exit_code == 0
    assert remote_doc(wss, "spec").read_text() == A_SECOND


def assert_new_conflict(result: Result, wss: Workspaces) -> None:
    assert result.exit_code == 1, result
    line = one_line_error(result)
    assert "changed since" in line and "spec.remote.md" in line and "review" in line, line
    # Nothing overwritten; the copy now shows what the remote holds, for the next decision.
    assert remote_doc(wss, "spec").read_text() == A_SECOND
    assert wss.read("b", "spec") == B_EDIT
    assert remote_copy(wss, "b").read_text() == A_SECOND


def test_resolve_ours_never_overwrites_a_remote_edit_it_did_not_see(wss: Workspaces) -> None:
    conflict_then_a_second_remote_edit(wss)
    assert_new_conflict(wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes"), wss)
    assert wss.states("b")[f"{BLUEPRINT}/spec"] == "conflict"
    pulled = wss.run("a", "sync", "pull")
    assert pulled.exit_code == 0, pulled
    assert wss.read("a", "spec") == A_SECOND

    # Having seen A-SECOND in the copy, b may now knowingly replace exactly that version.
    again = wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes")
    assert again.exit_code == 0, again
    assert remote_doc(wss, "spec").read_text() == B_EDIT
    assert not remote_copy(wss, "b").exists()
    assert wss.run("a", "sync", "pull").exit_code == 0
    assert wss.read("a", "spec") == B_EDIT


def test_resolve_theirs_takes_only_the_version_seen_in_the_copy(wss: Workspaces) -> None:
    conflict_then_a_second_remote_edit(wss)
    assert_new_conflict(wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes"), wss)
    again = wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes")
    assert again.exit_code == 0, again
    assert wss.read("b", "spec") == A_SECOND
    assert not remote_copy(wss, "b").exists()
    assert set(wss.states("b").values()) == {"in-sync"}


def test_resolve_without_a_saved_copy_saves_one_and_changes_nothing(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("b", "intent", "# Intent by b\n")  # b never synced: a conflict seen only by status
    assert wss.states("b")[f"{BLUEPRINT}/intent"] == "conflict"
    remote_before = remote_doc(wss, "intent").read_text()
    first = wss.run("b", "sync", "resolve", BLUEPRINT, "intent", "--ours", "--yes")
    assert first.exit_code == 1 and "intent.remote.md" in one_line_error(first)
    assert remote_doc(wss, "intent").read_text() == remote_before
    assert remote_copy(wss, "b", "intent").read_text() == remote_before
    second = wss.run("b", "sync", "resolve", BLUEPRINT, "intent", "--ours", "--yes")
    assert second.exit_code == 0, second
    assert remote_doc(wss, "intent").read_text() == "# Intent by b\n"


def test_resolve_ours_is_refused_when_the_remote_is_written_during_the_upload(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sync_env(monkeypatch, IDSE_SYNC_URL=server.url, IDSE_SYNC_TOKEN=TOKEN)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    assert w.run("a", "sync", "push").exit_code == 0
    assert w.run("b", "sync", "pull").exit_code == 0
    w.write("a", "spec", A_FIRST)
    assert w.run("a", "sync", "push").exit_code == 0
    w.write("b", "spec", B_EDIT)
    assert w.run("b", "sync", "push").exit_code == 1

    def other_writer(project: str, session: str, stage: str) -> None:
        server.before_put = None
        server.put_raw(project, session, stage, A_SECOND)

    server.before_put = other_writer
    result = w.run("b", "sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes")
    assert result.exit_code == 1 and "changed since" in one_line_error(result)
    assert server.content(PROJECT, BLUEPRINT, "spec") == A_SECOND
    assert remote_copy(w, "b").read_text() == A_SECOND
    assert w.read("b", "spec") == B_EDIT


# -- 2. contradictory flags --------------------------------------------------------------------------


def test_resolve_with_both_sides_is_refused(wss: Workspaces) -> None:
    conflict_then_a_second_remote_edit(wss)
    copy_before = remote_copy(wss, "b").read_text()
    for flags in (("--ours", "--theirs"), ("--theirs", "--ours")):
        result = wss.run("b", "sync", "resolve", BLUEPRINT, "spec", *flags, "--yes")
        assert result.exit_code == 2
        assert "--ours and --theirs" in one_line_error(result)
    assert wss.read("b", "spec") == B_EDIT
    assert remote_doc(wss, "spec").read_text() == A_SECOND
    assert remote_copy(wss, "b").read_text() == copy_before


# -- 3. secrets in URLs and DSNs never reach output or files ----------------------------------------

SECRET = "supersecret123"


def run_everything(wss: Workspaces) -> list[Result]:
    commands = [
        ("sync", "config"),
        ("sync", "config", "--json"),
        ("sync", "status"),
        ("sync", "status", "--json"),
        ("sync", "push"),
        ("sync", "push", "--json"),
        ("sync", "pull"),
        ("sync", "pull", "--dry-run", "--json"),
        ("sync", "resolve", BLUEPRINT, "spec", "--ours", "--yes"),
    ]
    return [wss.run("a", *command) for command in commands]


def assert_never_shown(wss: Workspaces, results: list[Result], secret: str) -> None:
    for result in results:
        no_internal_error(result)
        assert secret not in result.output, result
    assert files_containing(wss.path("a"), secret) == []


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("IDSE_SYNC_URL", f"file://user:{SECRET}@nas/share"),
        ("IDSE_SYNC_URL", f"ftp://user:{SECRET}@host/x"),
        ("IDSE_SYNC_URL", f"file://user:{SECRET}@[::1/share"),
        ("IDSE_SYNC_DSN", f"postgresql://u:{SECRET}@[::1/db"),
        ("IDSE_SYNC_DSN", f"postgresql://u:{SECRET}@host:port/db"),
        ("IDSE_SYNC_DSN", f"host=db password='{SECRET} user=u"),
        ("IDSE_SYNC_DSN", f"host=db password={SECRET} user"),
    ],
)
def test_unusable_urls_and_dsns_are_bad_input_without_the_secret(
    wss: Workspaces, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    results = run_everything(wss)
    assert_never_shown(wss, results, SECRET)
    for result in results:
        if result.stdout.startswith("backend") or result.stdout.startswith('{\n  "settings"'):
            assert result.exit_code == 0  # `sync config` shows the masked value
            assert "***" in result.stdout
        elif var == "IDSE_SYNC_DSN" and "port" in value:
            assert result.exit_code in (1, 2), result  # parses: fails on connecting (or no psycopg)
            one_line_error(result)
        else:
            assert result.exit_code == 2, result
            one_line_error(result)


@pytest.mark.parametrize(
    "param", ["sig", "token", "key", "password", "secret", "access_token", "X-Amz-Signature", "api_key"]
)
def test_secret_query_values_of_a_filesystem_remote_are_never_shown_or_stored(
    wss: Workspaces, monkeypatch: pytest.MonkeyPatch, param: str
) -> None:
    secret = f"Q-{param}-{SECRET}"
    monkeypatch.setenv("IDSE_SYNC_URL", f"{wss.tmp / 'drive'}?{param}={secret}&v=1")
    results = [wss.run("a", "sync", "init")]
    assert results[0].exit_code == 0, results[0]
    pushed = wss.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 0, pushed
    assert len(json.loads(pushed.stdout)["transferred"]) == 7
    results += [pushed, *run_everything(wss)]
    record = (wss.path("a") / ".idse/projects/demo/.sync/record.json").read_text()
    assert f"{param}=***" in record
    assert_never_shown(wss, results, secret)


def test_secrets_in_an_artifact_core_url_are_never_shown_or_stored(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = server.url.split("://", 1)[1]
    url = f"http://robot:{SECRET}@{host}/?sig=S1-{SECRET}&access_token=S2-{SECRET}"
    sync_env(monkeypatch, IDSE_SYNC_URL=url, IDSE_SYNC_TOKEN=TOKEN)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    pushed = w.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 0, pushed
    assert len(json.loads(pushed.stdout)["transferred"]) == 7  # the query does not break the requests
    results = [pushed, *run_everything(w)]
    # The record written before descriptions were scrubbed held the secret as a key: it is re-keyed.
    path = w.path("a") / ".idse/projects/demo/.sync/record.json"
    data = json.loads(path.read_text())
    [key] = data["remotes"]
    data["remotes"] = {key.replace("sig=***", f"sig=S1-{SECRET}"): data["remotes"][key]}
    path.write_text(json.dumps(data))
    again = w.run("a", "sync", "push")
    assert again.exit_code == 0 and "Pushed 0 artifacts; 7 in sync" in again.stdout, again
    results.append(again)
    # A server error text that echoes the URL is scrubbed too.
    server.fail(0, "500", times=5)
    results.append(w.run("a", "sync", "status"))
    assert_never_shown(w, results, SECRET)
    assert_never_shown(w, results, TOKEN)


def test_internal_error_quoting_a_url_is_scrubbed(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    from idse_orchestrator.sync import engine

    url = f"{wss.tmp / 'drive'}?sig=S-{SECRET}"
    monkeypatch.setenv("IDSE_SYNC_URL", url)
    assert wss.run("a", "sync", "init").exit_code == 0

    def broken(ctx: object, session: str | None = None) -> None:
        raise RuntimeError(f"cannot list {url}: password={SECRET}x via https://u:{SECRET}@h/x")

    monkeypatch.setattr(engine, "status", broken)
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 3 and "internal error: RuntimeError: cannot list" in result.stderr
    assert SECRET not in result.output
    # The crash report named on that line holds the traceback, scrubbed the same way.
    reports = list((wss.path("a") / ".idse/.cache/crash").glob("*.txt"))
    assert len(reports) == 1 and reports[0].name in result.stderr
    text = reports[0].read_text("utf-8")
    assert "Traceback" in text and "RuntimeError: cannot list" in text
    assert SECRET not in text


# -- 4. symlinks leading out of the workspace or out of the remote directory -----------------------


def outside_dir(wss: Workspaces, name: str, files: dict[str, str]) -> Path:
    path = wss.tmp / "outside" / name
    path.mkdir(parents=True)
    for rel, text in files.items():
        (path / rel).write_text(text)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("outside_has_file", [True, False])
def test_pull_never_writes_through_a_local_stage_folder_linked_outside(
    wss: Workspaces, outside_has_file: bool
) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "spec", "# Spec\n\nFrom a, must stay out of the outside folder.\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    files = {"spec.md": "# Spec\n\nOUTSIDE-LOCAL-SECRET\n"} if outside_has_file else {}
    outside = outside_dir(wss, "specs", files)
    before = snapshot(outside)
    specs = wss.doc("b", "spec").parent
    for child in specs.iterdir():
        child.unlink()
    specs.rmdir()
    specs.symlink_to(outside, target_is_directory=True)

    for args in (("sync", "pull"), ("sync", "pull", "--json"), ("sync", "push"), ("sync", "status")):
        result = wss.run("b", *args)
        no_internal_error(result)
        assert result.exit_code == 1, result
        assert "outside the workspace" in result.stdout, result
    report = json.loads(wss.run("b", "sync", "pull", "--json").stdout)
    assert {"session": BLUEPRINT, "stage": "spec", "side": "local"}.items() <= report["rejected"][0].items()
    assert [t["stage"] for t in report["transferred"]] == []
    assert snapshot(outside) == before  # neither written nor given a .remote copy
    assert "OUTSIDE-LOCAL-SECRET" not in remote_doc(wss, "spec").read_text()
    assert files_containing(wss.tmp / "shared", "OUTSIDE-LOCAL-SECRET") == []
    # The other documents still sync.
    assert wss.states("b")[f"{BLUEPRINT}/plan"] == "in-sync"
    resolve = wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes")
    assert resolve.exit_code == 1 and "outside the workspace" in one_line_error(resolve)
    assert snapshot(outside) == before


@pytest.mark.parametrize("link", ["stage-folder", "file", "session-folder"])
def test_remote_links_leading_outside_the_remote_are_neither_read_nor_written(
    wss: Workspaces, link: str
) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "plan", "# Plan\n\nNew plan from a.\n")
    plan = remote_doc(wss, "plan")
    outside = outside_dir(wss, "remote-plans", {"plan.md": "# Plan\n\nOUTSIDE-REMOTE-SECRET\n"})
    if link == "stage-folder":
        plan.unlink()
        plan.parent.rmdir()
        plan.parent.symlink_to(outside, target_is_directory=True)
    elif link == "file":
        plan.unlink()
        plan.symlink_to(outside / "plan.md")
    else:
        session = plan.parent.parent
        session.rename(outside / BLUEPRINT)
        session.symlink_to(outside / BLUEPRINT, target_is_directory=True)
    before = snapshot(outside)

    pushed = wss.run("a", "sync", "push", "--json")
    no_internal_error(pushed)
    assert pushed.exit_code == 1, pushed
    report = json.loads(pushed.stdout)
    reasons = [r["reason"] for r in report["rejected"] if (r["stage"], r["side"]) == ("plan", "remote")]
    assert reasons and "outside the sync directory" in reasons[0]
    assert "plan" not in [t["stage"] for t in report["transferred"]]
    pulled = wss.run("b", "sync", "pull")
    no_internal_error(pulled)
    assert pulled.exit_code == 1 and "rejected remote" in pulled.stdout
    assert snapshot(outside) == before
    assert wss.read("b", "plan") != outside.joinpath("plan.md").read_text()
    for name in ("a", "b"):
        assert files_containing(wss.path(name), "OUTSIDE-REMOTE-SECRET") == []
    assert wss.run("b", "sync", "resolve", BLUEPRINT, "plan", "--theirs", "--yes").exit_code in (1, 2)
    assert files_containing(wss.path("b"), "OUTSIDE-REMOTE-SECRET") == []


def test_links_that_stay_inside_their_root_are_followed(wss: Workspaces) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    # Local: specs/ is a link to a folder elsewhere in the same repository.
    specs = wss.doc("a", "spec").parent
    inside = wss.path("a") / "docs/specs"
    inside.parent.mkdir()
    specs.rename(inside)
    specs.symlink_to(inside, target_is_directory=True)
    wss.write("a", "spec", "# Spec\n\nThrough an inside link.\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    assert remote_doc(wss, "spec").read_text() == "# Spec\n\nThrough an inside link.\n"
    # Remote: plans/ is a link to a folder elsewhere in the same sync directory.
    plans = remote_doc(wss, "plan").parent
    moved = wss.tmp / "shared/elsewhere/plans"
    moved.parent.mkdir()
    plans.rename(moved)
    plans.symlink_to(moved, target_is_directory=True)
    (moved / "plan.md").write_text("# Plan\n\nThrough a remote inside link.\n")
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.read("b", "spec") == "# Spec\n\nThrough an inside link.\n"
    assert wss.read("b", "plan") == "# Plan\n\nThrough a remote inside link.\n"
    wss.write("b", "spec", "# Spec\n\nFrom b.\n")
    assert wss.run("b", "sync", "push").exit_code == 0
    assert wss.run("a", "sync", "pull").exit_code == 0
    assert (inside / "spec.md").read_text() == "# Spec\n\nFrom b.\n"
    assert wss.read("a", "plan") == "# Plan\n\nThrough a remote inside link.\n"
    assert specs.is_symlink() and plans.is_symlink()

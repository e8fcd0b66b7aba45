"""An unexpected exception: exit 3, one line naming a crash report, the report scrubbed of secrets."""

from __future__ import annotations

import errno
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

import idse_orchestrator
from idse_orchestrator import crash

PASSWORD = "pw-Sup3rSecret"
TOKEN = "tok-9f8e7d6c5b4a"
URL = f"https://alice:{PASSWORD}@sync.example.com/api?sig={TOKEN}"
LINE = re.compile(
    r"^idse: error: internal error: RuntimeError: (?P<what>.*) "
    r"\(crash report: (?P<path>\S+\.txt); set IDSE_DEBUG=1 for the traceback\)$"
)


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDSE_DEBUG", raising=False)
    monkeypatch.setenv("IDSE_SYNC_URL", URL)
    monkeypatch.setenv("IDSE_SYNC_TOKEN", TOKEN)


def break_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from idse_orchestrator.engine import queries

    def session_report(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"cannot compare with {URL} (token {TOKEN})")

    monkeypatch.setattr(queries, "session_report", session_report)


def test_internal_error_exits_3_with_one_line_and_a_report(ws, cli, monkeypatch, secrets_in_env):
    break_status(monkeypatch)
    result = cli("status", "--project", "demo")
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert PASSWORD not in result.stderr and TOKEN not in result.stderr
    assert "https://alice:***@sync.example.com" in match["what"]

    report = ws.root / match["path"]
    assert report.parent == ws.root / ".idse/.cache/crash"
    assert [p.name for p in report.parent.iterdir()] == [report.name]
    text = report.read_text("utf-8")
    assert f"idse      {idse_orchestrator.__version__}" in text
    assert platform.python_version() in text
    assert platform.system() in text
    assert "command   idse status --project demo" in text
    assert "Traceback (most recent call last)" in text
    assert "in session_report" in text and "RuntimeError: cannot compare with" in text
    # No secret of the environment, whatever part of the report it would have reached.
    assert PASSWORD not in text and TOKEN not in text
    assert "***" in text


def test_the_report_name_is_stable_for_the_same_bug(ws, cli, monkeypatch, secrets_in_env):
    break_status(monkeypatch)
    first = LINE.match(cli("status").stderr.strip())
    second = LINE.match(cli("status", "--json").stderr.strip())
    assert first and second
    # <UTC time>-<fingerprint of the exception type and the functions it went through>.txt
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}\.txt", Path(first["path"]).name)
    assert Path(first["path"]).name.split("-")[1] == Path(second["path"]).name.split("-")[1]


def test_from_a_subdirectory_the_report_goes_to_the_workspace(ws, cli, monkeypatch, secrets_in_env):
    sub = ws.root / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    break_status(monkeypatch)
    match = LINE.match(cli("status").stderr.strip())
    assert match
    assert (sub / match["path"]).resolve().parent == (ws.root / ".idse/.cache/crash").resolve()


def test_outside_a_workspace_the_report_goes_to_the_temp_dir(cli, tmp_path, monkeypatch, secrets_in_env):
    import tempfile

    from idse_orchestrator.governance import ruleset

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def load_ruleset(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the shipped rule set vanished")

    monkeypatch.setattr(ruleset, "load_ruleset", load_ruleset)
    result = cli("rules")
    assert result.exit_code == 3
    match = LINE.match(result.stderr.strip())
    assert match, result.stderr
    report = Path(match["path"])
    assert report.is_absolute() and report.parent == tmp_path / "tmp" / "idse-crash"
    assert "the shipped rule set vanished" in report.read_text("utf-8")
    assert list(work.iterdir()) == []


def test_an_unwritable_cache_falls_back_to_the_temp_dir(ws, cli, tmp_path, monkeypatch, secrets_in_env):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (ws.root / ".idse/.cache").mkdir(exist_ok=True)
    (ws.root / ".idse/.cache/crash").write_text("not a directory")
    break_status(monkeypatch)
    match = LINE.match(cli("status").stderr.strip())
    assert match
    assert (ws.root / match["path"]).parent == tmp_path / "tmp" / "idse-crash"


def test_idse_debug_still_raises(ws, cli, monkeypatch, secrets_in_env):
    monkeypatch.setenv("IDSE_DEBUG", "1")
    break_status(monkeypatch)
    with pytest.raises(RuntimeError, match="cannot compare"):
        cli("status")
    assert not (ws.root / ".idse/.cache/crash").exists()


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only")])
def test_mapped_os_errors_stay_usage_errors(ws, cli, monkeypatch, code, words):
    from idse_orchestrator.engine import queries

    def session_report(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(ws.root / "x"))

    monkeypatch.setattr(queries, "session_report", session_report)
    result = cli("status")
    assert result.exit_code == 2
    assert words in result.stderr and "internal error" not in result.stderr
    assert not (ws.root / ".idse/.cache/crash").exists()


def test_an_unmapped_os_error_is_an_internal_error(ws, cli, monkeypatch):
    from idse_orchestrator.engine import queries

    def session_report(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(queries, "session_report", session_report)
    result = cli("status")
    assert result.exit_code == 3
    assert "internal error: OSError" in result.stderr and "crash report: " in result.stderr


def test_the_real_program_exits_3(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("IDSE_PROJECT", "IDSE_DEBUG")}
    env["IDSE_SYNC_URL"] = URL
    init = subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", "init", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert init.returncode == 0, init.stderr
    code = (
        "import sys\n"
        "from idse_orchestrator.engine import queries\n"
        "def boom(*a, **k):\n"
        f"    raise RuntimeError('boom at {URL}')\n"
        "queries.session_report = boom\n"
        "from idse_orchestrator.entry import main\n"
        "sys.exit(main(['status']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    match = LINE.match(proc.stderr.strip())
    assert match, proc.stderr
    assert PASSWORD not in proc.stderr
    assert PASSWORD not in (tmp_path / match["path"]).read_text("utf-8")


# ------------------------------------------------------------------------------------------- the module


def test_command_line_masks_secret_options_and_urls():
    env = {"IDSE_SYNC_TOKEN": TOKEN}
    shown = crash.command_line(
        ["sync", "push", "--token", "abc123", "--api-key=k3y-value", URL, "--note", f"t {TOKEN}"], env
    )
    assert shown.startswith("idse sync push --token '***' '--api-key=***' ")
    for secret in ("abc123", "k3y-value", PASSWORD, TOKEN):
        assert secret not in shown
    assert "sync.example.com" in shown


def test_old_reports_are_pruned(tmp_path):
    (tmp_path / ".idse").mkdir()
    directory = tmp_path / ".idse/.cache/crash"
    directory.mkdir(parents=True)
    for n in range(crash.KEEP + 5):
        (directory / f"2000{n:04d}T000000Z-00000000.txt").write_text("old")
    try:
        raise ValueError("fresh")
    except ValueError as exc:
        path = crash.write_report(exc, ["status"], start=tmp_path, env={})
    assert path is not None and path.parent == directory
    kept = sorted(p.name for p in directory.iterdir())
    assert len(kept) == crash.KEEP and path.name in kept

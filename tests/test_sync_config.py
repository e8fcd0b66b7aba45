"""`idse sync config` and the rules of sync settings: config.yaml, environment, secrets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_sync_support import Workspaces, one_line_error, sync_env


@pytest.fixture
def wss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Workspaces:
    sync_env(monkeypatch)
    for name in ("IDSE_SYNC_RETRIES", "IDSE_SYNC_BACKOFF", "IDSE_SYNC_TIMEOUT"):
        monkeypatch.delenv(name)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    return w


def set_sync(wss: Workspaces, yaml_body: str) -> None:
    config = wss.path("a") / ".idse/config.yaml"
    config.write_text(config.read_text() + "sync:\n" + yaml_body)


def shown(wss: Workspaces) -> dict[str, dict[str, object]]:
    result = wss.run("a", "sync", "config", "--json")
    assert result.exit_code == 0, result
    data: dict[str, dict[str, object]] = json.loads(result.stdout)
    return data


def test_defaults_and_nothing_configured(wss: Workspaces) -> None:
    data = shown(wss)
    assert data["settings"]["backend"] is None
    assert data["settings"]["project"] == "demo"
    assert data["settings"]["timeout"] == 30.0 and data["sources"]["timeout"] == "default"
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 2 and "no sync remote configured" in one_line_error(result)


def test_config_file_then_environment_override(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    set_sync(
        wss,
        "  backend: artifact-core\n  url: https://design.example.com/api\n  timeout: 12\n  project: shared\n",
    )
    data = shown(wss)
    assert data["settings"]["url"] == "https://design.example.com/api"
    assert data["settings"]["timeout"] == 12.0 and data["sources"]["timeout"] == "config"
    assert data["settings"]["project"] == "shared"
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "3.5")
    monkeypatch.setenv("IDSE_SYNC_URL", "https://other.example.com")
    monkeypatch.setenv("IDSE_SYNC_TOKEN", "tok-123456789")
    data = shown(wss)
    assert data["settings"]["timeout"] == 3.5 and data["sources"]["timeout"] == "env IDSE_SYNC_TIMEOUT"
    assert data["settings"]["url"] == "https://other.example.com"
    assert data["settings"]["token"] == "***" and data["sources"]["token"] == "env IDSE_SYNC_TOKEN"
    text = wss.run("a", "sync", "config")
    assert "tok-123456789" not in text.output and "***" in text.stdout


def test_backend_is_inferred(wss: Workspaces, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDSE_SYNC_URL", "https://x.example.com")
    assert shown(wss)["settings"]["backend"] == "artifact-core"
    monkeypatch.setenv("IDSE_SYNC_URL", str(tmp_path / "drive"))
    assert shown(wss)["settings"]["backend"] == "filesystem"
    monkeypatch.setenv("IDSE_SYNC_DSN", "postgresql://u@localhost/db")
    assert shown(wss)["settings"]["backend"] == "postgres"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  token: abc\n", "IDSE_SYNC_TOKEN"),
        ("  password: abc\n", "never read from files"),
        ("  dsn: postgresql://u:hunter2@db/x\n", "contains a password"),
        ("  dsn: host=db password=hunter2\n", "contains a password"),
        ("  url: https://u:hunter2@x.example.com\n", "contains a password"),
        ("  colour: blue\n", "colour"),
        ("  timeout: -1\n", "timeout"),
        ("  retries: many\n", "retries"),
        ("  backend: dropbox\n", "unknown sync backend 'dropbox'"),
        ("  project: ../up\n", "project"),
        ("  url: /a\n  path: /b\n", "alternatives"),
    ],
)
def test_bad_config_is_refused_naming_the_file(wss: Workspaces, body: str, expected: str) -> None:
    set_sync(wss, body)
    result = wss.run("a", "sync", "config")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert ".idse/config.yaml" in line and expected in line
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("IDSE_SYNC_TIMEOUT", "soon", "IDSE_SYNC_TIMEOUT"),
        ("IDSE_SYNC_RETRIES", "99", "IDSE_SYNC_RETRIES"),
        ("IDSE_SYNC_BACKEND", "firebase", "unknown sync backend"),
        ("IDSE_SYNC_PROJECT", "a/b", "IDSE_SYNC_PROJECT"),
    ],
)
def test_bad_environment_is_refused_naming_the_variable(
    wss: Workspaces, monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    result = wss.run("a", "sync", "config")
    assert result.exit_code == 2 and expected in one_line_error(result)


def test_filesystem_urls(wss: Workspaces, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDSE_SYNC_URL", "file://elsewhere.example.com/share")
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 2 and "only local paths" in one_line_error(result)
    monkeypatch.setenv("IDSE_SYNC_URL", "ftp://x/y")
    monkeypatch.setenv("IDSE_SYNC_BACKEND", "filesystem")
    assert wss.run("a", "sync", "status").exit_code == 2
    # Relative paths are relative to the workspace root, wherever the command runs.
    monkeypatch.setenv("IDSE_SYNC_URL", "../drive")
    (tmp_path / "drive").mkdir()
    assert wss.run("a", "sync", "push").exit_code == 0
    assert (tmp_path / "drive/projects/demo/sessions/__blueprint__/specs/spec.md").is_file()


def test_missing_psycopg_gives_the_install_hint(wss: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    monkeypatch.setenv("IDSE_SYNC_DSN", "postgresql://u@localhost/db")
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 2
    assert "pip install 'idse-orchestrator[postgres]'" in one_line_error(result)


def test_version_does_not_load_sync(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys; from idse_orchestrator.entry import main; main(['--version']); "
        "print(sorted(m for m in sys.modules if 'sync' in m or m in ('requests', 'psycopg')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip().endswith("[]")


def test_credentials_in_the_url_variable_are_never_shown(
    wss: Workspaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSE_SYNC_URL", "https://robot:UrlPw-7781@127.0.0.1:1/api?api_key=Key-5561")
    monkeypatch.setenv("IDSE_SYNC_RETRIES", "0")
    shown_text = wss.run("a", "sync", "config")
    assert "robot:***@127.0.0.1:1/api?api_key=***" in shown_text.stdout
    failed = wss.run("a", "sync", "status")
    assert failed.exit_code == 1 and "connection refused" in one_line_error(failed)
    for result in (shown_text, failed):
        assert "UrlPw-7781" not in result.output and "Key-5561" not in result.output

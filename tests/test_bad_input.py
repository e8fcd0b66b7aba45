"""Hostile and broken input to `idse validate`: a finding or a one-line error, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from idse_orchestrator.stages import BY_NAME, STAGE_NAMES

BLUEPRINT = "__blueprint__"
MARKER = "[REQUIRES INPUT]"
PROJECT_REL = ".idse/projects/demo"
SESSION_REL = f"{PROJECT_REL}/sessions/{BLUEPRINT}"


class Hang(BaseException):
    """Raised by the alarm; a BaseException so the CLI's catch-all cannot turn it into an exit code."""


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    """Every test here must finish within 20 seconds."""

    def expire(signum: int, frame: object) -> None:
        raise Hang("the command did not finish within 20 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def rel(stage: str) -> str:
    return f"{SESSION_REL}/{BY_NAME[stage].relpath}"


@pytest.fixture
def clean(ws):
    """Every marker answered: the session has no finding until a test breaks something."""
    for stage in STAGE_NAMES:
        path = ws.root / rel(stage)
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")
    return ws


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "internal error" not in result.stderr


def validate(cli, *args: str) -> tuple[int, list[dict]]:
    result = cli("validate", "--format", "json", *args)
    no_traceback(result)
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    return result.exit_code, json.loads(result.stdout)["findings"]


def only(findings: list[dict], rule: str) -> list[dict]:
    return [f for f in findings if f["rule"] == rule]


def assert_one_line_error(result, code: int = 2) -> str:
    no_traceback(result)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("idse: error: ")
    return lines[0]


def replace_text(clean, stage: str, text: str | bytes) -> Path:
    path = clean.root / rel(stage)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, "utf-8")
    return path


# ------------------------------------------------------------------------------------------ unreadable text


def test_invalid_utf8_is_a002_naming_the_line(clean, cli):
    path = clean.root / rel("feedback")
    good = path.read_bytes()
    lines = good.split(b"\n")
    lines[5] = lines[5] + b" caf\xe9 \xff"  # latin-1 bytes on line 6
    path.write_bytes(b"\n".join(lines))
    code, findings = validate(cli)
    assert code == 1
    assert [(f["rule"], f["severity"], f["path"]) for f in findings] == [
        ("IDSE-A002", "error", rel("feedback"))
    ]
    assert "not valid UTF-8" in findings[0]["message"]
    assert "line 6" in findings[0]["message"]
    path.write_bytes(good)
    assert validate(cli) == (0, [])


def test_binary_file_where_markdown_is_expected_is_a002(clean, cli):
    replace_text(clean, "feedback", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    code, findings = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]
    assert "binary" in findings[0]["message"]


def test_utf8_with_nul_byte_is_binary(clean, cli):
    path = clean.root / rel("feedback")
    replace_text(clean, "feedback", path.read_bytes() + b"\x00")
    assert [f["rule"] for f in validate(cli)[1]] == ["IDSE-A002"]


def test_huge_artifact_is_a002_larger_than_and_fast(clean, cli):
    path = clean.root / rel("feedback")
    with path.open("ab") as fh:
        line = b"Observation line with words and no marker at all, just padding text.\n"
        fh.write(line * (20 * 1024 * 1024 // len(line) + 1))
    assert path.stat().st_size > 20 * 1024 * 1024
    started = time.monotonic()
    code, findings = validate(cli)
    elapsed = time.monotonic() - started
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]
    assert "larger than" in findings[0]["message"]
    assert elapsed < 5, f"took {elapsed:.1f}s"
    started = time.monotonic()
    assert cli("validate").exit_code == 1  # and again, from the cache
    assert time.monotonic() - started < 5


def test_empty_document_lists_its_missing_sections(clean, cli):
    replace_text(clean, "tasks", "")
    code, findings = validate(cli)
    assert code == 1
    a003 = only(findings, "IDSE-A003")
    assert sorted(f["message"].split("'")[1] for f in a003) == [
        "## Definition of Done",
        "## Dependencies",
        "## Tasks",
    ]
    assert {f["path"] for f in a003} == {rel("tasks")}


def test_crlf_line_endings_keep_lines_and_columns(clean, cli):
    path = clean.root / rel("feedback")
    text = path.read_text("utf-8") + f"\nStill open: {MARKER}\n"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    code, findings = validate(cli)
    assert code == 0
    line = text.splitlines().index(f"Still open: {MARKER}") + 1
    assert [(f["rule"], f["line"], f["column"]) for f in findings] == [
        ("IDSE-A006", line, len("Still open: ") + 1)
    ]


# ------------------------------------------------------------------------------------ wrong kind of file


def test_directory_where_a_document_should_be_is_a002(clean, cli):
    path = clean.root / rel("feedback")
    path.unlink()
    path.mkdir()
    (path / "notes.md").write_text("# hi\n")
    code, findings = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]
    assert "directory" in findings[0]["message"]


@pytest.mark.parametrize(
    ("relpath", "rule"),
    [
        (f"{SESSION_REL}/metadata/session.json", "IDSE-M001"),
        (f"{PROJECT_REL}/agent_registry.json", "IDSE-R001"),
    ],
    ids=["metadata", "registry"],
)
def test_directory_where_a_json_file_should_be_is_reported_not_a_crash(clean, cli, relpath, rule):
    path = clean.root / relpath
    path.unlink()
    path.mkdir()
    result = cli("validate", "--format", "json")
    no_traceback(result)
    if result.exit_code == 2:
        line = assert_one_line_error(result)
        assert relpath in line
    else:
        findings = json.loads(result.stdout)["findings"]
        assert [(f["rule"], f["path"]) for f in only(findings, rule)] == [(rule, relpath)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file_is_a002_permission_denied(clean, cli):
    path = clean.root / rel("feedback")
    path.chmod(0)
    try:
        code, findings = validate(cli)
    finally:
        path.chmod(0o644)
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]
    assert "permission denied" in findings[0]["message"]


def test_symlink_loop_is_a002(clean, cli):
    path = clean.root / rel("feedback")
    path.unlink()
    path.symlink_to(path.name)
    code, findings = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]


def test_dangling_symlink_is_reported_on_its_path(clean, cli):
    path = clean.root / rel("feedback")
    path.unlink()
    path.symlink_to("gone.md")
    code, findings = validate(cli)
    assert code == 1
    assert [f["path"] for f in findings] == [rel("feedback")]
    assert findings[0]["rule"] in ("IDSE-A001", "IDSE-A002")


def test_named_pipe_where_a_document_should_be_is_a002_not_a_hang(clean, tmp_path):
    """Reading a FIFO blocks until a writer appears: run in a child process so a hang is a failure."""
    path = clean.root / rel("feedback")
    path.unlink()
    os.mkfifo(path)
    env = {k: v for k, v in os.environ.items() if k not in ("IDSE_PROJECT", "IDSE_DEBUG")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "idse_orchestrator", "validate", "--format", "json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("idse validate hung on a named pipe")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-A002", rel("feedback"))]


# ------------------------------------------------------------------------------------------ JSON files


def test_invalid_json_metadata_is_m001(clean, cli):
    meta = clean.root / f"{SESSION_REL}/metadata/session.json"
    meta.write_text('{"id": "__blueprint__", ', "utf-8")
    code, findings = validate(cli)
    assert code == 1
    m001 = only(findings, "IDSE-M001")
    assert [(f["path"], f["severity"]) for f in m001] == [(f"{SESSION_REL}/metadata/session.json", "error")]
    assert "invalid JSON" in m001[0]["message"]


@pytest.mark.parametrize(
    "content",
    ['{"agents": [', '["claude"]', '{"agents": "everyone"}', b"\xff\xfe{}"],
    ids=["truncated", "list", "wrong-type", "not-utf8"],
)
def test_broken_registry_is_r001(clean, cli, content):
    path = clean.root / f"{PROJECT_REL}/agent_registry.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    code, findings = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"]) for f in only(findings, "IDSE-R001")] == [
        ("IDSE-R001", f"{PROJECT_REL}/agent_registry.json")
    ]


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "content",
    [
        "rules:\n  IDSE-NOPE: error\n",
        "rules:\n  IDSE-A006: catastrophic\n",
        "rules: {IDSE-A006: {severity: error\n",
        b"rules:\n  IDSE-A006: \xff\n",
        "just a string\n",
    ],
    ids=["unknown-rule", "bad-severity", "broken-yaml", "not-utf8", "not-a-mapping"],
)
def test_malformed_config_is_one_line_error_naming_it(clean, cli, content):
    path = clean.root / ".idse/config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    result = cli("validate")
    line = assert_one_line_error(result)
    assert ".idse/config.yaml" in line
    assert result.stdout == ""


# ------------------------------------------------------------------------------------------ YAML in the spec


def spec_with_profile(clean, block: str) -> str:
    path = clean.root / rel("spec")
    text = path.read_text("utf-8")
    start = text.index("```yaml\n") + len("```yaml\n")
    end = text.index("```", start)
    new = text[:start] + block + text[end:]
    path.write_text(new, "utf-8")
    return new


def alias_bomb(levels: int, width: int) -> str:
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = ["a: &a [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_s001_about_aliases_and_fast(clean, cli):
    spec_with_profile(clean, alias_bomb(levels=10, width=15))  # 135 aliases, 15**10 values if expanded
    started = time.monotonic()
    code, findings = validate(cli)
    assert time.monotonic() - started < 5
    assert code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("IDSE-S001", rel("spec"))]
    assert "aliases" in findings[0]["message"]


def test_classic_billion_laughs_is_s001(clean, cli):
    """The textbook bomb: only 72 aliases, but 9**9 values once expanded."""
    spec_with_profile(clean, alias_bomb(levels=9, width=9))
    started = time.monotonic()
    code, findings = validate(cli)
    assert time.monotonic() - started < 5
    assert [f["rule"] for f in findings] == ["IDSE-S001"]
    assert "aliases" in findings[0]["message"]


def test_oversized_yaml_block_is_s001(clean, cli):
    block = 'id: "x"\nnotes:\n' + "".join(f'  - "{i:07d} {"padding " * 8}"\n' for i in range(6000))
    assert len(block) > 256 * 1024
    spec_with_profile(clean, block)
    code, findings = validate(cli)
    assert code == 1
    assert [f["rule"] for f in findings] == ["IDSE-S001"]
    assert "larger than" in findings[0]["message"]


def test_deeply_nested_yaml_is_s001_not_a_crash(clean, cli):
    spec_with_profile(clean, "x: " + "[" * 50000 + "]" * 50000 + "\n")
    started = time.monotonic()
    code, findings = validate(cli)
    assert time.monotonic() - started < 5
    assert code == 1
    assert [f["rule"] for f in findings] == ["IDSE-S001"]


def test_yaml_tags_are_not_executed(clean, cli):
    text = spec_with_profile(
        clean, 'id: "x"\nrun: !!python/object/apply:os.system ["echo pwned > pwned.txt"]\n'
    )
    code, findings = validate(cli)
    assert not (clean.root / "pwned.txt").exists()
    assert [(f["rule"], f["line"]) for f in findings] == [
        (
            "IDSE-S001",
            text.splitlines().index('run: !!python/object/apply:os.system ["echo pwned > pwned.txt"]') + 1,
        )
    ]


@pytest.mark.parametrize(
    ("rel", "rule"),
    [
        (".idse/projects/demo/sessions/__blueprint__/metadata/session.json", "IDSE-M001"),
        (".idse/projects/demo/agent_registry.json", "IDSE-R001"),
    ],
    ids=["session-json", "agent-registry"],
)
def test_directory_where_a_json_file_should_be_is_a_finding(ws, cli, tmp_path, rel, rule):
    path = tmp_path / rel
    path.unlink()
    path.mkdir()
    result = cli("validate", "--format", "json")
    assert result.exit_code == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert any(f["rule"] == rule and f["path"] == rel and "directory" in f["message"] for f in findings)

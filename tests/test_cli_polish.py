"""Command-line polish: --json everywhere, grouped help, command suggestions, tables, colour, hints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from helpers import assert_one_line_error, run_idse

from idse_orchestrator.cli import COMMANDS, HELP_GROUPS, HELP_WIDTH

BLUEPRINT = "__blueprint__"
ESC = "\x1b["
LONG_ID = "s" * 30 + "-" + "x" * 33  # 64 characters, the longest id allowed


# ------------------------------------------------------------------------------------------- --json


READ_COMMANDS = [
    ("status",),
    ("sessions",),
    ("session-info", BLUEPRINT),
    ("route", "spec"),
    ("agents",),
    ("rules",),
    ("rules", "show", "IDSE-T001"),
    ("validate",),
    ("validate", "--all"),
    ("graph",),
    ("sync", "config"),
    ("build", "--dry-run"),
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_every_read_command_accepts_json(ws, cli, args):
    result = cli(*args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    assert isinstance(json.loads(result.stdout), dict | list)
    assert ESC not in result.stdout


def test_sync_status_accepts_json(ws, cli, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("IDSE_SYNC_")]:
        monkeypatch.delenv(name)
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("IDSE_SYNC_URL", f"file://{shared}")
    assert cli("sync", "init").exit_code == 0
    result = cli("sync", "status", "--json")
    assert result.exit_code in (0, 1), result.stderr
    assert {"remote", "artifacts"} <= set(json.loads(result.stdout))


def test_validate_json_is_format_json(ws, cli):
    alias = cli("validate", "--all", "--json")
    long = cli("validate", "--all", "--format", "json")
    assert (alias.exit_code, alias.stdout) == (long.exit_code, long.stdout)
    assert json.loads(alias.stdout)["findings"]
    assert cli("validate", "--json", "--format", "json").stdout == long.stdout


def test_graph_json_is_format_json(ws, cli):
    alias = cli("graph", "--json")
    assert alias.exit_code == 0, alias.stderr
    assert alias.stdout == cli("graph", "--format", "json").stdout
    assert "nodes" in json.loads(alias.stdout)


@pytest.mark.parametrize(("command", "fmt"), [("validate", "sarif"), ("validate", "text"), ("graph", "dot")])
def test_json_with_another_format_is_a_usage_error(ws, cli, command, fmt):
    result = cli(command, "--json", "--format", fmt)
    line = assert_one_line_error(result)
    assert "--json" in line and fmt in line
    assert result.stdout == ""


# -------------------------------------------------------------------------------------------- help


def help_rows() -> list[tuple[str, str, str]]:
    return [(title, name, summary) for title, rows, _ in HELP_GROUPS for name, summary in rows]


def test_help_groups_cover_every_command_once():
    names = [name for _, name, _ in help_rows()]
    assert sorted(names) == sorted(COMMANDS)
    assert len(names) == len(set(names))
    assert all(example.startswith("idse ") for _, _, example in HELP_GROUPS)


def test_help_lists_commands_by_workflow_with_full_summaries(cli):
    result = cli("--help")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    titles = [title for title, _, _ in HELP_GROUPS]
    assert titles[:5] == ["Workspace and sessions", "Documents and governance", "Build", "Agents", "Sync"]
    positions = [out.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)
    width = max(len(name) for name in COMMANDS)
    for title, name, summary in help_rows():
        line = f"  {name:<{width}}  {summary}"
        assert f"\n{line}\n" in out, line
        # Listed in its own group: after its title, before the next one.
        at = out.index(f"\n{line}\n")
        mine = titles.index(title)
        assert positions[mine] < at < (positions[mine + 1] if mine + 1 < len(titles) else len(out))
    for _, _, example in HELP_GROUPS:
        assert f"  Example: {example}\n" in out
    assert "…" not in out and "..." not in out.split("Options:")[1]
    assert max(len(line) for line in out.splitlines()) <= HELP_WIDTH
    assert "3 internal error" in out


def test_help_is_the_same_on_any_terminal(cli, monkeypatch):
    outputs = set()
    for columns in ("40", "80", "250"):
        monkeypatch.setenv("COLUMNS", columns)
        outputs.add(cli("--help").stdout)
    assert len(outputs) == 1


def test_help_imports_no_command_module(tmp_path):
    code = (
        "import sys\n"
        "from idse_orchestrator.entry import main\n"
        "rc = main(['--help'])\n"
        "loaded = sorted(m for m in sys.modules if m.endswith('_cmds'))\n"
        "print('LOADED', loaded, rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "LOADED [] 0"


# ------------------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize(
    ("args", "suggested"),
    [
        (("stauts",), "'status'"),
        (("valdate",), "'validate'"),
        (("sesions",), "'sessions'"),
        (("generate",), "'generate-agent-files'"),
        (("session", "crate", "x"), "'create'"),
        (("sync", "pussh"), "'push'"),
        (("rules", "shwo", "IDSE-T001"), "'show'"),
    ],
)
def test_a_mistyped_command_suggests_the_nearest(cli, args, suggested):
    line = assert_one_line_error(cli(*args))
    assert f"no such command {args[-1] if len(args) == 1 else args[1]!r}" in line
    assert "did you mean " in line and suggested in line


def test_a_mistyped_command_in_a_subprocess(tmp_path):
    proc = run_idse("stauts", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "idse: error: no such command 'stauts'; did you mean 'status'? (see 'idse --help')"
    ]
    assert proc.stdout == ""


def test_an_unknown_command_without_a_near_one_suggests_nothing(cli):
    line = assert_one_line_error(cli("xyzzy"))
    assert "no such command 'xyzzy'" in line and "did you mean" not in line


# ---------------------------------------------------------------------------------- sessions tables


def test_sessions_table_fits_a_64_character_id(ws, cli):
    assert len(LONG_ID) == 64
    assert cli("spawn", LONG_ID).exit_code == 0
    assert cli("spawn", "short").exit_code == 0
    lines = cli("sessions").stdout.splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split() == ["SESSION", "TYPE", "STATUS", "PARENT"]
    assert len(rows) == 3
    columns = [header.index(word) for word in ("SESSION", "TYPE", "STATUS", "PARENT")]
    for row in rows:
        cells = row[2:].split()
        assert [row.index(cell, start) for cell, start in zip(cells, columns, strict=True)] == columns, row
        assert row[columns[1] - 2 : columns[1]] == "  "  # never glued to the id
    assert any(LONG_ID in row for row in rows)
    assert [row[0] for row in rows if "short" in row] == ["*"]  # the current session


def test_session_info_prints_no_python_words(ws, cli):
    assert cli("spawn", "feat").exit_code == 0
    out = cli("session-info", "feat").stdout
    assert not re.search(r"\b(True|False|None)\b", out), out
    assert re.search(r"^current\s+yes$", out, re.M)
    assert re.search(r"^children\s+-$", out, re.M)
    other = cli("session-info", BLUEPRINT).stdout
    assert re.search(r"^current\s+no$", other, re.M)
    assert re.search(r"^parent\s+-$", other, re.M)
    assert re.search(r"^children\s+feat$", other, re.M)


def test_rules_show_prints_params_as_json_words(cli):
    out = cli("rules", "show", "IDSE-T001").stdout
    line = next(line for line in out.splitlines() if line.strip().startswith("checks"))
    assert "{'" not in line and "True" not in line and "None" not in line
    assert '"section": "Tasks"' in line


# -------------------------------------------------------------------------------------------- colour


def test_piped_output_has_no_escape_codes(ws, tmp_path):
    for args in (("status",), ("validate", "--all"), ("rules",), ("sessions",)):
        proc = run_idse(*args, cwd=tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
        assert ESC not in proc.stdout and ESC not in proc.stderr, args


def test_forced_colour_styles_statuses_and_severities(ws, cli):
    status = cli("--color", "always", "status").stdout
    assert f"{ESC}2mpending" in status  # pending: dim
    assert f"{ESC}32mpassing{ESC}0m" in status or f"{ESC}2munknown{ESC}0m" in status
    found = cli("--color", "always", "validate").stdout
    assert f"{ESC}2minfo{ESC}0m IDSE-A005" in found
    rules = cli("--color", "always", "rules").stdout
    assert f"{ESC}31m{ESC}1merror" in rules and f"{ESC}33mwarning" in rules


def test_forced_colour_on_a_broken_session_colours_errors(ws, cli):
    tasks = ws.root / f".idse/projects/demo/sessions/{BLUEPRINT}/tasks/tasks.md"
    tasks.write_text("# Tasks\n\n## Tasks\n\n- not a checkbox\n", "utf-8")
    out = cli("--color", "always", "validate").stdout
    assert f"{ESC}31m{ESC}1merror{ESC}0m IDSE-T001" in out


def test_a_terminal_gets_colour_unless_no_color(ws, cli, monkeypatch):
    from idse_orchestrator import textout

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(textout, "_isatty", lambda stream: True)
    assert ESC in cli("status").stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC not in cli("status").stdout
    monkeypatch.delenv("NO_COLOR")
    assert ESC not in cli("--color", "never", "status").stdout
    monkeypatch.setenv("TERM", "dumb")
    assert ESC not in cli("status").stdout


def test_machine_output_is_never_coloured(ws, cli, tmp_path):
    for args in (("status", "--json"), ("validate", "--format", "sarif"), ("validate", "--format", "github")):
        assert ESC not in cli("--color", "always", *args).stdout, args
    assert cli("--color", "always", "validate", "-o", "report.txt").exit_code == 0
    text = (tmp_path / "report.txt").read_text("utf-8")
    assert "info IDSE-A005" in text and ESC not in text


# ------------------------------------------------------------------------------------- fix hints


def touched_with_markers(ws) -> None:
    """Documents edited but with markers left: several IDSE-A006 findings sharing one hint."""
    session = ws.root / f".idse/projects/demo/sessions/{BLUEPRINT}"
    for rel in ("intents/intent.md", "contexts/context.md"):
        path = session / rel
        path.write_text(path.read_text("utf-8") + "\nEdited.\n", "utf-8")


def test_each_rule_hint_is_printed_once(ws, cli):
    touched_with_markers(ws)
    text = cli("validate").stdout.splitlines()
    findings = json.loads(cli("validate", "--json").stdout)["findings"]
    rules = {f["rule"] for f in findings if f["hint"]}
    assert len(findings) > len(rules), "the fixture must repeat a rule"
    hint_lines = [n for n, line in enumerate(text) if line.startswith("    fix: ")]
    assert len(hint_lines) == len(rules)
    for rule in rules:
        first = next(n for n, line in enumerate(text) if f" {rule} " in line and not line.startswith(" "))
        assert first + 1 in hint_lines, rule
        hints = {f["hint"] for f in findings if f["rule"] == rule}
        shown = " ".join(line.strip() for line in text[first + 1 :] if line.startswith("    "))
        if len(hints) == 1:
            assert shown.startswith("fix: " + " ".join(next(iter(hints)).split())), rule
        else:
            assert "<" in shown, rule  # the rule's fix with its fields named
    assert all(len(line) <= 100 for line in text if line.startswith(" "))


def test_machine_formats_keep_every_hint(ws, cli):
    touched_with_markers(ws)
    findings = json.loads(cli("validate", "--format", "json").stdout)["findings"]
    assert findings and all(f["hint"] for f in findings)
    sarif = json.loads(cli("validate", "--format", "sarif").stdout)
    messages = [r["message"]["text"] for r in sarif["runs"][0]["results"]]
    assert len(messages) == len(findings)
    assert all(". Fix: " in m for m in messages)
    github = cli("validate", "--format", "github").stdout.splitlines()[:-1]
    assert len(github) == len(findings) and all("Fix: " in line for line in github)

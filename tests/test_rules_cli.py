"""`idse rules`, `idse rules show`, the rule-set version everywhere, and overrides in .idse/config.yaml."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from helpers import assert_one_line_error

from idse_orchestrator.governance.ruleset import RULESET_PATH

MARKER = "[REQUIRES INPUT]"
BLUEPRINT = "__blueprint__"
FEEDBACK = f".idse/projects/demo/sessions/{BLUEPRINT}/feedback/feedback.md"
SHIPPED = yaml.safe_load(RULESET_PATH.read_text("utf-8"))
VERSION = SHIPPED["version"]
RULE_IDS = [r["id"] for r in SHIPPED["rules"]]


def write_config(ws, text: str) -> None:
    (ws.root / ".idse" / "config.yaml").write_text(text, "utf-8")


@pytest.fixture
def one_warning(ws):
    """Every document answered except one marker left in feedback: exactly one IDSE-A006 warning."""
    for path in (ws.root / ".idse/projects/demo/sessions").rglob("*.md"):
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")
    fb = ws.root / FEEDBACK
    fb.write_text(fb.read_text("utf-8") + f"\nStill open: {MARKER}\n", "utf-8")
    return ws


def validate_json(cli, *args: str) -> tuple[int, dict]:
    result = cli("validate", "--format", "json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


# ------------------------------------------------------------------------------------------ listing


def test_rules_lists_every_rule_outside_a_workspace(cli):
    result = cli("rules")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"rule set {VERSION}"
    listed = [line.split()[0] for line in lines[1:]]
    assert listed == RULE_IDS
    by_id = {line.split()[0]: line for line in lines[1:]}
    for rule in SHIPPED["rules"]:
        row = by_id[rule["id"]]
        assert re.match(rf"^{rule['id']}\s+{rule['severity']}\s+Art\. {rule['article']}\s+", row), row
        assert row.endswith(rule["title"])


def test_rules_json_has_version_and_every_rule(ws, cli):
    result = cli("rules", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["rule_set_version"] == VERSION
    assert data["overrides"] == []
    assert [r["id"] for r in data["rules"]] == RULE_IDS
    for got, shipped in zip(data["rules"], SHIPPED["rules"], strict=True):
        assert got["article"] == shipped["article"]
        assert got["severity"] == shipped["severity"]
        assert got["check"] == shipped["check"]
        assert got["enabled"] is True
        assert re.fullmatch(r"IDSE-[A-Z]\d{3}", got["id"])


def test_every_rule_cites_an_article_of_the_constitution():
    articles = SHIPPED["articles"]
    assert {r["article"] for r in SHIPPED["rules"]} <= set(articles)
    assert all(a["title"] and a["summary"] for a in articles.values())


@pytest.mark.parametrize("rule_id", ["IDSE-T001", "idse-t001"])
def test_rules_show_explains_article_check_and_fix(cli, rule_id):
    result = cli("rules", "show", rule_id)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "IDSE-T001: Tasks are checkboxes"
    assert re.search(r"^\s+article\s+VIII \(Atomic tasking\): ", out, re.M)
    assert re.search(r"^\s+severity\s+error$", out, re.M)
    assert re.search(r"^\s+applies\s+tasks$", out, re.M)
    assert re.search(r"^\s+checks\s+checkbox_items\b", out, re.M)
    assert re.search(r"^\s+fix\s+Write each task as '- \[ \] \.\.\.'", out, re.M)


def test_rules_show_json(cli):
    result = cli("rules", "show", "IDSE-P001", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["id"], data["article"], data["article_title"], data["scope"]) == (
        "IDSE-P001",
        "VII",
        "Plan before build",
        "session",
    )
    assert data["check"] == "stage_order" and data["fix"]


@pytest.mark.parametrize("rule_id", ["IDSE-X999", "T001", "nonsense"])
def test_rules_show_unknown_id_is_one_line_exit_2(cli, rule_id):
    result = cli("rules", "show", rule_id)
    line = assert_one_line_error(result)
    assert rule_id in line
    assert result.stdout == ""


# ------------------------------------------------------------------------------------------ version


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_the_rule_set(cli, flag):
    result = cli(flag)
    assert result.exit_code == 0
    assert re.fullmatch(rf"idse \S+ \(rule set {re.escape(VERSION)}\)\n", result.stdout)


def test_fast_entry_point_version_matches(capsys):
    from idse_orchestrator import __version__
    from idse_orchestrator.entry import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"idse {__version__} (rule set {VERSION})\n"


def test_validate_reports_the_rule_set_version_in_every_format(ws, cli):
    text = cli("validate")
    assert text.stdout.strip().splitlines()[-1].endswith(f"(rule set {VERSION})")
    assert json.loads(cli("validate", "--format", "json").stdout)["rule_set_version"] == VERSION
    sarif = json.loads(cli("validate", "--format", "sarif").stdout)
    assert sarif["runs"][0]["tool"]["driver"]["properties"]["ruleSetVersion"] == VERSION
    assert (
        cli("validate", "--format", "github")
        .stdout.strip()
        .splitlines()[-1]
        .endswith(f"(rule set {VERSION})")
    )


# ------------------------------------------------------------------------------------------ overrides


def test_without_overrides_the_marker_is_a_warning(one_warning, cli):
    code, data = validate_json(cli)
    assert code == 0
    assert [(f["rule"], f["severity"], f["path"]) for f in data["findings"]] == [
        ("IDSE-A006", "warning", FEEDBACK)
    ]
    assert data["overrides"] == []
    assert "override applied" not in cli("validate").stdout


@pytest.mark.parametrize(
    "config",
    ["rules:\n  IDSE-A006: error\n", "rules:\n  IDSE-A006: {severity: error}\n"],
    ids=["shorthand", "mapping"],
)
def test_override_raises_severity(one_warning, cli, config):
    write_config(one_warning, config)
    code, data = validate_json(cli)
    assert code == 1
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("IDSE-A006", "error")]
    assert data["summary"]["errors"] == 1
    assert data["overrides"] == ["IDSE-A006 severity warning -> error"]
    text = cli("validate")
    assert text.exit_code == 1
    assert "override applied: IDSE-A006 severity warning -> error" in text.stdout.splitlines()
    assert re.search(r": error IDSE-A006 ", text.stdout)


def test_override_lowers_severity_to_info(one_warning, cli):
    write_config(one_warning, "rules:\n  IDSE-A006: {severity: info}\n")
    code, data = validate_json(cli, "--strict")
    assert code == 0  # an info never fails, even with --strict
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("IDSE-A006", "info")]
    assert data["overrides"] == ["IDSE-A006 severity warning -> info"]
    assert cli("validate", "--strict").exit_code == 0


@pytest.mark.parametrize("value", ["off", "disabled", "false", "{enabled: false}"])
def test_override_disables_a_rule(one_warning, cli, value):
    write_config(one_warning, f"rules:\n  IDSE-A006: {value}\n")
    code, data = validate_json(cli, "--strict")
    assert (code, data["findings"]) == (0, [])
    assert data["overrides"] == ["IDSE-A006 disabled"]
    assert "override applied: IDSE-A006 disabled" in cli("validate").stdout


def test_rules_listing_reflects_overrides(ws, cli):
    write_config(ws, "rules:\n  IDSE-A006: error\n  IDSE-F001: off\n")
    out = cli("rules").stdout
    assert re.search(r"^IDSE-A006\s+error\s", out, re.M)
    assert re.search(r"^IDSE-F001\s+off\s", out, re.M)
    assert "override applied: IDSE-A006 severity warning -> error" in out
    assert "override applied: IDSE-F001 disabled" in out
    data = json.loads(cli("rules", "--json").stdout)
    rules = {r["id"]: r for r in data["rules"]}
    assert (rules["IDSE-A006"]["severity"], rules["IDSE-F001"]["enabled"]) == ("error", False)
    assert sorted(data["overrides"]) == ["IDSE-A006 severity warning -> error", "IDSE-F001 disabled"]
    show = cli("rules", "show", "IDSE-F001").stdout
    assert "disabled in .idse/config.yaml" in show


def test_override_equal_to_the_shipped_severity_is_not_reported(one_warning, cli):
    write_config(one_warning, "rules:\n  IDSE-A006: warning\n")
    code, data = validate_json(cli)
    assert data["overrides"] == []
    assert [f["severity"] for f in data["findings"]] == ["warning"]


@pytest.mark.parametrize(
    ("config", "detail"),
    [
        ("rules:\n  IDSE-Z999: error\n", "IDSE-Z999"),
        ("rules:\n  IDSE-A006: loud\n", "severity"),
        ("rules:\n  IDSE-A006: {severity: fatal}\n", "severity"),
        ("rules:\n  IDSE-A006: {severity: error, colour: red}\n", "colour"),
        ("rules:\n  IDSE-A006: 3\n", "IDSE-A006"),
        ("rules: [IDSE-A006]\n", "rules"),
        ("rules: {IDSE-A006: [\n", "YAML"),
    ],
    ids=["unknown-id", "bad-severity", "bad-severity-mapping", "extra-key", "number", "list", "yaml"],
)
@pytest.mark.parametrize("command", [("validate",), ("rules",), ("rules", "show", "IDSE-A006"), ("build",)])
def test_malformed_override_is_one_line_error_naming_config(ws, cli, config, detail, command):
    write_config(ws, config)
    result = cli(*command)
    line = assert_one_line_error(result)
    assert ".idse/config.yaml" in line
    assert detail in line
    assert result.stdout == ""

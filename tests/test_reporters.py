"""Report formats of `idse validate`: text, JSON, SARIF 2.1.0 and GitHub annotations."""

from __future__ import annotations

import json
import re

import pytest

from idse_orchestrator.governance.engine import Finding
from idse_orchestrator.governance.report import render_github, render_json, render_sarif, render_text
from idse_orchestrator.governance.ruleset import load_ruleset

MARKER = "[REQUIRES INPUT]"
BLUEPRINT = "__blueprint__"
SESSION_REL = f".idse/projects/demo/sessions/{BLUEPRINT}"
VERSION = load_ruleset().version

FINDING_LINE = re.compile(
    r"^(?P<path>[^\s:]+)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: "
    r"(?P<severity>error|warning|info) (?P<rule>IDSE-[A-Z]\d{3}) (?P<message>\S.*)$"
)
SUMMARY_LINE = re.compile(
    r"^(?P<errors>\d+) error\(s\), (?P<warnings>\d+) warning\(s\), (?P<infos>\d+) info "
    r"in (?P<sessions>\d+) sessions? \(rule set (?P<version>[^)]+)\)$"
)


@pytest.fixture
def mixed(ws):
    """A session with errors and warnings, with and without line and column."""
    for path in (ws.root / ".idse/projects/demo/sessions").rglob("*.md"):
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")
    tasks = ws.root / SESSION_REL / "tasks/tasks.md"
    tasks.write_text(tasks.read_text("utf-8").replace("- [ ] Answered.", "- Answered."), "utf-8")  # T001
    fb = ws.root / SESSION_REL / "feedback/feedback.md"
    fb.write_text(fb.read_text("utf-8") + f"\nOpen: {MARKER}\n", "utf-8")  # A006 with a column
    meta = ws.root / SESSION_REL / "metadata/session.json"
    meta.write_text(meta.read_text("utf-8").replace('"draft"', '"bogus"'), "utf-8")  # M001, no line
    registry = ws.root / ".idse/projects/demo/agent_registry.json"
    data = json.loads(registry.read_text("utf-8"))
    data["agents"][2]["stages"] = []
    registry.write_text(json.dumps(data), "utf-8")  # R003 warning, project-wide
    return ws


def run(cli, fmt: str, *args: str):
    result = cli("validate", "--format", fmt, *args)
    assert "Traceback" not in result.stderr
    return result


def json_findings(cli) -> list[dict]:
    return json.loads(run(cli, "json").stdout)["findings"]


# ------------------------------------------------------------------------------------------ text


def test_text_lines_are_path_line_col_severity_rule_message(mixed, cli):
    result = run(cli, "text")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    # Indented lines continue the finding above them (its fix hint, shown once per rule).
    parsed = [FINDING_LINE.match(line) for line in lines[:-1] if not line.startswith(" ")]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=False) if not m]
    summary = SUMMARY_LINE.match(lines[-1])
    assert summary, lines[-1]
    got = sorted(
        (
            m["path"],
            int(m["line"]) if m["line"] else None,
            int(m["col"]) if m["col"] else None,
            m["severity"],
            m["rule"],
        )
        for m in parsed
    )
    expected = sorted(
        (f["path"], f["line"], f["column"], f["severity"], f["rule"]) for f in json_findings(cli)
    )
    assert got == expected
    assert {(g[3], g[4]) for g in got} == {
        ("error", "IDSE-T001"),
        ("warning", "IDSE-A006"),
        ("error", "IDSE-M001"),
        ("warning", "IDSE-R003"),
    }
    assert (summary["errors"], summary["warnings"], summary["infos"], summary["sessions"]) == (
        "2",
        "2",
        "0",
        "1",
    )
    assert summary["version"] == VERSION
    # Exactly one location form per kind: line:col for columns, bare path for file-level findings.
    assert any(m["col"] for m in parsed) and any(m["line"] is None for m in parsed)


def test_text_findings_are_sorted_by_path_and_line(mixed, cli):
    lines = [line for line in run(cli, "text").stdout.strip().splitlines()[:-1] if not line.startswith(" ")]
    keys = [(m["path"], int(m["line"] or 0)) for m in map(FINDING_LINE.match, lines)]
    assert keys == sorted(keys)


def test_text_includes_the_fix(mixed, cli):
    out = run(cli, "text").stdout.splitlines()
    t001 = next(n for n, line in enumerate(out) if " IDSE-T001 " in line)
    assert out[t001 + 1].startswith("    fix: Write each task as '- [ ] ...'")


def test_text_for_a_clean_session_is_only_the_summary(ws, cli):
    for path in (ws.root / ".idse/projects/demo/sessions").rglob("*.md"):
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")
    result = run(cli, "text")
    assert result.exit_code == 0
    assert result.stdout == f"0 error(s), 0 warning(s), 0 info in 1 session (rule set {VERSION})\n"


# ------------------------------------------------------------------------------------------ json


def test_json_has_exactly_the_documented_keys(mixed, cli):
    result = run(cli, "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"rule_set_version", "findings", "summary", "overrides"}
    assert data["rule_set_version"] == VERSION
    assert set(data["summary"]) == {"errors", "warnings", "infos", "sessions"}
    assert data["summary"] == {"errors": 2, "warnings": 2, "infos": 0, "sessions": 1}
    assert data["overrides"] == []
    for f in data["findings"]:
        assert {"rule", "severity", "path", "line", "message"} <= set(f)
        assert re.fullmatch(r"IDSE-[A-Z]\d{3}", f["rule"])
        assert f["severity"] in ("error", "warning", "info")
        assert f["path"].startswith(".idse/projects/demo/")
        assert f["line"] is None or (isinstance(f["line"], int) and f["line"] >= 1)
        assert isinstance(f["message"], str) and f["message"]


def test_json_is_the_only_thing_on_stdout(ws, cli):
    result = run(cli, "json")
    assert result.exit_code == 0
    json.loads(result.stdout)  # no banner, no summary line
    assert result.stderr == ""


# ------------------------------------------------------------------------------------------ sarif

SARIF_SUBSET_SCHEMA = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["id"]},
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"type": "object", "required": ["text"]},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "properties": {"uri": {"type": "string"}},
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1},
                                                            "startColumn": {"type": "integer", "minimum": 1},
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_is_version_2_1_0_with_rules_and_results(mixed, cli):
    result = run(cli, "sarif")
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(sarif, SARIF_SUBSET_SCHEMA)

    assert sarif["version"] == "2.1.0"
    assert "sarif" in sarif["$schema"] and "2.1.0" in sarif["$schema"]
    assert len(sarif["runs"]) == 1
    run0 = sarif["runs"][0]
    driver = run0["tool"]["driver"]
    assert driver["name"] == "idse"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == [r.id for r in load_ruleset().rules]
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["help"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")

    expected = {
        (f["rule"], f["path"], f["line"] or 1, f["column"]): f["severity"] for f in json_findings(cli)
    }
    got = {}
    for res in run0["results"]:
        assert res["ruleId"] in rule_ids
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["message"]["text"]
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "://" not in uri and "\\" not in uri
        region = phys["region"]
        assert isinstance(region["startLine"], int) and region["startLine"] >= 1
        got[(res["ruleId"], uri, region["startLine"], region.get("startColumn"))] = res["level"]
    assert got == expected  # severity names coincide for errors and warnings


def test_sarif_maps_info_to_note(ws, cli):
    sarif = json.loads(run(cli, "sarif").stdout)
    results = sarif["runs"][0]["results"]
    assert len(results) == 7
    assert {r["level"] for r in results} == {"note"}
    assert {r["ruleId"] for r in results} == {"IDSE-A005"}


def test_sarif_with_no_findings_has_empty_results(ws, cli):
    for path in (ws.root / ".idse/projects/demo/sessions").rglob("*.md"):
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")
    result = run(cli, "sarif")
    assert result.exit_code == 0
    sarif = json.loads(result.stdout)
    assert sarif["runs"][0]["results"] == []
    assert len(sarif["runs"][0]["tool"]["driver"]["rules"]) == len(load_ruleset().rules)


# ------------------------------------------------------------------------------------------ github

GITHUB_LINE = re.compile(r"^::(?P<level>error|warning|notice) (?P<props>[^:]*)::(?P<message>.+)$")


def test_github_annotations(mixed, cli):
    result = run(cli, "github")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    annotations = [GITHUB_LINE.match(line) for line in lines[:-1]]
    assert all(annotations), lines
    assert re.fullmatch(r"2 error\(s\), 2 warning\(s\), 0 info \(rule set [^)]+\)", lines[-1])
    by_rule = {}
    for m in annotations:
        props = dict(p.split("=", 1) for p in m["props"].split(","))
        by_rule[props["title"]] = (m["level"], props)
    assert set(by_rule) == {"IDSE-T001", "IDSE-A006", "IDSE-M001", "IDSE-R003"}
    tasks = {f["rule"]: f for f in json_findings(cli)}
    level, props = by_rule["IDSE-T001"]
    assert level == "error"
    assert props["file"] == f"{SESSION_REL}/tasks/tasks.md"
    assert props["line"] == str(tasks["IDSE-T001"]["line"])
    assert f"::error file={SESSION_REL}/tasks/tasks.md,line={tasks['IDSE-T001']['line']}," in result.stdout
    level, props = by_rule["IDSE-A006"]
    assert (level, props["col"]) == ("warning", str(tasks["IDSE-A006"]["column"]))
    level, props = by_rule["IDSE-M001"]
    assert level == "error" and "line" not in props
    assert by_rule["IDSE-R003"][0] == "warning"


def test_github_info_is_a_notice(ws, cli):
    lines = run(cli, "github").stdout.strip().splitlines()
    assert len(lines) == 8
    assert all(line.startswith("::notice file=") for line in lines[:-1])


def test_unknown_format_is_a_usage_error(ws, cli):
    result = cli("validate", "--format", "xml")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "xml" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------------------------------ pure renderers


def sample() -> list[Finding]:
    return [
        Finding("IDSE-A006", "warning", "docs/a b.md", 3, "placeholder left", 7, "replace it", "s"),
        Finding("IDSE-M001", "error", "meta/session.json", None, "bad: status\nsecond line", None, "", "s"),
        Finding("IDSE-A005", "info", "x.md", 1, "untouched 100%", None, "fill it", "s"),
    ]


def test_render_text_locations_and_hints():
    out = render_text(sample(), load_ruleset(), 2).splitlines()
    assert out[0] == "docs/a b.md:3:7: warning IDSE-A006 placeholder left"
    assert out[1] == "    fix: replace it"
    assert out[2] == "meta/session.json: error IDSE-M001 bad: status"
    assert out[3] == "    second line"
    assert out[-1] == f"1 error(s), 1 warning(s), 1 info in 2 sessions (rule set {VERSION})"
    no_hints = render_text(sample(), load_ruleset(), 1, hints=False).splitlines()
    assert no_hints[0] == "docs/a b.md:3:7: warning IDSE-A006 placeholder left"


def test_render_json_round_trips_findings():
    data = json.loads(render_json(sample(), load_ruleset(), 1))
    assert [Finding.from_dict(f) for f in data["findings"]] == sample()


def test_render_sarif_regions():
    sarif = json.loads(render_sarif(sample(), load_ruleset(), 1))
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in sarif["runs"][0]["results"]]
    assert regions == [{"startLine": 3, "startColumn": 7}, {"startLine": 1}, {"startLine": 1}]
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["warning", "error", "note"]


def test_render_github_escapes_data_and_properties():
    findings = [Finding("IDSE-A006", "warning", "a,b:c.md", 2, "50% done\nnext", 4, "", None)]
    line = render_github(findings, load_ruleset(), 1).splitlines()[0]
    assert line == "::warning file=a%2Cb%3Ac.md,line=2,col=4,title=IDSE-A006::50%25 done%0Anext"

"""`idse validate` end to end: each check on real files, session selection, exit codes, state, reuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import assert_one_line_error

from idse_orchestrator.stages import BY_NAME, STAGE_NAMES
from idse_orchestrator.templating import package_templates_dir

BLUEPRINT = "__blueprint__"
MARKER = "[REQUIRES INPUT]"
PROJECT_REL = ".idse/projects/demo"


# ------------------------------------------------------------------------------------------ helpers


def rel(stage: str, session: str = BLUEPRINT) -> str:
    return f"{PROJECT_REL}/sessions/{session}/{BY_NAME[stage].relpath}"


def doc(ws, stage: str, session: str = BLUEPRINT) -> Path:
    return ws.root / rel(stage, session)


def fill(ws, session: str = BLUEPRINT, stages: tuple[str, ...] = STAGE_NAMES) -> None:
    """Answer every marker: the session then has no finding at all."""
    for stage in stages:
        path = doc(ws, stage, session)
        path.write_text(path.read_text("utf-8").replace(MARKER, "Answered."), "utf-8")


def replace_section(text: str, title: str, body: str) -> str:
    pattern = re.compile(rf"(^## {re.escape(title)}\n)(.*?)(?=^## |\Z)", re.S | re.M)
    assert pattern.search(text), title
    return pattern.sub(lambda m: m.group(1) + body, text, count=1)


def edit_section(ws, stage: str, title: str, body: str, session: str = BLUEPRINT) -> str:
    path = doc(ws, stage, session)
    text = replace_section(path.read_text("utf-8"), title, body)
    path.write_text(text, "utf-8")
    return text


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not found")


def validate(cli, *args: str) -> tuple[int, dict]:
    result = cli("validate", "--format", "json", *args)
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


def findings(cli, *args: str) -> list[dict]:
    return validate(cli, *args)[1]["findings"]


def rules_at(cli, *args: str) -> list[tuple[str, str, int | None, int | None]]:
    return [(f["rule"], f["path"], f["line"], f["column"]) for f in findings(cli, *args)]


@pytest.fixture
def clean(ws):
    """A workspace whose blueprint session has no finding. These tests edit upstream documents to
    exercise document rules; staleness (IDSE-P002) has its own tests in test_staleness.py."""
    fill(ws)
    with ws.config_path.open("a", encoding="utf-8") as fh:
        fh.write("rules:\n  IDSE-P002: off\n")
    return ws


# ------------------------------------------------------------------------------------------ baseline


def test_fresh_workspace_only_reports_untouched_templates(ws, cli):
    code, data = validate(cli)
    assert code == 0
    assert sorted((f["rule"], f["severity"], f["path"], f["line"]) for f in data["findings"]) == sorted(
        ("IDSE-A005", "info", rel(s), 1) for s in STAGE_NAMES
    )
    assert data["summary"] == {"errors": 0, "warnings": 0, "infos": 7, "sessions": 1}


def test_filled_session_has_no_findings(clean, cli):
    code, data = validate(cli)
    assert (code, data["findings"]) == (0, [])
    result = cli("validate")
    assert result.exit_code == 0
    summary = "0 error(s), 0 warning(s), 0 info in 1 session (rule set 1.1.0)"
    assert result.stdout.strip().splitlines()[0] == summary


# ------------------------------------------------------------------------------------- checks via the CLI


def test_deleted_artifact_is_a001(clean, cli):
    saved = doc(clean, "feedback").read_text("utf-8")
    doc(clean, "feedback").unlink()
    code, data = validate(cli)
    assert code == 1
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in data["findings"]] == [
        ("IDSE-A001", "error", rel("feedback"), None)
    ]
    doc(clean, "feedback").write_text(saved, "utf-8")
    assert validate(cli) == (0, {**data, "findings": [], "summary": {**data["summary"], "errors": 0}})


def test_placeholder_reported_at_line_and_column_but_not_in_code(clean, cli):
    body = (
        "Latency is `[REQUIRES INPUT]` ms in code, and the owner is [REQUIRES INPUT].\n\n"
        "```\n[REQUIRES INPUT]\n```\n\n    [REQUIRES INPUT] indented\n\n<!-- [REQUIRES INPUT] -->\n\n"
    )
    text = edit_section(clean, "feedback", "Observations", body)
    line = line_of(text, "Latency is")
    col = text.splitlines()[line - 1].rindex(MARKER) + 1
    code, data = validate(cli)
    assert code == 0  # a warning alone does not fail the run
    a006 = [f for f in data["findings"] if f["rule"] == "IDSE-A006"]
    assert [(f["path"], f["line"], f["column"], f["severity"]) for f in a006] == [
        (rel("feedback"), line, col, "warning")
    ]
    out = cli("validate").stdout
    assert f"{rel('feedback')}:{line}:{col}: warning IDSE-A006 " in out
    fixed = text.replace("the owner is [REQUIRES INPUT]", "the owner is ops")
    doc(clean, "feedback").write_text(fixed, "utf-8")
    assert [f for f in findings(cli) if f["rule"] == "IDSE-A006"] == []


@pytest.mark.parametrize("location", ["intent.md", "pipeline/intent.md"])
def test_required_sections_follow_an_overridden_template(clean, cli, location):
    assert findings(cli) == []
    override = clean.templates_dir / location
    override.parent.mkdir(parents=True, exist_ok=True)
    shipped = (package_templates_dir() / "pipeline" / "intent.md").read_text("utf-8")
    override.write_text(shipped + "\n## Extra\n\n[REQUIRES INPUT] What this team always asks.\n", "utf-8")
    text = doc(clean, "intent").read_text("utf-8")
    code, data = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"], f["line"]) for f in data["findings"]] == [
        ("IDSE-A003", rel("intent"), len(text.splitlines()))
    ]
    assert "'## Extra'" in data["findings"][0]["message"]
    doc(clean, "intent").write_text(text + "\n## Extra\n\nThe thing.\n", "utf-8")
    assert findings(cli) == []
    # Dropping the override drops the requirement again (the shipped template has no '## Extra').
    override.unlink()
    doc(clean, "intent").write_text(text, "utf-8")
    assert findings(cli) == []


def test_missing_section_is_a003_with_the_line(clean, cli):
    path = doc(clean, "intent")
    text = path.read_text("utf-8")
    without = re.sub(r"^## Scope\n.*?(?=^## )", "", text, flags=re.S | re.M)
    path.write_text(without, "utf-8")
    assert rules_at(cli) == [("IDSE-A003", rel("intent"), line_of(without, "## Constraints") - 1, None)]
    path.write_text(text, "utf-8")
    assert rules_at(cli) == []


def test_empty_section_is_a004_on_its_heading(clean, cli):
    text = edit_section(clean, "context", "Stakeholders", "\n<!-- fill me -->\n\n")
    assert rules_at(cli) == [("IDSE-A004", rel("context"), line_of(text, "## Stakeholders"), 1)]
    edit_section(clean, "context", "Stakeholders", "\nOps and the billing team.\n\n")
    assert rules_at(cli) == []


def test_spec_complete_while_context_in_progress_is_p001_on_spec(ws, cli):
    fill(ws, stages=("intent", "spec"))
    path = doc(ws, "context")
    path.write_text(path.read_text("utf-8").replace(MARKER, "Known.", 3), "utf-8")  # two markers left
    code, data = validate(cli, "--rule", "IDSE-P001")
    assert code == 1
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in data["findings"]] == [
        ("IDSE-P001", "error", rel("spec"), None)
    ]
    assert "upstream context is in progress" in data["findings"][0]["message"]
    fill(ws, stages=("context",))
    code, data = validate(cli)
    assert code == 0
    # Only the untouched later stages; and spec, complete before context was, is now stale.
    assert {f["rule"] for f in data["findings"]} == {"IDSE-A005", "IDSE-P002"}


def test_task_that_is_not_a_checkbox_is_t001_on_its_line(clean, cli):
    text = edit_section(clean, "tasks", "Tasks", "- [ ] write parser\n- review it with the team\n\n")
    code, data = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"], f["line"], f["column"]) for f in data["findings"]] == [
        ("IDSE-T001", rel("tasks"), line_of(text, "review it"), 1)
    ]
    edit_section(clean, "tasks", "Tasks", "- [ ] write parser\n- [x] review it with the team\n\n")
    assert findings(cli) == []


def test_component_impact_without_items_is_t002(clean, cli):
    text = edit_section(clean, "implementation", "Component Impact", "Several modules.\n\n")
    code, data = validate(cli)
    assert code == 0
    assert [(f["rule"], f["severity"], f["line"]) for f in data["findings"]] == [
        ("IDSE-T002", "warning", line_of(text, "## Component Impact"))
    ]
    edit_section(clean, "implementation", "Component Impact", "- cli: new flag\n\n")
    assert findings(cli) == []


def test_agent_profile_yaml_error_is_s001_with_the_spec_line(clean, cli):
    path = doc(clean, "spec")
    good = path.read_text("utf-8")
    bad = re.sub(r"^name: .*$", "name: broken: value", good, count=1, flags=re.M)
    path.write_text(bad, "utf-8")
    code, data = validate(cli)
    assert code == 1
    assert [(f["rule"], f["path"], f["line"]) for f in data["findings"]] == [
        ("IDSE-S001", rel("spec"), line_of(bad, "name: broken: value"))
    ]
    assert "YAML syntax error" in data["findings"][0]["message"]
    path.write_text(good, "utf-8")
    assert findings(cli) == []


def test_metadata_schema_violation_is_m001(clean, cli):
    meta = clean.root / f"{PROJECT_REL}/sessions/{BLUEPRINT}/metadata/session.json"
    data = json.loads(meta.read_text("utf-8"))
    meta.write_text(json.dumps({**data, "status": "bogus"}), "utf-8")
    code, out = validate(cli)
    assert code == 1
    assert [(f["rule"], f["severity"], f["path"]) for f in out["findings"]] == [
        ("IDSE-M001", "error", f"{PROJECT_REL}/sessions/{BLUEPRINT}/metadata/session.json")
    ]
    assert "status" in out["findings"][0]["message"]
    meta.write_text(json.dumps(data), "utf-8")
    assert findings(cli) == []


def test_registry_findings_r001_r002_r003(clean, cli):
    registry = clean.root / f"{PROJECT_REL}/agent_registry.json"
    original = json.loads(registry.read_text("utf-8"))
    changed = json.loads(json.dumps(original))
    changed["agents"][1]["stages"] = ["implementation", "tasks"]  # tasks claimed twice
    changed["agents"][2]["stages"] = []  # feedback unrouted
    registry.write_text(json.dumps(changed), "utf-8")
    code, data = validate(cli)
    assert code == 0  # both are warnings
    got = [(f["rule"], f["severity"], f["path"], f["session"]) for f in data["findings"]]
    assert got == [
        ("IDSE-R002", "warning", f"{PROJECT_REL}/agent_registry.json", None),
        ("IDSE-R003", "warning", f"{PROJECT_REL}/agent_registry.json", None),
    ]
    assert "tasks" in data["findings"][0]["message"] and "feedback" in data["findings"][1]["message"]

    registry.write_text(json.dumps({"agents": [{"id": "x", "mode": "sometimes"}]}), "utf-8")
    code, data = validate(cli)
    assert code == 1
    r001 = [f for f in data["findings"] if f["rule"] == "IDSE-R001"]
    assert [(f["severity"], f["path"]) for f in r001] == [("error", f"{PROJECT_REL}/agent_registry.json")]

    registry.write_text(json.dumps(original), "utf-8")
    assert findings(cli) == []


# ------------------------------------------------------------------------------------------ selection


@pytest.fixture
def two_sessions(ws, cli):
    """Blueprint (clean) and feat (current, with a bad task)."""
    fill(ws)
    assert cli("session", "create", "feat").exit_code == 0
    fill(ws, "feat")
    edit_section(ws, "tasks", "Tasks", "- not a box\n\n", session="feat")
    return ws


def test_default_is_the_current_session(two_sessions, cli):
    code, data = validate(cli)
    assert code == 1
    assert data["summary"]["sessions"] == 1
    assert {f["path"] for f in data["findings"]} == {rel("tasks", "feat")}


def test_session_option_validates_that_session_only(two_sessions, cli):
    code, data = validate(cli, "--session", BLUEPRINT)
    assert (code, data["findings"], data["summary"]["sessions"]) == (0, [], 1)
    code, data = validate(cli, "-s", "feat")
    assert code == 1 and [f["session"] for f in data["findings"]] == ["feat"]


def test_all_validates_every_session(two_sessions, cli):
    edit_section(two_sessions, "context", "Risks", "\n")  # an error in the blueprint too
    code, data = validate(cli, "--all")
    assert code == 1
    assert data["summary"]["sessions"] == 2
    assert {f["session"] for f in data["findings"]} == {BLUEPRINT, "feat"}
    assert {f["rule"] for f in data["findings"]} == {"IDSE-A004", "IDSE-T001"}
    out = cli("validate", "--all").stdout
    assert out.strip().splitlines()[-1].endswith("in 2 sessions (rule set 1.1.0)")


def test_rule_filter_keeps_only_those_rules(clean, cli):
    edit_section(clean, "feedback", "Actions", "- not naming anything [REQUIRES INPUT]\n\n")
    edit_section(clean, "feedback", "Observations", "\n")
    assert {f["rule"] for f in findings(cli)} == {"IDSE-F001", "IDSE-A006", "IDSE-A004"}
    assert {f["rule"] for f in findings(cli, "--rule", "IDSE-A006")} == {"IDSE-A006"}
    # Filtering out the only error makes the run pass.
    assert validate(cli)[0] == 1
    assert validate(cli, "--rule", "idse-a006")[0] == 0
    assert {f["rule"] for f in findings(cli, "--rule", "IDSE-A006", "--rule", "IDSE-F001")} == {
        "IDSE-F001",
        "IDSE-A006",
    }


def test_strict_makes_warnings_fail(clean, cli):
    edit_section(clean, "feedback", "Lessons Learned", "Open: [REQUIRES INPUT]\n\n")
    assert cli("validate").exit_code == 0
    assert cli("validate", "--strict").exit_code == 1
    fill(clean)
    assert cli("validate", "--strict").exit_code == 0


def test_infos_never_fail_even_strict(ws, cli):
    code, data = validate(cli, "--strict")
    assert code == 0 and data["summary"]["infos"] == 7


def test_session_and_all_together_is_a_usage_error(two_sessions, cli):
    line = assert_one_line_error(cli("validate", "--session", "feat", "--all"))
    assert "--all" in line


@pytest.mark.parametrize("args", [("--session", "nope"), ("--session", "../etc"), ("--rule", "IDSE-Q999")])
def test_unknown_session_or_rule_is_a_usage_error(ws, cli, args):
    result = cli("validate", *args)
    line = assert_one_line_error(result)
    assert result.stdout == ""
    assert args[1].split("/")[-1] in line or "invalid" in line.lower()


def test_paths_are_repo_relative_from_a_subdirectory(clean, cli, monkeypatch):
    doc(clean, "feedback").unlink()
    sub = clean.root / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    code, data = validate(cli)
    assert code == 1
    assert [f["path"] for f in data["findings"]] == [rel("feedback")]
    assert cli("validate").stdout.startswith(f"{rel('feedback')}: error IDSE-A001 ")


def test_outside_a_workspace_is_a_one_line_error(cli):
    assert "not inside an idse workspace" in assert_one_line_error(cli("validate"))


def test_output_option_writes_the_report_to_a_file(clean, cli):
    doc(clean, "feedback").unlink()
    result = cli("validate", "--format", "json", "--output", "report.json")
    assert result.exit_code == 1
    assert result.stdout == ""
    data = json.loads((clean.root / "report.json").read_text("utf-8"))
    assert [f["rule"] for f in data["findings"]] == ["IDSE-A001"]


# ------------------------------------------------------------------------------------------ state


def state(ws) -> dict:
    return json.loads((ws.root / f"{PROJECT_REL}/session_state.json").read_text("utf-8"))


def test_validation_status_is_shown_by_status_and_written_by_build_only(clean, cli):
    state_file = clean.root / ".idse/projects/demo/session_state.json"
    saved = doc(clean, "feedback").read_text("utf-8")
    doc(clean, "feedback").unlink()
    assert cli("validate").exit_code == 1
    assert not state_file.exists()  # validate writes no tracked file: the build is the one writer
    status = cli("status", "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["validation_status"] == "failing"
    assert not state_file.exists()
    assert cli("build").exit_code == 1
    assert state(clean)["validation_status"] == "failing"

    doc(clean, "feedback").write_text(saved, "utf-8")
    assert cli("validate").exit_code == 0
    assert json.loads(cli("status", "--json").stdout)["validation_status"] == "passing"
    assert state(clean)["validation_status"] == "failing"  # until the next build
    assert cli("build").exit_code == 0
    assert state(clean)["validation_status"] == "passing"


def test_session_state_describes_the_current_session(two_sessions, cli):
    assert cli("build").exit_code == 1
    st = state(two_sessions)
    assert st["session"] == "feat" and st["validation_status"] == "failing"
    assert "validation" not in st and "last_sync" not in st


def test_warnings_only_is_passing(clean, cli):
    edit_section(clean, "feedback", "Lessons Learned", "Open: [REQUIRES INPUT]\n\n")
    assert cli("validate").exit_code == 0
    assert cli("build").exit_code == 0
    assert state(clean)["validation_status"] == "passing"


# ------------------------------------------------------------------------------------------ reuse


def result_files(ws) -> dict[str, int]:
    root = ws.root / ".idse/.cache/results"
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*.json")}


def test_second_validate_reparses_nothing(clean, cli, monkeypatch):
    import idse_orchestrator.governance.engine as engine
    import idse_orchestrator.markdown as markdown

    doc(clean, "feedback").unlink()
    first = cli("validate", "--all")
    assert first.exit_code == 1
    before = result_files(clean)
    assert len(before) == 1 + 1  # one per session and one for the project

    calls: list[int] = []
    real_parse = markdown.parse

    def counting_parse(text: str):
        calls.append(1)
        return real_parse(text)

    monkeypatch.setattr(markdown, "parse", counting_parse)
    monkeypatch.setattr(engine, "parse", counting_parse)
    second = cli("validate", "--all")
    assert second.exit_code == 1
    assert second.stdout == first.stdout
    assert calls == []
    assert result_files(clean) == before

    build = cli("build", "--json")
    tasks = {t["name"]: t["status"] for t in json.loads(build.stdout)["tasks"]}
    families = ("validate", "registry")
    checks = {name: s for name, s in tasks.items() if name.split(":")[0] in families}
    assert set(checks) == {f"validate:{BLUEPRINT}", "registry"}
    assert set(checks.values()) == {"up-to-date"}

    # The counter does see parsing when there is something to re-check.
    edit_section(clean, "tasks", "Tasks", "- [ ] one more\n\n")
    assert cli("validate", "--all").exit_code == 1
    assert calls


def test_editing_one_document_reruns_only_its_sessions_check(clean, cli):
    assert cli("session", "create", "other").exit_code == 0
    assert cli("session", "switch", BLUEPRINT).exit_code == 0
    assert cli("validate", "--all").exit_code == 0
    before = result_files(clean)
    mine, other = f"demo/sessions/{BLUEPRINT}.json", "demo/sessions/other.json"
    assert set(before) == {mine, other, "demo/_project.json"}  # one result per session, none per document
    edit_section(clean, "tasks", "Tasks", "- oops\n\n")
    assert cli("validate", "--all").exit_code == 1
    after = result_files(clean)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {mine}


def test_same_size_edit_right_after_a_run_is_noticed(clean, cli):
    assert cli("validate").exit_code == 0
    path = doc(clean, "tasks")
    text = path.read_text("utf-8")
    broken = text.replace("- [ ] Answered.", "- [ ]xAnswered.")
    assert broken != text and len(broken) == len(text)
    path.write_text(broken, "utf-8")
    code, data = validate(cli)
    assert code == 1
    assert [f["rule"] for f in data["findings"]] == ["IDSE-T001"]
    path.write_text(text, "utf-8")
    assert validate(cli)[0] == 0


def test_recreated_session_file_is_noticed(clean, cli):
    """A file that was absent at the last run (not a dependency then) is read once it appears."""
    meta = clean.root / f"{PROJECT_REL}/sessions/{BLUEPRINT}/metadata/session.json"
    saved = meta.read_text("utf-8")
    meta.unlink()  # a session without metadata falls back to defaults
    assert validate(cli)[0] == 0
    meta.write_text(saved.replace('"draft"', '"bogus"'), "utf-8")
    assert [f["rule"] for f in findings(cli)] == ["IDSE-M001"]


def test_changing_an_override_reruns_the_checks(clean, cli):
    edit_section(clean, "feedback", "Lessons Learned", "Open: [REQUIRES INPUT]\n\n")
    assert [f["severity"] for f in findings(cli)] == ["warning"]
    (clean.root / ".idse/config.yaml").write_text("rules:\n  IDSE-A006: error\n", "utf-8")
    code, data = validate(cli)
    assert code == 1 and [f["severity"] for f in data["findings"]] == ["error"]
    (clean.root / ".idse/config.yaml").write_text("rules:\n  IDSE-A006: off\n", "utf-8")
    assert validate(cli) == (
        0,
        {
            **data,
            "findings": [],
            "summary": {**data["summary"], "errors": 0},
            "overrides": ["IDSE-A006 disabled"],
        },
    )

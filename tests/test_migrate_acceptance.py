"""A new user's first hour with a workspace of idse-orchestrator 0.1: `idse migrate`, then every
everyday command works, and findings left are real problems of the documents, not the tools'
differences.

The workspace is written here from the published description of 0.1 (its layout, its templates'
headings, its profile keys, its SQLite tables); the template bodies are this test's own words.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_foreign_workspace import STAGE_FILES, legacy_metadata, make_legacy_db

PROJECT = "shop"
SESSIONS = {"__blueprint__": None, "auth": "__blueprint__", "auth-sso": "auth", "billing": "__blueprint__"}
# The headings of the 0.1 templates. 0.1 installs all but the implementation scaffold into
# .idse/kb/templates/; the scaffold's headings are what the package ships.
KB_TEMPLATES = {
    "intent": (
        "intent-template.md",
        "# Intent\n\n",
        (
            "Goal",
            "Problem / Opportunity",
            "Stakeholders / Users",
            "Success Criteria (measurable)",
            "Constraints / Assumptions / Risks",
            "Scope",
            "Time / Priority",
        ),
    ),
    "context": (
        "context-template.md",
        "# Context\n\nWhat shapes the design.\n\n",
        ("1. Environment", "2. Stack", "3. Constraints", "4. Risks & Unknowns"),
    ),
    "spec": (
        "spec-template.md",
        "# Specification\n\n",
        (
            "Overview",
            "User Stories",
            "Functional Requirements",
            "Non-Functional Requirements",
            "Acceptance Criteria",
            "Assumptions / Constraints / Dependencies",
            "Open Questions",
        ),
    ),
    "plan": (
        "plan-template.md",
        "# Plan: {{project_name}} ({{stack}})\n\n"
        "> Written {{date}}. Keep `{{ literal }}` and {% raw %} as text.\n\n",
        (
            "0. Product Overview",
            "1. Architecture Summary",
            "2. Components",
            "3. Data Model",
            "4. API Contracts",
            "5. Test Strategy",
            "6. Phases",
        ),
    ),
    "tasks": (
        "tasks-template.md",
        "# Tasks\n\n[P] = parallel safe\n\n",
        ("Instructions", "Phase 0 – Foundations", "Phase 1 – Core Behavior", "Phase 2 – NFRs / Hardening"),
    ),
    "feedback": (
        "feedback-template.md",
        "# Feedback\n\n",
        (
            "External / Internal Feedback",
            "Impacted Artifacts",
            "Risks / Issues Raised",
            "Actions / Follow-ups",
            "Decision Log",
        ),
    ),
}
SCAFFOLD_HEADINGS = (
    "Architecture",
    "What Was Built",
    "Validation Reports",
    "Deviations from Plan",
    "Component Impact Report",
)
LEGACY_HEADINGS = {stage: headings for stage, (_, _, headings) in KB_TEMPLATES.items()}
LEGACY_HEADINGS["implementation"] = SCAFFOLD_HEADINGS
# Keys a 0.1 Agent Profile may carry that this tool's schema does not take as they are.
BLUEPRINT_PROFILE = """\
id: shop-agent
name: Shop agent
description: null
memory_policy: null
version: "1.0"
source_session: __blueprint__
"""
AUTH_PROFILE = """\
# written by the 0.1 profiler
id: auth-agent
name: Auth agent
source_session: auth
source_blueprint: __blueprint__
goals:
  - Sign users in
persona:
  tone: plain
  rules:
    - no secrets in logs
out_of_scope:
  - billing
runtime_hints: null
"""
LEGACY_KEYS = ("source_session", "source_blueprint", "description", "memory_policy", "runtime_hints")
LEGACY_KEYS += ("persona", "out_of_scope")


def _template(stage: str) -> str:
    _, head, headings = KB_TEMPLATES[stage]
    return head + "".join(f"## {h}\n- [REQUIRES INPUT]\n\n" for h in headings)


def _document(stage: str, session: str) -> str:
    """A document written against the 0.1 template of ``stage``: every heading, filled in."""
    lines = [f"# {stage.title()}: {session}", ""]
    for heading in LEGACY_HEADINGS[stage]:
        body = (
            f"- [ ] Step of {heading} for {session}"
            if heading.startswith("Phase")
            else f"- {heading} of {session}."
        )
        lines += [f"## {heading}", "", body, ""]
    if stage == "feedback" and session == "billing":
        lines += ["## Notes", "", "Ask finance: [REQUIRES INPUT]", ""]  # a real finding: unfinished
    return "\n".join(lines)


def make_reference_workspace(root: Path) -> Path:
    idse = root / ".idse"
    kb = idse / "kb" / "templates"
    kb.mkdir(parents=True)
    for stage, (name, _, _) in KB_TEMPLATES.items():
        (kb / name).write_text(_template(stage), encoding="utf-8")
    project = idse / "projects" / PROJECT
    for session, parent in SESSIONS.items():
        folder = project / "sessions" / session
        for stage, rel in STAGE_FILES.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_document(stage, session), encoding="utf-8")
        (folder / "metadata").mkdir()
        (folder / "metadata" / ".owner").write_text("Created: 2025-01-02T10:00:00\nOwner: alice\n")
        meta = legacy_metadata(session, parent, name=PROJECT if parent is None else session)
        (folder / "metadata" / "session.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    for session, profile in (("__blueprint__", BLUEPRINT_PROFILE), ("auth", AUTH_PROFILE)):
        spec = project / "sessions" / session / STAGE_FILES["spec"]
        with spec.open("a", encoding="utf-8") as fh:
            fh.write(f"## Agent Profile\n\n```yaml\n{profile}```\n")
    (project / "sessions/__blueprint__/metadata/meta.md").write_text(
        f"# {PROJECT} - Blueprint Session Meta\n\n## Session Registry\n\n- `auth`\n- `billing`\n"
    )
    (project / "CURRENT_SESSION").write_text("auth-sso")  # 0.1 writes it without a newline
    state = {"project_name": PROJECT, "session_id": "auth-sso", "stages": {}, "validation_status": "unknown"}
    (project / "session_state.json").write_text(json.dumps(state, indent=2))
    registry = {
        "agents": [
            {
                "id": "claude-code",
                "role": "orchestrator",
                "stages": ["intent", "context", "spec", "plan", "tasks"],
            },
            {"id": "gpt-codex", "role": "implementer", "stages": ["implementation"]},
            {"id": "github-copilot", "role": "feedback-reviewer", "stages": ["feedback"]},
        ]
    }
    (project / "agent_registry.json").write_text(json.dumps(registry, indent=2) + "\n")
    make_legacy_db(idse / "idse.db", project)
    return project


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return make_reference_workspace(tmp_path)


def run_json(cli, *args: str, codes: tuple[int, ...] = (0,)) -> dict:
    result = cli(*args, "--json")
    assert result.exit_code in codes, (args, result.exit_code, result.stderr)
    return json.loads(result.stdout)


def test_after_migrate_every_command_works_and_only_real_findings_remain(reference, tmp_path, cli, snapshot):
    report = run_json(cli, "migrate")
    assert report["backup"] == ".idse/.migrate-backup/1"

    status = run_json(cli, "status")
    assert status["session"] == "auth-sso"
    assert {s["agent"] for s in status["stages"].values()} == {"claude-code", "gpt-codex", "github-copilot"}
    sessions = {row["id"]: row for row in run_json(cli, "sessions")["sessions"]}
    assert {s: row["parent"] for s, row in sessions.items()} == SESSIONS
    assert not any(row.get("problem") for row in sessions.values())
    info = run_json(cli, "session-info", "auth-sso")
    assert info["ancestors"] == ["auth", "__blueprint__"] and info["extra"]["owner"] == "alice"

    validate = cli("validate", "--all", "--format", "json")
    assert validate.exit_code in (0, 1), validate.stderr
    findings = json.loads(validate.stdout)["findings"]
    headings = {h for hs in LEGACY_HEADINGS.values() for h in hs}
    missing = [f for f in findings if f["rule"] in ("IDSE-A003", "IDSE-A004")]
    assert not [f for f in missing if any(h in f["message"] for h in headings)], missing
    assert not [f for f in findings if f["rule"] == "IDSE-S003"], findings
    assert not [f for f in findings if f["rule"] in ("IDSE-M001", "IDSE-R001", "IDSE-S001")]
    # What is left is true of these documents: billing's feedback is unfinished.
    real = {(f["rule"], f["path"].split("/")[4]) for f in findings if "/sessions/" in f["path"]}
    assert ("IDSE-A006", "billing") in real
    assert {rule for rule, _ in real} <= {"IDSE-A006"}, findings

    build = cli("build", "--json")
    assert build.exit_code == 0, (build.stdout, build.stderr)
    graph = cli("graph", "--format", "json")
    assert graph.exit_code == 0, graph.stderr
    assert any(n["id"] == "validate:auth-sso" for n in json.loads(graph.stdout)["nodes"])

    compiled = cli("compile", "agent-spec", "--all", "--format", "json")
    assert compiled.exit_code == 0, compiled.stderr
    out = tmp_path / f".idse/projects/{PROJECT}/build/agents"
    auth = json.loads((out / "auth.profile.json").read_text())
    assert auth["source_session"] == "auth" and auth["source_blueprint"] == "__blueprint__"
    assert auth["extensions"] == {
        "out_of_scope": ["billing"],
        "persona": {"rules": ["no secrets in logs"], "tone": "plain"},
    }
    assert auth["description"] == "" and auth["runtime_hints"] == {} and auth["version"] == "1.0"
    blueprint = json.loads((out / "__blueprint__.profile.json").read_text())
    assert "extensions" not in blueprint and blueprint["memory_policy"] == {}

    # A second migrate changes nothing at all, whatever ran in between.
    before = snapshot(tmp_path)
    again = run_json(cli, "migrate")
    assert again["changes"] == [] and again["backup"] is None
    assert snapshot(tmp_path) == before


def test_a_user_who_built_before_migrating_sees_no_stage_go_stale(reference, cli):
    """The profile rewrite changes the spec's bytes, not its meaning: stages that the build found
    consistent with the spec before the migration stay so."""
    assert cli("build").exit_code == 1  # 0.1 files and other templates: findings
    run_json(cli, "migrate")
    validate = cli("validate", "--all", "--format", "json")
    findings = json.loads(validate.stdout)["findings"]
    assert not [f for f in findings if f["rule"] == "IDSE-P002"], findings
    assert validate.exit_code == 0 and cli("build").exit_code == 0
    status = run_json(cli, "status", "--session", "auth")
    assert {s["status"] for s in status["stages"].values()} == {"complete"}


def test_the_templates_become_overrides_and_new_sessions_use_them(reference, tmp_path, cli):
    report = run_json(cli, "migrate")
    created = {c["path"]: c["reason"] for c in report["changes"] if c["path"].startswith(".idse/templates/")}
    assert sorted(created) == sorted(f".idse/templates/pipeline/{s}.md" for s in STAGE_FILES)
    assert ".idse/kb/templates/plan-template.md" in created[".idse/templates/pipeline/plan.md"]
    assert "headings of the 0.1 template" in created[".idse/templates/pipeline/implementation.md"]
    # A session created now starts from the templates its project was written with.
    assert cli("session", "create", "returns").exit_code == 0
    plan = (reference / "sessions/returns/plans/plan.md").read_text(encoding="utf-8")
    assert plan.startswith(f"# Plan: {PROJECT} (") and "`{{ literal }}` and {% raw %} as text" in plan
    assert "## 6. Phases" in plan and "{{date}}" not in plan
    impl = (reference / "sessions/returns/implementation/README.md").read_text(encoding="utf-8")
    assert [line[3:] for line in impl.splitlines() if line.startswith("## ")] == list(SCAFFOLD_HEADINGS)


def test_without_its_kb_templates_the_headings_0_1_shipped_are_used(reference, tmp_path, cli):
    import shutil

    shutil.rmtree(tmp_path / ".idse/kb")
    report = run_json(cli, "migrate")
    reasons = {c["reason"] for c in report["changes"] if c["path"].startswith(".idse/templates/")}
    assert reasons == {"the headings of the 0.1 template, for its required sections"}
    validate = cli("validate", "--all", "--format", "json")
    assert validate.exit_code == 0, validate.stdout
    assert {f["rule"] for f in json.loads(validate.stdout)["findings"]} == {"IDSE-A006"}


def test_an_override_of_the_user_is_kept(reference, tmp_path, cli):
    mine = tmp_path / ".idse/templates/spec.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("# Spec\n\n## Mine\n\ntext\n")
    report = run_json(cli, "migrate")
    paths = {c["path"] for c in report["changes"]}
    assert ".idse/templates/pipeline/spec.md" not in paths and ".idse/templates/pipeline/intent.md" in paths
    assert mine.read_text() == "# Spec\n\n## Mine\n\ntext\n"


def test_profile_keys_of_0_1_are_kept_in_the_document(reference, tmp_path, cli):
    spec = reference / "sessions/auth/specs/spec.md"
    original = spec.read_text(encoding="utf-8")
    report = run_json(cli, "migrate")
    reasons = {c["path"]: c["reason"] for c in report["changes"]}
    reason = reasons[f".idse/projects/{PROJECT}/sessions/auth/specs/spec.md"]
    assert "source_session, source_blueprint, runtime_hints kept as comments" in reason
    assert "persona, out_of_scope moved under extensions" in reason
    text = spec.read_text(encoding="utf-8")
    assert "# source_session: auth\n" in text and "# runtime_hints: null\n" in text
    assert "extensions:\n  persona:\n    tone: plain\n" in text
    # Everything outside the YAML block is as it was; the original is in the backup.
    assert text.split("```yaml")[0] == original.split("```yaml")[0]
    backup = tmp_path / f".idse/.migrate-backup/1/projects/{PROJECT}/sessions/auth/specs/spec.md"
    assert backup.read_text(encoding="utf-8") == original
    # The 0.1 store's copy equals the original document: no .db.md for it, now or on a rerun.
    assert not spec.with_name("spec.db.md").exists()


def test_backups_are_ignored_by_git_and_so_is_the_cache(reference, tmp_path, cli):
    run_json(cli, "migrate")
    assert (tmp_path / ".idse/.migrate-backup/.gitignore").read_text().endswith("*\n")
    ignore = (tmp_path / ".idse/.gitignore").read_text()
    assert ".cache/" in ignore and "/projects/*/.sync.lock" in ignore
    git = subprocess.run(["git", "--version"], capture_output=True, check=False)
    if git.returncode != 0:  # pragma: no cover - git is part of the test image
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert cli("build").exit_code == 0
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".migrate-backup" not in listed and ".cache" not in listed and ".lock" not in listed
    assert f".idse/projects/{PROJECT}/sessions/auth/specs/spec.md" in listed


LOCK_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("lock", [".idse/.cache/shop.lock", f".idse/projects/{PROJECT}/.sync.lock"])
def test_migrate_waits_for_a_build_or_sync_and_writes_nothing_meanwhile(reference, tmp_path, snapshot, lock):
    from idse_orchestrator.errors import LockTimeout
    from idse_orchestrator.migrate import migrate
    from idse_orchestrator.workspace import Workspace

    path = tmp_path / lock
    path.parent.mkdir(parents=True, exist_ok=True)
    # Another process (a lock is per process) holds the lock, as a running build or sync does.
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = snapshot(tmp_path, exclude=(".idse/.cache",))
        with pytest.raises(LockTimeout, match="lock"):
            migrate(Workspace(tmp_path), lock_timeout=0.2)
        after = snapshot(tmp_path, exclude=(".idse/.cache",))
        assert {k: v for k, v in after.items() if not k.endswith(".lock")} == {
            k: v for k, v in before.items() if not k.endswith(".lock")
        }
    finally:
        holder.communicate("")
    assert migrate(Workspace(tmp_path))["backup"] == ".idse/.migrate-backup/1"


def test_dry_run_lists_templates_and_profiles_and_writes_nothing(reference, tmp_path, cli, snapshot):
    before = snapshot(tmp_path)
    report = run_json(cli, "migrate", "--dry-run")
    paths = {c["path"] for c in report["changes"]}
    assert ".idse/templates/pipeline/intent.md" in paths and ".idse/.gitignore" in paths
    assert f".idse/projects/{PROJECT}/sessions/__blueprint__/specs/spec.md" in paths
    assert snapshot(tmp_path) == before


if __name__ == "__main__":  # pragma: no cover - a manual helper
    make_reference_workspace(Path(sys.argv[1]))


def test_a_profile_that_cannot_be_rewritten_safely_is_left_alone_and_named(reference, cli):
    spec = reference / "sessions/auth/specs/spec.md"
    head = spec.read_text(encoding="utf-8").split("```yaml")[0]
    spec.write_text(
        head + "```yaml\n{id: auth-agent, name: Auth, source_session: auth}\n```\n", encoding="utf-8"
    )
    before = spec.read_bytes()
    report = run_json(cli, "migrate")
    assert spec.read_bytes() == before
    assert (
        f".idse/projects/{PROJECT}/sessions/auth/specs/spec.md: Agent Profile left as it is: "
        in "\n".join(report["notes"])
    )
    # The finding stays, so the user knows what to do by hand.
    findings = json.loads(cli("validate", "--all", "--format", "json").stdout)["findings"]
    assert [f["rule"] for f in findings if "/auth/" in f["path"] and f["rule"] == "IDSE-S003"] == [
        "IDSE-S003"
    ]

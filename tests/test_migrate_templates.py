"""The 0.1 templates as overrides: their headings become the required sections, and new sessions
render the same text as 0.1 did (dates aside)."""

from __future__ import annotations

import pytest

from idse_orchestrator.governance.loader import required_sections
from idse_orchestrator.migrate_templates import SHIPPED_HEADINGS, convert, plan_overrides, skeleton
from idse_orchestrator.stages import BY_NAME, STAGES
from idse_orchestrator.templating import render_text

CONTEXT = {"project": "shop", "session": "auth", "stack": "python", "parent": ""}


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("# {{project_name}} on {{stack}}\n", "# shop on python\n"),
        ("# {{ project_name }}: {{ session_id }}\nCreated: {{ timestamp }}\n", "# shop: auth\nCreated: \n"),
        ("Keep {{ other }} and {{- x -}} and {% if %} and {# c #} as text.\n", None),
        ("Braces { } }} %} #} stay.\n", None),
        ("", ""),
    ],
)
def test_a_legacy_template_renders_as_0_1_would(source, rendered):
    text = convert(source)
    assert render_text(text, CONTEXT) == (source if rendered is None else rendered)


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_a_skeleton_requires_the_shipped_headings(stage, tmp_path, cli):
    from idse_orchestrator.workspace import Workspace

    (tmp_path / ".idse/templates/pipeline").mkdir(parents=True)
    path = tmp_path / ".idse/templates/pipeline" / BY_NAME[stage].template
    path.write_text(skeleton(BY_NAME[stage]), encoding="utf-8")
    assert required_sections(Workspace(tmp_path), BY_NAME[stage]) == SHIPPED_HEADINGS[stage]


def test_overrides_only_where_there_is_none(tmp_path):
    from idse_orchestrator.workspace import Workspace

    templates = tmp_path / ".idse/templates"
    (templates / "pipeline").mkdir(parents=True)
    (templates / "intent.md").write_text("# mine\n")
    (templates / "pipeline/plan.md").write_text("# mine too\n")
    kb = tmp_path / ".idse/kb/templates"
    kb.mkdir(parents=True)
    (kb / "spec-template.md").write_text("# Spec {{project_name}}\n\n## Only This\n")
    (kb / "tasks-template.md").write_bytes(b"\xff not utf-8")
    notes: list[str] = []
    planned = {o.path.name: o for o in plan_overrides(Workspace(tmp_path), notes)}
    assert sorted(planned) == ["context.md", "feedback.md", "implementation.md", "spec.md", "tasks.md"]
    assert planned["spec.md"].text == "# Spec {{ project }}\n\n## Only This\n"
    assert "kb/templates/spec-template.md" in planned["spec.md"].reason
    assert planned["tasks.md"].text == skeleton(BY_NAME["tasks"])
    assert notes == [
        ".idse/kb/templates/tasks-template.md: not used (is not valid UTF-8 (line 1)); "
        "the 0.1 headings are used instead"
    ]

"""The templates a workspace of idse-orchestrator 0.1 was written against, as template overrides.

Required sections (IDSE-A003, IDSE-A004) are the level-2 headings of the template in use, and a
file in ``.idse/templates/pipeline/`` overrides the shipped one. So ``idse migrate`` writes, for
each stage without an override, the template its documents came from:

- the workspace's own copy, ``.idse/kb/templates/<stage>-template.md`` (0.1 installs these and
  creates documents from the same files), turned into this tool's template syntax: its
  ``{{project_name}}``, ``{{stack}}`` and ``{{ session_id }}`` become ``{{ project }}``,
  ``{{ stack }}`` and ``{{ session }}``, dates are dropped (output here has no timestamps), and
  anything else that looks like template syntax is kept as literal text;
- otherwise a skeleton with the headings that 0.1 shipped for that stage.

An override that exists is never replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from idse_orchestrator.errors import BadFile
from idse_orchestrator.stages import STAGES, Stage
from idse_orchestrator.workspace import Workspace

KB_TEMPLATES = ("kb", "templates")
LEGACY_FILES = {
    "intent": "intent-template.md",
    "context": "context-template.md",
    "spec": "spec-template.md",
    "plan": "plan-template.md",
    "tasks": "tasks-template.md",
    "implementation": "implementation-scaffold.md",
    "feedback": "feedback-template.md",
}
# The level-2 headings of the pipeline templates that idse-orchestrator 0.1 ships, for a workspace
# without its own copy in kb/templates/.
SHIPPED_HEADINGS: dict[str, tuple[str, ...]] = {
    "intent": (
        "Goal",
        "Problem / Opportunity",
        "Stakeholders / Users",
        "Success Criteria (measurable)",
        "Constraints / Assumptions / Risks",
        "Scope",
        "Time / Priority",
    ),
    "context": ("1. Environment", "2. Stack", "3. Constraints", "4. Risks & Unknowns"),
    "spec": (
        "Overview",
        "User Stories",
        "Functional Requirements",
        "Non-Functional Requirements",
        "Acceptance Criteria",
        "Assumptions / Constraints / Dependencies",
        "Open Questions",
    ),
    "plan": (
        "0. Product Overview",
        "1. Architecture Summary",
        "2. Components",
        "3. Data Model",
        "4. API Contracts",
        "5. Test Strategy",
        "6. Phases",
    ),
    "tasks": (
        "Instructions",
        "Phase 0 – Foundations",
        "Phase 1 – Core Behavior",
        "Phase 2 – NFRs / Hardening",
    ),
    "implementation": (
        "Architecture",
        "What Was Built",
        "Validation Reports",
        "Deviations from Plan",
        "Component Impact Report",
    ),
    "feedback": (
        "External / Internal Feedback",
        "Impacted Artifacts",
        "Risks / Issues Raised",
        "Actions / Follow-ups",
        "Decision Log",
    ),
}
# 0.1 template variables -> this tool's (None: dropped).
VARIABLES: dict[str, str | None] = {
    "project_name": "project",
    "stack": "stack",
    "session_id": "session",
    "timestamp": None,
    "date": None,
}
_SYNTAX = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}|\{[{%#]")


@dataclass(frozen=True)
class TemplateOverride:
    path: Path
    text: str
    reason: str


def override_path(ws: Workspace, stage: Stage) -> Path:
    return ws.templates_dir / "pipeline" / stage.template


def has_override(ws: Workspace, stage: Stage) -> bool:
    return any(
        p.is_file() or p.is_symlink()
        for p in (ws.templates_dir / "pipeline" / stage.template, ws.templates_dir / stage.template)
    )


def plan_overrides(ws: Workspace, notes: list[str]) -> list[TemplateOverride]:
    """An override for every stage that has none, from the workspace's kb/templates/ or the headings
    0.1 shipped. A kb template that cannot be carried over is reported in ``notes``."""
    from idse_orchestrator.fsutil import read_text

    kb = ws.idse_dir.joinpath(*KB_TEMPLATES)
    out = []
    for stage in STAGES:
        if has_override(ws, stage):
            continue
        source = kb / LEGACY_FILES[stage.name]
        text: str | None = None
        if source.is_file():
            try:
                text = convert(read_text(source))
                reason = f"the 0.1 template {ws.rel(source)}, for its required sections"
            except BadFile as exc:
                notes.append(f"{ws.rel(source)}: not used ({exc.detail}); the 0.1 headings are used instead")
        if text is None:
            text = skeleton(stage)
            reason = "the headings of the 0.1 template, for its required sections"
        out.append(TemplateOverride(override_path(ws, stage), text, reason))
    return out


def convert(source: str) -> str:
    """A 0.1 template as a template of this tool that renders the same text (dates left out)."""
    from idse_orchestrator.templating import render_text

    parts: list[str] = []
    expected: list[str] = []
    context = {"project": "\0p", "stack": "\0s", "session": "\0i"}
    pos = 0
    for match in _SYNTAX.finditer(source):
        literal = source[pos : match.start()]
        parts.append(literal)
        expected.append(literal)
        name = match.group(1)
        if name is not None and name in VARIABLES:
            ours = VARIABLES[name]
            if ours is not None:
                parts.append("{{ " + ours + " }}")
                expected.append(context[ours])
        else:
            # Literal text that Jinja would read as syntax: emitted through a string expression.
            opener = match.group(0)[:2]
            parts.append("{{ " + repr(opener) + " }}" + match.group(0)[2:])
            expected.append(match.group(0))
        pos = match.end()
    parts.append(source[pos:])
    expected.append(source[pos:])
    text = "".join(parts)
    if render_text(text, context) != "".join(expected):
        raise BadFile("<template>", "it does not render as the same text in this tool's template syntax")
    return text


def skeleton(stage: Stage) -> str:
    lines = [
        f"# {stage.name.title()}: {{{{ session }}}}",
        "",
        f"<!-- Sections of the idse-orchestrator 0.1 {stage.name} template. "
        "Replace each [REQUIRES INPUT] marker. -->",
    ]
    for heading in SHIPPED_HEADINGS[stage.name]:
        lines += ["", f"## {heading}", "", "[REQUIRES INPUT]"]
    return "\n".join(lines) + "\n"

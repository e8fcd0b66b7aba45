"""Generate a realistic idse workspace of N sessions with filled documents of a few KB each.

    python benchmarks/make_workspace.py DIR --sessions 1000

Documents keep every section of the shipped templates and contain no placeholders, so they are
what a healthy, finished workspace looks like (plus a few warnings, as real ones have).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

from idse_orchestrator.fsutil import dump_json
from idse_orchestrator.markdown import parse
from idse_orchestrator.models import SessionMetadata
from idse_orchestrator.stages import BLUEPRINT, STAGES
from idse_orchestrator.templating import package_templates_dir

WORDS = [
    "intent",
    "context",
    "stakeholder",
    "latency",
    "throughput",
    "boundary",
    "contract",
    "schema",
    "migration",
    "rollout",
    "cache",
    "queue",
    "retry",
    "idempotent",
    "audit",
    "consent",
    "export",
    "import",
    "tenant",
    "quota",
    "budget",
    "review",
    "pipeline",
    "session",
]


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def section_body(stage: str, title: str, rng: random.Random) -> str:
    if stage == "tasks" and title == "Tasks":
        return "\n".join(f"- [{'x' if i % 3 else ' '}] Task {i}: {paragraph(rng, 10)}" for i in range(1, 9))
    if title in (
        "Success Criteria",
        "Acceptance Criteria",
        "Functional Requirements",
        "Component Impact",
        "Non-Functional Requirements",
    ):
        return "\n".join(f"- {paragraph(rng, 14)}" for _ in range(5))
    if title == "Actions":
        return "\n".join(
            f"- Update the {rng.choice(['spec', 'plan', 'intent'])}: {paragraph(rng, 10)}" for _ in range(3)
        )
    if title == "Agent Profile":
        return (
            "```yaml\nid: bench-agent\nname: Bench agent\ndescription: Generated.\n"
            "goals:\n  - Keep docs current\n"
            "inputs: []\noutputs: []\ntools: []\nconstraints: []\nmemory_policy: {}\nruntime_hints: {}\n"
            'version: "1.0.0"\n```'
        )
    return "\n\n".join(paragraph(rng, 45) for _ in range(3))


def document(stage: str, template: str, session: str, rng: random.Random) -> str:
    st = parse(template)
    parts = [f"# {stage.capitalize()}: {session}", ""]
    for heading in st.headings:
        if heading.level == 2:
            parts += [f"## {heading.title}", "", section_body(stage, heading.title, rng), ""]
    return "\n".join(parts)


def generate(root: Path, sessions: int, project: str = "bench", seed: int = 7) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".idse").exists():
        subprocess.run(
            [sys.executable, "-m", "idse_orchestrator", "init", project],
            cwd=root,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    rng = random.Random(seed)
    templates = {s.name: (package_templates_dir() / "pipeline" / s.template).read_text() for s in STAGES}
    base = root / ".idse" / "projects" / project / "sessions"
    ids = [BLUEPRINT] + [f"feature-{i:05d}" for i in range(1, sessions)]
    for sid in ids:
        for stage in STAGES:
            path = base / sid / stage.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(document(stage.name, templates[stage.name], sid, rng))
        meta = SessionMetadata(
            id=sid,
            project=project,
            type="blueprint" if sid == BLUEPRINT else "feature",
            parent=None if sid == BLUEPRINT else BLUEPRINT,
        )
        meta_path = base / sid / "metadata" / "session.json"
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(dump_json(meta.model_dump(mode="json")))
    (root / ".idse" / "projects" / project / "CURRENT_SESSION").write_text(BLUEPRINT + "\n")
    print(json.dumps({"root": str(root), "sessions": len(ids), "documents": len(ids) * len(STAGES)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    generate(args.root, args.sessions)


if __name__ == "__main__":
    main()

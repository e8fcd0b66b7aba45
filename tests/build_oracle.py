"""The build's oracle: an incremental `idse build` must equal a build from scratch of the same inputs.

Shared by the differential test (tests/test_build_differential.py) and the long soak
(benchmarks/soak_build_differential.py). It drives a workspace with the operations users and
agents perform, and after each step compares the workspace's build with a from-scratch build of a
copy (its cache deleted): exit code, findings, every derived file byte for byte, and that
`--dry-run` named what ran.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idse_orchestrator.stages import BLUEPRINT, STAGES

PROJECT = "demo"
PROJ = f".idse/projects/{PROJECT}"
MARKER = "[REQUIRES INPUT]"
PROFILE = """```yaml
id: {sid}
name: {sid} agent
description: {desc}
goals: [ship]
inputs: [spec]
outputs: [code]
tools: [git]
constraints: [safe]
```"""


def build_in_process(root: Path, jobs: int = 1) -> dict[str, Any]:
    """`idse build` through its core function: exit code, findings, task statuses."""
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(root)
    project = ws.project(PROJECT)
    warnings: list[str] = []
    report = build(ws, project, warn=warnings.append, jobs=jobs)
    return {
        "code": report.exit_code,
        "findings": sorted((f.rule, f.severity, f.path, f.line or 0, f.message) for f in report.findings),
        "ran": {t["name"] for t in report.tasks if t["status"] == "ran"},
        "failed": {t["name"] for t in report.tasks if t["status"] in ("failed", "skipped")},
        "warnings": warnings,
    }


def plan(root: Path) -> dict[str, str]:
    from idse_orchestrator.engine.queries import build_plan
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(root)
    return {name: st for name, (st, _) in build_plan(ws, ws.project(PROJECT), None).items()}


def derived_files(root: Path) -> dict[str, bytes]:
    """Every file the build writes outside its cache (what a user sees and git tracks)."""
    out: dict[str, bytes] = {}
    patterns = [
        f"{PROJ}/session_state.json",
        f"{PROJ}/meta.md",
        f"{PROJ}/sessions/*/metadata/baselines.json",
        f"{PROJ}/build/agents/*",
        "CLAUDE.md",
        "AGENTS.md",
    ]
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.is_file():
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def clean_copy(root: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root, dest, symlinks=True, ignore=shutil.ignore_patterns(".cache"))
    return dest


@dataclass
class Divergence(AssertionError):
    step: str
    detail: str

    def __str__(self) -> str:
        return f"after {self.step}: {self.detail}"


def check_step(root: Path, scratch: Path, step: str, jobs: int = 1) -> dict[str, Any]:
    """Dry-run, build (with ``jobs``), compare with a clean build, then check a second build runs
    nothing."""
    planned = plan(root)
    inc = build_in_process(root, jobs)
    must = {n for n, st in planned.items() if st == "run"}
    may = must | {n for n, st in planned.items() if st == "maybe"}
    if not must <= inc["ran"] | inc["failed"]:
        raise Divergence(step, f"--dry-run said these run, they did not: {sorted(must - inc['ran'])}")
    if not inc["ran"] <= may:
        raise Divergence(step, f"ran without --dry-run naming them: {sorted(inc['ran'] - may)}")
    ref_root = clean_copy(root, scratch)
    ref = build_in_process(ref_root)
    if (inc["code"], inc["findings"]) != (ref["code"], ref["findings"]):
        only_inc = sorted(set(inc["findings"]) - set(ref["findings"]))
        only_ref = sorted(set(ref["findings"]) - set(inc["findings"]))
        raise Divergence(
            step,
            f"exit {inc['code']} vs clean {ref['code']}; only incremental: {only_inc[:3]}; "
            f"only clean: {only_ref[:3]}",
        )
    mine, theirs = derived_files(root), derived_files(ref_root)
    if mine != theirs:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise Divergence(step, f"derived files differ from a clean build: {diff}")
    again = build_in_process(root)
    if again["ran"]:
        raise Divergence(step, f"a second build ran {sorted(again['ran'])}")
    if again["findings"] != inc["findings"] or again["code"] != inc["code"]:
        raise Divergence(step, "a second build reported differently")
    return inc


# -- operations -----------------------------------------------------------------------------------


def doc_path(root: Path, session: str, stage_index: int) -> Path:
    return root / PROJ / "sessions" / session / STAGES[stage_index].relpath


def sessions(root: Path) -> list[str]:
    return sorted(p.name for p in (root / PROJ / "sessions").iterdir() if p.is_dir())


def fill_document(root: Path, session: str, stage_index: int) -> None:
    path = doc_path(root, session, stage_index)
    if not path.is_file():
        return
    text = path.read_text("utf-8").replace(MARKER, "Answered.")
    if STAGES[stage_index].name == "spec" and "## Agent Profile" in text:
        start = text.index("```yaml", text.index("## Agent Profile"))
        end = text.index("```", start + 7) + 3
        sid = session.strip("_") or "bp"
        text = text[:start] + PROFILE.format(sid=sid, desc="first") + text[end:]
    path.write_text(text, "utf-8")


def edit_profile_description(root: Path, session: str, desc: str) -> None:
    path = doc_path(root, session, 2)
    if path.is_file():
        text = path.read_text("utf-8")
        if "description: " in text:
            head, _, tail = text.partition("description: ")
            path.write_text(head + "description: " + desc + tail[tail.index("\n") :], "utf-8")


def run_cli(root: Path, *args: str) -> int:
    from idse_orchestrator.cli import run

    previous = os.getcwd()
    os.chdir(root)
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return run(list(args))
    finally:
        os.chdir(previous)


def killed_build(root: Path, delay: float, jobs: int = 1) -> None:
    """`idse build` (its sessions split across ``jobs`` processes, however few) in a real process,
    killed with SIGKILL after ``delay`` seconds."""
    code = (
        "import sys; from idse_orchestrator.cli import run; from idse_orchestrator.engine import parallel;"
        f" parallel.MIN_OWNERS_PER_JOB = 1; sys.exit(run(['build', '--jobs', '{jobs}']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def init_workspace(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    assert run_cli(root, "init", PROJECT, "--stack", "python") == 0
    for i in range(len(STAGES)):
        fill_document(root, BLUEPRINT, i)
    assert run_cli(root, "session", "create", "feat-a") == 0
    for i in range(len(STAGES)):
        fill_document(root, "feat-a", i)


# -- processes ------------------------------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False

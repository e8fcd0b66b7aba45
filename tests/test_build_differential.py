"""The differential test of the build: after any sequence of changes, `idse build` gives the same exit
code, findings and derived files as a build from scratch, `--dry-run` names what runs, and a second
build runs nothing. Hypothesis picks the sequences (seeded, bounded: about a minute in CI);
benchmarks/soak_build_differential.py runs the same machine for thousands of steps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")

from build_oracle import (  # noqa: E402
    PROJ,
    build_in_process,
    check_step,
    doc_path,
    edit_profile_description,
    fill_document,
    init_workspace,
    killed_build,
    run_cli,
    sessions,
)
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule  # noqa: E402

from idse_orchestrator.engine import parallel  # noqa: E402

pytestmark = pytest.mark.slow  # a fault suite: real processes, kills, timing

STAGE = st.integers(min_value=0, max_value=6)


class BuildMachine(RuleBasedStateMachine):
    base: Path

    @initialize()
    def setup(self) -> None:
        import tempfile

        self.base = Path(tempfile.mkdtemp(prefix="idse-diff-"))
        self.root = self.base / "repo"
        self.scratch = self.base / "clean"
        self.saved: dict[str, bytes] = {}
        self.registry_bytes = b""
        self.counter = 0
        # The workspaces here have a handful of sessions: split them across processes anyway.
        self.min_owners = parallel.MIN_OWNERS_PER_JOB
        parallel.MIN_OWNERS_PER_JOB = 1
        init_workspace(self.root)
        self.step("init")

    def teardown(self) -> None:
        parallel.MIN_OWNERS_PER_JOB = getattr(self, "min_owners", parallel.MIN_OWNERS_PER_JOB)
        shutil.rmtree(getattr(self, "base", Path("/nonexistent")), ignore_errors=True)

    def step(self, name: str) -> None:
        check_step(self.root, self.scratch, name, getattr(self, "jobs", 1))
        if getattr(self, "slow", False):
            import os
            import time

            past = time.time() - 60
            for path in [self.root, *self.root.rglob("*")]:
                # The build's own results too, but not its databases (their stat is their identity).
                if path.suffix != ".sqlite" and not path.is_symlink():
                    os.utime(path, (past, past))
            build_in_process(self.root)  # records the settled stats

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sessions(self.root)))

    @rule(jobs=st.sampled_from([1, 2]))
    def parallel(self, jobs: int) -> None:
        """Later steps build with ``--jobs``: the sessions' tasks split across processes."""
        self.jobs = jobs
        self.step(f"jobs {jobs}")

    @rule(slow=st.booleans())
    def clock(self, slow: bool) -> None:
        """A slow clock: after each step every source file gets a minute older. A file changed within
        two seconds of a build is checked by content whatever its stat says, so at test speed the
        paths where a stat vouches for a file (the sessions-first build, stat-checked reads) would
        never run; with a slow clock every change lands in a workspace that has settled."""
        self.slow = slow
        self.step(f"clock {'slow' if slow else 'fast'}")

    # -- documents ----------------------------------------------------------------------------
    @rule(data=st.data(), stage=STAGE)
    def edit_document(self, data: st.DataObject, stage: int) -> None:
        session = self.pick(data)
        path = doc_path(self.root, session, stage)
        if path.is_file():
            self.counter += 1
            path.write_text(path.read_text("utf-8") + f"\nEdit {self.counter}.\n", "utf-8")
        self.step(f"edit {session}/{stage}")

    @rule(data=st.data(), stage=STAGE)
    def fill(self, data: st.DataObject, stage: int) -> None:
        session = self.pick(data)
        fill_document(self.root, session, stage)
        self.step(f"fill {session}/{stage}")

    @rule(data=st.data(), stage=STAGE)
    def delete_document(self, data: st.DataObject, stage: int) -> None:
        session = self.pick(data)
        path = doc_path(self.root, session, stage)
        if path.is_file():
            self.saved[f"{session}/{stage}"] = path.read_bytes()
            path.unlink()
        self.step(f"delete {session}/{stage}")

    @rule(data=st.data())
    def restore_document(self, data: st.DataObject) -> None:
        if self.saved:
            key = data.draw(st.sampled_from(sorted(self.saved)))
            session, stage = key.split("/")
            path = doc_path(self.root, session, int(stage))
            if path.parent.is_dir() and not path.exists():
                path.write_bytes(self.saved.pop(key))
        self.step("restore")

    @rule(data=st.data())
    def remove_required_section(self, data: st.DataObject) -> None:
        session = self.pick(data)
        path = doc_path(self.root, session, 2)
        if path.is_file():
            text = path.read_text("utf-8")
            path.write_text(text.replace("## Acceptance Criteria", "## Criteria, maybe"), "utf-8")
        self.step(f"remove section {session}")

    @rule(data=st.data(), desc=st.sampled_from(["second", "third", "[REQUIRES INPUT]", "[a, b"]))
    def edit_profile(self, data: st.DataObject, desc: str) -> None:
        session = self.pick(data)
        edit_profile_description(self.root, session, desc)
        self.step(f"profile {session} {desc}")

    @rule(data=st.data())
    def document_becomes_directory(self, data: st.DataObject) -> None:
        session = self.pick(data)
        path = doc_path(self.root, session, 3)
        if path.is_file():
            self.saved[f"{session}/3"] = path.read_bytes()
            path.unlink()
            path.mkdir()
        self.step(f"plan of {session} is a directory")

    @rule(data=st.data())
    def directory_becomes_document_again(self, data: st.DataObject) -> None:
        for session in sessions(self.root):
            path = doc_path(self.root, session, 3)
            if path.is_dir():
                path.rmdir()
        self.step("directories removed")

    # -- sessions -----------------------------------------------------------------------------
    @rule(kind=st.sampled_from(["create", "spawn"]))
    def add_session(self, kind: str) -> None:
        self.counter += 1
        name = f"s{self.counter}"
        if len(sessions(self.root)) < 5:
            args = ["session", "create", name] if kind == "create" else ["spawn", name]
            assert run_cli(self.root, *args) == 0
        self.step(f"{kind} {name}")

    @rule(data=st.data())
    def switch(self, data: st.DataObject) -> None:
        session = self.pick(data)
        assert run_cli(self.root, "session", "switch", session) == 0
        self.step(f"switch {session}")

    @rule(data=st.data())
    def accept_all(self, data: st.DataObject) -> None:
        session = self.pick(data)
        run_cli(self.root, "accept", "--all", "--session", session)
        self.step(f"accept --all {session}")

    # -- configuration ------------------------------------------------------------------------
    @rule(severity=st.sampled_from(["off", "error", "warning", None]))
    def rule_override(self, severity: str | None) -> None:
        config = self.root / ".idse/config.yaml"
        lines = [ln for ln in config.read_text("utf-8").splitlines() if not ln.startswith(("rules:", "  "))]
        if severity is not None:
            lines += ["rules:", f"  IDSE-S002: {severity}", f"  IDSE-P002: {severity}"]
        config.write_text("\n".join(lines) + "\n", "utf-8")
        self.step(f"rules {severity}")

    @rule(extra=st.sampled_from(["", "## Extra\n\n[REQUIRES INPUT] more.\n", None]))
    def template_override(self, extra: str | None) -> None:
        from idse_orchestrator.templating import package_templates_dir

        override = self.root / ".idse/templates/intent.md"
        if extra is None:
            override.unlink(missing_ok=True)
        else:
            override.parent.mkdir(parents=True, exist_ok=True)
            shipped = (package_templates_dir() / "pipeline/intent.md").read_text("utf-8")
            override.write_text(shipped + extra, "utf-8")
        self.step(f"template override {extra!r}")

    @rule(how=st.sampled_from(["break", "overlap", "restore", "directory"]))
    def registry(self, how: str) -> None:
        path = self.root / PROJ / "agent_registry.json"
        if not self.registry_bytes:
            self.registry_bytes = path.read_bytes()
        if path.is_dir():
            path.rmdir()
        if how == "directory":
            path.unlink(missing_ok=True)
            path.mkdir()
        elif how == "break":
            path.write_text("{ not json", "utf-8")
        elif how == "overlap":
            data = json.loads(self.registry_bytes)
            data["agents"][0]["stages"] = sorted({*data["agents"][0]["stages"], "tasks"})
            path.write_text(json.dumps(data), "utf-8")
        else:
            path.write_bytes(self.registry_bytes)
        self.step(f"registry {how}")

    # -- derived files and caches -------------------------------------------------------------
    @rule(
        which=st.sampled_from(["state", "meta", "profile", "baselines", "result", "index", "doitdb"]),
        how=st.sampled_from(["delete", "edit", "corrupt"]),
        data=st.data(),
    )
    def damage_derived(self, which: str, how: str, data: st.DataObject) -> None:
        session = self.pick(data)
        cache = self.root / ".idse/.cache"
        path = {
            "state": self.root / PROJ / "session_state.json",
            "meta": self.root / PROJ / "meta.md",
            "profile": self.root / PROJ / "build/agents" / f"{session}.profile.yaml",
            "baselines": self.root / PROJ / "sessions" / session / "metadata/baselines.json",
            "result": cache / "results" / "demo" / session / "spec.json",
            "index": cache / "demo.index.sqlite",
            "doitdb": cache / "demo.doit.sqlite",
        }[which]
        if path.is_file():
            if how == "delete":
                path.unlink()
            elif how == "edit":
                with path.open("ab") as fh:
                    fh.write(b"\n")
            else:
                path.write_bytes(b"\x00garbage{[")
        self.step(f"{how} {which}")

    @rule(text=st.sampled_from(["# Notes kept by hand\n", "", None]))
    def hand_written_meta(self, text: str | None) -> None:
        """meta.md replaced by a person's own file (or removed): idse adds its block, keeps the rest."""
        path = self.root / PROJ / "meta.md"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text, "utf-8")
        self.step(f"hand-written meta.md {text!r}")

    @rule(delay=st.floats(min_value=0.0, max_value=1.2))
    def kill_build(self, delay: float) -> None:
        session = sessions(self.root)[-1]
        path = doc_path(self.root, session, 0)
        if path.is_file():
            self.counter += 1
            path.write_text(path.read_text("utf-8") + f"\nBefore kill {self.counter}.\n", "utf-8")
        killed_build(self.root, delay, getattr(self, "jobs", 1))
        self.step(f"kill -9 after {delay:.2f}s")


BuildMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
TestBuildMachine = BuildMachine.TestCase

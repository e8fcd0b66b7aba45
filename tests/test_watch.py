"""`idse watch`: a build per burst of saved changes, one line or JSON object per change."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from watchfiles import Change

from idse_orchestrator.watch import Watcher, is_source

SPEC = ".idse/projects/demo/sessions/__blueprint__/specs/spec.md"


def test_only_sources_trigger_a_round(ws):
    root = ws.root
    assert is_source(root, str(root / SPEC))
    assert is_source(root, str(root / ".idse/config.yaml"))
    for derived in (
        ".idse/.cache/demo.doit.sqlite",
        ".idse/projects/demo/session_state.json",
        ".idse/projects/demo/meta.md",
        ".idse/projects/demo/build/site/index.html",
        ".idse/projects/demo/sessions/__blueprint__/metadata/baselines.json",
        ".idse/projects/demo/build/agents/__blueprint__.profile.yaml",
        ".idse/.cache/tmp/.spec.md.abc.tmp",
        ".idse/projects/demo/.sync.lock",
    ):
        assert not is_source(root, str(root / derived)), derived


def test_each_burst_is_a_build_with_its_findings(ws):
    """Rounds are driven by a scripted change feed: exactly what `idse build` gives, per burst."""
    from idse_orchestrator.engine.build import build

    spec = ws.root / SPEC
    events: list[dict] = []
    feed: list[set] = []

    def changes():
        spec.write_text(spec.read_text().replace("## Acceptance Criteria", "## Criteria"))
        yield {
            (Change.modified, str(spec)),
            (Change.added, str(spec.parent / ".tmp~")),
            (Change.deleted, str(spec.parent / ".tmp~")),
        }
        spec.write_text(spec.read_text().replace("## Criteria", "## Acceptance Criteria"))
        yield {(Change.modified, str(spec))}
        feed.append(set())

    project = ws.project("demo")
    watcher = Watcher(ws, project, events.append, changes=changes())
    assert watcher.run() == 0
    assert [e["changed"] for e in events] == [[], [SPEC], [SPEC]]
    broken, fixed = events[1], events[2]
    assert broken["exit_code"] == 1 and "validate:__blueprint__" in broken["ran"]
    assert any(f["rule"] == "IDSE-A003" for f in broken["findings"])
    assert fixed["exit_code"] == 0 and not any(f["rule"] == "IDSE-A003" for f in fixed["findings"])
    again = build(ws, project)
    assert [t for t in again.tasks if t["status"] == "ran"] == []  # the watch left nothing to do
    assert feed == [set()], "the whole feed was consumed"


def test_a_bad_config_is_reported_and_the_watch_goes_on(ws):
    config = ws.root / ".idse/config.yaml"
    events: list[dict] = []

    def changes():
        config.write_text("rules: [not, a, mapping\n")
        yield {(Change.modified, str(config))}
        config.write_text("version: 1\n")
        yield {(Change.modified, str(config))}

    Watcher(ws, ws.project("demo"), events.append, changes=changes()).run()
    assert "error" in events[1] and events[1]["exit_code"] == 2
    assert events[2]["exit_code"] == 0


def test_the_command_follows_real_saves_and_stops_on_ctrl_c(ws, tmp_path):
    code = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "watch", "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(json.loads(line))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 20
        while len(lines) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lines) >= count, (lines, proc.poll())

    wait_for(1)
    time.sleep(0.5)  # the watcher is armed once the first build is out
    spec = Path(tmp_path / SPEC)
    spec.write_text(spec.read_text().replace("## Acceptance Criteria", "## Criteria"))
    wait_for(2)
    assert lines[1]["changed"] == [SPEC] and lines[1]["exit_code"] == 1
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) in (0, 130)
    thread.join(timeout=10)
    assert proc.stderr is not None and proc.stdout is not None
    with proc.stderr, proc.stdout:
        assert "Traceback" not in proc.stderr.read()

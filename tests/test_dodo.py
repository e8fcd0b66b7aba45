"""The repository's dodo.py: plain `doit` runs the same tasks as `idse build` over the same dependency DB."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import db_tasks

DODO = Path(__file__).resolve().parents[1] / "dodo.py"
PROJECT = "demo"
BLUEPRINT = "__blueprint__"
FEAT = "feat"
DB = f".idse/.cache/{PROJECT}.doit.sqlite"
FAMILIES = {"validate", "registry", "state", "meta", "agents", "compile"}


def doit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def all_tasks() -> set[str]:
    names = {"registry", "state", "meta"}
    for s in (BLUEPRINT, FEAT):
        names |= {f"validate:{s}", f"compile:{s}"}
    return names


def executed(output: str) -> set[str]:
    """Tasks doit's default reporter shows as run ('.  name'); up-to-date ones are shown as '-- name'."""
    return {line[1:].strip() for line in output.splitlines() if line.startswith(".  ")}


def skipped(output: str) -> set[str]:
    return {line[2:].strip() for line in output.splitlines() if line.startswith("-- ")}


def build_json(cli) -> dict:
    result = cli("build", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def repo(ws, cli, tmp_path):
    """A workspace with two sessions and this repository's dodo.py next to its .idse/."""
    assert cli("session", "create", FEAT).exit_code == 0
    shutil.copyfile(DODO, tmp_path / "dodo.py")
    return tmp_path


def test_doit_list_shows_the_task_families(repo):
    result = doit(repo, "list")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert listed == FAMILIES
    everything = doit(repo, "list", "--all")
    assert everything.returncode == 0, everything.stderr
    listed_all = {line.split()[0] for line in everything.stdout.splitlines() if line.strip()}
    assert listed_all >= all_tasks() | FAMILIES
    assert not (repo / DB).exists() or not db_tasks(repo / DB), "listing runs nothing"


def test_doit_then_idse_build_share_the_db(repo, cli):
    result = doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert executed(result.stdout) >= all_tasks()
    assert (repo / ".idse/.cache/results" / PROJECT / "sessions" / f"{FEAT}.json").is_file()
    assert db_tasks(repo / DB)

    report = build_json(cli)
    assert report["summary"]["ran"] == 0, [t["name"] for t in report["tasks"] if t["status"] != "up-to-date"]
    assert {t["name"] for t in report["tasks"]} >= all_tasks()

    again = doit(repo)
    assert again.returncode == 0
    assert executed(again.stdout) == set()


def test_idse_build_then_doit_is_up_to_date_and_edits_are_seen_by_both(repo, cli):
    assert build_json(cli)["summary"]["ran"] == len(all_tasks())
    result = doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert executed(result.stdout) == set()
    assert skipped(result.stdout) >= all_tasks()

    spec = repo / ".idse/projects" / PROJECT / "sessions" / BLUEPRINT / "specs/spec.md"
    spec.write_text(spec.read_text() + "\nEdited.\n")
    result = doit(repo)
    assert result.returncode == 0
    assert executed(result.stdout) == {
        f"validate:{BLUEPRINT}",
        f"compile:{BLUEPRINT}",
        f"compile:{FEAT}",
        f"validate:{FEAT}",  # feat's Agent Profile check merges the blueprint's
        "meta",  # the blueprint's findings changed (its spec is no longer the untouched template)
    }
    assert build_json(cli)["summary"]["ran"] == 0

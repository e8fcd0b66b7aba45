"""The package's layering, checked on the source: core never reaches up into the CLI, the
governance rules never reach into the build engine, and light commands load no heavy library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import idse_orchestrator

PACKAGE = Path(idse_orchestrator.__file__).parent


def imports_of(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("governance", ("idse_orchestrator.engine", "idse_orchestrator.cli", "idse_orchestrator.sync")),
        ("engine", ("idse_orchestrator.cli",)),
        ("sync", ("idse_orchestrator.cli", "idse_orchestrator.engine")),
        ("agents", ("idse_orchestrator.cli",)),
    ],
)
def test_no_upward_imports(layer, forbidden):
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_under(layer)
        for name in imports_of(path)
        if name.startswith(forbidden)
    ]
    assert offenders == []


def test_core_modules_never_import_the_cli():
    allowed = {"entry.py"}  # the console-script entry point hands over to the CLI
    offenders = [
        f"{path.name} imports {name}"
        for path in modules_under("")
        if path.name not in allowed
        for name in imports_of(path)
        if name.startswith("idse_orchestrator.cli")
    ]
    assert offenders == []


HEAVY = ("doit", "jinja2", "markdown_it", "pydantic", "watchfiles", "psycopg", "requests", "click")

# What each light command may load (measured in a fresh interpreter on a fresh workspace).
LIGHT = {
    ("--version",): set(),
    ("--help",): {"click"},
    ("build",): set(),  # a no-op build answers from the build index: doit is not even imported
    # Read commands on an up-to-date workspace read the files they need without pydantic (light.py)
    # and the rule set's summary instead of the rule set: no model, template or Markdown library;
    # their plain forms are parsed without click (quick.py).
    ("status",): set(),
    ("validate",): set(),
    ("sessions",): set(),
    ("route", "spec"): set(),
    ("session-info", "__blueprint__"): {"pydantic", "click"},
}


@pytest.mark.parametrize("args", sorted(LIGHT), ids=lambda a: " ".join(a))
def test_light_commands_load_only_what_they_need(ws, tmp_path, args):
    from idse_orchestrator.cli import run

    assert run(["build"]) == 0  # warm the index so that the measured build is a no-op
    import time

    time.sleep(2.1)  # past the racy window: the index trusts every file again
    assert run(["build"]) == 0
    code = (
        "import sys\n"
        "from idse_orchestrator.entry import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    marker = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")]
    assert marker, out.stderr
    loaded = set(filter(None, marker[-1][len("HEAVY=") :].split(",")))
    assert loaded <= LIGHT[args], out.stderr

"""What ships: every template folder, the task modules, the data files; and every pipeline template renders.

The distribution is built from a copy of the source tree (the working tree is never written to). A real
wheel is built when setuptools can make one offline (``wheel`` installed, or setuptools >= 70.1);
otherwise setuptools' ``build_py`` step, which selects exactly the files a wheel's purelib receives from
the same ``[tool.setuptools]`` configuration, stands in for it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from idse_orchestrator.sessions import document_context
from idse_orchestrator.stages import MARKER, STAGES
from idse_orchestrator.templating import package_templates_dir, render_text

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
SKIP_NAMES = {"__pycache__"}


def template_folders() -> list[Path]:
    return sorted(p for p in TEMPLATES.iterdir() if p.is_dir() and p.name not in SKIP_NAMES)


def shipped_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def can_build_wheel() -> bool:
    if importlib.util.find_spec("wheel") is not None:
        return True
    setuptools = pytest.importorskip("setuptools", reason="building offline needs setuptools installed")

    major, minor = (int(x) for x in re.findall(r"\d+", setuptools.__version__)[:2])
    return (major, minor) >= (70, 1)


class Built:
    def __init__(self, files: dict[str, bytes], wheel: Path | None) -> None:
        self.files = files
        self.wheel = wheel


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    shutil.copy2(REPO / "pyproject.toml", source / "pyproject.toml")
    readme = config["project"].get("readme")
    if isinstance(readme, str) and (REPO / readme).is_file():
        shutil.copy2(REPO / readme, source / readme)
    for rel in sorted(set(config["tool"]["setuptools"]["package-dir"].values())):
        shutil.copytree(REPO / rel, source / rel, ignore=ignore)

    out = tmp_path_factory.mktemp("dist")
    if can_build_wheel():
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        cmd += ["-q", "-w", str(out), str(source)]
    else:
        cmd = [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "-d",
            str(out),
        ]
    proc = subprocess.run(cmd, cwd=source, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    wheels = sorted(out.glob("*.whl"))
    if wheels:
        with zipfile.ZipFile(wheels[0]) as zf:
            files = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
        return Built(files, wheels[0])
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return Built(files, None)


@pytest.mark.slow
def test_every_template_folder_is_shipped(built):
    folders = template_folders()
    assert {"pipeline", "docs"} <= {f.name for f in folders}
    for folder in folders:
        files = shipped_files(folder)
        assert files, f"templates/{folder.name} is empty"
        for path in files:
            name = f"idse_orchestrator/templates/{path.relative_to(TEMPLATES).as_posix()}"
            assert name in built.files, f"{name} is not in the distribution"
            assert built.files[name] == path.read_bytes(), name


@pytest.mark.slow
def test_task_modules_are_shipped(built):
    tasks = REPO / "tasks"
    assert (tasks / "__init__.py").is_file()
    for path in sorted(tasks.glob("*.py")):
        assert f"idse_orchestrator/tasks/{path.name}" in built.files, path.name


@pytest.mark.slow
def test_every_module_and_data_file_is_shipped(built):
    """A subpackage missing from the explicit `packages` list would silently not ship."""
    package = REPO / "src" / "idse_orchestrator"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = f"idse_orchestrator/{path.relative_to(package).as_posix()}"
        assert name in built.files, f"{name} is not in the distribution"
    data = package / "data"
    for path in sorted(data.glob("*")) if data.is_dir() else []:
        if path.suffix in (".yaml", ".json"):
            assert f"idse_orchestrator/data/{path.name}" in built.files, path.name
    assert "idse_orchestrator/py.typed" in built.files


@pytest.mark.slow
def test_wheel_declares_the_idse_command(built):
    if built.wheel is None:
        pytest.skip("no offline wheel builder here (needs `wheel` or setuptools >= 70.1); build_py was used")
    (entry_points,) = [v for k, v in built.files.items() if k.endswith(".dist-info/entry_points.txt")]
    assert re.search(r"^idse\s*=\s*idse_orchestrator\.entry:main\s*$", entry_points.decode(), re.M)


# ------------------------------------------------------------------------------------------ rendering


def test_installed_templates_match_the_source_tree():
    installed = package_templates_dir()
    for folder in template_folders():
        for path in shipped_files(folder):
            rel = path.relative_to(TEMPLATES)
            assert (installed / rel).read_bytes() == path.read_bytes(), rel


def test_every_stage_has_a_pipeline_template_and_vice_versa():
    on_disk = {p.name for p in shipped_files(TEMPLATES / "pipeline")}
    assert on_disk == {s.template for s in STAGES}


CONTEXTS = [
    document_context("demo", "__blueprint__", "python", None),
    document_context("demo", "checkout-flow", None, "__blueprint__"),
    document_context("my_product", "a.b_c-1", "node", "parent-x"),
]


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c["session"])
@pytest.mark.parametrize("path", shipped_files(TEMPLATES / "pipeline"), ids=lambda p: p.name)
def test_pipeline_templates_render_strictly(path, context):
    assert {"project", "session", "stack", "parent"} <= set(context)
    text = render_text(path.read_text("utf-8"), context, origin=str(path))
    assert "{{" not in text and "{%" not in text and "{#" not in text
    assert context["session"] in text.splitlines()[0], "the title names the session"
    assert MARKER in text, "a fresh document must be recognisably unfilled"
    assert text.endswith("\n")
    if context["stack"] and "stack" in path.read_text("utf-8"):
        assert context["stack"] in text


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c["session"])
def test_spec_agent_profile_block_is_valid_yaml(context):
    import yaml

    from idse_orchestrator.markdown import parse

    text = render_text((TEMPLATES / "pipeline" / "spec.md").read_text("utf-8"), context)
    st = parse(text)
    section = st.section("Agent Profile")
    assert section is not None
    (fence, *_) = [f for f in st.fences_in(section) if f.info.split()[:1] == ["yaml"]]
    profile = yaml.safe_load(fence.content)
    assert {"id", "name", "description", "goals", "version"} <= set(profile)
    assert profile["id"] and not profile["id"].startswith("-") and "_" not in profile["id"]
    for key in ("inputs", "outputs", "tools", "constraints"):
        assert isinstance(profile.get(key), list), key
    for key in ("memory_policy", "runtime_hints"):
        assert isinstance(profile.get(key), dict), key

"""Jinja2 rendering of pipeline documents, agent files and docs.

Templates ship in the ``idse_orchestrator.templates`` package. A repository overrides any of them by
placing a file with the same name in `.idse/templates/` (either ``<folder>/<name>`` or just ``<name>``).
Rendering is strict (undefined variables are errors) and deterministic (no dates).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idse_orchestrator.errors import BadFile, NotFound
from idse_orchestrator.fsutil import sha256_hex

if TYPE_CHECKING:
    from idse_orchestrator.workspace import Workspace

TEMPLATE_FOLDERS = ("pipeline", "agents", "docs")


def package_templates_dir() -> Path:
    # The templates ship as a regular package, so its folder is on disk; importlib.resources would
    # cost a no-op build more than the rest of its imports.
    from importlib import import_module

    return Path(str(import_module("idse_orchestrator.templates").__file__)).parent


def template_path(name: str, ws: Workspace | None = None) -> Path:
    """Resolve ``folder/name`` to the file that will be rendered, honouring repo overrides."""
    if ws is not None:
        from idse_orchestrator.fsutil import confined

        for candidate in (ws.templates_dir / name, ws.templates_dir / Path(name).name):
            if candidate.is_file() or candidate.is_symlink():
                confined(candidate)  # an override that points outside the repository is refused
                return candidate
    path = package_templates_dir() / name
    if not path.is_file():
        raise NotFound(f"no template {name!r}")
    return path


def list_templates(folder: str) -> list[str]:
    base = package_templates_dir() / folder
    return sorted(f"{folder}/{p.name}" for p in base.iterdir() if p.is_file() and not p.name.startswith("_"))


@lru_cache(maxsize=64)
def _compile(source: str) -> Any:
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.from_string(source)


def render_text(source: str, context: dict[str, Any], *, origin: str = "<template>") -> str:
    import jinja2

    try:
        return str(_compile(source).render(**context))
    except jinja2.TemplateError as exc:
        raise BadFile(origin, f"template error: {exc}") from None


def render(name: str, context: dict[str, Any], ws: Workspace | None = None) -> str:
    """Render template ``name``; a problem with a repository override names it repo-relative."""
    from idse_orchestrator.fsutil import read_text

    try:
        path = template_path(name, ws)
        return render_text(read_text(path), context, origin=str(path))
    except BadFile as exc:
        if ws is None:
            raise
        raise exc.relative_to(ws) from None


def sha256_text(text: str) -> str:
    return sha256_hex(text.encode("utf-8"))

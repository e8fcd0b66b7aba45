"""`idse docs`: the documentation, readable offline, and the method docs copied into `.idse/docs/`.

Two sets of pages ship in the package: the reference (the repository's `docs/` folder, shipped as
``idse_orchestrator.manual``: sync, agents, mcp, the Artifact Core protocol and its OpenAPI, …) and the
IDSE method docs (``templates/docs``: getting started, constitution, pipeline, …), which `idse docs
install` also copies into the workspace. A page is named by its file name without the extension.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from idse_orchestrator.errors import BadFile
from idse_orchestrator.fsutil import atomic_write_text, dump_json, read_text
from idse_orchestrator.templating import list_templates, package_templates_dir, sha256_text
from idse_orchestrator.workspace import Workspace

MANIFEST = ".manifest.json"


def install_docs(ws: Workspace, *, force: bool = False) -> dict[str, list[str]]:
    """Write each shipped doc unless the user edited the installed copy.

    A manifest records the hash of what idse last wrote, so an unedited doc is upgraded silently while an
    edited one is kept (unless ``force``). A file that cannot be used is named repo-relative.
    """
    try:
        return _install_docs(ws, force)
    except BadFile as exc:
        raise exc.relative_to(ws) from None


def _install_docs(ws: Workspace, force: bool) -> dict[str, list[str]]:
    target = ws.idse_dir / "docs"
    manifest_path = target / MANIFEST
    try:
        manifest: dict[str, str] = (
            json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
        )
    except (OSError, ValueError):
        manifest = {}
    written: list[str] = []
    kept: list[str] = []
    for name in list_templates("docs"):
        filename = name.split("/", 1)[1]
        text = read_text(package_templates_dir() / name)
        dest = target / filename
        if dest.exists():
            current = sha256_text(read_text(dest))
            if current == sha256_text(text):
                manifest[filename] = current
                continue
            if current != manifest.get(filename) and not force:
                kept.append(ws.rel(dest))
                continue
        atomic_write_text(dest, text)
        manifest[filename] = sha256_text(text)
        written.append(ws.rel(dest))
    atomic_write_text(manifest_path, dump_json(manifest))
    return {"written": written, "kept": kept}


PAGE_SUFFIXES = (".md", ".yaml")


@dataclass(frozen=True)
class Page:
    name: str
    kind: str  # "reference" or "method"
    path: Path

    @property
    def title(self) -> str:
        """The first Markdown heading, or the OpenAPI document's title."""
        for line in read_text(self.path).splitlines():
            if line.startswith("# "):
                return line[2:].strip()
            if line.strip().startswith("title:"):
                return line.split(":", 1)[1].strip().strip("'\"") + " (OpenAPI)"
        return self.name

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "title": self.title, "file": self.path.name}


def _manual_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("idse_orchestrator.manual")))


def pages() -> list[Page]:
    """Every shipped page: the reference first, then the method docs, each sorted by name."""
    out: list[Page] = []
    for kind, folder in (("reference", _manual_dir()), ("method", package_templates_dir() / "docs")):
        for path in sorted(folder.iterdir()):
            if path.suffix in PAGE_SUFFIXES and path.is_file():
                out.append(Page(path.stem, kind, path))
    return out


def page(name: str) -> Page:
    """The page called ``name`` (its file name, with or without the extension)."""
    from idse_orchestrator.errors import NotFound

    known = pages()
    for candidate in known:
        if name in (candidate.name, candidate.path.name):
            return candidate
    import difflib

    close = difflib.get_close_matches(name, [p.name for p in known], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; 'idse docs' lists them"
    raise NotFound(f"no documentation page {name!r}{hint}")


def page_text(name: str) -> str:
    return read_text(page(name).path)

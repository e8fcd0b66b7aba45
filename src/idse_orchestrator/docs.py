"""`idse docs install`: the IDSE method docs, copied into `.idse/docs/` without clobbering edits."""

from __future__ import annotations

import json

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

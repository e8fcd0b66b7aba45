"""DocToAgentProfileSpecCompiler: a spec's ``## Agent Profile`` YAML block -> ``AgentProfileSpec``.

The blueprint session's profile gives defaults that the session's own profile overrides (mappings
merge, lists and scalars replace); either may be absent, not both. Output is deterministic.

An invalid document makes the compile fail with exit code 1 (``ProfileError`` is a ``Failed``, its
message ``path:line: problem``); an unreadable file is bad input (``BadFile``, exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from idse_orchestrator.agents.extract import (
    SECTION_TITLE,
    Problem,
    ProfileBlock,
    ProfileProblem,
    extract_profile_block,
    pydantic_message,
)
from idse_orchestrator.agents.profile import AgentProfileSpec
from idse_orchestrator.errors import Failed, UsageError, file_message
from idse_orchestrator.stages import BLUEPRINT, BY_NAME, MARKER
from idse_orchestrator.workspace import Project, Workspace

__all__ = [
    "CompiledProfile",
    "ProfileBlock",
    "ProfileError",
    "ProfileProblem",
    "Problem",
    "compile_profile",
    "extract_profile_block",
    "profile_output_path",
    "render_profile",
    "write_profile",
]

ProfileFormat = Literal["yaml", "json"]
FORMATS: tuple[str, ...] = ("yaml", "json")
# Problems that concern one key's value, so a session overriding that key makes them moot.
_VALUE_PROBLEMS = ("placeholder", "type")


@dataclass(frozen=True)
class CompiledProfile:
    spec: AgentProfileSpec
    inputs: list[Path] = field(default_factory=list)  # session spec.md, then the blueprint's (when present)


class ProfileError(Failed):
    """A profile document that cannot be compiled; the message is ``path:line: problem``."""

    def __init__(self, path: str, line: int, problem: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(file_message(path, problem, line))
        self.path = path
        self.line = line
        self.problem = problem
        self.problems = problems


# --- compile -----------------------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; mappings present on both sides merge recursively, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def spec_path(project: Project, session: str) -> Path:
    return project.document_path(session, BY_NAME["spec"])


def _fail(
    ws: Workspace, path: Path, problems: tuple[Problem, ...], *, can_inherit: bool = False
) -> ProfileError:
    rel = ws.rel(path)
    first = problems[0]
    if all(p.code == "placeholder" for p in problems):
        keys = ", ".join(dict.fromkeys(p.key or "?" for p in problems))
        message = (
            f"the Agent Profile still has {MARKER} in {keys}: fill in the Agent Profile"
            + (" (or delete those keys to inherit them from the blueprint)" if can_inherit else "")
            + ", then compile again"
        )
    else:
        more = len(problems) - 1
        message = first.message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
    return ProfileError(rel, first.line, message, problems)


def _load(
    ws: Workspace, project: Project, session: str
) -> tuple[Path, str | None, ProfileBlock | ProfileProblem]:
    """The spec's path, text and Agent Profile block; read once per build (a session's check and its
    compile read it, and every session's compile reads the blueprint's). Callers only read it."""
    from idse_orchestrator.memo import remembered
    from idse_orchestrator.status import read_document

    def load() -> tuple[Path, str | None, ProfileBlock | ProfileProblem]:
        path = spec_path(project, session)
        text = read_document(project, session, BY_NAME["spec"])
        if text is None:
            return path, None, ProfileProblem((Problem(1, "does not exist", "no-section"),))
        return path, text, extract_profile_block(text)

    return remembered(("spec-profile", str(ws.root), project.name, session), load)


def session_has_profile(ws: Workspace, project: Project, session: str) -> bool:
    """True when the session's own spec.md has an Agent Profile section (valid or not)."""
    _, _, result = _load(ws, project, session)
    return not (isinstance(result, ProfileProblem) and result.absent)


def compile_profile(ws: Workspace, project: Project, session: str) -> CompiledProfile:
    """The validated profile of ``session``, its blueprint's profile merged in as defaults."""
    from pydantic import ValidationError

    from idse_orchestrator.templating import sha256_text

    project.require_session(session)
    own_path, own_text, own = _load(ws, project, session)
    inputs = [own_path] if own_text is not None else []
    if isinstance(own, ProfileProblem):
        if not own.absent:
            raise _fail(ws, own_path, own.problems, can_inherit=session != BLUEPRINT)
        own_block: ProfileBlock | None = None
    else:
        own_block = own
    bp_block: ProfileBlock | None = None
    bp_path: Path | None = None
    if session != BLUEPRINT and project.has_session(BLUEPRINT):
        bp_path, bp_text, bp = _load(ws, project, BLUEPRINT)
        if bp_text is not None:
            inputs.append(bp_path)
        if isinstance(bp, ProfileProblem) and not bp.absent:
            overridden = set(own_block.data) if own_block else set()
            live = tuple(p for p in bp.problems if not (p.code in _VALUE_PROBLEMS and p.key in overridden))
            if live or bp.block is None:
                raise _fail(ws, bp_path, live or bp.problems)
            bp_block = bp.block
        elif isinstance(bp, ProfileBlock):
            bp_block = bp
    if own_block is None and bp_block is None:
        where = "does not exist" if own_text is None else f"has no '## {SECTION_TITLE}' section"
        blueprint = " and neither does the blueprint's" if session != BLUEPRINT else ""
        raise ProfileError(
            ws.rel(own_path),
            1,
            f"{where}{blueprint}; add the section with a ```yaml profile block ('idse docs show agents')",
        )
    merged = deep_merge(bp_block.data if bp_block else {}, own_block.data if own_block else {})
    sources = "\0".join(b.sha256 for b in (bp_block, own_block) if b is not None)
    provenance = {
        "source_session": session,
        "source_blueprint": BLUEPRINT if bp_block is not None else None,
        "source_sha256": sha256_text(sources),
    }
    try:
        spec = AgentProfileSpec.model_validate({**merged, **provenance})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err.get("loc", ("",))[0])
        block = (
            own_block if own_block is not None and (key in own_block.data or bp_block is None) else bp_block
        )
        assert block is not None
        path = own_path if block is own_block else bp_path
        assert path is not None
        raise ProfileError(
            ws.rel(path), block.key_lines.get(key, block.line), pydantic_message(err, key or "(profile)")
        ) from None
    return CompiledProfile(spec, inputs)


# --- output ------------------------------------------------------------------------------------------


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def profile_data(spec: AgentProfileSpec) -> dict[str, Any]:
    """The profile as plain data: fields in model order, free-form mappings with sorted keys."""
    data = spec.model_dump(mode="json")
    for name in ("memory_policy", "runtime_hints", "extensions"):
        data[name] = _sorted(data[name])
    if not data["extensions"]:
        del data["extensions"]  # most profiles have none: their output stays as it was
    return data


def render_profile(spec: AgentProfileSpec, fmt: str) -> str:
    """The compiled profile as YAML or JSON text. Deterministic: no timestamps, fixed key order."""
    data = profile_data(spec)
    if fmt == "json":
        import json

        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        header = (
            f"# Agent profile of session {spec.source_session}, compiled by 'idse compile agent-spec'.\n"
            "# Edit the '## Agent Profile' block of the session's spec.md instead of this file.\n"
        )
        return header + dump_yaml(data)
    raise UsageError(f"unknown profile format {fmt!r}; use one of {', '.join(FORMATS)}")


_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "allow_unicode": True,
    "default_flow_style": False,
    "width": 100,
}


def dump_yaml(data: Any) -> str:
    """``yaml.safe_dump`` with the profile's options. LibYAML's emitter writes the same bytes four
    times faster for plain data (printable ASCII text, no empty key: tests/test_yaml_fast_paths.py
    compares the two); anything else goes to the pure emitter, whose output is the reference."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", None)
    if dumper is not None and _plain(data):
        return str(yaml.dump(data, Dumper=dumper, **_DUMP_OPTIONS))
    return str(yaml.safe_dump(data, **_DUMP_OPTIONS))


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, str):
        return value.isascii() and value.isprintable()
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k != "" and _plain(k) and _plain(v) for k, v in value.items())
    return False


def profile_output_path(project: Project, session: str, fmt: str) -> Path:
    """Default output: ``build/agents/<session>.profile.<yaml|json>`` in the project directory."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown profile format {fmt!r}; use one of {', '.join(FORMATS)}")
    return project.profile_path(session, fmt)


def profile_sessions(ws: Workspace, project: Project) -> list[str]:
    """Sessions whose own spec.md has an Agent Profile section (what ``--all`` compiles)."""
    return [s for s in project.session_ids() if session_has_profile(ws, project, s)]


def write_profile(
    ws: Workspace, project: Project, session: str, fmt: str, out_dir: Path | None = None
) -> tuple[Path, bool]:
    """Compile and write one profile; returns its path and whether the file changed."""
    from idse_orchestrator.fsutil import write_if_changed

    text = render_profile(compile_profile(ws, project, session).spec, fmt)
    path = profile_output_path(project, session, fmt)
    if out_dir is not None:
        path = out_dir / path.name
    return path, write_if_changed(path, text)

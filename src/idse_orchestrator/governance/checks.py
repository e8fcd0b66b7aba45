"""The check kinds a rule can use. Each is a plain function yielding hits (dicts of message fields).

A hit's ``line``/``column`` locate it; other keys fill the rule's message and fix templates.
Checks never read files: everything arrives in the view or input object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from idse_orchestrator.governance.engine import DocView, ProjectInput, SessionInput
from idse_orchestrator.markdown import normalize_title
from idse_orchestrator.stages import STAGE_NAMES, upstream_of

Hit = dict[str, Any]


@dataclass(frozen=True)
class CheckKind:
    func: Callable[[Any, dict[str, Any]], Iterator[Hit]]
    scope: str
    states: frozenset[str] = frozenset()  # document checks: the document states they apply to


CHECKS: dict[str, CheckKind] = {}


def check(name: str, scope: str = "document", states: tuple[str, ...] = ("content",)) -> Callable[..., Any]:
    def register(func: Callable[..., Iterator[Hit]]) -> Callable[..., Iterator[Hit]]:
        CHECKS[name] = CheckKind(func, scope, frozenset(states))
        return func

    return register


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- document checks --------------------------------------------------------------------------


@check("artifact_present", states=("missing",))
def artifact_present(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    yield {"line": None}


@check("artifact_readable", states=("unreadable",))
def artifact_readable(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    yield {"line": None}


@check("not_untouched", states=("untouched",))
def not_untouched(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    yield {"line": 1}


def _required(view: DocView) -> tuple[str, ...]:
    # Derived from the template actually in use (shipped or overridden): no second list by hand.
    return view.required_sections


@check("required_sections")
def required_sections(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    present = {normalize_title(s.heading.title): s for s in view.structure.sections(2)}
    previous_end = 1
    for title in _required(view):
        sec = present.get(normalize_title(title))
        if sec is None:
            yield {"line": previous_end, "section": title}
        else:
            previous_end = sec.end
    return


@check("sections_not_empty")
def sections_not_empty(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    st = view.structure
    for title in _required(view):
        sec = st.section(title)
        if sec is not None and not st.has_content(sec):
            yield {"line": sec.start, "column": 1, "section": title}


@check("no_placeholder")
def no_placeholder(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    for line, col in view.markers:
        yield {"line": line, "column": col}


@check("section_list_items")
def section_list_items(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    st = view.structure
    sec = st.section(str(params["section"]))
    if sec is not None and st.has_content(sec) and len(st.items_in(sec)) < int(params.get("min", 1)):
        yield {"line": sec.start, "column": 1, "section": params["section"]}


_CHECKBOX = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[[ xX]\](?:\s|$)")


def _items_failing(view: DocView, section: str, ok: Callable[[str], bool]) -> Iterator[Hit]:
    """A hit for each top-level list item of ``section`` whose first line ``ok`` rejects."""
    st = view.structure
    sec = st.section(section)
    if sec is None:
        return
    for line, raw in st.items_in(sec):
        if not ok(raw):
            yield {"line": line, "column": 1, "item": _short(raw.strip())}


@check("checkbox_items")
def checkbox_items(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    return _items_failing(view, str(params["section"]), lambda raw: bool(_CHECKBOX.match(raw)))


@check("items_mention")
def items_mention(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    words = re.compile(
        r"\b(?:" + "|".join(re.escape(str(w)) for w in params["words"]) + r")\b", re.IGNORECASE
    )
    return _items_failing(view, str(params["section"]), lambda raw: bool(words.search(raw)))


@check("agent_profile_yaml")
def agent_profile_yaml(view: DocView, params: dict[str, Any]) -> Iterator[Hit]:
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    st = view.structure
    sec = st.section(str(params.get("section", "Agent Profile")))
    if sec is None:
        return
    fence = next((f for f in st.fences_in(sec) if f.info.split()[:1] in (["yaml"], ["yml"])), None)
    if fence is None:
        yield {"line": sec.start, "column": 1, "problem": "the section has no ```yaml block"}
        return
    try:
        data = safe_load(fence.content)
    except YamlError as exc:
        line = fence.content_line + (exc.line - 1 if exc.line else 0)
        yield {"line": line, "problem": str(exc).replace(f" at line {exc.line}", "")}
        return
    if not isinstance(data, dict):
        yield {
            "line": fence.start,
            "column": 1,
            "problem": "the yaml block is not a mapping of keys to values",
        }


# -- session checks ---------------------------------------------------------------------------


@check("stage_order", scope="session")
def stage_order(session: SessionInput, params: dict[str, Any]) -> Iterator[Hit]:
    for stage in STAGE_NAMES:
        if session.statuses.get(stage) != "complete":
            continue
        for upstream in upstream_of(stage):
            up_status = session.statuses.get(upstream, "missing")
            if up_status not in ("complete", "stale"):
                yield {
                    "path": session.paths[stage],
                    "line": None,
                    "stage": stage,
                    "upstream": upstream,
                    "upstream_status": up_status.replace("_", " "),
                }
                break


@check("metadata_schema", scope="session")
def metadata_schema(session: SessionInput, params: dict[str, Any]) -> Iterator[Hit]:
    if session.metadata_problem:
        yield {"path": session.metadata_path, "line": None, "problem": session.metadata_problem}


@check("stage_fresh", scope="session")
def stage_fresh(session: SessionInput, params: dict[str, Any]) -> Iterator[Hit]:
    for stage in STAGE_NAMES:
        for line in session.why.get(stage, []):
            upstream = line.split(" ", 1)[0]
            yield {"path": session.paths[stage], "line": None, "stage": stage, "upstream": upstream}


@check("agent_profile_compiles", scope="session")
def agent_profile_compiles(session: SessionInput, params: dict[str, Any]) -> Iterator[Hit]:
    if session.profile_problem is not None:
        path, line, problem, unfinished = session.profile_problem
        if unfinished != bool(params.get("unfinished")):
            return
        if unfinished and session.statuses.get("spec") == "pending":
            return  # an untouched template: IDSE-A005 already says the spec has not been started
        yield {"path": path, "line": line, "problem": problem}


# -- project checks ---------------------------------------------------------------------------


@check("registry_schema", scope="project")
def registry_schema(project: ProjectInput, params: dict[str, Any]) -> Iterator[Hit]:
    if project.registry_problem:
        yield {"line": None, "problem": project.registry_problem}


def _claims(project: ProjectInput) -> dict[str, list[str]]:
    claims: dict[str, list[str]] = {s: [] for s in STAGE_NAMES}
    agents = project.registry.get("agents") if isinstance(project.registry, dict) else None
    for agent in agents if isinstance(agents, list) else []:
        if not isinstance(agent, dict) or not isinstance(agent.get("stages"), list):
            continue
        for stage in agent["stages"]:
            if stage in claims:
                claims[stage].append(str(agent.get("id", "?")))
    return claims


@check("registry_overlap", scope="project")
def registry_overlap(project: ProjectInput, params: dict[str, Any]) -> Iterator[Hit]:
    if project.registry is None:
        return
    for stage, agents in _claims(project).items():
        if len(agents) > 1:
            yield {"line": None, "stage": stage, "agents": ", ".join(agents), "winner": agents[0]}


@check("registry_unrouted", scope="project")
def registry_unrouted(project: ProjectInput, params: dict[str, Any]) -> Iterator[Hit]:
    if project.registry is None:
        return
    for stage, agents in _claims(project).items():
        if not agents:
            yield {"line": None, "stage": stage}

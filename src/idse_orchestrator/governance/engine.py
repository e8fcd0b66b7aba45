"""The validation engine: plain functions from documents to findings, with no I/O.

The build graph runs ``check_document`` once per artifact and caches its result, so everything a
check needs (text, rendered template, recorded template hash) is carried in by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from idse_orchestrator.governance.findings import SEVERITY_ORDER as SEVERITY_ORDER
from idse_orchestrator.governance.findings import Finding as Finding
from idse_orchestrator.governance.findings import summarize as summarize
from idse_orchestrator.markdown import Structure, find_markers, parse

if TYPE_CHECKING:
    # Findings are plain values: reading cached ones must not load pydantic.
    from idse_orchestrator.governance.ruleset import Rule, RuleSet
    from idse_orchestrator.models import StageStatus


def stage_status(
    text: str | None,
    *,
    unreadable: bool,
    has_markers: Callable[[str], bool],
    untouched: Callable[[str], bool],
) -> StageStatus:
    """The one definition of a stage's status, derived from its document ``text``.

    missing (no document) / in_progress (``unreadable``: it exists but cannot be used yet) /
    complete (no marker outside code) / pending (markers, and still the untouched template) /
    in_progress (markers in an edited document). The two tests are callables so that a caller pays
    only for those the answer needs (``untouched`` may render the template).
    """
    if text is None:
        return "in_progress" if unreadable else "missing"
    if not has_markers(text):
        return "complete"
    return "pending" if untouched(text) else "in_progress"


def is_untouched(
    text: str, text_sha256: str, template_hashes: Collection[str], template: Callable[[], str]
) -> bool:
    """True when ``text`` is still the document as rendered from its template: its sha256 is one
    recorded when the session was created (which survives template upgrades), or it equals the
    template rendered now (``template`` is called only when the hashes do not decide)."""
    if text_sha256 in template_hashes:
        return True
    rendered = template()
    return bool(rendered) and text == rendered


@dataclass(frozen=True)
class Document:
    """One pipeline artifact as read from disk. ``text`` is None when absent or unreadable."""

    session: str
    stage: str
    path: str  # repo-relative POSIX
    text: str | None
    problem: str | None = None  # why it could not be read
    template: str = ""  # the stage's template rendered for this session
    template_hashes: frozenset[str] = frozenset()
    text_sha256: str = ""
    # Level-2 headings of the template; derived from ``template`` when not given.
    required_sections: tuple[str, ...] | None = None
    # Renders ``template`` when asked (only an "untouched?" question the hashes cannot answer needs
    # it); when given, it stands for ``template``.
    render: Callable[[], str] | None = field(default=None, compare=False, repr=False)


@dataclass
class DocView:
    """A document with lazily parsed structure, shared by every check of one run."""

    doc: Document
    _cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def structure(self) -> Structure:
        return parse(self.doc.text or "")

    @cached_property
    def template(self) -> str:
        return self.doc.render() if self.doc.render is not None else self.doc.template

    @cached_property
    def required_sections(self) -> tuple[str, ...]:
        if self.doc.required_sections is not None:
            return self.doc.required_sections
        return tuple(h.title for h in _template_structure(self.template).headings if h.level == 2)

    @cached_property
    def markers(self) -> list[tuple[int, int]]:
        if self.doc.text is None or "[REQUIRES INPUT]" not in self.doc.text:
            return []
        return find_markers(self.structure)

    @cached_property
    def untouched(self) -> bool:
        text = self.doc.text
        if text is None:
            return False
        return is_untouched(text, self.doc.text_sha256, self.doc.template_hashes, lambda: self.template)

    @cached_property
    def status(self) -> StageStatus:
        return stage_status(
            self.doc.text,
            unreadable=self.doc.problem is not None,
            has_markers=lambda _text: bool(self.markers),
            untouched=lambda _text: self.untouched,
        )

    @property
    def state(self) -> str:
        """Which family of checks applies: missing, unreadable, untouched or content."""
        if self.doc.text is None:
            return "unreadable" if self.doc.problem else "missing"
        return "untouched" if self.untouched else "content"


_TEMPLATE_CACHE: dict[str, Structure] = {}


def _template_structure(text: str) -> Structure:
    # Templates differ only in the session name, so the parse is cached by text.
    st = _TEMPLATE_CACHE.get(text)
    if st is None:
        if len(_TEMPLATE_CACHE) > 256:
            _TEMPLATE_CACHE.clear()
        st = _TEMPLATE_CACHE[text] = parse(text)
    return st


def _finding(
    rule: Rule, hit: dict[str, Any], base: dict[str, Any], path: str, session: str | None
) -> Finding:
    fields = {**base, **hit}
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        path=hit.get("path", path),
        line=hit.get("line"),
        column=hit.get("column"),
        message=rule.message.format_map(_Fields(fields)),
        hint=rule.fix.format_map(_Fields(fields)),
        session=session,
    )


class _Fields(dict[str, Any]):
    # A message naming a field the check did not provide shows the name instead of failing.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def check_document(doc: Document, ruleset: RuleSet) -> tuple[StageStatus, list[Finding]]:
    """Apply every enabled document rule for ``doc.stage``. Returns the derived status and findings."""
    from idse_orchestrator.governance.checks import CHECKS

    view = DocView(doc)
    state = view.state
    base = {"stage": doc.stage, "session": doc.session, "path": doc.path, "problem": doc.problem or ""}
    findings: list[Finding] = []
    for rule in ruleset.rules:
        if not rule.enabled or rule.scope != "document" or not rule.applies_to(doc.stage):
            continue
        kind = CHECKS[rule.check]
        if state not in kind.states:
            continue
        for hit in kind.func(view, rule.params):
            findings.append(_finding(rule, hit, base, doc.path, doc.session))
    findings.sort(key=Finding.sort_key)
    return view.status, findings


@dataclass(frozen=True)
class SessionInput:
    session: str
    statuses: dict[str, StageStatus]
    paths: dict[str, str]  # stage -> repo-relative document path
    metadata_path: str
    metadata_problem: str | None = None
    why: dict[str, list[str]] = field(default_factory=dict)  # stale stage -> upstream changes
    profile_problem: tuple[str, int, str, bool] | None = None  # (path, line, problem) of the Agent Profile


def check_session(session: SessionInput, ruleset: RuleSet) -> list[Finding]:
    from idse_orchestrator.governance.checks import CHECKS

    findings = []
    base = {"session": session.session}
    for rule in ruleset.rules:
        if rule.enabled and rule.scope == "session":
            for hit in CHECKS[rule.check].func(session, rule.params):
                findings.append(_finding(rule, hit, base, hit.get("path", ""), session.session))
    findings.sort(key=Finding.sort_key)
    return findings


@dataclass(frozen=True)
class ProjectInput:
    project: str
    registry_path: str
    registry: Any  # parsed JSON (or None when unreadable)
    registry_problem: str | None = None


def check_project(project: ProjectInput, ruleset: RuleSet) -> list[Finding]:
    from idse_orchestrator.governance.checks import CHECKS

    findings = []
    base = {"project": project.project}
    for rule in ruleset.rules:
        if rule.enabled and rule.scope == "project":
            for hit in CHECKS[rule.check].func(project, rule.params):
                findings.append(_finding(rule, hit, base, project.registry_path, None))
    findings.sort(key=Finding.sort_key)
    return findings

"""Reporters: findings rendered as text, JSON, SARIF 2.1.0 or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from idse_orchestrator import __version__
from idse_orchestrator.governance.findings import Finding, summarize

if TYPE_CHECKING:
    from idse_orchestrator.governance.ruleset import RuleSet
    from idse_orchestrator.governance.summary import RuleSetLike

FORMATS = ("text", "json", "sarif", "github")


def location(f: Finding) -> str:
    loc = f.path
    if f.line is not None:
        loc += f":{f.line}"
        if f.column is not None:
            loc += f":{f.column}"
    return loc


# Hint lines of the text report wrap at this width; finding lines stay one line each, for parsers.
TEXT_WIDTH = 100
HINT_INDENT = "    "


def render_text(
    findings: list[Finding],
    ruleset: RuleSetLike,
    sessions: int,
    *,
    hints: bool = True,
    paint: Callable[[str, str], str] | None = None,
) -> str:
    """``path:line:col: severity RULE message`` per finding, then the summary line.

    A rule's fix hint is printed once per run, indented under the rule's first finding: the hint
    itself when every finding of the rule has the same one, else the rule's fix with its fields
    named (``Add the '## <section>' heading …``), since each finding's message says which.
    Only finding lines start in column one. ``paint(text, severity)`` may colour severities.
    JSON, SARIF and GitHub output keep each finding's own hint.
    """
    lines = []
    shown: set[str] = set()
    for f in findings:
        severity = paint(f.severity, f.severity) if paint else f.severity
        first, *rest = f.message.splitlines() or [""]
        lines.append(f"{location(f)}: {severity} {f.rule} {first}")
        lines.extend(f"{HINT_INDENT}{more}" for more in rest)
        if hints and f.hint and f.rule not in shown:
            shown.add(f.rule)
            lines.extend(_hint_lines(_run_hint(f, findings, ruleset)))
    s = summarize(findings, sessions)
    plural = "s" if sessions != 1 else ""
    lines.append(
        f"{s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info in {sessions} session{plural}"
        f" (rule set {ruleset.version})"
    )
    for note in ruleset.overrides:
        lines.append(f"override applied: {note}")
    return "\n".join(lines)


class _Named(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def _run_hint(first: Finding, findings: list[Finding], ruleset: RuleSetLike) -> str:
    """The one hint shown for ``first.rule`` in this run."""
    from idse_orchestrator.errors import NotFound

    if len({f.hint for f in findings if f.rule == first.rule and f.hint}) == 1:
        return first.hint
    try:
        return ruleset.rule(first.rule).fix.format_map(_Named())
    except (NotFound, ValueError, IndexError):
        return first.hint


def _hint_lines(hint: str) -> list[str]:
    import textwrap

    return textwrap.wrap(
        f"fix: {' '.join(hint.split())}",
        width=TEXT_WIDTH,
        initial_indent=HINT_INDENT,
        subsequent_indent=HINT_INDENT + "     ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def ruleset_data(ruleset: RuleSet) -> dict[str, Any]:
    """The rule set as JSON data (`idse rules --json`, the MCP resource idse://rules)."""
    return {
        "rule_set_version": ruleset.version,
        "overrides": list(ruleset.overrides),
        "rules": [
            {
                "id": r.id,
                "article": r.article,
                "title": r.title,
                "severity": r.severity,
                "enabled": r.enabled,
                "scope": r.scope,
                "stages": list(r.stages),
                "check": r.check,
            }
            for r in ruleset.rules
        ],
    }


def render_json(findings: list[Finding], ruleset: RuleSet, sessions: int) -> str:
    data = {
        "rule_set_version": ruleset.version,
        "findings": [f.to_dict() for f in findings],
        "summary": summarize(findings, sessions),
        "overrides": list(ruleset.overrides),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render_sarif(findings: list[Finding], ruleset: RuleSet, sessions: int) -> str:
    rules = [
        {
            "id": r.id,
            "name": r.check,
            "shortDescription": {"text": r.title},
            "fullDescription": {
                "text": f"Article {r.article}: {ruleset.articles[r.article].title}. {r.title}."
            },
            "help": {"text": r.fix},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity], "enabled": r.enabled},
            "properties": {"article": r.article, "scope": r.scope},
        }
        for r in ruleset.rules
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        region: dict[str, Any] = {"startLine": f.line or 1}
        if f.column is not None:
            region["startColumn"] = f.column
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule, 0),
                "level": _SARIF_LEVEL.get(f.severity, "note"),
                "message": {"text": f"{f.message}. Fix: {f.hint}" if f.hint else f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                            "region": region,
                        }
                    }
                ],
            }
        )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "idse",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://pypi.org/project/idse-orchestrator/",
                        "rules": rules,
                        "properties": {"ruleSetVersion": ruleset.version},
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def render_github(findings: list[Finding], ruleset: RuleSet, sessions: int) -> str:
    lines = []
    for f in findings:
        props = [f"file={_escape_prop(f.path)}"]
        if f.line is not None:
            props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        props.append(f"title={_escape_prop(f.rule)}")
        text = f"{f.message}. Fix: {f.hint}" if f.hint else f.message
        lines.append(f"::{_GITHUB_LEVEL.get(f.severity, 'notice')} {','.join(props)}::{_escape_data(text)}")
    s = summarize(findings, sessions)
    lines.append(
        f"{s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info (rule set {ruleset.version})"
    )
    return "\n".join(lines)


def render(fmt: str, findings: list[Finding], ruleset: RuleSet, sessions: int) -> str:
    return {"text": render_text, "json": render_json, "sarif": render_sarif, "github": render_github}[fmt](
        findings, ruleset, sessions
    )

"""The rule set: a versioned YAML file shipped in the package, validated with pydantic."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from idse_orchestrator import layout
from idse_orchestrator.errors import BadFile, NotFound
from idse_orchestrator.governance.summary import RULESET_PATH as RULESET_PATH  # re-exported
from idse_orchestrator.models import RuleOverride, Severity
from idse_orchestrator.stages import STAGE_NAMES

Scope = Literal["document", "session", "project"]


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str
    summary: str


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^IDSE-[A-Z][0-9]{3}$")
    article: str
    title: str
    severity: Severity
    scope: Scope = "document"
    stages: tuple[str, ...] = STAGE_NAMES
    check: str
    params: dict[str, Any] = Field(default_factory=dict)
    message: str
    fix: str
    enabled: bool = True

    def applies_to(self, stage: str) -> bool:
        return stage in self.stages


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    articles: dict[str, Article]
    rules: tuple[Rule, ...]
    # Human-readable notes on config overrides applied to this (effective) rule set.
    overrides: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        from idse_orchestrator.governance.checks import CHECKS

        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id}")
            seen.add(rule.id)
            if rule.article not in self.articles:
                raise ValueError(f"{rule.id}: unknown article {rule.article!r}")
            kind = CHECKS.get(rule.check)
            if kind is None:
                raise ValueError(f"{rule.id}: unknown check {rule.check!r}")
            if kind.scope != rule.scope:
                raise ValueError(f"{rule.id}: check {rule.check!r} has scope {kind.scope}, not {rule.scope}")
            bad = [s for s in rule.stages if s not in STAGE_NAMES]
            if bad:
                raise ValueError(f"{rule.id}: unknown stages {bad}")
        return self

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id.upper():
                return rule
        raise NotFound(f"no rule {rule_id!r}; 'idse rules' lists them")

    def active(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def digest(self) -> str:
        """Hash of the effective rules: changes exactly when a result could change."""
        payload = json.dumps(self.model_dump(mode="json", exclude={"overrides"}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def load_ruleset(path: Path = RULESET_PATH) -> RuleSet:
    from idse_orchestrator.fsutil import pydantic_problem, read_text
    from idse_orchestrator.yamlsafe import YamlError, safe_load

    try:
        data = safe_load(read_text(path), max_bytes=1024 * 1024)
        return RuleSet.model_validate(data)
    except YamlError as exc:
        raise BadFile(path, str(exc)) from None
    except ValidationError as exc:
        raise BadFile(path, f"invalid rule set: {pydantic_problem(exc)}") from None


def apply_overrides(ruleset: RuleSet, overrides: dict[str, RuleOverride], *, source: str) -> RuleSet:
    """The effective rule set after a project's severity changes and disabled rules."""
    if not overrides:
        return ruleset
    known = {r.id for r in ruleset.rules}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise BadFile(source, f"rules: unknown rule id(s) {', '.join(unknown)}; 'idse rules' lists them")
    rules = []
    notes = []
    for rule in ruleset.rules:
        ov = overrides.get(rule.id)
        if ov is None:
            rules.append(rule)
            continue
        if not ov.enabled:
            notes.append(f"{rule.id} disabled")
            rules.append(rule.model_copy(update={"enabled": False}))
        elif ov.severity and ov.severity != rule.severity:
            notes.append(f"{rule.id} severity {rule.severity} -> {ov.severity}")
            rules.append(rule.model_copy(update={"severity": ov.severity}))
        else:
            rules.append(rule)
    return ruleset.model_copy(update={"rules": tuple(rules), "overrides": tuple(notes)})


def effective_ruleset(config_rules: dict[str, RuleOverride], source: str = layout.CONFIG) -> RuleSet:
    return apply_overrides(load_ruleset(), config_rules, source=source)

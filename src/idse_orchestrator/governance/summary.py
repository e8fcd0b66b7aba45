"""What `idse validate`'s text report needs of the effective rule set, kept as a small JSON file.

Loading the rule set means parsing YAML and validating it with pydantic, which costs more than the
rest of a validation whose results are all up to date. The text report only needs the version, the
override notes and each rule's fix hint, so those are cached in `.idse/.cache/` under a key made of
the package version, the shipped rule set's stat and the digest of `.idse/config.yaml` (where the
overrides live). A missing, stale or damaged summary is rebuilt from the real rule set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from idse_orchestrator import __version__, layout

if TYPE_CHECKING:
    from idse_orchestrator.governance.ruleset import RuleSet
    from idse_orchestrator.workspace import Workspace

SUMMARY_NAME = "ruleset-summary.json"
# The shipped constitution (package data).
RULESET_PATH = Path(__file__).resolve().parent.parent / "data" / "ruleset.yaml"


class HasFix(Protocol):
    @property
    def fix(self) -> str: ...


class RuleSetLike(Protocol):
    """The part of a rule set the text report uses: a ``RuleSet`` or a ``RuleSetSummary``."""

    @property
    def version(self) -> str: ...

    @property
    def overrides(self) -> tuple[str, ...]: ...

    def rule(self, rule_id: str) -> HasFix: ...


class RuleFix(NamedTuple):
    id: str
    fix: str


class RuleSetSummary(NamedTuple):
    version: str
    overrides: tuple[str, ...]
    fixes: dict[str, str]

    def rule(self, rule_id: str) -> RuleFix:
        from idse_orchestrator.errors import NotFound

        key = rule_id.upper()
        if key not in self.fixes:
            raise NotFound(f"no rule {rule_id!r}; 'idse rules' lists them")
        return RuleFix(key, self.fixes[key])


def _key(ws: Workspace) -> str:
    # Checksums, not a cryptographic digest: this runs on every `idse validate`, and hashlib loads
    # OpenSSL. The key only decides whether a cached summary may stand in for the rule set.
    import zlib

    parts = [__version__]
    try:
        st = os.stat(RULESET_PATH)
        parts.append(f"{st.st_mtime_ns}:{st.st_size}")
    except OSError:
        parts.append("no-ruleset")
    try:
        data = ws.config_path.read_bytes()  # the overrides: by content, it is a small file
        parts.append(f"{len(data)}:{zlib.crc32(data):08x}:{zlib.adler32(data):08x}")
    except OSError:
        parts.append("no-config")
    return "|".join(parts)


def _path(ws: Workspace) -> str:
    return str(ws.root / layout.cache_dir() / SUMMARY_NAME)


def load_summary(ws: Workspace) -> RuleSetSummary | None:
    """The cached summary when it matches the current rule set and config; else ``None``."""
    try:
        with open(_path(ws), encoding="utf-8") as fh:
            data = json.load(fh)
        if data["key"] != _key(ws):
            return None
        fixes = data["fixes"]
        if not (isinstance(fixes, dict) and all(isinstance(v, str) for v in fixes.values())):
            return None
        return RuleSetSummary(str(data["version"]), tuple(str(n) for n in data["overrides"]), fixes)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_summary(ws: Workspace, ruleset: RuleSet) -> None:
    """Remember ``ruleset``'s summary; a read-only workspace simply goes without."""
    from idse_orchestrator.fsutil import write_if_changed

    data = {
        "key": _key(ws),
        "version": ruleset.version,
        "overrides": list(ruleset.overrides),
        "fixes": {r.id: r.fix for r in ruleset.rules},
    }
    try:
        if (ws.root / layout.cache_dir()).is_dir():
            write_if_changed(ws.root / layout.cache_dir() / SUMMARY_NAME, json.dumps(data, sort_keys=True))
    except OSError:
        pass

"""The pydantic-free readers of `light.py` against the models they stand in for (the oracle).

Whatever a light reader accepts, the model must accept with the same values; what it declines goes
to the model, so declining is always safe. Randomized files near the valid shape probe both sides.
The rule-set summary is checked against the rule set it summarises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from idse_orchestrator import ids, light
from idse_orchestrator.models import AgentRegistry, SessionMetadata
from idse_orchestrator.stages import STAGE_NAMES
from idse_orchestrator.workspace import Workspace

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
NEAR_STR = st.sampled_from(["", "x", "claude-code", "__blueprint__", "feat-1", "../up", "a b"]) | ANY_JSON


def maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


AGENT = merged(
    maybe("id", NEAR_STR),
    maybe("role", NEAR_STR),
    maybe("mode", st.sampled_from(["planning", "implementation", "other"]) | ANY_JSON),
    maybe("stages", st.lists(st.sampled_from([*STAGE_NAMES, "nope"]), max_size=3) | ANY_JSON),
    maybe("extra", ANY_JSON),
)
REGISTRY = merged(maybe("agents", st.lists(AGENT, max_size=3) | ANY_JSON), maybe("note", ANY_JSON)) | ANY_JSON
MOSTLY_VALID_METADATA = merged(
    st.fixed_dictionaries({"id": st.sampled_from(["__blueprint__", "feat"]) | NEAR_STR}),
    st.fixed_dictionaries({"project": st.just("demo") | NEAR_STR}),
    maybe("type", st.sampled_from(["blueprint", "feature", "epic", None])),
    maybe("status", st.sampled_from(["draft", "review", "complete", "done", 1])),
    maybe("parent", st.sampled_from([None, "__blueprint__", "feat-1", "../up", "a b", "", 3])),
    maybe("stack", st.sampled_from([None, "python", 3, ["x"]])),
    maybe("template_sha256", st.dictionaries(st.sampled_from(STAGE_NAMES), NEAR_STR, max_size=2)),
    maybe("accepted", st.dictionaries(st.text(max_size=3), ANY_JSON, max_size=2)),
    maybe("spawned_from", st.none() | ANY_JSON),
    maybe("extra", ANY_JSON),
)
METADATA = (
    MOSTLY_VALID_METADATA
    | merged(
        maybe("id", NEAR_STR),
        maybe("project", NEAR_STR),
        maybe("type", st.sampled_from(["blueprint", "feature", "epic"]) | ANY_JSON),
        maybe("status", st.sampled_from(["draft", "review", "complete", "done"]) | ANY_JSON),
        maybe("parent", NEAR_STR),
        maybe("session_id", NEAR_STR),
    )
    | ANY_JSON
)

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=REGISTRY)
def test_light_registry_accepts_only_what_the_model_accepts_alike(ws: Workspace, data: Any) -> None:
    project = ws.project("demo")
    project.registry_path.write_text(json.dumps(data), encoding="utf-8")
    plain = light.registry(project)
    if plain is None:
        return
    model = AgentRegistry.model_validate(data)  # must not raise
    assert [(a.id, a.role, a.mode, tuple(a.stages)) for a in model.agents] == [
        (a.id, a.role, a.mode, a.stages) for a in plain.agents
    ]
    for stage in STAGE_NAMES:
        want = model.route(stage)
        got = plain.route(stage)
        assert (want.id if want else None) == (got.id if got else None)


@SETTINGS
@given(data=METADATA)
def test_light_session_fields_accept_only_what_the_model_accepts_alike(ws: Workspace, data: Any) -> None:
    project = ws.project("demo")
    project.metadata_path("__blueprint__").write_text(json.dumps(data), encoding="utf-8")
    fields = light.session_fields(project, "__blueprint__")
    if fields is None:
        return
    try:
        meta = SessionMetadata.model_validate(data)
    except ValidationError as exc:  # pragma: no cover - the failure this test exists to catch
        raise AssertionError(f"light reader accepted what the model rejects: {data!r}") from exc
    assert (meta.type, meta.status, meta.parent) == (fields.type, fields.status, fields.parent)
    assert meta.parent is None or ids.is_valid_session_id(meta.parent)


def test_the_files_idse_writes_take_the_light_path(ws: Workspace, cli: Any) -> None:
    assert cli("spawn", "feat").exit_code == 0
    project = ws.project("demo")
    assert light.registry(project) is not None
    assert light.session_fields(project, "__blueprint__") == light.SessionFields("blueprint", "draft", None)
    assert light.session_fields(project, "feat") == light.SessionFields("feature", "draft", "__blueprint__")


def test_a_damaged_registry_still_reports_its_problem(ws: Workspace, cli: Any) -> None:
    project = ws.project("demo")
    project.registry_path.write_text(
        '{"agents": [{"id": "a", "role": "r", "mode": "fast"}]}', encoding="utf-8"
    )
    assert light.registry(project) is None
    result = cli("route", "spec")
    assert result.exit_code == 2
    assert "agent_registry.json" in result.stderr and "mode" in result.stderr
    status = cli("status", "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["stages"]["spec"]["agent"] == "?"


def test_validate_text_uses_the_summary_and_follows_config_changes(
    ws: Workspace, cli: Any, tmp_path: Path
) -> None:
    from idse_orchestrator.governance.ruleset import effective_ruleset
    from idse_orchestrator.governance.summary import load_summary

    assert cli("validate").exit_code in (0, 1)
    summary = load_summary(ws)
    assert summary is not None
    full = effective_ruleset(ws.config.rules)
    assert summary.version == full.version and summary.overrides == ()
    assert all(summary.rule(r.id).fix == r.fix for r in full.rules)
    with ws.config_path.open("a", encoding="utf-8") as fh:
        fh.write("rules:\n  IDSE-A005: off\n")
    assert load_summary(ws) is None  # the config is part of the key
    out = cli("validate")
    assert "override applied: IDSE-A005 disabled" in out.stdout
    assert "IDSE-A005" not in out.stdout.replace("override applied: IDSE-A005 disabled", "")
    (tmp_path / ".idse/.cache/ruleset-summary.json").write_text("{broken", encoding="utf-8")
    again = cli("validate")
    assert again.stdout == out.stdout

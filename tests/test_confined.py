"""The symlink policy's path resolution (``fsutil.confined``) resolves exactly as ``os.path.realpath``:
checked against it on random trees of folders, files and symlinks (inside the repository, outside
it, dangling, chained, looping) and random paths, existing or not; outside a build and inside one,
where the folders looked at are remembered for the build."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from idse_orchestrator import fsutil, memo  # noqa: E402
from idse_orchestrator.errors import BadFile  # noqa: E402

NAMES = ["a", "b", "c", ".idse", "x.md"]
TARGETS = ["a", "b/c", "..", "../..", "../outside", "/nonexistent", "a/../b", "loop", "x.md", "."]

ENTRY = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
    st.sampled_from(["dir", "file", "link"]),
    st.sampled_from(TARGETS),
)


@pytest.mark.parametrize("in_build", [False, True])
@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    entries=st.lists(ENTRY, max_size=8),
    probes=st.lists(
        st.lists(st.sampled_from([*NAMES, "new"]), min_size=1, max_size=4), min_size=1, max_size=6
    ),
)
def test_resolves_as_realpath(tmp_path_factory, in_build, entries, probes):
    base = tmp_path_factory.mktemp("tree")
    (base / "outside").mkdir()
    repo = base / "repo"
    (repo / ".idse").mkdir(parents=True)
    for parts, kind, target in entries:
        path = repo.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                path.mkdir(exist_ok=True)
            elif kind == "file":
                path.write_text("x")
            else:
                os.symlink(target, path)
        except OSError:
            continue  # a name already taken by another kind, a parent that is a file: skip it
    fsutil._ROOTS.clear()
    fsutil._REAL_ROOTS.clear()
    scope = memo.build_scope() if in_build else contextlib.nullcontext()
    with scope:
        # Twice in a build: the second round answers from the folders the first remembered.
        for parts in probes * (2 if in_build else 1):
            check(repo, parts)


def check(repo: Path, parts: list[str]) -> None:
    path = repo.joinpath(*parts)
    expected = os.path.realpath(os.path.abspath(path))
    real_repo = os.path.realpath(repo)
    inside = expected == real_repo or expected.startswith(real_repo + os.sep)
    try:
        got = fsutil.confined(path)
    except BadFile:
        assert not inside or fsutil.repository_root(path) is None, (parts, expected)
        return
    if fsutil.repository_root(path) is None:
        assert got == path
    else:
        assert inside and str(got) == expected, (parts, expected, got)


def test_a_link_out_of_the_repository_is_refused(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / ".idse").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", repo / ".idse" / "leak.md")
    os.symlink(tmp_path, repo / "up")
    with pytest.raises(BadFile, match="outside the repository"):
        fsutil.confined(repo / ".idse" / "leak.md")
    with pytest.raises(BadFile, match="outside the repository"):
        fsutil.confined(repo / "up" / "secret")
    os.symlink("../.idse", repo / ".idse" / "self")
    assert fsutil.confined(repo / ".idse" / "self" / "x") == (repo / ".idse" / "x").resolve()

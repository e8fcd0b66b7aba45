"""The reader under ``fsutil.read_text`` returns exactly the file's first bytes up to the limit,
whether the file is as stat'ed, empty, exactly at the limit, or grew after the stat."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from idse_orchestrator.fsutil import _read_up_to

SIZES = st.sampled_from([0, 1, 2, 4095, 4096, 4097, 65535, 65536, 65537, 65538, 140_000]) | st.integers(
    0, 200_000
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(size=SIZES, most=SIZES.map(lambda n: n + 1), shrink=st.integers(0, 70_000))
def test_reads_what_a_plain_read_reads(tmp_path_factory, size, most, shrink):
    path: Path = tmp_path_factory.mktemp("r") / "f"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    stated = max(0, size - shrink)  # as stat'ed before the file grew to its size
    assert _read_up_to(path, most, stated) == data[:most]

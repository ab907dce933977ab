"""Object keys kept on local disk never leave their folder, and distinct keys stay distinct."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.storage import local_relative


@pytest.mark.parametrize(
    ("key", "relative"),
    [
        ("movies/movies.csv", "movies/movies.csv"),
        ("movies/../../etc/passwd", "movies/%2E%2E/%2E%2E/etc/passwd"),
        ("/etc/passwd", "%/etc/passwd"),
        ("a//b.csv", "a/%/b.csv"),
        ("./a.csv", "%2E/a.csv"),
        ("a/\x00b\n.csv", "a/%00b%0A.csv"),
        ("100%.csv", "100%25.csv"),
        ("movies/..\\..\\x.csv", "movies/..%5C..%5Cx.csv"),
        ("films/à voir 日本.csv", "films/à voir 日本.csv"),
    ],
)
def test_local_relative(key: str, relative: str) -> None:
    assert local_relative(key) == PurePosixPath(relative)


keys = st.lists(
    st.sampled_from(["a", ".", "/", "%", "\x00", "\n", "é", "2E", "\\"]), min_size=1, max_size=12
).map("".join)


@given(keys, keys)
def test_keys_stay_inside_their_folder_and_apart(first: str, second: str) -> None:
    root = Path("/srv/mirror")
    for key in (first, second):
        path = Path(os.path.normpath(root / local_relative(key)))
        assert path.is_relative_to(root) and path != root
    if first != second:
        assert local_relative(first) != local_relative(second)

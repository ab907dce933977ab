"""The watched folder's pure rules: which files are data, which key each goes to, and when a
file counts as completely written."""

from __future__ import annotations

import pytest

from pipeline.ingest.watch import Settle, is_candidate, raw_key_for


@pytest.mark.parametrize(
    ("relative", "candidate"),
    [
        ("movies.csv", True),
        ("movies.CSV", True),
        ("movies.csv.gz", True),
        ("sub/dir/movies 2024 é.csv", True),
        ("notes.txt", False),
        ("movies.csv.part", False),
        ("movies.csv.crdownload", False),
        ("movies.csv.tmp", False),
        ("movies.csv~", False),
        (".movies.csv.swp", False),
        (".hidden.csv", False),
        ("~$movies.csv", False),
        (".~lock.movies.csv#", False),
        (".done/movies/movies.csv", False),
        ("movies/.staging/a.csv", False),
    ],
)
def test_is_candidate(relative: str, candidate: bool) -> None:
    assert is_candidate(relative) is candidate


@pytest.mark.parametrize(
    ("relative", "key"),
    [
        ("movies.csv", "movies/movies.csv"),
        ("Movie List.csv", "movie_list/Movie List.csv"),
        ("movies/2024.csv", "movies/2024.csv"),
        ("movies/year=2024/a b.csv.gz", "movies/year=2024/a b.csv.gz"),
    ],
)
def test_raw_key_keeps_sub_folders(relative: str, key: str) -> None:
    assert raw_key_for(relative) == key


def test_a_file_is_ready_once_unchanged_for_the_settle_time() -> None:
    settle = Settle(settle_ns=1000)
    assert settle.observe({"a.csv": (10, 1)}, now_ns=0) == []
    assert settle.observe({"a.csv": (10, 1)}, now_ns=999) == []
    assert settle.observe({"a.csv": (20, 2)}, now_ns=1500) == []  # grew: the clock starts again
    assert settle.observe({"a.csv": (20, 2)}, now_ns=2400) == []
    assert settle.observe({"a.csv": (20, 2), "b.csv": (5, 1)}, now_ns=2500) == ["a.csv"]
    assert settle.observe({"b.csv": (5, 1)}, now_ns=3600) == ["b.csv"]
    assert "a.csv" not in settle.seen  # gone files are forgotten

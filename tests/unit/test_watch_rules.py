"""The watched folder's pure rules: which files are data, which key each goes to, and when a
file counts as completely written."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from pipeline.ingest.watch import (
    RetryPolicy,
    Settle,
    delivery_key,
    first_line,
    is_candidate,
    is_transient,
    raw_key_for,
)
from pipeline.ingest.writers import open_for_writing


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


@pytest.mark.parametrize(
    ("key", "later"),
    [
        ("movies/movies.csv", "movies/movies.0123456789ab.csv"),
        ("movies/year=1995/a b.CSV", "movies/year=1995/a b.0123456789ab.CSV"),
        ("movies/films.csv.gz", "movies/films.0123456789ab.csv.gz"),
    ],
)
def test_a_later_delivery_goes_beside_the_first_named_by_its_content(key: str, later: str) -> None:
    assert delivery_key(key, "0123456789abcdef0123456789abcdef") == later


@pytest.mark.parametrize(
    ("start", "gzipped", "line"),
    [
        (b"id,title\n1,a\n", False, b"id,title"),
        (b"id,title\r\n1,a\r\n", False, b"id,title"),
        (b"id,title", False, b"id,title"),  # no line end within the bytes read
        (gzip.compress(b"id,title\n" + b"1,a\n" * 100_000)[:200], True, b"id,title"),  # a cut gzip
        (b"not gzip at all", True, b""),
    ],
)
def test_first_line(start: bytes, gzipped: bool, line: bytes) -> None:
    assert first_line(start, gzipped) == line


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),  # the emulator restarts
        (client_error("NoSuchBucket", 404), True),  # not provisioned yet
        (client_error("ServiceUnavailable", 503), True),
        (client_error("SlowDown", 503), True),
        (client_error("Whatever", 500), True),
        (client_error("PreconditionFailed", 412), True),  # another writer made the key first
        (client_error("404", 404), False),  # moto's answer to a name with a newline
        (client_error("InvalidArgument", 400), False),
        (client_error("KeyTooLongError", 400), False),
        (ParamValidationError(report="bad key"), False),
    ],
)
def test_only_endpoint_faults_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.slow
def test_retry_pauses_double_up_to_a_ceiling() -> None:
    policy = RetryPolicy(first_delay_s=1, max_delay_s=10)
    assert [policy.delay_s(tries) for tries in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_file_open_for_writing_is_seen_and_a_read_only_or_closed_one_is_not(tmp_path: Path) -> None:
    written, read, closed = (tmp_path / name for name in ("written.csv", "read.csv", "closed.csv"))
    for path in (written, read, closed):
        path.write_text("id\n")
    with written.open("ab"), read.open("rb"):
        assert open_for_writing([written, read, closed]) == {written}
    assert open_for_writing([written, read, closed]) == set()

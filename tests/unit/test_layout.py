"""Unit tests of pipeline.layout: the bucket layout contract as pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import layout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("movieId", "movie_id"),
        ("Release Date", "release_date"),
        ("Title!", "title"),
        ("  HTMLParser ", "html_parser"),
        ("IMDBRating", "imdb_rating"),
        ("XMLHttpRequest", "xml_http_request"),
        ("userID2", "user_id2"),
        ("v2Beta", "v2_beta"),
        ("movie_ID", "movie_id"),
        ("already_snake", "already_snake"),
        ("ABC", "abc"),
        ("a--b__c", "a_b_c"),
        ("rating(0-5)", "rating_0_5"),
        ("__private__", "private"),
        ("123abc", "123abc"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    result = layout.snake_case(name)
    assert result == expected
    assert re.fullmatch(r"([a-z0-9]+(_[a-z0-9]+)*)?", result)
    assert layout.snake_case(result) == result  # idempotent


@pytest.mark.parametrize(
    ("key", "dataset"),
    [
        ("movies/2024.csv", "movies"),
        ("movies/2024/jan.csv", "movies"),
        ("Movies/x.csv", "movies"),
        ("Movie Ratings/x.csv", "movie_ratings"),
        ("movies.csv", "movies"),
        ("Movies List.csv", "movies_list"),
        ("ratings.csv.gz", "ratings"),
        ("RATINGS.CSV.GZ", "ratings"),
        ("movieRatings.CSV", "movie_ratings"),
        ("2024 sales.csv", "t_2024_sales"),
        ("2024/sales.csv", "t_2024"),
        ("!!!.csv", "dataset"),
        (".csv", "dataset"),
    ],
)
def test_dataset_for_key(key: str, dataset: str) -> None:
    assert layout.dataset_for_key(key) == dataset


@pytest.mark.parametrize(
    ("filename", "dataset", "key"),
    [
        ("movies.csv", None, "movies/movies.csv"),
        ("Movies List.csv", None, "movies_list/Movies List.csv"),
        ("ratings.csv.gz", None, "ratings/ratings.csv.gz"),
        ("2024.csv", None, "t_2024/2024.csv"),
        ("movies.csv", "films", "films/movies.csv"),
        ("movies.csv", "", "movies/movies.csv"),
    ],
)
def test_raw_key_for_upload(filename: str, dataset: str | None, key: str) -> None:
    result = layout.raw_key_for_upload(filename, dataset)
    assert result == key
    if not dataset:
        # What csvpipe uploads lands in the dataset its own name gives.
        assert layout.dataset_for_key(result) == layout.dataset_for_key(filename)


@pytest.mark.parametrize(
    ("raw_key", "processed", "rejects"),
    [
        # Canonical keys (the dataset's folder, .csv): the same path, as before.
        ("movies/movies.csv", "movies/movies.csv", "_rejects/movies/movies.csv"),
        ("movies/2024/jan.csv", "movies/2024/jan.csv", "_rejects/movies/2024/jan.csv"),
        ("movies/year=2024/a.csv", "movies/year=2024/a.csv", "_rejects/movies/year=2024/a.csv"),
        # Any other key: a readable path and 12 hex digits of the raw key's SHA-256.
        ("movies/2024.csv.gz", "movies/2024~d2d2b56aa633.csv", "_rejects/movies/2024~d2d2b56aa633.csv"),
        (
            "movies/2024/jan.CSV",
            "movies/2024/jan~758d56363fc0.csv",
            "_rejects/movies/2024/jan~758d56363fc0.csv",
        ),
        ("Movies/x.csv", "movies/x~b813acea3ea3.csv", "_rejects/movies/x~b813acea3ea3.csv"),
        ("movies.csv", "movies/movies~86c9ce6965d1.csv", "_rejects/movies/movies~86c9ce6965d1.csv"),
        ("movies/./x.csv", "movies/x~888d158240e1.csv", "_rejects/movies/x~888d158240e1.csv"),
        ("movies//x.csv", "movies/x~80164a7bfa8f.csv", "_rejects/movies/x~80164a7bfa8f.csv"),
        (
            "movies/..\\..\\x.csv",
            "movies/.._.._x~59b7b1fceb7e.csv",
            "_rejects/movies/.._.._x~59b7b1fceb7e.csv",
        ),
        ("movies/a~0123456789ab.csv", "movies/a~0123456789ab~e14ba1b16ca3.csv", None),
        ("Movies List.csv", "movies_list/Movies List~aa8bbc1f032d.csv", None),
        ("ratings.CSV.GZ", "ratings/ratings~282c9e8e2b21.csv", None),
    ],
)
def test_processed_and_rejects_keys(raw_key: str, processed: str, rejects: str | None) -> None:
    assert layout.processed_key(raw_key) == processed
    if rejects is not None:
        assert layout.rejects_key(raw_key) == rejects
    # The processed object sits under its dataset's prefix, so the crawler finds it there.
    assert processed.startswith(layout.dataset_prefix(layout.dataset_for_key(raw_key)))
    assert not processed.startswith((layout.RUNS_PREFIX, layout.REJECTS_PREFIX))
    assert layout.processed_key(raw_key) == processed  # same object, same key: reprocessing overwrites
    # Nothing in a processed key can climb out of a folder once it is a local path.
    assert "\\" not in processed and all(part not in {"", ".", ".."} for part in processed.split("/"))


@pytest.mark.parametrize(
    "keys",
    [
        ["movies/x.csv", "movies/./x.csv", "movies//x.csv", "movies/sub/../x.csv"],
        ["movies/a.csv", "movies/a.csv.gz", "movies/a.CSV", "movies/a.csv.GZ"],
        ["movies.csv", "movies/movies.csv", "Movies/movies.csv", "MOVIES.csv"],
        ["movies/..\\..\\x.csv", "movies/.._.._x.csv", "movies/../../x.csv", "movies/x.csv"],
        ["movies/a.csv.gz", "movies/a~" + "0" * 12 + ".csv"],
    ],
)
def test_distinct_raw_keys_never_share_a_processed_key(keys: list[str]) -> None:
    processed = [layout.processed_key(key) for key in keys]
    assert len(set(processed)) == len(keys), dict(zip(keys, processed, strict=True))


raw_keys = st.lists(
    st.sampled_from(["movies", "Movies", "/", ".", "..", "\\", "a", "~", "0", ".csv", ".gz", "\x00", " "]),
    min_size=1,
    max_size=10,
).map("".join)


@given(raw_keys, raw_keys)
def test_processed_keys_are_injective(first: str, second: str) -> None:
    if first != second:
        assert layout.processed_key(first) != layout.processed_key(second)


def test_uploaded_file_round_trips_through_processed_key() -> None:
    raw = layout.raw_key_for_upload("Movie Ratings.csv.gz")
    assert raw == "movie_ratings/Movie Ratings.csv.gz"
    assert layout.processed_key(raw).startswith("movie_ratings/Movie Ratings~")
    assert layout.processed_key(layout.raw_key_for_upload("movies.csv")) == "movies/movies.csv"


ETAG = "0c5e0f3a8b4d2e1f9a7c6b5d4e3f2a1b"


def test_run_id_golden_value() -> None:
    """Run ids name folders of records already in buckets: the formula must not drift."""
    assert layout.run_id("raw", "movies/movies.csv", "abc") == "ed6e6f9de58d4b918be4"


@pytest.mark.parametrize("etag", [ETAG, f'"{ETAG}"', f'"{ETAG}', f'{ETAG}"'])
def test_run_id_ignores_etag_quotes(etag: str) -> None:
    assert layout.run_id("raw", "movies/movies.csv", etag) == layout.run_id("raw", "movies/movies.csv", ETAG)


def test_run_id_is_stable_and_short() -> None:
    ids = {layout.run_id("raw", "movies/movies.csv", ETAG) for _ in range(3)}
    assert len(ids) == 1
    assert re.fullmatch(r"[0-9a-f]{20}", ids.pop())


@pytest.mark.parametrize(
    ("bucket", "key", "etag"),
    [
        ("raw2", "movies/movies.csv", ETAG),
        ("raw", "movies/movies2.csv", ETAG),
        ("raw", "movies/movies.csv", ETAG[:-1] + "c"),
        ("raw", "Movies/movies.csv", ETAG),
        ("raw", "movies/movies.csv", "0C5E0F3A8B4D2E1F9A7C6B5D4E3F2A1B"),
        ("rawm", "ovies/movies.csv", ETAG),  # the separator keeps bucket and key apart
    ],
)
def test_run_id_differs_for_another_object_version(bucket: str, key: str, etag: str) -> None:
    assert layout.run_id(bucket, key, etag) != layout.run_id("raw", "movies/movies.csv", ETAG)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a.csv", True),
        ("a.CSV", True),
        ("dir/a.csv", True),
        ("a.csv.gz", True),
        ("a.CSV.GZ", True),
        ("a.gz", False),
        ("a.csv.bak", False),
        ("a.csv.zip", False),
        ("a.tsv", False),
        ("a.csvx", False),
        ("csv", False),
        ("dir/", False),
        ("", False),
    ],
)
def test_is_csv_key(key: str, expected: bool) -> None:
    assert layout.is_csv_key(key) is expected


@pytest.mark.parametrize(
    ("function", "argument", "expected"),
    [
        (layout.run_record_key, ("abc", "preprocess"), "_runs/abc/preprocess.json"),
        (layout.final_data_key, ("movies_per_genre",), "movies_per_genre/movies_per_genre.csv"),
        (layout.final_manifest_key, ("movies_per_genre",), "movies_per_genre/manifest.json"),
        (layout.final_run_key, ("movies_per_genre",), "_runs/movies_per_genre.json"),
        (layout.dataset_prefix, ("movies",), "movies/"),
        (layout.strip_csv_suffix, ("Movies.CSV.gz",), "Movies"),
        (layout.strip_csv_suffix, ("notes.txt",), "notes.txt"),
    ],
)
def test_other_keys(function: Callable[..., str], argument: tuple[str, ...], expected: str) -> None:
    assert function(*argument) == expected

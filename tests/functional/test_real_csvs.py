"""Real public CSVs (tests/corpus/real/) through preprocess, crawl and the shipped transforms,
in-process against the real emulator (tests/functional/final_data.py), against counts made by
Python's csv module: MovieLens' own movies.csv layout gives exact per-genre, per-year and
per-decade counts; a dataset without rules keeps every row; odd raw keys neither overwrite each
other nor break a dataset's later transforms; a header alone is a valid empty file."""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from typing import Any

import pytest

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.settings import Settings
from tests.functional.final_data import produce
from tests.real_files import MOVIELENS, NO_GENRES, SMS, independent_rows

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

YEAR = re.compile(r"\((\d{4})\)\s*$")  # MovieLens: "the year of release in parentheses"


def final_rows(clients: Clients, output: str) -> list[dict[str, str]]:
    body = clients.s3.get_object(Bucket=clients.settings.final_bucket, Key=layout.final_data_key(output))
    return list(csv.DictReader(io.StringIO(body["Body"].read().decode("utf-8"))))


def records(clients: Clients, key: str) -> dict[str, dict[str, Any] | None]:
    """The run records of the raw object ``key``, by stage."""
    settings = clients.settings
    etag = clients.s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"].strip('"')
    run = layout.run_id(settings.raw_bucket, key, etag)
    return {
        stage: runs.read_stage_record(clients.s3, settings.processed_bucket, run, stage)
        for stage in layout.STAGES
    }


def movielens_expected() -> tuple[Counter[str], Counter[int], Counter[tuple[int, str]]]:
    """Per genre, per year and per (decade, genre), from the raw file."""
    genres: Counter[str] = Counter()
    years: Counter[int] = Counter()
    decades: Counter[tuple[int, str]] = Counter()
    for _, title, listed in independent_rows(MOVIELENS, "utf-8"):
        found = YEAR.search(title.strip())
        year = int(found[1]) if found else None
        if year is not None:
            years[year] += 1
        if listed == NO_GENRES:
            continue
        for genre in {g.lower() for g in listed.split("|")}:
            genres[genre] += 1
            if year is not None:
                decades[year // 10 * 10, genre] += 1
    return genres, years, decades


def test_movielens_movies_csv_gives_exact_counts_through_the_shipped_transforms(settings: Settings) -> None:
    key = "movies/movielens-movies.csv"
    clients = produce(settings, [(key, MOVIELENS.read_bytes())])

    stages = records(clients, key)
    assert stages["preprocess"] is not None and stages["preprocess"]["rules"] == "movies.toml (packaged)"
    assert stages["preprocess"]["rows"]["out"] == 492
    assert stages["transform"] is not None and stages["transform"]["status"] == "ok", stages["transform"]
    genres, years, decades = movielens_expected()
    per_genre = {row["genre"]: int(row["movies"]) for row in final_rows(clients, "movies_per_genre")}
    assert per_genre == dict(genres)
    per_year = {int(row["year"]): int(row["movies"]) for row in final_rows(clients, "movies_per_year")}
    assert per_year == dict(years)
    per_decade = {
        (int(row["decade"]), row["genre"]): int(row["movies"])
        for row in final_rows(clients, "genres_by_decade")
    }
    assert per_decade == dict(decades)
    classes = Counter(row["genre_class"] for row in final_rows(clients, "genre_classification"))
    assert classes["unknown"] == 12  # the "(no genres listed)" movies: a missing genre


def test_a_rules_less_dataset_keeps_every_row_of_a_real_export(settings: Settings) -> None:
    key = "sms_spam/sms-spam.csv"
    clients = produce(settings, [(key, SMS.read_bytes())])

    preprocess = records(clients, key)["preprocess"]
    assert preprocess is not None and preprocess["status"] == "ok", preprocess
    assert preprocess["rules"] == "defaults"
    expected = independent_rows(SMS, "cp1252")
    assert preprocess["rows"]["out"] == len(expected) == 400
    assert preprocess["rows"]["duplicate"] == 0
    body = clients.s3.get_object(Bucket=settings.processed_bucket, Key=preprocess["output"]["key"])["Body"]
    processed = list(csv.DictReader(io.StringIO(body.read().decode("utf-8"))))
    assert Counter(row["v1"] for row in processed) == Counter(row[0] for row in expected)


def test_distinct_raw_keys_all_count_and_a_backslash_key_breaks_nothing(settings: Settings) -> None:
    one = b"movieId,title,genres\n90001,First (2001),Drama\n"
    two = b"movieId,title,genres\n90002,Second (2002),Drama\n"
    three = b"movieId,title,genres\n90003,Third (2003),Drama\n"
    files = [
        ("movies/movielens-movies.csv", MOVIELENS.read_bytes()),
        ("movies/a.csv", one),
        ("movies/a.csv.gz", gzip.compress(two)),  # once the same processed object as a.csv
        ("movies/..\\..\\x.csv", three),  # once a local file name DuckDB refused
    ]
    clients = produce(settings, files)

    for key, _ in files:
        stages = records(clients, key)
        assert stages["transform"] is not None and stages["transform"]["status"] == "ok", (key, stages)
    outputs = {records(clients, key)["preprocess"]["output"]["key"] for key, _ in files}  # type: ignore[index]
    assert len(outputs) == len(files)
    genres, _, _ = movielens_expected()
    per_genre = {row["genre"]: int(row["movies"]) for row in final_rows(clients, "movies_per_genre")}
    assert per_genre["drama"] == genres["drama"] + 3


def test_a_header_alone_is_an_ok_run_with_no_rows(settings: Settings) -> None:
    key = "sales/2024-12-25.csv"
    clients = produce(settings, [(key, b"Order Id,Amount\r\n")])

    stages = records(clients, key)
    assert stages["preprocess"] is not None
    assert stages["preprocess"]["status"] == "ok", stages["preprocess"]
    assert stages["preprocess"]["rows"]["in"] == stages["preprocess"]["rows"]["out"] == 0
    body = clients.s3.get_object(Bucket=settings.processed_bucket, Key=stages["preprocess"]["output"]["key"])
    assert body["Body"].read() == b"order_id,amount\n"
    assert stages["crawl"] is not None, "the crawler did not run"
    table = clients.glue.get_table(DatabaseName=settings.glue_database, Name="sales")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["order_id", "amount"]


def test_a_header_alone_keeps_a_datasets_table_and_its_types(settings: Settings) -> None:
    clients = produce(
        settings,
        [
            ("sales/2024-12-24.csv", b"order_id,amount\n1,2.5\n2,4\n"),
            ("sales/2024-12-25.csv", b"order_id,amount\n"),
        ],
    )

    stages = records(clients, "sales/2024-12-25.csv")
    assert stages["preprocess"] is not None and stages["preprocess"]["status"] == "ok"
    assert stages["crawl"] is not None and stages["crawl"]["status"] == "ok", stages["crawl"]
    table = clients.glue.get_table(DatabaseName=settings.glue_database, Name="sales")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns == {"order_id": "bigint", "amount": "double"}

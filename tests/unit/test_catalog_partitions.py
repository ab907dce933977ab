"""Unit tests of pipeline.catalog.partitions and pipeline.catalog.options (pure): folder layouts
to partition keys in both modes, layouts that are no single table, and the crawler's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import layout
from pipeline.catalog.exceptions import PartitionLayoutError
from pipeline.catalog.infer import Mode
from pipeline.catalog.options import GLUE_SAMPLE_BYTES, WHOLE_FILE_BYTES, CrawlerOptions, crawler_options
from pipeline.catalog.partitions import PartitionKey, check_key_names, partition_layout
from pipeline.errors import ConfigError
from pipeline.settings import load_settings


@pytest.mark.parametrize(
    ("keys", "mode", "expected_keys", "values"),
    [
        (["a.csv", "b.csv"], "csvpipe", [], [(), ()]),
        (["a.csv", "b.csv"], "glue-compatible", [], [(), ()]),
        # Hive folders become keys, typed from their values in csvpipe mode.
        (
            ["year=2024/a.csv", "year=2025/b.csv"],
            "csvpipe",
            [PartitionKey("year", "bigint")],
            [("2024",), ("2025",)],
        ),
        (
            ["year=2024/a.csv", "year=2025/b.csv"],
            "glue-compatible",
            [PartitionKey("year", "string")],
            [("2024",), ("2025",)],
        ),
        (
            ["year=2024/month=01/a.csv", "year=2024/month=02/b.csv"],
            "csvpipe",
            [PartitionKey("year", "bigint"), PartitionKey("month", "string")],  # 01 keeps its zero
            [("2024", "01"), ("2024", "02")],
        ),
        (["dt=2024-05-01/a.csv"], "csvpipe", [PartitionKey("dt", "date")], [("2024-05-01",)]),
        (["region=eu%2Fwest/a.csv"], "csvpipe", [PartitionKey("region", "string")], [("eu/west",)]),
        # Plain folders: places to keep files for csvpipe, partition_N keys for AWS.
        (["2024/a.csv", "2025/b.csv"], "csvpipe", [], [(), ()]),
        (["2024/a.csv", "old/2023/b.csv"], "csvpipe", [], [(), ()]),
        (
            ["2024/a.csv", "2025/b.csv"],
            "glue-compatible",
            [PartitionKey("partition_0", "string")],
            [("2024",), ("2025",)],
        ),
        (
            ["year=2024/eu/a.csv", "year=2025/us/b.csv"],
            "glue-compatible",
            [PartitionKey("year", "string"), PartitionKey("partition_1", "string")],
            [("2024", "eu"), ("2025", "us")],
        ),
        # Different keys at one level: AWS names the level partition_N and keeps the folder name.
        (
            ["year=2024/a.csv", "yr=2025/b.csv"],
            "glue-compatible",
            [PartitionKey("partition_0", "string")],
            [("year=2024",), ("yr=2025",)],
        ),
    ],
)
def test_partition_layout(
    keys: list[str], mode: Mode, expected_keys: list[PartitionKey], values: list[tuple[str, ...]]
) -> None:
    found = partition_layout("sales", keys, mode)
    assert list(found.keys) == expected_keys
    assert [found.values[key] for key in keys] == values


@pytest.mark.parametrize(
    ("keys", "mode", "fragment"),
    [
        (["a.csv", "year=2024/b.csv"], "csvpipe", "different partition folders (a.csv and year=2024/b.csv)"),
        (["year=2024/a.csv", "old/b.csv"], "csvpipe", "mixes key=value folders with others (old/b.csv)"),
        (["year=2024/a.csv", "month=01/b.csv"], "csvpipe", "different partition folders"),
        (["year=2024/month=1/a.csv", "month=1/year=2024/b.csv"], "csvpipe", "in the same order"),
        (["a.csv", "2024/b.csv"], "glue-compatible", "different folder depths (a.csv and 2024/b.csv)"),
    ],
)
def test_layouts_that_are_not_one_table(keys: list[str], mode: Mode, fragment: str) -> None:
    with pytest.raises(PartitionLayoutError, match="dataset 'sales'") as raised:
        partition_layout("sales", keys, mode)
    assert fragment in str(raised.value)


def test_raw_hive_folders_reach_the_processed_bucket_as_they_are() -> None:
    """The layout contract this module relies on."""
    assert layout.processed_key("movies/year=2024/a.csv") == "movies/year=2024/a.csv"
    # A gzipped key keeps its folders; its name gets a hash suffix (distinct from a.csv's).
    assert layout.processed_key("movies/year=2024/a.csv.gz").startswith("movies/year=2024/a~")


def test_a_folder_key_that_is_also_a_column_is_refused() -> None:
    found = partition_layout("movies", ["year=2024/a.csv"], "csvpipe")
    check_key_names("movies", found, ["movie_id", "title"])
    with pytest.raises(PartitionLayoutError, match="the folder key 'year' is also a column"):
        check_key_names("movies", found, ["movie_id", "Year"])


def settings_with(tmp_path: Path, **overrides: str):
    return load_settings(environ={"CSVPIPE_DATA_DIR": str(tmp_path)}, overrides=overrides, config_path=None)


@pytest.mark.parametrize(
    ("overrides", "full_scan", "expected"),
    [
        ({}, False, CrawlerOptions("csvpipe", "update", 10000, None)),
        ({"crawler_sample_rows": "50"}, False, CrawlerOptions("csvpipe", "update", 50, None)),
        ({"crawler_sample_rows": "0"}, False, CrawlerOptions("csvpipe", "update", None, None)),
        ({}, True, CrawlerOptions("csvpipe", "update", None, None)),
        ({"crawler_schema_change": "log"}, False, CrawlerOptions("csvpipe", "log", 10000, None)),
        # glue-compatible reads what AWS reads: the first MiB of each file, whatever the rows.
        (
            {"crawler_mode": "glue-compatible", "crawler_sample_rows": "0"},
            False,
            CrawlerOptions("glue-compatible", "update", None, GLUE_SAMPLE_BYTES),
        ),
        ({"crawler_mode": "glue-compatible"}, True, CrawlerOptions("glue-compatible", "update", None, None)),
    ],
)
def test_crawler_options(
    tmp_path: Path, overrides: dict[str, str], full_scan: bool, expected: CrawlerOptions
) -> None:
    options = crawler_options(settings_with(tmp_path, **overrides), full_scan=full_scan)
    assert options == expected
    assert options.full_scan is (expected.sample_rows is None and expected.sample_bytes is None)


@pytest.mark.parametrize(
    ("options", "size", "whole"),
    [
        (CrawlerOptions(), WHOLE_FILE_BYTES, True),
        (CrawlerOptions(), WHOLE_FILE_BYTES + 1, False),
        (CrawlerOptions("csvpipe", "update", None, None), 10 * WHOLE_FILE_BYTES, True),  # --full-scan
        # glue-compatible predicts AWS, which reads its first MiB whatever the size.
        (CrawlerOptions("glue-compatible", "update", None, GLUE_SAMPLE_BYTES), 1000, False),
        (CrawlerOptions(whole_file_bytes=0), 1, False),
    ],
)
def test_small_files_are_read_whole_in_csvpipe_mode(options: CrawlerOptions, size: int, whole: bool) -> None:
    assert options.reads_whole(size) is whole


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (
            {"crawler_mode": "glue"},
            "setting 'crawler_mode' (--set crawler_mode) is 'glue'; choose csvpipe or",
        ),
        (
            {"crawler_schema_change": "UPDATE"},
            "setting 'crawler_schema_change' (--set crawler_schema_change)",
        ),
        ({"crawler_sample_rows": "-1"}, "give a number of rows, or 0 to read every row"),
    ],
)
def test_bad_crawler_settings(tmp_path: Path, overrides: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        crawler_options(settings_with(tmp_path, **overrides))
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)

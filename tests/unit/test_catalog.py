"""Unit tests of pipeline.catalog.types and pipeline.catalog.plan (pure, no Glue)."""

from __future__ import annotations

import copy
from typing import Any, Literal

import pytest

from pipeline.catalog.plan import (
    CSV_SERDE,
    TEXT_INPUT_FORMAT,
    TEXT_OUTPUT_FORMAT,
    Column,
    TablePlan,
    columns_of,
    plan_table,
    table_input,
)
from pipeline.catalog.types import duckdb_type, glue_type


@pytest.mark.parametrize(
    ("duck", "glue"),
    [
        ("BOOLEAN", "boolean"),
        ("TINYINT", "tinyint"),
        ("SMALLINT", "smallint"),
        ("INTEGER", "int"),
        ("integer", "int"),
        ("BIGINT", "bigint"),
        ("HUGEINT", "decimal(38,0)"),
        ("UTINYINT", "smallint"),
        ("USMALLINT", "int"),
        ("UINTEGER", "bigint"),
        ("UBIGINT", "decimal(20,0)"),
        ("FLOAT", "float"),
        ("DOUBLE", "double"),
        ("DATE", "date"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("VARCHAR", "string"),
        ("DECIMAL(18,3)", "decimal(18,3)"),
        ("decimal(10, 2)", "decimal(10,2)"),
        ("DECIMAL(38,0)", "decimal(38,0)"),
        # Anything else is kept as text.
        ("TIME", "string"),
        ("INTERVAL", "string"),
        ("BLOB", "string"),
        ("UUID", "string"),
        ("INTEGER[]", "string"),
        ("STRUCT(a INTEGER)", "string"),
        ("DECIMAL", "string"),
        ("", "string"),
    ],
)
def test_glue_type(duck: str, glue: str) -> None:
    assert glue_type(duck) == glue


@pytest.mark.parametrize(
    ("glue", "duck"),
    [
        ("boolean", "BOOLEAN"),
        ("tinyint", "TINYINT"),
        ("smallint", "SMALLINT"),
        ("int", "INTEGER"),
        ("integer", "INTEGER"),
        ("INT", "INTEGER"),
        (" bigint ", "BIGINT"),
        ("float", "FLOAT"),
        ("double", "DOUBLE"),
        ("date", "DATE"),
        ("timestamp", "TIMESTAMP"),
        ("string", "VARCHAR"),
        ("decimal(10,2)", "DECIMAL(10,2)"),
        ("DECIMAL(10, 2)", "DECIMAL(10,2)"),
        ("decimal(38,0) ", "DECIMAL(38,0)"),
        # Glue types DuckDB is not told about are read as text.
        ("varchar(10)", "VARCHAR"),
        ("char(3)", "VARCHAR"),
        ("array<string>", "VARCHAR"),
        ("struct<a:int>", "VARCHAR"),
        ("decimal", "VARCHAR"),
        ("weird", "VARCHAR"),
    ],
)
def test_duckdb_type(glue: str, duck: str) -> None:
    assert duckdb_type(glue) == duck


@pytest.mark.parametrize(
    "glue",
    [
        "boolean",
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "date",
        "timestamp",
        "string",
        "decimal(38,0)",
        "decimal(20,0)",
        "decimal(9,4)",
    ],
)
def test_glue_types_round_trip_through_duckdb(glue: str) -> None:
    """What the crawler registers, the SQL job reads back as the same type."""
    assert glue_type(duckdb_type(glue)) == glue


LOCATION = "s3://csv-processed-data-bucket/movies/"
COLUMNS = [Column("movie_id", "bigint"), Column("title", "string"), Column("genres", "string")]


def test_table_input_shape() -> None:
    assert table_input("movies", LOCATION, COLUMNS, 27) == {
        "Name": "movies",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "csv",
            "delimiter": ",",
            "skip.header.line.count": "1",
            "recordCount": "27",
            "created_by": "csvpipe-crawler",
        },
        "PartitionKeys": [],
        "StorageDescriptor": {
            "Columns": [
                {"Name": "movie_id", "Type": "bigint"},
                {"Name": "title", "Type": "string"},
                {"Name": "genres", "Type": "string"},
            ],
            "Location": LOCATION,
            "InputFormat": TEXT_INPUT_FORMAT,
            "OutputFormat": TEXT_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": CSV_SERDE, "Parameters": {"field.delim": ","}},
            "Parameters": {"classification": "csv"},
        },
    }


def test_columns_of_reads_back_table_input() -> None:
    assert columns_of(table_input("movies", LOCATION, COLUMNS, 1)) == COLUMNS


def as_glue_returns_it(wanted: dict[str, Any]) -> dict[str, Any]:
    """The table as GetTable returns it: TableInput plus fields Glue adds, columns with extra keys."""
    table = copy.deepcopy(wanted)
    table.update(
        DatabaseName="csvpipe",
        CreateTime="2024-05-14T09:21:09+00:00",
        UpdateTime="2024-05-14T09:21:09+00:00",
        Retention=0,
        IsRegisteredWithLakeFormation=False,
        CatalogId="123456789012",
        VersionId="1",
    )
    for column in table["StorageDescriptor"]["Columns"]:
        column["Comment"] = ""
    table["StorageDescriptor"].update(Compressed=False, NumberOfBuckets=-1, StoredAsSubDirectories=False)
    return table


WANTED = table_input("movies", LOCATION, COLUMNS, 27)


def changed(columns: list[Column] = COLUMNS, location: str = LOCATION, count: int = 27) -> dict[str, Any]:
    return as_glue_returns_it(table_input("movies", location, columns, count))


@pytest.mark.parametrize(
    ("existing", "action", "reason"),
    [
        (None, "create", "new table"),
        (as_glue_returns_it(WANTED), "unchanged", "schema and record count unchanged"),
        (changed(count=20), "update", "record count 20 -> 27"),
        (
            changed(columns=COLUMNS[:2]),
            "update",
            "schema changed: movie_id bigint, title string, genres string",
        ),
        (
            changed(columns=[Column("movie_id", "int"), *COLUMNS[1:]], count=3),
            "update",
            "schema changed: movie_id bigint, title string, genres string",
        ),
        (
            changed(columns=[COLUMNS[1], COLUMNS[0], COLUMNS[2]]),
            "update",
            "schema changed: movie_id bigint, title string, genres string",
        ),
        (
            changed(columns=[*COLUMNS, Column("year", "bigint")]),
            "update",
            "schema changed: movie_id bigint, title string, genres string",
        ),
    ],
    ids=["new", "same", "count", "column-dropped", "type-changed", "reordered", "column-added"],
)
def test_plan_table(
    existing: dict[str, Any] | None, action: Literal["create", "update", "unchanged"], reason: str
) -> None:
    plan = plan_table("csvpipe", WANTED, existing)
    assert plan == TablePlan(action, "csvpipe", WANTED, reason)


def test_plan_for_a_table_without_parameters_is_an_update() -> None:
    existing = as_glue_returns_it(WANTED)
    del existing["Parameters"]
    plan = plan_table("csvpipe", WANTED, existing)
    assert (plan.action, plan.reason) == ("update", "record count None -> 27")


def test_plan_does_not_change_its_input() -> None:
    existing = changed(count=20)
    before_existing, before_wanted = copy.deepcopy(existing), copy.deepcopy(WANTED)
    plan_table("csvpipe", WANTED, existing)
    assert existing == before_existing
    assert before_wanted == WANTED


def test_plan_updates_a_table_whose_location_changed() -> None:
    plan = plan_table("csvpipe", WANTED, changed(location="s3://old-processed-bucket/movies/"))
    assert plan.action == "update"
    assert plan.table_input["StorageDescriptor"]["Location"] == LOCATION


def test_plan_reason_when_only_the_location_changed() -> None:
    plan = plan_table("csvpipe", WANTED, changed(location="s3://old-processed-bucket/movies/"))
    assert plan.action == "update"
    assert "location" in plan.reason
    assert "27 -> 27" not in plan.reason

"""Unit tests of pipeline.catalog.types and pipeline.catalog.plan (pure, no Glue): type mapping,
widening, the TableInput shape, schema evolution under both policies, partitions, and the record."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipeline.catalog.plan import (
    CSV_SERDE,
    NULLABLE,
    OPEN_CSV_SERDE,
    TEXT_INPUT_FORMAT,
    TEXT_OUTPUT_FORMAT,
    Change,
    Column,
    WantedPartition,
    column_changes,
    columns_of,
    describe_plan,
    plan_record,
    plan_table,
    positional_notes,
    table_input,
)
from pipeline.catalog.types import duckdb_type, glue_type, holds, normalize, pinned_type, widen


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


@pytest.mark.parametrize(
    ("a", "b", "wider"),
    [
        ("bigint", "bigint", "bigint"),
        ("int", "bigint", "bigint"),
        ("tinyint", "smallint", "smallint"),
        ("integer", "int", "int"),
        ("bigint", "double", "double"),
        ("float", "float", "float"),
        ("float", "int", "double"),
        ("decimal(18,2)", "decimal(18,2)", "decimal(18,2)"),
        ("decimal(18,2)", "decimal(18,3)", "decimal(19,3)"),
        ("decimal(10, 2)", "decimal(5,4)", "decimal(12,4)"),
        ("decimal(38,2)", "decimal(38,10)", "double"),  # no decimal holds both: the float type
        ("bigint", "decimal(18,2)", "decimal(21,2)"),
        ("int", "decimal(4,2)", "decimal(12,2)"),
        ("decimal(18,2)", "double", "double"),
        ("date", "timestamp", "timestamp"),
        ("timestamp", "date", "timestamp"),
        ("boolean", "bigint", "string"),
        ("date", "bigint", "string"),
        ("string", "bigint", "string"),
        ("boolean", "boolean", "boolean"),
        ("array<string>", "string", "string"),
        ("array<string>", "bigint", "string"),
    ],
)
def test_widen(a: str, b: str, wider: str) -> None:
    assert widen(a, b) == wider
    assert widen(b, a) == wider  # symmetric


@pytest.mark.parametrize(
    ("wide", "narrow", "expected"),
    [
        ("double", "bigint", True),
        ("bigint", "double", False),
        ("string", "date", True),
        ("timestamp", "date", True),
        ("date", "timestamp", False),
        ("decimal(18,2)", "decimal(10,2)", True),
        ("decimal(18,2)", "decimal(18,3)", False),
        ("BIGINT", "int", True),
    ],
)
def test_holds(wide: str, narrow: str, expected: bool) -> None:
    assert holds(wide, narrow) is expected


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("INTEGER", "int"), (" BigInt ", "bigint"), ("DECIMAL(10, 2)", "decimal(10,2)"), ("string", "string")],
)
def test_normalize(spelling: str, canonical: str) -> None:
    assert normalize(spelling) == canonical


LOCATION = "s3://csv-processed-data-bucket/movies/"
COLUMNS = [Column("movie_id", "bigint"), Column("title", "string"), Column("genres", "string")]


def test_table_input_shape() -> None:
    assert table_input("movies", LOCATION, COLUMNS, 27, object_count=2, size=900) == {
        "Name": "movies",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "csv",
            "delimiter": ",",
            "skip.header.line.count": "1",
            "recordCount": "27",
            "objectCount": "2",
            "sizeKey": "900",
            "compressionType": "none",
            "typeOfData": "file",
            "areColumnsQuoted": "false",
            "columnsOrdered": "true",
            "created_by": "csvpipe-crawler",
            "csvpipe.crawler_mode": "csvpipe",
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


@pytest.mark.parametrize(
    ("kwargs", "path", "value"),
    [
        ({"header": False}, ("Parameters", "skip.header.line.count"), None),
        ({"quoted": True}, ("Parameters", "areColumnsQuoted"), "true"),
        ({"quoted": True}, ("StorageDescriptor", "SerdeInfo", "SerializationLibrary"), OPEN_CSV_SERDE),
        (
            {"quoted": True},
            ("StorageDescriptor", "SerdeInfo", "Parameters"),
            {"separatorChar": ",", "quoteChar": '"'},
        ),
        (
            {"partition_keys": [Column("year", "bigint")]},
            ("PartitionKeys",),
            [{"Name": "year", "Type": "bigint"}],
        ),
        ({"mode": "glue-compatible"}, ("Parameters", "csvpipe.crawler_mode"), "glue-compatible"),
    ],
)
def test_table_input_options(kwargs: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    node: Any = table_input("movies", LOCATION, COLUMNS, 1, **kwargs)
    for step in path[:-1]:
        node = node[step]
    assert node.get(path[-1]) == value


def test_nullability_is_a_column_parameter() -> None:
    columns = [Column("id", "bigint", False), Column("note", "string", True), Column("x", "string")]
    stored = table_input("t", LOCATION, columns, 1)["StorageDescriptor"]["Columns"]
    assert stored == [
        {"Name": "id", "Type": "bigint", "Parameters": {NULLABLE: "false"}},
        {"Name": "note", "Type": "string", "Parameters": {NULLABLE: "true"}},
        {"Name": "x", "Type": "string"},  # not recorded (glue-compatible mode)
    ]
    assert columns_of({"StorageDescriptor": {"Columns": stored}}) == columns


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


def registered(columns: list[Column] = COLUMNS, count: int = 27, **kwargs: Any) -> dict[str, Any]:
    location = kwargs.pop("location", LOCATION)
    return as_glue_returns_it(table_input("movies", location, columns, count, **kwargs))


WANTED = table_input("movies", LOCATION, COLUMNS, 27)
C = Column
# (kind, subject, compatible, applied) of each change, in the plan's order.
Changes = list[tuple[str, str, bool, bool]]


@pytest.mark.parametrize(
    ("old", "new", "policy", "action", "decision", "changes", "result"),
    [
        (COLUMNS, COLUMNS, "update", "unchanged", "unchanged", [], COLUMNS),
        (COLUMNS, COLUMNS, "log", "unchanged", "unchanged", [], COLUMNS),
        (
            COLUMNS,
            [*COLUMNS, C("year", "bigint")],
            "update",
            "update",
            "evolve",
            [("add", "year", True, True)],
            [*COLUMNS, C("year", "bigint")],
        ),
        (
            COLUMNS,
            [*COLUMNS, C("year", "bigint")],
            "log",
            "unchanged",
            "log",
            [("add", "year", True, False)],
            COLUMNS,
        ),
        (
            [C("movie_id", "int"), *COLUMNS[1:]],
            COLUMNS,
            "update",
            "update",
            "evolve",
            [("widen", "movie_id", True, True)],
            COLUMNS,
        ),
        (
            [C("price", "bigint")],
            [C("price", "double")],
            "update",
            "update",
            "evolve",
            [("widen", "price", True, True)],
            [C("price", "double")],
        ),
        (
            [C("price", "decimal(18,2)")],
            [C("price", "decimal(18,3)")],
            "update",
            "update",
            "evolve",
            [("widen", "price", True, True)],
            [C("price", "decimal(19,3)")],
        ),
        (
            [C("seen", "date")],
            [C("seen", "timestamp")],
            "update",
            "update",
            "evolve",
            [("widen", "seen", True, True)],
            [C("seen", "timestamp")],
        ),
        # Incompatible: reported, the registered side kept, under both policies.
        (
            [C("price", "double")],
            [C("price", "bigint")],
            "update",
            "unchanged",
            "refused",
            [("narrow", "price", False, False)],
            [C("price", "double")],
        ),
        # The data wins over the sample: values that need string widen the column to string.
        (
            [C("movie_id", "bigint")],
            [C("movie_id", "string")],
            "update",
            "update",
            "evolve",
            [("widen", "movie_id", True, True)],
            [C("movie_id", "string")],
        ),
        (
            [C("flag", "boolean")],
            [C("flag", "bigint")],
            "update",
            "update",
            "evolve",
            [("widen", "flag", True, True)],
            [C("flag", "string")],
        ),
        (
            [C("movie_id", "bigint")],
            [C("movie_id", "string")],
            "log",
            "unchanged",
            "log",
            [("widen", "movie_id", True, False)],
            [C("movie_id", "bigint")],
        ),
        (COLUMNS, COLUMNS[:2], "update", "unchanged", "refused", [("drop", "genres", False, False)], COLUMNS),
        (COLUMNS, COLUMNS[:2], "log", "unchanged", "log", [("drop", "genres", False, False)], COLUMNS),
        (
            COLUMNS,
            [C("movie_id", "double"), *COLUMNS[1:2], C("year", "bigint")],
            "update",
            "update",
            "evolve-partial",
            [
                ("widen", "movie_id", True, True),
                ("drop", "genres", False, False),
                ("add", "year", True, True),
            ],
            [C("movie_id", "double"), *COLUMNS[1:], C("year", "bigint")],
        ),
        # The registered order is kept: CSV columns are positional for Athena.
        ([COLUMNS[1], COLUMNS[0], COLUMNS[2]], COLUMNS, "update", "unchanged", "unchanged", [], None),
        (
            [C("id", "bigint", False)],
            [C("id", "bigint", True)],
            "update",
            "update",
            "evolve",
            [("nullable", "id", True, True)],
            [C("id", "bigint", True)],
        ),
        # A column that lost its NULLs stays nullable; not a change.
        ([C("id", "bigint", True)], [C("id", "bigint", False)], "update", "unchanged", "unchanged", [], None),
    ],
    ids=[
        "same",
        "same-log",
        "add",
        "add-log",
        "int-bigint",
        "bigint-double",
        "decimal-scales",
        "date-timestamp",
        "narrow",
        "to-string",
        "boolean-number",
        "to-string-log",
        "drop",
        "drop-log",
        "partial",
        "reordered",
        "nullable",
        "not-nullable-any-more",
    ],
)
def test_schema_evolution(
    old: list[Column],
    new: list[Column],
    policy: str,
    action: str,
    decision: str,
    changes: Changes,
    result: list[Column] | None,
) -> None:
    existing = registered(old)
    plan = plan_table("csvpipe", table_input("movies", LOCATION, new, 27), existing, policy)
    assert (plan.action, plan.decision, plan.policy) == (action, decision, policy)
    assert [(c.kind, c.subject, c.compatible, c.applied) for c in plan.changes] == changes
    assert columns_of(plan.table_input) == (old if result is None else result)
    if action == "unchanged":
        # Nothing is called, and what the plan holds is the registered table itself.
        assert columns_of(plan.table_input) == columns_of(existing)


def test_an_incompatible_change_never_reaches_the_table_input() -> None:
    """Whatever the policy, the TableInput that UpdateTable would get keeps every registered
    column with its registered type."""
    old = [C("id", "bigint"), C("price", "double"), C("note", "string")]
    new = [C("id", "string"), C("price", "bigint"), C("extra", "date")]
    for policy in ("update", "log"):
        plan = plan_table(
            "csvpipe", table_input("movies", LOCATION, new, 5), registered(old), policy, "glue-compatible"
        )
        kept = columns_of(plan.table_input)
        assert kept[:3] == old
        assert {c.kind for c in plan.changes} == {"retype", "narrow", "drop", "add"}


def test_record_count_change_is_a_refresh() -> None:
    plan = plan_table("csvpipe", WANTED, registered(count=20))
    assert (plan.action, plan.decision, plan.reason) == ("update", "refresh", "record count 20 -> 27")


def test_location_change_is_a_refresh() -> None:
    plan = plan_table("csvpipe", WANTED, registered(location="s3://old-processed-bucket/movies/"))
    assert (plan.action, plan.decision) == ("update", "refresh")
    assert plan.table_input["StorageDescriptor"]["Location"] == LOCATION
    assert plan.reason == f"location changed: s3://old-processed-bucket/movies/ -> {LOCATION}"


def test_new_table_is_created_under_both_policies() -> None:
    for policy in ("update", "log"):
        plan = plan_table("csvpipe", WANTED, None, policy)
        assert (plan.action, plan.decision, plan.reason, plan.table_input) == (
            "create",
            "create",
            "new table",
            WANTED,
        )


def test_a_table_that_lost_its_header_line_is_blocked() -> None:
    """A registered table that skips no header (made elsewhere, or from headerless files) is not
    rewritten from data that has one: the column names would all change."""
    existing = registered()
    del existing["Parameters"]["skip.header.line.count"]
    for policy in ("update", "log"):
        plan = plan_table("csvpipe", WANTED, existing, policy)
        assert (plan.action, plan.decision) == ("unchanged", "blocked")
        assert [(c.kind, c.compatible, c.applied) for c in plan.changes] == [("header", False, False)]
        assert plan.partitions_held


def test_update_keeps_what_the_crawler_does_not_own() -> None:
    existing = registered(count=20)
    existing["Description"] = "movies from the tutorial"
    existing["Parameters"]["projection.enabled"] = "false"
    existing["StorageDescriptor"]["Columns"][0]["Comment"] = "MovieLens id"
    plan = plan_table(
        "csvpipe", table_input("movies", LOCATION, [*COLUMNS, C("year", "bigint")], 27), existing
    )
    assert plan.action == "update"
    assert plan.table_input["Description"] == "movies from the tutorial"
    assert plan.table_input["Parameters"]["projection.enabled"] == "false"
    assert plan.table_input["Parameters"]["recordCount"] == "27"
    assert plan.table_input["StorageDescriptor"]["Columns"][0]["Comment"] == "MovieLens id"
    assert "DatabaseName" not in plan.table_input and "VersionId" not in plan.table_input


def test_plan_does_not_change_its_inputs() -> None:
    existing = registered([C("movie_id", "int")], count=20)
    wanted = table_input("movies", LOCATION, [C("movie_id", "bigint"), C("x", "string")], 27)
    before_existing, before_wanted = copy.deepcopy(existing), copy.deepcopy(wanted)
    plan_table("csvpipe", wanted, existing)
    assert (existing, wanted) == (before_existing, before_wanted)


@pytest.mark.parametrize(
    ("old_quoted", "new_quoted", "old_columns", "mode", "expected"),
    [
        (False, True, COLUMNS, "csvpipe", [("serde", True, True)]),
        (True, False, COLUMNS, "csvpipe", []),  # OpenCSVSerde reads unquoted data too: kept
        # glue-compatible: OpenCSVSerde means every column string, so typed columns refuse it.
        (False, True, COLUMNS, "glue-compatible", [("retype", False, False), ("serde", False, False)]),
        (
            False,
            True,
            [C("movie_id", "string"), *COLUMNS[1:]],
            "glue-compatible",
            [("serde", True, True)],
        ),
    ],
    ids=["csvpipe-quotes-appear", "quotes-gone", "glue-typed", "glue-all-text"],
)
def test_serde_changes(
    old_quoted: bool, new_quoted: bool, old_columns: list[Column], mode: str, expected: list[tuple]
) -> None:
    new_columns = (
        [C(c.name, "string") for c in COLUMNS] if mode == "glue-compatible" and new_quoted else COLUMNS
    )
    existing = registered(old_columns, quoted=old_quoted, mode=mode)
    wanted = table_input("movies", LOCATION, new_columns, 27, quoted=new_quoted, mode=mode)
    plan = plan_table("csvpipe", wanted, existing, "update", mode)
    assert [(c.kind, c.compatible, c.applied) for c in plan.changes] == expected
    serde = plan.table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    applied = any(c.kind == "serde" and c.applied for c in plan.changes)
    assert serde == (OPEN_CSV_SERDE if old_quoted or applied else CSV_SERDE)


def partitioned(count: int, columns: list[Column] = COLUMNS) -> dict[str, Any]:
    return table_input("movies", LOCATION, columns, count, partition_keys=[C("year", "bigint")])


def wanted_partition(year: str, rows: int = 10) -> WantedPartition:
    return WantedPartition((year,), f"{LOCATION}year={year}/", rows, 1)


def test_partitions_are_created_updated_kept_and_stale_ones_reported() -> None:
    table = partitioned(27)
    existing = as_glue_returns_it(table)
    first = plan_table("csvpipe", table, None, partitions=[wanted_partition("2024")])
    registered_2024 = {**first.partitions[0].partition_input, "CreationTime": "x", "TableName": "movies"}
    registered_2020 = {**registered_2024, "Values": ["2020"]}
    plan = plan_table(
        "csvpipe",
        table,
        existing,
        partitions=[wanted_partition("2024"), wanted_partition("2025"), wanted_partition("2023", rows=3)],
        existing_partitions=[registered_2024, registered_2020],
    )
    assert [(p.action, p.values) for p in plan.partitions] == [
        ("create", ("2023",)),
        ("unchanged", ("2024",)),
        ("create", ("2025",)),
        ("stale", ("2020",)),
    ]
    created = plan.partitions[0].partition_input
    assert created["Values"] == ["2023"]
    assert created["Parameters"] == {"classification": "csv", "recordCount": "3", "objectCount": "1"}
    assert created["StorageDescriptor"]["Location"] == f"{LOCATION}year=2023/"
    assert columns_of(created) == COLUMNS  # the table's columns (InheritFromTable)
    assert plan_record(plan)["partitions"] == {
        "held": False,
        "create": ["year=2023", "year=2025"],
        "update": [],
        "stale": ["year=2020"],
        "unchanged": 1,
    }


def test_partitions_follow_the_table_columns() -> None:
    table = partitioned(27)
    first = plan_table("csvpipe", table, None, partitions=[wanted_partition("2024")])
    grown = partitioned(27, columns=[*COLUMNS, C("year_seen", "bigint")])
    plan = plan_table(
        "csvpipe",
        grown,
        as_glue_returns_it(table),
        partitions=[wanted_partition("2024")],
        existing_partitions=[first.partitions[0].partition_input],
    )
    assert [(p.action, p.values) for p in plan.partitions] == [("update", ("2024",))]
    (update,) = plan.partitions
    assert update.partition_input["StorageDescriptor"]["Columns"][-1] == {
        "Name": "year_seen",
        "Type": "bigint",
    }


def test_log_policy_holds_partitions_back_with_the_schema() -> None:
    existing = as_glue_returns_it(partitioned(27))
    grown = partitioned(27, columns=[*COLUMNS, C("extra", "string")])
    plan = plan_table("csvpipe", grown, existing, "log", partitions=[wanted_partition("2024")])
    assert (plan.action, plan.decision, plan.partitions_held) == ("unchanged", "log", True)
    assert [p.action for p in plan.partitions] == ["create"]  # reported, not applied
    assert plan_record(plan)["partitions"]["held"] is True


def test_changed_partition_keys_are_kept_and_no_partition_is_registered() -> None:
    existing = as_glue_returns_it(partitioned(27))
    wanted = table_input("movies", LOCATION, COLUMNS, 27, partition_keys=[C("year", "string")])
    plan = plan_table("csvpipe", wanted, existing, partitions=[wanted_partition("unknown")])
    assert [(c.kind, c.compatible) for c in plan.changes] == [("partition keys", False)]
    assert plan.table_input["PartitionKeys"] == [{"Name": "year", "Type": "bigint"}]
    assert plan.partitions == ()


@pytest.mark.parametrize(
    ("table_columns", "files", "flagged"),
    [
        (["a", "b", "c"], [("x.csv", ["a", "b", "c"]), ("y.csv", ["a", "b"])], []),
        (["a", "b", "c"], [("x.csv", ["a", "c"])], ["x.csv"]),
        (["a", "b", "c"], [("x.csv", ["b", "a", "c"])], ["x.csv"]),
        (["a", "b"], [("x.csv", ["a", "b", "c"])], ["x.csv"]),
    ],
)
def test_positional_notes(
    table_columns: list[str], files: list[tuple[str, list[str]]], flagged: list[str]
) -> None:
    notes = positional_notes(table_columns, files)
    assert [note.split(":")[0] for note in notes] == flagged


def test_column_changes_lists_each_difference_once() -> None:
    old = [C("a", "bigint"), C("b", "string", False), C("c", "double")]
    new = [C("a", "double"), C("b", "string", True), C("d", "date")]
    assert [(c.kind, c.subject, c.old, c.new) for c in column_changes(old, new)] == [
        ("widen", "a", "bigint", "double"),
        ("nullable", "b", "false", "true"),
        ("drop", "c", "double", None),
        ("add", "d", None, "date"),
    ]


def test_plan_record_and_description() -> None:
    existing = registered(COLUMNS[:2])
    plan = plan_table(
        "csvpipe",
        table_input("movies", LOCATION, [C("movie_id", "string"), *COLUMNS[1:]], 27),
        existing,
        mode="glue-compatible",
    )
    record = plan_record(plan)
    assert {
        k: record[k] for k in ("table", "action", "decision", "policy", "mode", "record_count", "header")
    } == {
        "table": "movies",
        "action": "update",
        "decision": "evolve-partial",
        "policy": "update",
        "mode": "glue-compatible",
        "record_count": 27,
        "header": True,
    }
    assert record["columns"] == [{"name": c.name, "type": c.type} for c in COLUMNS]
    assert record["changes"] == [
        Change(
            "retype",
            "movie_id",
            "bigint",
            "string",
            False,
            False,
            "values no longer fit bigint (they need string); the table keeps bigint",
        ).as_record(),
        Change("add", "genres", None, "string", True, True, "new column, appended").as_record(),
    ]
    lines = describe_plan(plan)
    assert lines[0] == (
        "csvpipe.movies: update [evolve-partial] - 1 schema change(s) applied, 1 incompatible kept out "
        "(policy update, mode glue-compatible)"
    )
    assert (
        "  ! retype movie_id: values no longer fit bigint (they need string); the table keeps bigint "
        "[incompatible, kept out]" in lines
    )
    assert "  + add genres: new column, appended [applied]" in lines


@pytest.mark.parametrize(
    ("rule_type", "inferred", "pinned"),
    [
        ("int", "string", "bigint"),
        ("int", None, "bigint"),
        ("string", "bigint", "string"),
        ("date", "string", "date"),
        ("timestamp", "date", "timestamp"),
        ("bool", "string", "boolean"),
        ("decimal", "decimal(18,2)", "decimal(18,2)"),
        ("decimal", "double", "double"),
        ("decimal", "string", "double"),  # only NULLs in the data: nothing to take a scale from
    ],
)
def test_pinned_type(rule_type: str, inferred: str | None, pinned: str) -> None:
    assert pinned_type(rule_type, inferred) == pinned


def test_a_pinned_type_is_changed_to_even_when_it_is_narrower_and_never_widened_after() -> None:
    """A column registered as string before the rules pinned it int is changed to bigint, and
    the data (here text) never widens it again: the rules decide, not the data."""
    existing = registered([C("movie_id", "bigint"), C("year", "string")])
    wanted = table_input("movies", LOCATION, [C("movie_id", "bigint"), C("year", "bigint")], 27)
    plan = plan_table("csvpipe", wanted, existing, pinned={"year": "bigint"})
    assert [(c.kind, c.subject, c.old, c.new, c.applied) for c in plan.changes] == [
        ("pin", "year", "string", "bigint", True)
    ]
    assert columns_of(plan.table_input) == [C("movie_id", "bigint"), C("year", "bigint")]
    assert "  ~ pin year: pinned to bigint by the dataset's rules [applied]" in describe_plan(plan)
    again = plan_table("csvpipe", wanted, registered(columns_of(plan.table_input)), pinned={"year": "bigint"})
    assert (again.action, again.changes) == ("unchanged", ())


def test_rebuild_removes_columns_no_file_has_and_re_derives_types() -> None:
    existing = registered([C("a", "bigint"), C("b", "string"), C("c", "double")])
    existing["Description"] = "kept"
    existing["Parameters"]["owner.note"] = "mine"
    wanted = table_input("movies", LOCATION, [C("a", "string"), C("b", "string")], 4)
    refused = plan_table("csvpipe", wanted, existing)
    assert [c.kind for c in refused.changes] == ["widen", "drop"]
    assert [c.name for c in columns_of(refused.table_input)] == ["a", "b", "c"]
    plan = plan_table("csvpipe", wanted, existing, rebuild=True)
    assert (plan.action, plan.decision) == ("update", "rebuild")
    assert [(c.kind, c.subject, c.applied) for c in plan.changes] == [
        ("widen", "a", True),
        ("drop", "c", True),
    ]
    assert columns_of(plan.table_input) == [C("a", "string"), C("b", "string")]
    assert plan.table_input["Description"] == "kept"
    assert plan.table_input["Parameters"]["owner.note"] == "mine"
    assert plan.table_input["Parameters"]["recordCount"] == "4"
    same = plan_table("csvpipe", wanted, registered([C("a", "string"), C("b", "string")], 4), rebuild=True)
    assert (same.action, same.decision, same.changes) == ("unchanged", "rebuild", ())

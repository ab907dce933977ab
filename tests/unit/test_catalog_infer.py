"""Unit tests of pipeline.catalog.infer (pure): value kinds, column types in both modes, header
detection (including all-text files), and several files merged into one table."""

from __future__ import annotations

import time

import pytest

from pipeline.catalog.infer import (
    BIG_INTEGER,
    BOOLEAN,
    DATE,
    DECIMAL,
    FLOAT,
    INTEGER,
    PADDED_INTEGER,
    STRING,
    TIMESTAMP,
    ColumnProfile,
    FileScan,
    Mode,
    Profiler,
    csvpipe_type,
    detect_header,
    glue_type_of,
    infer_table,
    profile_values,
    value_kind,
)


@pytest.mark.parametrize(
    ("text", "kind", "digits", "scale"),
    [
        # The canonical forms the preprocessing writes (pipeline.preprocess.types).
        ("7", INTEGER, 1, 0),
        ("0", INTEGER, 1, 0),
        ("-12", INTEGER, 2, 0),
        ("9223372036854775807", INTEGER, 19, 0),
        ("-9223372036854775808", INTEGER, 19, 0),
        ("1.50", DECIMAL, 1, 2),
        ("-0.5", DECIMAL, 1, 1),
        ("1234.000", DECIMAL, 4, 3),
        ("1995-12-25", DATE, 0, 0),
        ("2024-05-01 13:45:00", TIMESTAMP, 0, 0),
        ("2024-05-01 13:45:00.123456", TIMESTAMP, 0, 0),
        ("true", BOOLEAN, 0, 0),
        ("false", BOOLEAN, 0, 0),
        ("TRUE", BOOLEAN, 0, 0),
        # Other spellings.
        ("007", PADDED_INTEGER, 1, 0),
        ("+5", PADDED_INTEGER, 1, 0),
        ("9223372036854775808", BIG_INTEGER, 19, 0),
        ("123456789012345678901234567890", BIG_INTEGER, 30, 0),
        ("1e5", FLOAT, 0, 0),
        ("-2.5E-3", FLOAT, 0, 0),
        (".5", FLOAT, 0, 0),
        ("5.", FLOAT, 0, 0),
        # Text.
        ("1995-02-30", STRING, 0, 0),  # no such day
        ("1995-1-2", STRING, 0, 0),
        ("2024-05-01T13:45:00", STRING, 0, 0),  # Hive reads only a space between date and time
        ("2024-05-01 13:45:00+02:00", STRING, 0, 0),  # nor an offset
        ("2024-05-01 25:00:00", STRING, 0, 0),
        ("yes", STRING, 0, 0),
        ("NaN", STRING, 0, 0),
        ("inf", STRING, 0, 0),
        ("-", STRING, 0, 0),
        ("1,5", STRING, 0, 0),
        ("١٢", STRING, 0, 0),  # digits of another script
        ("Toy Story (1995)", STRING, 0, 0),
    ],
)
def test_value_kind(text: str, kind: str, digits: int, scale: int) -> None:
    assert value_kind(text) == (kind, digits, scale)


@pytest.mark.parametrize(
    ("cells", "csvpipe", "glue"),
    [
        (["1", "2", "30"], "bigint", "bigint"),
        (["1", "", "30"], "bigint", "bigint"),
        (["", ""], "string", "string"),
        (["1.50", "2.00", "10.25"], "decimal(18,2)", "double"),
        (["2.5", "3"], "double", "double"),  # mixed scales are not one decimal type
        (["2.5", "3.25"], "double", "double"),
        (["1", "1e3"], "double", "double"),
        (["123456789012345678.5"], "decimal(38,1)", "double"),
        (["99999999999999999999"], "decimal(38,0)", "double"),
        (["1", "99999999999999999999"], "decimal(38,0)", "double"),
        (["1" * 40 + ".5"], "double", "double"),
        (["007", "012"], "string", "bigint"),  # leading zeros are codes to csvpipe, numbers to AWS
        (["true", "false", ""], "boolean", "boolean"),
        (["true", "1"], "string", "string"),
        (["1995-12-25", "2001-01-01"], "date", "string"),
        (["1995-12-25", "2001-01-01 10:00:00"], "timestamp", "string"),
        (["2001-01-01 10:00:00"], "timestamp", "string"),
        (["1995-12-25", "soon"], "string", "string"),
        (["1", "two"], "string", "string"),
    ],
)
def test_column_types_per_mode(cells: list[str], csvpipe: str, glue: str) -> None:
    profile = profile_values(cells)
    assert (csvpipe_type(profile), glue_type_of(profile)) == (csvpipe, glue)


def test_profiler_counts_nulls_short_rows_and_late_columns() -> None:
    profiler = Profiler(["a", "b"])
    profiler.add(["1", ""])
    profiler.add(["2"])  # a short row: b is NULL
    profiler.add(["a", "x", "late"])  # a value equal to its header cell, and a third column
    a, b, c = profiler.profiles(2)
    assert (a.values, a.nulls, a.kinds) == (3, 0, frozenset({INTEGER, STRING}))
    assert (b.values, b.nulls) == (1, 2)
    assert (c.values, c.nulls) == (1, 2)  # NULL in the rows before it appeared
    assert profiler.repeats == [True, False]
    assert profiler.profiles(5)[4] == ColumnProfile(nulls=3)


def test_profiles_merge_across_files() -> None:
    first, second = profile_values(["1.50"]), profile_values(["2", ""])
    merged = first.merged(second)
    assert merged == ColumnProfile(2, 1, frozenset({DECIMAL, INTEGER}), frozenset({2, 0}), 1)
    assert merged.nullable


def data(*columns: list[str]) -> tuple[ColumnProfile, ...]:
    return tuple(profile_values(cells) for cells in columns)


@pytest.mark.parametrize(
    ("first", "columns", "repeats", "mode", "present"),
    [
        # A typed column whose first cell is text: a header, in both modes.
        (["movie_id", "title"], [["1", "2"], ["a", "b"]], [False, False], "csvpipe", True),
        (["movie_id", "title"], [["1", "2"], ["a", "b"]], [False, False], "glue-compatible", True),
        # The first row has the data's types: it is data.
        (["1", "Toy Story"], [["2", "3"], ["a", "b"]], [False, False], "csvpipe", False),
        (["1", "Toy Story"], [["2", "3"], ["a", "b"]], [False, False], "glue-compatible", False),
        # A decimal column with a whole number on top is still data.
        (["3", "x"], [["1.50", "2.25"], ["a", "b"]], [False, False], "csvpipe", False),
        # Every column text: csvpipe takes unique names found nowhere else as the header ...
        (["name", "city"], [["alice", "bob"], ["paris", "rome"]], [False, False], "csvpipe", True),
        # ... AWS cannot tell them from data, so it has no header.
        (["name", "city"], [["alice", "bob"], ["paris", "rome"]], [False, False], "glue-compatible", False),
        # All text, but the first row's value recurs in its column: data.
        (["alice", "paris"], [["alice", "bob"], ["rome", "oslo"]], [True, False], "csvpipe", False),
        # All text, but not names.
        (["Alice Smith", "Paris"], [["Bob", "x"], ["Rome", "y"]], [False, False], "csvpipe", False),
        # Empty or repeated cells are no header.
        (["id", ""], [["1"], ["2"]], [False, False], "csvpipe", False),
        (["id", "id"], [["1"], ["2"]], [False, False], "csvpipe", False),
        # A header-only file (no data rows): names make a header for csvpipe, not for AWS.
        (["id", "title"], [[], []], [False, False], "csvpipe", True),
        (["id", "title"], [[], []], [False, False], "glue-compatible", False),
        # AWS: every header cell must parse as STRING; numbers do not.
        (["id", "2024"], [["1", "2"], ["5", "6"]], [False, False], "glue-compatible", False),
        # AWS: cells (but the last) of 150 characters or more are not names.
        (["x" * 150, "id"], [["a"], ["1"]], [False, False], "glue-compatible", False),
        (["id", "x" * 150], [["1"], ["a"]], [False, False], "glue-compatible", True),
        # AWS sees dates as text: a date header over a number column is a header.
        (["2024-01-01", "n"], [["a"], ["1"]], [False, False], "glue-compatible", True),
    ],
)
def test_detect_header(
    first: list[str], columns: list[list[str]], repeats: list[bool], mode: Mode, present: bool
) -> None:
    decision = detect_header(first, data(*columns), repeats, mode)
    assert decision.present is present, decision.reason
    assert decision.reason


def scan(key: str, text: str, *, quoted: bool = False) -> FileScan:
    """What the crawler's I/O makes of a small file (every row sampled)."""
    rows = [line.split(",") for line in text.strip().splitlines()]
    profiler = Profiler(rows[0])
    for row in rows[1:]:
        profiler.add(row)
    return FileScan(
        key,
        tuple(rows[0]),
        profiler.profiles(len(rows[0])),
        tuple(profiler.repeats),
        len(rows),
        len(rows),
        quoted,
    )


def test_several_files_make_one_table_with_widened_types() -> None:
    table = infer_table(
        [
            scan("a.csv", "id,amount,day\n1,2.50,2024-01-01\n2,3.00,2024-01-02"),
            scan("b.csv", "id,amount,day,region\n3,1.5,2024-01-03 10:00:00,eu"),
        ],
        "csvpipe",
    )
    assert [(c.name, c.type, c.nullable) for c in table.columns] == [
        ("id", "bigint", False),
        ("amount", "double", False),  # scales 2 and 1 widen to double
        ("day", "timestamp", False),
        ("region", "string", True),  # NULL in a.csv's rows
    ]
    assert (table.header, table.record_count, table.quoted) == (True, 3, False)


def test_all_text_files_in_both_modes() -> None:
    files = [scan("people.csv", "name,city\nalice,paris\nbob,rome")]
    csvpipe = infer_table(files, "csvpipe")
    assert [c.name for c in csvpipe.columns] == ["name", "city"]
    assert (csvpipe.header, csvpipe.record_count) == (True, 2)
    glue = infer_table(files, "glue-compatible")
    assert [(c.name, c.type) for c in glue.columns] == [("col0", "string"), ("col1", "string")]
    assert (glue.header, glue.record_count) == (False, 3)  # the names row counts as data


def test_a_headerless_file_reads_its_first_row_as_data() -> None:
    table = infer_table([scan("n.csv", "1,a\n2,b\n3,c")], "csvpipe")
    assert [(c.name, c.type) for c in table.columns] == [("col0", "bigint"), ("col1", "string")]
    assert (table.header, table.record_count) == (False, 3)


def test_quoted_fields_make_every_column_string_in_glue_compatible_mode_only() -> None:
    files = [scan("m.csv", "id,title\n1,Heat\n2,Casino", quoted=True)]
    assert [c.type for c in infer_table(files, "glue-compatible").columns] == ["string", "string"]
    assert [c.type for c in infer_table(files, "csvpipe").columns] == ["bigint", "string"]
    assert infer_table(files, "csvpipe").quoted


def test_files_without_a_header_among_headed_ones_are_noted() -> None:
    table = infer_table([scan("a.csv", "id,x\n1,a"), scan("b.csv", "2,b\n3,c")], "csvpipe")
    assert table.header
    assert table.notes and "b.csv" in table.notes[0]


@pytest.mark.slow
def test_a_very_wide_file_is_merged_in_linear_time() -> None:
    # 60,000 columns: 27 s when each column's name was looked up in every file's tuple of names.
    width = 60_000
    names = ",".join(f"c{i}" for i in range(width))
    values = ",".join("1" for _ in range(width))
    wide = scan("wide.csv", f"{names}\n{values}")
    narrow = scan("narrow.csv", "c0,c1\n2,3")
    started = time.monotonic()
    table = infer_table([wide, narrow], "csvpipe")
    assert time.monotonic() - started < 5
    assert len(table.columns) == width
    assert table.columns[2].nullable and not table.columns[0].nullable  # c2 is missing from narrow.csv

"""Checking a sampled file's types against every row with the real DuckDB reader the transform
job uses: each column that does not convert goes one step wider until it does."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.catalog.types import next_wider
from pipeline.catalog.verify import checked_types, fits_sql
from pipeline.sqltext import literal


@pytest.mark.parametrize(
    ("glue", "wider"),
    [
        ("bigint", "double"),
        ("int", "double"),
        ("decimal(18,2)", "double"),
        ("float", "double"),
        ("double", "string"),
        ("date", "timestamp"),
        ("timestamp", "string"),
        ("boolean", "string"),
    ],
)
def test_next_wider(glue: str, wider: str) -> None:
    assert next_wider(glue) == wider


@pytest.mark.parametrize(
    ("late_row", "types", "expected"),
    [
        ("9,2024-05-01,true", {"id": "bigint", "day": "date", "ok": "boolean"}, None),
        ("9.5,2024-05-01,true", {"id": "bigint", "day": "date", "ok": "boolean"}, {"id": "double"}),
        ("2B037,2024-05-01,true", {"id": "bigint", "day": "date", "ok": "boolean"}, {"id": "string"}),
        (
            "9,2024-05-01 10:30:00,maybe",
            {"id": "bigint", "day": "date", "ok": "boolean"},
            {"day": "timestamp", "ok": "string"},
        ),
        ("x,soon,1", {"id": "string", "day": "string", "ok": "string"}, None),
        ("1.234,2024-05-01,true", {"id": "decimal(18,2)", "day": "date", "ok": "boolean"}, {"id": "double"}),
    ],
    ids=["fits", "to-double", "to-string", "two-columns", "all-text", "decimal-scale"],
)
def test_checked_types_widen_what_later_rows_break(
    tmp_path: Path, late_row: str, types: dict[str, str], expected: dict[str, str] | None
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "id,day,ok\n" + "".join(f"{n},2024-01-0{n % 9 + 1},true\n" for n in range(3000)) + late_row + "\n"
    )
    assert checked_types(path, types) == {**types, **(expected or {})}
    # Kept beside the file, and used while the file is the same.
    assert checked_types(path, types) == {**types, **(expected or {})}
    assert path.with_name("a.csv.types.json").exists()
    path.write_text("id,day,ok\n1,2024-01-01,true\nlate,2024-01-01,true\n")
    assert checked_types(path, types)["id"] == "string"


@pytest.mark.parametrize(
    ("value", "glue", "fits"),
    [
        ("42", "bigint", True),
        ("-7", "bigint", True),
        ("007", "bigint", False),  # a code, not a number: the profiler keeps it string
        ("9.5", "bigint", False),  # DuckDB's typed reader would round it to 10
        ("99999999999999999999", "bigint", False),
        ("2B037", "bigint", False),
        ("12.50", "decimal(18,2)", True),
        ("12.5", "decimal(18,2)", True),
        ("1.234", "decimal(18,2)", False),
        ("1x5", "decimal(18,2)", False),  # the point is a point, not any character
        ("123", "decimal(4,2)", False),
        ("1e5", "double", True),
        ("abc", "double", False),
        ("2024-02-29", "date", True),
        ("2023-02-29", "date", False),
        ("2024-05-01 10:30:00", "date", False),  # DuckDB's typed reader would drop the time
        ("2024-05-01 10:30:00.25", "timestamp", True),
        ("2024-05-01T10:30:00", "timestamp", False),
        ("TRUE", "boolean", True),
        ("yes", "boolean", False),
        ("anything", "string", True),
    ],
)
def test_fits_sql_follows_the_profilers_spelling(value: str, glue: str, fits: bool) -> None:
    with duckdb.connect() as con:
        (result,) = con.execute(f"SELECT {fits_sql(literal(value), glue)}").fetchall()[0]
    assert result is fits


def test_a_quoted_field_with_a_line_break_is_one_value(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,note\n1,"two\nlines, ""quoted"""\n2,plain\n')
    assert checked_types(path, {"id": "bigint", "note": "string"}) == {"id": "bigint", "note": "string"}


def test_a_file_duckdb_cannot_read_keeps_the_sampled_types_and_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,note\n1,"never closed\n2,x\n')
    assert checked_types(path, {"id": "bigint", "note": "string"}) == {"id": "bigint", "note": "string"}
    assert not path.with_name("a.csv.types.json").exists()

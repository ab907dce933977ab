"""A transform's two outputs, CSV and Parquet, written by the job's own ``run_local`` with real
DuckDB: the CSV shows the query's values, in the query's order, whether it is written from the
Parquet (the usual case) or from a table (a result whose types Parquet would change)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.settings import load_settings
from pipeline.transform.dag import plan
from pipeline.transform.job import CatalogInput, LocalInputs, run_local
from pipeline.transform.sql import parse_transform
from tests.unit.sql_cases import FORMULA_CELLS

ROWS = "id,name\n1,Heat\n2,=HYPERLINK(1)\n3,Alien\n"


def run(tmp_path: Path, sql: str, rows: str = ROWS) -> tuple[str, list[tuple[str, str]], int, Path]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "movies.csv").write_text(rows)
    transform = tmp_path / "result.sql"
    transform.write_text(sql)
    (step,) = plan([parse_transform(transform)])
    inputs = LocalInputs(
        catalog={
            "movies": CatalogInput(
                "s3://processed/movies/", {"id": "bigint", "name": "string"}, {}, [data / "movies.csv"]
            )
        }
    )
    out = tmp_path / "out"
    out.mkdir()
    result = run_local(step, inputs, load_settings(), out)
    types = [(c["name"], c["type"]) for c in result.columns]
    assert sorted(p.name for p in out.iterdir()) == ["result.csv", "result.parquet"]  # no probe left
    return result.csv.read_text(), types, result.rows, result.parquet


def test_a_row_level_result_keeps_its_order_and_guards_formulas(tmp_path: Path) -> None:
    csv, types, rows, parquet = run(tmp_path, "SELECT id, name FROM movies ORDER BY id DESC\n-- newest first")
    assert csv == "id,name\n3,Alien\n2,'=HYPERLINK(1)\n1,Heat\n"
    assert types == [("id", "BIGINT"), ("name", "VARCHAR")] and rows == 3
    # The Parquet keeps the value itself; only the CSV, opened by spreadsheets, is guarded.
    assert duckdb.sql(f"SELECT name FROM '{parquet}' WHERE id = 2").fetchall() == [("=HYPERLINK(1)",)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # sum of a BIGINT is a HUGEINT, which Parquet stores as a DOUBLE: the CSV must still say 6.
        ("SELECT sum(id) AS total, count(*) AS movies FROM movies", "total,movies\n6,3\n"),
        # Parquet keeps an INTERVAL in milliseconds and a TIMETZ in UTC, with the same types.
        (
            "SELECT TIMESTAMP '2024-01-01 10:00:00.250' - TIMESTAMP '2024-01-01 09:00:00.000125' AS took, "
            "'12:00:00+05'::TIMETZ AS at FROM movies WHERE id = 1",
            "took,at\n01:00:00.249875,12:00:00+05\n",
        ),
        # An ENUM is text in Parquet and in the CSV: guarded too.
        (
            "SELECT name::ENUM('Heat', '=HYPERLINK(1)', 'Alien') AS name FROM movies WHERE id = 2",
            "name\n'=HYPERLINK(1)\n",
        ),
    ],
)
def test_a_result_parquet_would_change_is_written_as_the_query_says(
    tmp_path: Path, sql: str, expected: str
) -> None:
    csv, _, rows, _ = run(tmp_path, sql)
    assert csv == expected and rows == 1


def test_a_large_result_keeps_its_order_in_the_csv(tmp_path: Path) -> None:
    """Many chunks of rows, written by two threads: DuckDB once wrote the CSV's chunks out of order
    when the formula guard was an IN list (planned as a join)."""
    rows = "id,name\n" + "".join(f"{n},movie {n}\n" for n in range(200_000))
    csv, _, count, _ = run(tmp_path, "SELECT id, name FROM movies ORDER BY id DESC", rows)
    ids = [int(line.split(",")[0]) for line in csv.splitlines()[1:]]
    assert count == 200_000 and ids == sorted(ids, reverse=True)


def test_a_final_semicolon_and_comment_are_allowed(tmp_path: Path) -> None:
    csv, _, rows, _ = run(tmp_path, "SELECT id FROM movies ORDER BY id DESC; -- newest first\n/* done */\n")
    assert csv == "id\n3\n2\n1\n" and rows == 3


def test_fullwidth_formula_signs_are_neutralised_too(tmp_path: Path) -> None:
    rows = "id,name\n" + "".join(f"{i},{cell}\n" for i, cell in enumerate(FORMULA_CELLS))
    csv, _, count, _ = run(tmp_path, "SELECT name FROM movies ORDER BY id", rows)
    assert count == len(FORMULA_CELLS)
    assert csv.splitlines()[1:] == list(FORMULA_CELLS.values())

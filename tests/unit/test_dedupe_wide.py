"""Wide and small files are deduplicated in Python, others in DuckDB: both must write the same
bytes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.preprocess.clean import LINE_COLUMN
from pipeline.preprocess.dedupe import finish, too_wide

CELLS = [
    "plain",
    "with, comma",
    'with "quotes"',
    "two\nlines",
    "#1 hit",
    "tab\there",
    " padded ",
    "",
    "é ü",
    "=1+2",
    "-5",
]


def numbered_file(path: Path, width: int, rows: int) -> list[str]:
    columns = [f"c{i}" for i in range(width)]
    with path.open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow([LINE_COLUMN, *columns])
        for n in range(rows):
            cells = [CELLS[(n * 3 + i) % len(CELLS)] if (n + i) % 11 else None for i in range(width)]
            writer.writerow([n + 2, *cells])
            if n % 4 == 0:  # a later copy of the row, to be dropped
                writer.writerow([n + 2, *cells])
    return columns


@pytest.mark.parametrize("dedupe", [True, False])
def test_python_and_duckdb_write_the_same_bytes(tmp_path: Path, dedupe: bool) -> None:
    width = 80
    numbered = tmp_path / "numbered.csv"
    columns = numbered_file(numbered, width, 60)
    assert too_wide(width, 16) and not too_wide(width, 4096)
    by_python, by_duckdb = tmp_path / "python.csv", tmp_path / "duckdb.csv"
    written = finish(numbered, by_python, columns, dedupe=dedupe, tmp_dir=tmp_path, memory_mb=16)
    expected = finish(numbered, by_duckdb, columns, dedupe=dedupe, tmp_dir=tmp_path, memory_mb=4096)
    # The rows' cells repeat every 11 rows, and every fourth row is written twice.
    assert written == expected == (11 if dedupe else 75)
    assert by_python.read_bytes() == by_duckdb.read_bytes()


@pytest.mark.parametrize("dedupe", [True, False])
def test_a_small_file_is_deduplicated_in_python_with_duckdbs_bytes(tmp_path: Path, dedupe: bool) -> None:
    numbered = tmp_path / "numbered.csv"
    columns = numbered_file(numbered, 4, 400)
    small = tmp_path / "small.csv"
    duck = tmp_path / "duckdb.csv"
    written = finish(numbered, small, columns, dedupe=dedupe, tmp_dir=tmp_path, memory_mb=512)
    expected = finish(
        numbered, duck, columns, dedupe=dedupe, tmp_dir=tmp_path, memory_mb=512, python_max_bytes=-1
    )
    assert written == expected == (11 if dedupe else 500)
    assert small.read_bytes() == duck.read_bytes()
    assert b'"#1 hit"' in small.read_bytes()  # DuckDB quotes a cell with a #; Python's csv does not

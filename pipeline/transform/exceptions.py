"""Errors of the transform stage (see pipeline.errors for the whole tree), and the pure wording
of a transform that cannot run against its input: one line naming the SQL file, the table and
the column, so that ``csvpipe run``, ``csvpipe transform`` and the run records say the same."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath

from pipeline.errors import TransformError


class MissingTable(TransformError):
    """A transform reads a table the catalog does not have yet."""


class SqlError(TransformError):
    """DuckDB rejected a transform's SQL, or could not read its input with the catalog's types."""


_CONVERTING = re.compile(r'converting column "(?P<column>[^"]+)"')
_VALUE = re.compile(r"Could not convert string (?P<value>\"[^\n]*?\") to '(?P<type>[A-Z]+)")
_CSV_LINE = re.compile(r"CSV Error on Line: (?P<line>\d+)")
_CSV_FILE = re.compile(r"^\s*file = (?P<file>.+)$", flags=re.MULTILINE)
_MISSING_COLUMN = re.compile(r'Referenced column "(?P<column>[^"]+)" not found')


def conversion_error(
    sql_file: str, table: str, text: str, dataset: str, types: Mapping[str, str] | None = None
) -> str | None:
    """DuckDB's error reading a catalog table's file with the catalog's types, as one line naming
    the SQL file, the table, the column, the value and where it is, and what to do::

        codes.sql: table csvpipe.codes, column code: value "2B037" does not fit the catalog's type
        bigint (line 3 of b.csv); `csvpipe crawl codes` widens the column (...), or pin its type ...

    ``types`` are the table's Glue types by column. None when ``text`` is not such an error."""
    column = _CONVERTING.search(text)
    if column is None:
        return None
    name = column["column"]
    value = _VALUE.search(text)
    kind = (types or {}).get(name) or (value["type"].lower() if value else "its type")
    found = f"value {value['value']}" if value else "a value"
    where = []
    if line := _CSV_LINE.search(text):
        where.append(f"line {line['line']}")
    if file := _CSV_FILE.search(text):
        where.append(f"of {PurePath(file['file'].strip()).name}")
    at = f" ({' '.join(where)})" if where else ""
    return (
        f"{sql_file}: table {table}, column {name}: {found} does not fit the catalog's type {kind}{at}; "
        f"`csvpipe crawl {dataset}` widens the column (with crawler_schema_change = update), or pin "
        f"its type in the dataset's rules ([columns.{name}] type = ...)"
    )


def input_error(
    sql_file: str, table: str, text: str, dataset: str, types: Mapping[str, str] | None = None
) -> str:
    """Any failure to read a catalog table for a transform, as one line naming both."""
    first = text.strip().splitlines()[0] if text.strip() else text
    return conversion_error(sql_file, table, text, dataset, types) or (
        f"{sql_file}: cannot read table {table}: {first}"
    )


def missing_column_hint(text: str, tables: Mapping[str, Sequence[str]]) -> str:
    """For a DuckDB error about a column the SQL names and its input lacks, the catalog tables the
    transform reads that lack it, with their columns:
    `` (column genre: no such column; table csvpipe.movies has movie_id, title, genres)``;
    "" for any other error, or when no table the transform reads lacks the column."""
    missing = _MISSING_COLUMN.search(text)
    if missing is None:
        return ""
    wanted = missing["column"].casefold()
    lacking = "; ".join(
        f"table {name} has {', '.join(columns)}"
        for name, columns in tables.items()
        if wanted not in {c.casefold() for c in columns}
    )
    return f" (column {missing['column']}: no such column; {lacking})" if lacking else ""

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


_CONVERSION = re.compile(
    r'converting column "(?P<column>[^"]+)"\. Could not convert string "(?P<value>.*?)" to '
    r"'(?P<type>[^']+)'"
)
_CSV_LINE = re.compile(r"CSV Error on Line: (?P<line>\d+)")
_CSV_FILE = re.compile(r"^\s*file = (?P<file>.+)$", flags=re.MULTILINE)
_MISSING_COLUMN = re.compile(r'Referenced column "(?P<column>[^"]+)" not found')


def conversion_error(sql_file: str, table: str, text: str) -> str | None:
    """DuckDB's error reading a catalog table's file with the catalog's types, as one line:
    ``codes.sql: table csvpipe.codes, column code: "2B037" is not a BIGINT (line 3 of b.csv);
    the table's type does not fit this file``. None when ``text`` is not such an error."""
    found = _CONVERSION.search(text)
    if found is None:
        return None
    where = []
    if line := _CSV_LINE.search(text):
        where.append(f"line {line['line']}")
    if file := _CSV_FILE.search(text):
        where.append(f"of {PurePath(file['file'].strip()).name}")
    at = f" ({' '.join(where)})" if where else ""
    return (
        f'{sql_file}: table {table}, column {found["column"]}: "{found["value"]}" is not a '
        f"{found['type']}{at}; the table's type does not fit this file"
    )


def input_error(sql_file: str, table: str, text: str) -> str:
    """Any failure to read a catalog table for a transform, as one line naming both."""
    return conversion_error(sql_file, table, text) or (
        f"{sql_file}: cannot read table {table}: {text.strip().splitlines()[0] if text.strip() else text}"
    )


def missing_column_hint(text: str, tables: Mapping[str, Sequence[str]]) -> str:
    """For a DuckDB error about a column the SQL names and its input lacks, which tables the
    transform reads and their columns: `` (table csvpipe.movies has columns movie_id, title)``;
    "" for any other error, or when the transform reads no catalog table."""
    if not tables or _MISSING_COLUMN.search(text) is None:
        return ""
    described = "; ".join(f"table {name} has columns {', '.join(cols)}" for name, cols in tables.items())
    return f" ({described})"

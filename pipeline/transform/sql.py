"""Pure handling of transform files: one ``.sql`` file is one output named after the file.

A transform reads three kinds of table, all by plain name: catalog tables (a dataset's
processed data, resolved through the Glue catalog), reference tables (small CSV files shipped
beside the transforms in ``reference/``, every column text) and other transforms' outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.errors import UserInputError
from pipeline.layout import snake_case
from pipeline.transform import sandbox

REFERENCE_FOLDER = "reference"


@dataclass(frozen=True)
class Transform:
    name: str
    path: Path
    sql: str
    tables: frozenset[str]
    first_line: int = 1  # the file's line where ``sql`` starts, for errors that name a line


def _without_final_semicolons(sql: str) -> str:
    """``sql`` without the semicolons that end it, and the comments after them: the job wraps the
    query in brackets (``COPY (...) TO``), where ``SELECT 1; -- note`` would not parse."""
    data = sql.encode()
    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error:
        return sql  # the parser names the problem
    # Offsets in bytes; a token runs to the next one's start.
    ends = [start for start, _ in tokens[1:]] + [len(data)]
    kept = [(start, end, kind) for (start, kind), end in zip(tokens, ends, strict=True)]
    while kept:
        start, end, kind = kept[-1]
        if kind == duckdb.token_type.comment:
            kept.pop()
        elif kind == duckdb.token_type.operator and data[start:end].strip() == b";":
            kept.pop()
            data = data[:start]
        else:
            break
    return data.decode().strip()


def parse_transform(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> Transform:
    """Read one transform file. Its SQL is parsed and its tables named on ``con``, a connection
    of the transform sandbox (a new one when not given), never on an unrestricted one: naming
    the tables binds table functions, which would open files."""
    if con is None:
        with sandbox.parser() as con:
            return parse_transform(path, con)
    text = path.read_text(encoding="utf-8")
    sql = _without_final_semicolons(text.strip())
    first_line = text[: len(text) - len(text.lstrip())].count("\n") + 1
    name = snake_case(path.stem)
    if not name:
        raise UserInputError(f"{path}: the file name gives no usable output name")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserInputError(f"{path}: not valid SQL ({str(exc).splitlines()[0]})") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(statement.type.name for statement in statements) or "nothing"
        raise UserInputError(f"{path}: a transform is one SELECT query, found {kinds}")
    try:
        tables = frozenset(table.lower() for table in con.get_table_names(sql))
    except duckdb.PermissionException as exc:
        raise UserInputError(
            f"{path}: a transform reads tables by name (datasets, reference tables, other "
            f"transforms' outputs), never files or URLs ({str(exc).splitlines()[0]})"
        ) from None
    except duckdb.Error as exc:
        raise UserInputError(f"{path}: not valid SQL ({str(exc).splitlines()[0]})") from None
    if not tables:
        raise UserInputError(f"{path}: the query reads no table")
    return Transform(name=name, path=path, sql=sql, tables=tables, first_line=first_line)


def discover(directory: Path) -> list[Transform]:
    """Every ``*.sql`` file of the transforms folder, in name order."""
    if not directory.is_dir():
        raise UserInputError(f"transforms folder {directory} does not exist (setting transforms_dir)")
    with sandbox.parser() as con:
        transforms = [parse_transform(path, con) for path in sorted(directory.glob("*.sql"))]
    seen: dict[str, Path] = {}
    for transform in transforms:
        if transform.name in seen:
            raise UserInputError(
                f"{transform.path} and {seen[transform.name]} both make output {transform.name!r}"
            )
        seen[transform.name] = transform.path
    return transforms


def reference_tables(directory: Path) -> dict[str, Path]:
    """The reference tables shipped with the transforms: ``reference/<name>.csv``."""
    folder = directory / REFERENCE_FOLDER
    if not folder.is_dir():
        return {}
    return {snake_case(path.stem): path for path in sorted(folder.glob("*.csv"))}

"""Pure handling of transform files: one ``.sql`` file is one output named after the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.errors import UserInputError
from pipeline.layout import snake_case


@dataclass(frozen=True)
class Transform:
    name: str
    path: Path
    sql: str
    tables: frozenset[str]


def parse_transform(path: Path) -> Transform:
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    name = snake_case(path.stem)
    try:
        tables = frozenset(duckdb.get_table_names(sql))
    except duckdb.Error as exc:
        raise UserInputError(f"{path}: not valid SQL ({str(exc).splitlines()[0]})") from None
    if not tables:
        raise UserInputError(f"{path}: the query reads no table")
    return Transform(name=name, path=path, sql=sql, tables=tables)


def discover(directory: Path) -> list[Transform]:
    """Every ``*.sql`` file of the transforms folder, in name order."""
    if not directory.is_dir():
        raise UserInputError(f"transforms folder {directory} does not exist (setting transforms_dir)")
    return [parse_transform(path) for path in sorted(directory.glob("*.sql"))]

"""Cleaning rules per dataset: sensible defaults that need no configuration, overridable by a
small declarative file ``<rules_dir>/<dataset>.toml``.

    # rules/movies.toml
    na_tokens = ["", "NA", "N/A", "null", "-"]   # cells that mean "no value" (case-insensitive)
    dedupe = true                               # drop exact duplicate rows
    multi_value_columns = ["genre", "genres"]   # values like "Action|Comedy": split, lower-cased
    multi_value_separator = "|"
    year_from = "title"                         # no year column? take it from "Toy Story (1995)"

    [columns.movie_id]                          # typed columns (names as in the processed header)
    type = "int"                                # string, int, decimal, date, timestamp, bool
    on_error = "reject"                         # or "null": keep the row, empty the cell
    # formats = ["%d/%m/%Y"]                    # dates only: strptime formats, tried in order

Columns without a rule stay text; the crawler infers their type from the processed data.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.layout import snake_case
from pipeline.preprocess.types import TYPES

ON_ERROR = ("reject", "null")


@dataclass(frozen=True)
class ColumnRule:
    """How one column's cells are typed, and what happens to a cell that is not of the type."""

    name: str
    type: str = "string"
    on_error: str = "reject"
    formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rules:
    na_tokens: tuple[str, ...] = ("", "NA", "N/A", "null", "-")
    dedupe: bool = True
    multi_value_columns: tuple[str, ...] = ("genre", "genres")
    multi_value_separator: str = "|"
    year_from: str | None = "title"
    columns: tuple[ColumnRule, ...] = ()

    @property
    def na_set(self) -> frozenset[str]:
        return frozenset(token.strip().casefold() for token in self.na_tokens)


_KINDS = {
    "na_tokens": list,
    "dedupe": bool,
    "multi_value_columns": list,
    "multi_value_separator": str,
    "year_from": str,
    "columns": dict,
}


def parse_rules(document: dict[str, Any], source: str) -> Rules:
    unknown = sorted(set(document) - {f.name for f in fields(Rules)})
    if unknown:
        raise ConfigError(f"{source}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(_KINDS)}")
    values: dict[str, Any] = {}
    for name, value in document.items():
        kind = _KINDS[name]
        if name == "columns" and isinstance(value, dict):
            values[name] = tuple(parse_column_rule(column, rule, source) for column, rule in value.items())
            continue
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            wanted = "a list of strings" if kind is list else kind.__name__
            raise ConfigError(f"{source}: rule {name!r} must be {wanted}, got {value!r}")
        values[name] = tuple(value) if kind is list else value
    if values.get("multi_value_separator", "|") == "":
        raise ConfigError(f"{source}: rule 'multi_value_separator' must not be empty")
    return Rules(**values)


def parse_column_rule(column: str, document: Any, source: str) -> ColumnRule:
    """``[columns.<name>]``: the name is normalised like the header (``movieId`` -> ``movie_id``)."""
    where = f"{source}: [columns.{column}]"
    if not isinstance(document, dict):
        raise ConfigError(f"{where} must be a table with a 'type', got {document!r}")
    unknown = sorted(set(document) - {"type", "on_error", "formats"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: type, on_error, formats")
    type_name = document.get("type", "string")
    if type_name not in TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(TYPES)}, got {type_name!r}")
    on_error = document.get("on_error", "reject")
    if on_error not in ON_ERROR:
        raise ConfigError(f"{where}: on_error must be 'reject' or 'null', got {on_error!r}")
    formats = document.get("formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) and "%" in f for f in formats):
        raise ConfigError(f'{where}: formats must be a list of strptime formats like "%d/%m/%Y"')
    if formats and type_name != "date":
        raise ConfigError(f"{where}: formats applies to type 'date' only")
    name = snake_case(column)
    if not name:
        raise ConfigError(f"{where}: not a usable column name")
    return ColumnRule(name, type_name, on_error, tuple(formats))


def load_rules(rules_dir: Path | None, dataset: str) -> Rules:
    """The dataset's rules: its file when there is one, else the defaults."""
    if rules_dir is None:
        return Rules()
    path = rules_dir / f"{dataset}.toml"
    if not path.is_file():
        return Rules()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_rules(document, str(path))

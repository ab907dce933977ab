"""Cleaning rules per dataset: defaults that lose nothing, overridable by a small declarative file
``<rules_dir>/<dataset>.toml``.

Why defaults that lose nothing: a dataset without a rules file is a user's own CSV, whose
repeated rows may be real data (two identical SMS messages, two sales of one item) and whose
columns mean nothing special. Without a file, only rows with nothing in them are dropped, NA
tokens become NULL, and no column is split or added. Everything else is asked for by a rules file:

    # rules/movies.toml
    na_tokens = ["", "NA", "N/A", "null", "-"]   # cells that mean "no value" (case-insensitive)
    dedupe = true                               # drop exact duplicate rows (default: false)
    multi_value_columns = ["genre"]             # values like "Action|Comedy": split, lower-cased
    multi_value_separator = "|"
    year_from = "title"                         # no year column? take it from "Toy Story (1995)"

    [rename]                                    # a file's column name = the dataset's name
    genres = "genre"                            # (both normalised like the header: snake_case)

    [columns.movie_id]                          # typed columns (names as in the processed header)
    type = "int"                                # string, int, decimal, date, timestamp, bool
    on_error = "reject"                         # or "null": keep the row, empty the cell
    # formats = ["%d/%m/%Y"]                    # dates only: strptime formats, tried in order

Columns without a rule stay text; the crawler infers their type from the processed data. The other
rules may name a renamed column by either name. Docs: docs/rules-and-names.md.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.layout import snake_case
from pipeline.preprocess.types import TYPES
from pipeline.settings import PACKAGED_RULES

ON_ERROR = ("reject", "null")


@dataclass(frozen=True)
class ColumnRule:
    """How one column's cells are typed, and what happens to a cell that is not of the type."""

    name: str
    type: str = "string"
    on_error: str = "reject"
    formats: tuple[str, ...] = ()


DEFAULTS_NAME = "defaults"


@dataclass(frozen=True)
class Rules:
    """A dataset's cleaning rules. The defaults drop nothing but rows with nothing in them."""

    na_tokens: tuple[str, ...] = ("", "NA", "N/A", "null", "-")
    dedupe: bool = False
    multi_value_columns: tuple[str, ...] = ()
    multi_value_separator: str = "|"
    year_from: str | None = None
    # (a file's column name, the name it takes), both normalised like the header.
    rename: tuple[tuple[str, str], ...] = ()
    columns: tuple[ColumnRule, ...] = ()
    # Which rules these are, for run records: "defaults", or "<dataset>.toml (packaged|rules_dir)".
    origin: str = field(default=DEFAULTS_NAME, compare=False)

    @property
    def na_set(self) -> frozenset[str]:
        return frozenset(token.strip().casefold() for token in self.na_tokens)


_KINDS = {
    "na_tokens": list,
    "dedupe": bool,
    "multi_value_columns": list,
    "multi_value_separator": str,
    "year_from": str,
    "rename": dict,
    "columns": dict,
}


def parse_rules(document: dict[str, Any], source: str) -> Rules:
    unknown = sorted(set(document) - set(_KINDS))
    if unknown:
        raise ConfigError(f"{source}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(_KINDS)}")
    values: dict[str, Any] = {}
    for name, value in document.items():
        kind = _KINDS[name]
        if name == "columns" and isinstance(value, dict):
            values[name] = tuple(parse_column_rule(column, rule, source) for column, rule in value.items())
            continue
        if name == "rename" and isinstance(value, dict):
            values[name] = parse_rename(value, source)
            continue
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            wanted = "a list of strings" if kind is list else kind.__name__
            raise ConfigError(f"{source}: rule {name!r} must be {wanted}, got {value!r}")
        values[name] = tuple(value) if kind is list else value
    if values.get("multi_value_separator", "|") == "":
        raise ConfigError(f"{source}: rule 'multi_value_separator' must not be empty")
    return _normalised(Rules(**values))


def column_name(raw: str) -> str:
    """A name as the header normalises it (``clean.normalise_header``): snake_case, ``c_`` before
    a leading digit; empty when nothing usable is left."""
    name = snake_case(raw)
    return f"c_{name}" if name[:1].isdigit() else name


def parse_rename(document: dict[str, Any], source: str) -> tuple[tuple[str, str], ...]:
    """``[rename]``: ``old = "new"``, both normalised like the header. A new name cannot itself
    be renamed (each column is renamed straight to its final name)."""
    pairs: dict[str, str] = {}
    for old, new in document.items():
        if not isinstance(new, str):
            raise ConfigError(f'{source}: [rename] {old} must be a name in quotes, like {old} = "name"')
        old_name, new_name = column_name(old), column_name(new)
        if not old_name or not new_name:
            raise ConfigError(f"{source}: [rename] {old} = {new!r}: not a usable column name")
        if old_name in pairs:
            raise ConfigError(f"{source}: [rename] names column {old_name!r} twice")
        if old_name != new_name:
            pairs[old_name] = new_name
    chained = sorted(set(pairs) & set(pairs.values()))
    if chained:
        raise ConfigError(
            f"{source}: [rename] {chained[0]!r} is both renamed and a new name; "
            "rename each column straight to its final name"
        )
    return tuple(pairs.items())


def _normalised(rules: Rules) -> Rules:
    """Column names in the rules as the header normalises them, after renaming: a rule given a
    file's old name (say ``multi_value_columns = ["genres"]`` with ``genres = "genre"``) applies
    to the new one."""
    new = dict(rules.rename)

    def renamed(name: str) -> str:
        normal = column_name(name) or name
        return new.get(normal, normal)

    return Rules(
        na_tokens=rules.na_tokens,
        dedupe=rules.dedupe,
        multi_value_columns=tuple(dict.fromkeys(renamed(name) for name in rules.multi_value_columns)),
        multi_value_separator=rules.multi_value_separator,
        year_from=None if rules.year_from is None else renamed(rules.year_from),
        rename=rules.rename,
        columns=tuple(
            ColumnRule(renamed(rule.name), rule.type, rule.on_error, rule.formats) for rule in rules.columns
        ),
        origin=rules.origin,
    )


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
    name = column_name(column)
    if not name:
        raise ConfigError(f"{where}: not a usable column name")
    return ColumnRule(name, type_name, on_error, tuple(formats))


def rules_origin(rules_dir: Path | None, dataset: str) -> str:
    """Which rules apply to ``dataset``, as run records name them: ``movies.toml (packaged)``,
    ``sales.toml (rules_dir)``, or ``defaults``."""
    if rules_dir is None or not (rules_dir / f"{dataset}.toml").is_file():
        return DEFAULTS_NAME
    packaged = rules_dir.resolve() == PACKAGED_RULES.resolve()
    return f"{dataset}.toml ({'packaged' if packaged else 'rules_dir'})"


def load_rules(rules_dir: Path | None, dataset: str) -> Rules:
    """The dataset's rules: its file when there is one, else the defaults."""
    origin = rules_origin(rules_dir, dataset)
    if rules_dir is None or origin == DEFAULTS_NAME:
        return Rules()
    path = rules_dir / f"{dataset}.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return dataclasses.replace(parse_rules(document, str(path)), origin=origin)

"""Pure type logic of the Data Catalog: mapping between DuckDB and Glue/Hive type names, and the
widening order the crawler uses to merge types across values, files and table versions."""

from __future__ import annotations

import re

_DUCKDB_TO_GLUE = {
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "HUGEINT": "decimal(38,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "int",
    "UINTEGER": "bigint",
    "UBIGINT": "decimal(20,0)",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "VARCHAR": "string",
}
_GLUE_TO_DUCKDB = {
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "string": "VARCHAR",
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$", re.IGNORECASE)


def glue_type(duckdb_type: str) -> str:
    """The Glue type for a DuckDB column type; anything unknown is kept as ``string``."""
    upper = duckdb_type.upper()
    if match := _DECIMAL.match(upper):
        return f"decimal({match[1]},{match[2]})"
    return _DUCKDB_TO_GLUE.get(upper, "string")


def duckdb_type(glue: str) -> str:
    """The DuckDB type to read a column registered in Glue as ``glue``."""
    lower = glue.lower().strip()
    if match := _DECIMAL.match(lower):
        return f"DECIMAL({match[1]},{match[2]})"
    return _GLUE_TO_DUCKDB.get(lower, "VARCHAR")


# The widening order of the numeric types: a value of one fits every type after it (decimals sit
# between the integers and the floating types; their precision is checked separately).
_INTEGER_DIGITS = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}
_FLOATING = ("float", "double")
MAX_DECIMAL_PRECISION = 38


def normalize(glue: str) -> str:
    """One spelling per Glue type: lower case, ``integer`` -> ``int``, ``decimal(10, 2)`` ->
    ``decimal(10,2)``."""
    lower = glue.strip().lower()
    if match := _DECIMAL.match(lower):
        return f"decimal({int(match[1])},{int(match[2])})"
    return "int" if lower == "integer" else lower


def decimal_parts(glue: str) -> tuple[int, int] | None:
    """``(precision, scale)`` of a ``decimal(p,s)`` type, else None."""
    match = _DECIMAL.match(glue.strip())
    return (int(match[1]), int(match[2])) if match else None


def _decimal(integer_digits: int, scale: int) -> str:
    precision = integer_digits + scale
    return f"decimal({precision},{scale})" if precision <= MAX_DECIMAL_PRECISION else "double"


def widen(a: str, b: str) -> str:
    """The narrowest Glue type that holds every value of ``a`` and of ``b``.

    Integers widen to the larger integer, then to a decimal wide enough, then to double; ``date``
    widens to ``timestamp``; anything else that differs (a boolean and a number, a date and a
    number) only meets in ``string``, the last resort.
    """
    a, b = normalize(a), normalize(b)
    if a == b:
        return a
    if "string" in (a, b):
        return "string"
    if a in _INTEGER_DIGITS and b in _INTEGER_DIGITS:
        return a if _INTEGER_DIGITS[a] >= _INTEGER_DIGITS[b] else b
    da, db = decimal_parts(a), decimal_parts(b)
    if da and db:
        scale = max(da[1], db[1])
        return _decimal(max(da[0] - da[1], db[0] - db[1]), scale)
    if da or db:
        precision, scale = da or db or (0, 0)
        other = b if da else a
        if other in _INTEGER_DIGITS:
            return _decimal(max(precision - scale, _INTEGER_DIGITS[other]), scale)
        if other in _FLOATING:
            return "double"
        return "string"
    numeric = set(_INTEGER_DIGITS) | set(_FLOATING)
    if a in numeric and b in numeric:
        return "float" if a == b == "float" else "double"
    if {a, b} == {"date", "timestamp"}:
        return "timestamp"
    return "string"


def next_wider(glue: str) -> str:
    """One step wider, for a column some of whose values do not convert to ``glue``: integers,
    decimals and float to double, date to timestamp, anything else to string."""
    kind = normalize(glue)
    if kind in _INTEGER_DIGITS or decimal_parts(kind) or kind == "float":
        return "double"
    if kind == "date":
        return "timestamp"
    return "string"


def holds(wide: str, narrow: str) -> bool:
    """True when every value of type ``narrow`` fits ``wide`` unchanged."""
    return widen(wide, narrow) == normalize(wide)


# The Glue type a typed column of the dataset's rules pins (``[columns.NAME] type = ...``, the
# types of pipeline.preprocess.types.TYPES). Preprocessing writes each of them in one canonical
# spelling, so the pinned type reads every value it keeps.
_PINNED = {"string": "string", "int": "bigint", "date": "date", "timestamp": "timestamp", "bool": "boolean"}


def pinned_type(rule_type: str, inferred: str | None = None) -> str:
    """The Glue type a column rule of type ``rule_type`` pins. ``decimal`` fixes the kind, not
    the scale: the decimal the data needs (``inferred``), or double when the data gives none
    (only NULLs, or mixed scales)."""
    if rule_type == "decimal":
        if inferred is not None and (decimal_parts(inferred) or normalize(inferred) == "double"):
            return normalize(inferred)
        return "double"
    return _PINNED.get(rule_type, "string")

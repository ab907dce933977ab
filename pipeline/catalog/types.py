"""Pure type mapping between DuckDB and the Glue/Hive type names of the Data Catalog."""

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

"""Pure planning of catalog changes: from an inferred schema and the existing table (if any) to
one plain record that says what to call. ``--dry-run`` prints it; the crawler applies it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
CSV_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class TablePlan:
    """What the crawler will do to one table."""

    action: Literal["create", "update", "unchanged"]
    database: str
    table_input: dict[str, Any]
    reason: str


def table_input(name: str, location: str, columns: list[Column], record_count: int) -> dict[str, Any]:
    """A Glue ``TableInput`` for a CSV table with a header row, as AWS's crawler writes one."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "csv",
            "delimiter": ",",
            "skip.header.line.count": "1",
            "recordCount": str(record_count),
            "created_by": "csvpipe-crawler",
        },
        "PartitionKeys": [],
        "StorageDescriptor": {
            "Columns": [{"Name": c.name, "Type": c.type} for c in columns],
            "Location": location,
            "InputFormat": TEXT_INPUT_FORMAT,
            "OutputFormat": TEXT_OUTPUT_FORMAT,
            "SerdeInfo": {
                "SerializationLibrary": CSV_SERDE,
                "Parameters": {"field.delim": ","},
            },
            "Parameters": {"classification": "csv"},
        },
    }


def columns_of(table: dict[str, Any]) -> list[Column]:
    return [Column(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def plan_table(database: str, wanted: dict[str, Any], existing: dict[str, Any] | None) -> TablePlan:
    if existing is None:
        return TablePlan("create", database, wanted, "new table")
    old, new = columns_of(existing), columns_of({"StorageDescriptor": wanted["StorageDescriptor"]})
    same_location = existing["StorageDescriptor"].get("Location") == wanted["StorageDescriptor"]["Location"]
    old_count = existing.get("Parameters", {}).get("recordCount")
    if old == new and same_location and old_count == wanted["Parameters"]["recordCount"]:
        return TablePlan("unchanged", database, wanted, "schema and record count unchanged")
    if old != new:
        reason = "schema changed: " + ", ".join(f"{c.name} {c.type}" for c in new)
    elif not same_location:
        reason = (
            f"location changed: {existing['StorageDescriptor'].get('Location')} -> "
            f"{wanted['StorageDescriptor']['Location']}"
        )
    else:
        reason = f"record count {old_count} -> {wanted['Parameters']['recordCount']}"
    return TablePlan("update", database, wanted, reason)

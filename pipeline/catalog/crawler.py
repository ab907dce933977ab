"""The crawler stand-in: infer a dataset's schema with DuckDB and register it through the
real Glue API (moto serves it locally; AWS Glue in the cloud)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import duckdb

from pipeline import layout
from pipeline.catalog.exceptions import NoData
from pipeline.catalog.plan import Column, TablePlan, plan_table, table_input
from pipeline.catalog.types import glue_type
from pipeline.settings import Settings
from pipeline.storage import mirror_prefix


def infer_schema(paths: list[Path]) -> tuple[list[Column], int]:
    """Column names and Glue types of CSV files with a header, and their row count."""
    files = [str(p) for p in paths]
    source = "read_csv(?, header = true, union_by_name = true)"
    with duckdb.connect() as con:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", [files]).fetchall()
        (count,) = con.execute(f"SELECT count(*) FROM {source}", [files]).fetchone()
    columns = [Column(name, glue_type(kind)) for name, kind, *_ in described]
    return columns, int(count)


def get_table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def ensure_database(glue: Any, database: str) -> None:
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": database, "Description": "Tables registered by csvpipe"})


def plan_dataset(dataset: str, settings: Settings, s3: Any, glue: Any, work_dir: Path) -> TablePlan:
    prefix = layout.dataset_prefix(dataset)
    paths = mirror_prefix(s3, settings.processed_bucket, prefix, work_dir)
    if not paths:
        raise NoData(f"no processed data for dataset {dataset!r} (s3://{settings.processed_bucket}/{prefix})")
    columns, count = infer_schema(paths)
    location = f"s3://{settings.processed_bucket}/{prefix}"
    wanted = table_input(dataset, location, columns, count)
    return plan_table(settings.glue_database, wanted, get_table(glue, settings.glue_database, dataset))


def apply_plan(glue: Any, plan: TablePlan) -> None:
    ensure_database(glue, plan.database)
    if plan.action == "create":
        glue.create_table(DatabaseName=plan.database, TableInput=plan.table_input)
    elif plan.action == "update":
        glue.update_table(DatabaseName=plan.database, TableInput=plan.table_input)


def crawl_dataset(dataset: str, settings: Settings, s3: Any, glue: Any, work_dir: Path) -> dict[str, Any]:
    """Plan and apply the catalog change for one dataset; a summary for the run record."""
    plan = plan_dataset(dataset, settings, s3, glue, work_dir)
    apply_plan(glue, plan)
    storage = plan.table_input["StorageDescriptor"]
    return {
        "database": plan.database,
        "table": plan.table_input["Name"],
        "action": plan.action,
        "reason": plan.reason,
        "location": storage["Location"],
        "columns": [{"name": c["Name"], "type": c["Type"]} for c in storage["Columns"]],
        "record_count": int(plan.table_input["Parameters"]["recordCount"]),
    }

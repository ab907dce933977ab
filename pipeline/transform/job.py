"""The ETL job stand-in: resolve a transform's tables through the Glue catalog, read their data
from the processed bucket, run the SQL in DuckDB and publish the result to the final bucket."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import duckdb

from pipeline import runs
from pipeline.catalog.crawler import get_table
from pipeline.catalog.types import duckdb_type
from pipeline.publish.writer import publish_output
from pipeline.settings import Settings
from pipeline.sqltext import identifier, literal
from pipeline.storage import mirror_prefix, split_s3_uri
from pipeline.transform.exceptions import MissingTable, SqlError
from pipeline.transform.sql import Transform


def _register_table(
    con: duckdb.DuckDBPyConnection, name: str, table: dict[str, Any], s3: Any, work_dir: Path
) -> int:
    """A DuckDB view named like the catalog table, reading its files with the catalog's types."""
    storage = table["StorageDescriptor"]
    bucket, prefix = split_s3_uri(storage["Location"])
    paths = mirror_prefix(s3, bucket, prefix, work_dir)
    if not paths:
        raise MissingTable(f"table {name} has no data under {storage['Location']}")
    columns = {c["Name"]: duckdb_type(c["Type"]) for c in storage["Columns"]}
    files = ", ".join(literal(str(p)) for p in paths)
    types = ", ".join(f"{literal(n)}: {literal(t)}" for n, t in columns.items())
    con.execute(
        f"CREATE VIEW {identifier(name)} AS SELECT * FROM read_csv([{files}], header = true, "
        f"union_by_name = true, columns = {{{types}}})"
    )
    return len(paths)


def run_transform(
    transform: Transform, settings: Settings, s3: Any, glue: Any, work_dir: Path
) -> dict[str, Any]:
    """Run one transform and publish it; the summary for its run record."""
    watch = runs.Stopwatch()
    with duckdb.connect() as con, tempfile.TemporaryDirectory(prefix="csvpipe-job-") as tmp:
        inputs = {}
        for name in sorted(transform.tables):
            table = get_table(glue, settings.glue_database, name)
            if table is None:
                raise MissingTable(
                    f"{transform.path.name}: table {settings.glue_database}.{name} is not in the "
                    "catalog yet (upload its data first)"
                )
            inputs[name] = _register_table(con, name, table, s3, work_dir)
        out = Path(tmp, f"{transform.name}.csv")
        try:
            con.execute(f"CREATE TEMP TABLE __result AS {transform.sql}")
            (rows,) = con.execute("SELECT count(*) FROM __result").fetchone()
            con.execute(f"COPY __result TO {literal(str(out))} (FORMAT csv, HEADER true, DELIMITER ',')")
        except duckdb.Error as exc:
            raise SqlError(f"{transform.path.name}: {str(exc).splitlines()[0]}") from None
        record = {
            "transform": transform.name,
            "sql_file": str(transform.path),
            "inputs": {name: {"files": count} for name, count in inputs.items()},
            "rows": int(rows),
            "started_at": watch.started_at,
        }
        record["seconds"] = watch.seconds()
        return publish_output(s3, settings.final_bucket, transform.name, out, record)

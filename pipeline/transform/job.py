"""The ETL job stand-in: run transforms in plan order. Each resolves its catalog tables through
the Glue catalog and reads their data from the processed bucket, reads reference tables from
their CSV files and other transforms' outputs from the final bucket's Parquet, runs its SQL in
DuckDB under a memory limit, and publishes CSV and Parquet to the final bucket.

A failing transform stops the transforms that read its output, not the others.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipeline import layout, runs
from pipeline.catalog.crawler import get_table
from pipeline.catalog.types import duckdb_type
from pipeline.errors import CsvpipeError, failure_text
from pipeline.publish.writer import publish_output
from pipeline.settings import Settings
from pipeline.spark.glue_runtime import FORMULA_STARTS
from pipeline.sqltext import identifier, literal
from pipeline.storage import Mirror, download, head, split_s3_uri
from pipeline.transform import sandbox
from pipeline.transform.dag import Step, plan
from pipeline.transform.exceptions import MissingTable, SqlError, input_error, missing_column_hint
from pipeline.transform.sql import Transform, discover, reference_tables

log = logging.getLogger("csvpipe.transform")

# Outputs in zstd: as fast to write here as DuckDB's default (snappy) and 2.5 times smaller (1 GB
# of movies: 125 MiB against 307), so less to upload and to store; Spark, Athena and pyarrow read
# it. The local Parquet copies of the inputs keep snappy, a little faster to read back.
PARQUET = "(FORMAT parquet, COMPRESSION zstd)"


def load_plan(settings: Settings) -> tuple[list[Step], dict[str, Path]]:
    """Every transform of ``transforms_dir`` in run order, and the reference tables beside them."""
    references = reference_tables(settings.transforms_dir)
    return plan(discover(settings.transforms_dir), references), references


@dataclass(frozen=True)
class CatalogInput:
    """A catalog table's files on local disk, with the catalog's column and partition types."""

    location: str  # the table's s3:// location
    columns: dict[str, str]  # name -> Glue type
    partitions: dict[str, str]  # partition key -> Glue type
    paths: list[Path]
    table: str = ""  # database.name, for error messages


@dataclass(frozen=True)
class LocalInputs:
    """Everything a step reads, on local disk: how the job runs a step once its inputs are fetched
    (and how the benchmark runs it on local files)."""

    catalog: dict[str, CatalogInput] = field(default_factory=dict)
    references: dict[str, Path] = field(default_factory=dict)
    outputs: dict[str, tuple[str, Path]] = field(default_factory=dict)  # name -> (s3:// uri, Parquet)


@dataclass(frozen=True)
class StepResult:
    rows: int
    columns: list[dict[str, str]]
    csv: Path
    parquet: Path
    inputs: dict[str, dict[str, Any]]  # for the run record


def _catalog_input(name: str, table: dict[str, Any], mirror: Mirror) -> CatalogInput:
    """A catalog table's files, mirrored (only what changed is downloaded)."""
    storage = table["StorageDescriptor"]
    bucket, prefix = split_s3_uri(storage["Location"])
    paths = mirror.prefix(bucket, prefix)
    if not paths:
        raise MissingTable(f"table {name} has no data under {storage['Location']}")
    columns = {c["Name"]: c["Type"] for c in storage["Columns"]}
    partitions = {c["Name"]: c["Type"] for c in table.get("PartitionKeys", [])}
    qualified = f"{table['DatabaseName']}.{name}" if table.get("DatabaseName") else name
    return CatalogInput(storage["Location"], columns, partitions, paths, qualified)


def _output_input(name: str, settings: Settings, s3: Any, work_dir: Path) -> tuple[str, Path]:
    """Another transform's published Parquet, downloaded into ``work_dir``."""
    key = layout.final_parquet_key(name)
    local = work_dir / settings.final_bucket / key
    local.parent.mkdir(parents=True, exist_ok=True)
    download(s3, settings.final_bucket, key, local)
    return f"s3://{settings.final_bucket}/{key}", local


def fetch_inputs(
    step: Step,
    settings: Settings,
    s3: Any,
    glue: Any,
    work_dir: Path,
    references: dict[str, Path],
    mirror: Mirror,
) -> LocalInputs:
    """Resolve a step's catalog tables through the Glue catalog and fetch every input it reads:
    the tables' files through ``mirror``, the pass's."""
    catalog = {}
    for name in step.catalog:
        table = get_table(glue, settings.glue_database, name)
        if table is None:
            raise MissingTable(
                f"{step.transform.path.name}: table {settings.glue_database}.{name} is not in the "
                "catalog yet (upload its data first)"
            )
        catalog[name] = _catalog_input(name, table, mirror)
    return LocalInputs(
        catalog=catalog,
        references={name: references[name] for name in step.references},
        outputs={name: _output_input(name, settings, s3, work_dir) for name in step.upstream},
    )


# Hex digits of a Parquet copy's version in its name.
_VERSION_CHARS = 16


def _struct(types: dict[str, str]) -> str:
    return "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in types.items()) + "}"


def _copies_in(folder: Path) -> dict[str, list[Path]]:
    """The Parquet copies in ``folder`` (``<file>.<version>.parquet``), by the file they copy: one
    listing of the folder for all its files, as a listing per file made a pass over many small
    files quadratic."""
    copies: dict[str, list[Path]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            source, dot, version = entry.name.removesuffix(".parquet").rpartition(".")
            if dot and entry.name.endswith(".parquet") and len(version) == _VERSION_CHARS:
                copies.setdefault(source, []).append(folder / entry.name)
    return copies


def _columnar_copy(
    con: duckdb.DuckDBPyConnection, path: Path, types: dict[str, str], existing: list[Path]
) -> Path:
    """A Parquet copy of one of a table's CSV files, read with the catalog's types, beside it: made
    once per version of the file and of the types, so the transforms of this run and of later runs
    read columns instead of parsing the CSV again (most read the same table). ``existing``: the
    file's copies when the folder was listed; the stale ones are removed."""
    stat = path.stat()
    version = json.dumps([stat.st_size, stat.st_mtime_ns, types]).encode()
    target = path.with_name(f"{path.name}.{hashlib.sha256(version).hexdigest()[:_VERSION_CHARS]}.parquet")
    if target.exists():
        return target
    for stale in existing:
        stale.unlink(missing_ok=True)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    own = {name: kind for name, kind in types.items() if name in header}
    # Written aside, then renamed: a copy cut short is never read, and jobs running side by side
    # never read each other's half-written file.
    partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.partial")
    con.execute(
        f"COPY (SELECT * FROM read_csv({literal(str(path))}, header = true, types = {_struct(own)})) "
        f"TO {literal(str(partial))} (FORMAT parquet)"
    )
    partial.replace(target)
    return target


def _catalog_view(con: duckdb.DuckDBPyConnection, name: str, table: CatalogInput) -> dict[str, Any]:
    """A view named like the catalog table, reading its files with the catalog's types (from their
    Parquet copies)."""
    columns = {n: duckdb_type(t) for n, t in table.columns.items()}
    partitions = {n: duckdb_type(t) for n, t in table.partitions.items()}
    folders = {folder: (folder.resolve(), _copies_in(folder)) for folder in {p.parent for p in table.paths}}
    files = []
    for path in table.paths:
        resolved, copies = folders[path.parent]
        copy = _columnar_copy(con, path, columns, copies.get(path.name, []))
        files.append(literal(str(resolved / copy.name)))
    # By name, not by position: the files of a dataset may order their columns differently,
    # or lack a column added later (NULL there). Hive folders (year=2024/) give the partitions.
    hive = f", hive_partitioning = true, hive_types = {_struct(partitions)}" if partitions else ""
    source = f"read_parquet([{', '.join(files)}], union_by_name = true{hive})"
    # A table column that no current file has (dropped or renamed in later exports, or its files
    # deleted) reads as NULL of its type: union_by_name only fills columns some file has, and a
    # missing one would fail every transform of the table.
    present = {row[0].casefold() for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    wanted = {**columns, **partitions}
    selected = ", ".join(
        identifier(n) if n.casefold() in present else f"CAST(NULL AS {kind}) AS {identifier(n)}"
        for n, kind in wanted.items()
    )
    con.execute(f"CREATE VIEW {identifier(name)} AS SELECT {selected} FROM {source}")
    absent = [n for n in wanted if n.casefold() not in present]
    return {
        "kind": "catalog",
        "location": table.location,
        "files": len(table.paths),
        **({"columns_in_no_file": absent} if absent else {}),
    }


def _reference_view(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> dict[str, Any]:
    """A reference table: a small CSV shipped with the transforms, every column text, so it
    reads the same in DuckDB and in Spark."""
    source = f"read_csv({literal(str(path.resolve()))}, header = true, all_varchar = true)"
    con.execute(f"CREATE VIEW {identifier(name)} AS SELECT * FROM {source}")
    return {"kind": "reference", "file": str(path)}


def _output_view(con: duckdb.DuckDBPyConnection, name: str, uri: str, parquet: Path) -> dict[str, Any]:
    """Another transform's output, read from its Parquet (types kept)."""
    con.execute(
        f"CREATE VIEW {identifier(name)} AS SELECT * FROM read_parquet({literal(str(parquet.resolve()))})"
    )
    return {"kind": "output", "location": uri}


def run_local(step: Step, inputs: LocalInputs, settings: Settings, out_dir: Path) -> StepResult:
    """Run one transform's SQL in DuckDB over local inputs; its CSV and Parquet go to ``out_dir``
    (also DuckDB's spill folder). No S3 here: the job and the benchmark run exactly this."""
    transform = step.transform
    with sandbox.connect(settings.job_memory_mb, out_dir) as con:
        record: dict[str, dict[str, Any]] = {}
        for name, table in inputs.catalog.items():
            try:
                record[name] = _catalog_view(con, name, table)
            except duckdb.Error as exc:  # its files do not fit its catalog types
                raise SqlError(
                    input_error(
                        transform.path.name,
                        table.table or f"{settings.glue_database}.{name}",
                        str(exc),
                        name,
                        {**table.columns, **table.partitions},
                    )
                ) from None
        for name, path in inputs.references.items():
            record[name] = _reference_view(con, name, path)
        for name, (uri, parquet) in inputs.outputs.items():
            record[name] = _output_view(con, name, uri, parquet)
        readable = [out_dir, *(p.parent for p in inputs.references.values())]
        readable += [p.parent for table in inputs.catalog.values() for p in table.paths]
        readable += [parquet.parent for _, parquet in inputs.outputs.values()]
        sandbox.lock_down(con, readable)
        csv_path, parquet_path = out_dir / f"{step.name}.csv", out_dir / f"{step.name}.parquet"
        try:
            rows, columns = _write_outputs(con, transform.sql, settings, csv_path, parquet_path)
        except duckdb.Error as exc:
            tables = {
                t.table or f"{settings.glue_database}.{n}": [*t.columns, *t.partitions]
                for n, t in inputs.catalog.items()
            }
            raise SqlError(sql_error(transform, exc, tables)) from None
    return StepResult(int(rows), columns, csv_path, parquet_path, record)


def _describe(con: duckdb.DuckDBPyConnection, source: str) -> list[dict[str, str]]:
    return [
        {"name": name, "type": kind}
        for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    ]


# Types whose values Parquet changes though their type reads back the same: an INTERVAL is kept
# in milliseconds (01:00:00.249875 becomes 01:00:00.249), a TIMETZ in UTC (12:00:00+05 becomes
# 07:00:00+00).
_PARQUET_LOSES = re.compile(r"\bINTERVAL\b|\bTIME WITH TIME ZONE\b")


def _write_outputs(
    con: duckdb.DuckDBPyConnection, sql: str, settings: Settings, csv_path: Path, parquet_path: Path
) -> tuple[int, list[dict[str, str]]]:
    """Run ``sql`` once into its Parquet, then write the CSV from that Parquet: the result is not
    held in a table that a large output would spill and read back twice. That needs every column
    to keep its values in Parquet (a HUGEINT sum becomes a DOUBLE there, and its CSV would read
    ``45.0``; an INTERVAL loses its microseconds); a result that does not, found from an empty
    probe and ``_PARQUET_LOSES``, is held in a table instead and both files written from it, so
    the CSV shows the query's own values either way. Returns the rows and the query's columns."""
    query = f"({sql}\n)"  # the newline ends a comment on the query's last line
    columns = _describe(con, query)
    guarded = _formula_guarded(columns) if settings.csv_formula_guard else "*"
    csv_options = "(FORMAT csv, HEADER true, DELIMITER ',')"
    probe = parquet_path.with_name(f"{parquet_path.name}.probe")
    con.execute(f"COPY (SELECT * FROM {query} LIMIT 0) TO {literal(str(probe))} (FORMAT parquet)")
    keeps_types = _describe(con, f"read_parquet({literal(str(probe))})") == columns and not any(
        _PARQUET_LOSES.search(column["type"]) for column in columns
    )
    probe.unlink()
    if keeps_types:
        (rows,) = con.execute(f"COPY {query} TO {literal(str(parquet_path))} {PARQUET}").fetchone()
        source = f"read_parquet({literal(str(parquet_path))})"
    else:
        con.execute(f"CREATE TEMP TABLE __result AS {sql}")
        (rows,) = con.execute(f"COPY __result TO {literal(str(parquet_path))} {PARQUET}").fetchone()
        source = "__result"
    con.execute(f"COPY (SELECT {guarded} FROM {source}) TO {literal(str(csv_path))} {csv_options}")
    return int(rows), columns


def run_step(
    step: Step,
    settings: Settings,
    s3: Any,
    glue: Any,
    work_dir: Path,
    references: dict[str, Path],
    mirror: Mirror,
) -> dict[str, Any]:
    """Run one transform and publish its output; the summary for its run record."""
    watch = runs.Stopwatch()
    began = time.perf_counter()
    inputs = fetch_inputs(step, settings, s3, glue, work_dir, references, mirror)
    fetched = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="csvpipe-job-") as tmp:
        result = run_local(step, inputs, settings, Path(tmp))
        ran = time.perf_counter()
        # Seconds per step: fetch (catalog and downloads), run (the SQL, both files written),
        # publish (uploads; known once the output's own run record is written, so the stage's
        # record has it, not that one).
        timings = {"fetch": round(fetched - began, 3), "run": round(ran - fetched, 3)}
        record = {
            "transform": step.name,
            "sql_file": str(step.transform.path),
            "inputs": result.inputs,
            "rows": result.rows,
            "columns": result.columns,
            "started_at": watch.started_at,
            "timings": timings,
        }
        record["seconds"] = watch.seconds()
        published = publish_output(s3, settings.final_bucket, step.name, result.csv, result.parquet, record)
        return {**published, "timings": {**timings, "publish": round(time.perf_counter() - ran, 3)}}


# A cell a spreadsheet would run as a formula: it starts with = + - @, a tab or a carriage
# return (OWASP's list) or their fullwidth forms, and is not simply a number such as -5; the list
# is the Spark job's, so both jobs guard the same cells. By code point: ord() is seven times
# cheaper than a regular expression, and the guard runs on every text cell of every output.
# Comparisons joined by OR, not an IN list: DuckDB plans ``IN (constants)`` as a join, whose
# output comes in any order, and the CSV of an ordered result would lose its order.
_FORMULA_STARTS = " OR ".join(f"ord({{c}}) = {ord(c)}" for c in FORMULA_STARTS)
_FORMULA = f"({_FORMULA_STARTS}) AND TRY_CAST({{c}} AS DOUBLE) IS NULL"


def _formula_guarded(columns: list[dict[str, str]]) -> str:
    """The select list writing text columns (VARCHAR, and ENUM: text in the CSV too) with a
    leading ' before formula-like cells."""
    items = []
    for column in columns:
        c = identifier(column["name"])
        if column["type"] == "VARCHAR" or column["type"].startswith("ENUM("):
            text = f"{c}::VARCHAR"
            items.append(f"CASE WHEN {_FORMULA.format(c=text)} THEN '''' || {text} ELSE {text} END AS {c}")
        else:
            items.append(c)
    return ", ".join(items)


def sql_error(
    transform: Transform, exc: duckdb.Error, tables: Mapping[str, Sequence[str]] | None = None
) -> str:
    """DuckDB's error as one line naming the transform's file and, when DuckDB says where, the
    line of that file: ``movies.sql, line 4: Binder Error: Referenced column "b" not found``;
    for a column its input lacks, the catalog ``tables`` it reads and their columns too."""
    text = str(exc)
    where = re.search(r"^LINE (\d+):", text, flags=re.MULTILINE)
    line = f", line {transform.first_line + int(where[1]) - 1}" if where else ""
    return f"{transform.path.name}{line}: {text.splitlines()[0]}{missing_column_hint(text, tables or {})}"


def _waiting_for(step: Step, done: dict[str, str], settings: Settings, s3: Any, glue: Any) -> str | None:
    """Why ``step`` cannot run now, or None when everything it reads is there."""
    for name in step.upstream:
        if done.get(name) == "failed":
            return f"upstream transform {name} failed"
        if done.get(name) == "skipped":
            return f"upstream transform {name} was skipped"
        if name not in done and head(s3, settings.final_bucket, layout.final_parquet_key(name)) is None:
            return f"waiting for output {name} (run `csvpipe transform {name}`)"
    missing = sorted(t for t in step.catalog if get_table(glue, settings.glue_database, t) is None)
    if missing:
        return f"waiting for table(s) {', '.join(missing)}"
    return None


def run_steps(
    steps: list[Step],
    settings: Settings,
    s3: Any,
    glue: Any,
    work_dir: Path,
    references: dict[str, Path],
    mirror: Mirror | None = None,
) -> dict[str, Any]:
    """Run ``steps`` in order; the transform stage's run record. The steps read their tables'
    files through one mirror: ``mirror`` (the pass's, shared with its crawl) or one in ``work_dir``."""
    mirror = mirror or Mirror(s3, work_dir)
    done: dict[str, str] = {}
    outputs, skipped, errors = [], [], []
    for step in steps:
        reason = _waiting_for(step, done, settings, s3, glue)
        if reason is not None:
            skipped.append({"transform": step.name, "reason": reason})
            done[step.name] = "skipped"
            continue
        try:
            outputs.append(run_step(step, settings, s3, glue, work_dir, references, mirror))
        except Exception as exc:
            if not isinstance(exc, CsvpipeError):
                log.exception("transform %s failed unexpectedly", step.name)
            errors.append({"transform": step.name, "error": failure_text("transform", exc)})
            done[step.name] = "failed"
        else:
            done[step.name] = "ok"
    return {
        "status": "failed" if errors else "ok",
        "order": [step.name for step in steps],
        "outputs": outputs,
        "skipped": skipped,
        "errors": errors,
    }

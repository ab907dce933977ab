"""The AWS Glue job: csvpipe's transforms on Spark, in plan order, published as the DuckDB job
publishes them.

This module is the body of the job script. ``pipeline.spark.glue_script`` copies its source
into the script and appends the plan (``JOB``), so the one file Glue runs needs only the
standard library, boto3 and pyspark (all part of Glue 5.0), and the code the tests run on local
PySpark is the code AWS runs. It must never import ``pipeline``.

For each transform of the plan:

* catalog tables: columns, types and location from the Glue Data Catalog (boto3 ``get_table``,
  no awsglue library), then the CSV files under the location read with those types, matched by
  header name, so files with their columns in another order, or with fewer of them, line up;
* reference tables: the CSV files shipped beside the script, every column a string;
* other transforms' outputs: their Parquet in the final bucket;
* the transform's Spark SQL; its result written as one CSV file (header, UTF-8, comma, quotes
  doubled) and one Parquet file at the keys the DuckDB job writes, then a QuickSight manifest
  and a run record.

A failing transform stops the ones that read its output, not the others; the job fails at the
end when any failed. Job arguments, all optional (the plan holds the defaults):

    --csvpipe_database        Glue database of the catalog tables
    --csvpipe_final_root      where outputs go, e.g. s3://csv-final-data-bucket/
    --csvpipe_reference_root  the folder of the reference CSV files
    --csvpipe_region          AWS region of the Glue catalog
    --csvpipe_glue_endpoint   another Glue API endpoint, e.g. the local emulator
    --csvpipe_locations       JSON {"table": "location"}: read a table from there instead of
                              its catalog location (local runs, tests)
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Spark settings the job runs with, on Glue and locally alike: timestamps in UTC (Glue's
# default, and what the DuckDB job assumes), Parquet timestamps any reader understands, and
# Spark 3.5's own non-ANSI semantics pinned, so a Glue default cannot change results.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "false",
}

# CSV as the DuckDB job writes it and the preprocessing Lambda writes processed data: comma,
# double quotes doubled inside quoted values, values kept as they are (Spark trims them on write
# unless told not to), NULL as an empty field.
CSV_READ = {
    "header": "true",
    "sep": ",",
    "quote": '"',
    "escape": '"',
    "multiLine": "true",
    "encoding": "UTF-8",
}
CSV_WRITE = {
    "header": "true",
    "sep": ",",
    "quote": '"',
    "escape": '"',
    "encoding": "UTF-8",
    "lineSep": "\n",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "nullValue": "",
}

SCRATCH_FOLDER = "_glue_tmp"
DATA_URI = "{data}"  # in the plan's manifest template: the output's CSV object
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

_GLUE_TO_SPARK = {
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "int": "int",
    "integer": "int",
    "bigint": "bigint",
    "float": "float",
    "double": "double",
    "date": "date",
    "timestamp": "timestamp",
    "string": "string",
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$", re.IGNORECASE)


def spark_type(glue: str) -> str:
    """The Spark type to read a column registered in Glue as ``glue``; anything else is read as
    a string, as the DuckDB job reads it as VARCHAR."""
    lower = glue.lower().strip()
    if match := _DECIMAL.match(lower):
        return f"decimal({match[1]},{match[2]})"
    return _GLUE_TO_SPARK.get(lower, "string")


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def schema_ddl(header: Sequence[str], types: Mapping[str, str]) -> str:
    """A Spark DDL schema for one CSV header: catalog types by name, strings for the rest."""
    return ", ".join(f"{quoted(name)} {spark_type(types.get(name.lower(), 'string'))}" for name in header)


def parse_header(line: str, sep: str = ",") -> tuple[str, ...]:
    """Column names of a CSV header line (quotes respected, a byte-order mark dropped)."""
    return tuple(next(csv.reader([line.lstrip("\ufeff")], delimiter=sep), []))


def group_by_header(headers: Mapping[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], list[str]]]:
    """Files grouped by their header, groups in order of their first file, so each group is
    read with one schema."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in sorted(headers):
        groups.setdefault(headers[path], []).append(path)
    return list(groups.items())


def is_data_file(relative: str) -> bool:
    """A CSV object of the table's location; like the DuckDB job, skips ``_``-prefixed folders
    (csvpipe's own) and, like Spark, hidden files."""
    parts = relative.split("/")
    return not any(part.startswith(("_", ".")) for part in parts) and relative.lower().endswith(".csv")


def join(root: str, key: str) -> str:
    return root.rstrip("/") + "/" + key.lstrip("/")


def manifest_for(template: Any, uri: str) -> Any:
    """The QuickSight manifest for one CSV object: the plan's template (made by csvpipe's own
    ``quicksight_manifest``) with ``DATA_URI`` replaced by the object's URI."""
    if isinstance(template, Mapping):
        return {key: manifest_for(value, uri) for key, value in template.items()}
    if isinstance(template, list):
        return [manifest_for(value, uri) for value in template]
    return uri if template == DATA_URI else template


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return " ".join(lines[0].split()) if lines else ""


_ERROR_CLASS = re.compile(r"\[[A-Z][A-Z0-9_.]*\]")


def error_text(exc: BaseException) -> str:
    """One line for a failed transform. A failure inside a Spark task reaches Python as py4j's
    "An error occurred while calling o75.collectToPython"; the line names Spark's error class
    and the root cause instead, e.g. ``[MALFORMED_RECORD_IN_PARSING...] ... (java.lang.
    NumberFormatException: For input string: "abc")``."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return first_line(str(exc)) or type(exc).__name__
    chain = []
    while java is not None and len(chain) < 20:
        chain.append(first_line(str(java.toString())))
        java = java.getCause()
    classed = next((line for line in chain if _ERROR_CLASS.search(line)), chain[0])
    if match := _ERROR_CLASS.search(classed):
        classed = classed[match.start() :]
    return classed if chain[-1] in classed else f"{classed} ({chain[-1]})"


@dataclass(frozen=True)
class Options:
    """Where this run reads and writes: the plan's defaults, overridden by job arguments."""

    database: str
    final_root: str
    reference_root: str
    region: str | None = None
    glue_endpoint: str | None = None
    locations: Mapping[str, str] = field(default_factory=dict)


class JobArgumentError(ValueError):
    """A job argument cannot be used."""


def parse_options(job: Mapping[str, Any], argv: Sequence[str]) -> Options:
    """The job's arguments; arguments Glue adds itself (``--JOB_NAME``, ``--TempDir``, ...)
    are left alone."""
    parser = argparse.ArgumentParser(prog=job["name"], allow_abbrev=False, add_help=False)
    parser.add_argument("--csvpipe_database", default=job["database"])
    parser.add_argument("--csvpipe_final_root", default=job["final_root"])
    parser.add_argument("--csvpipe_reference_root", default=job["reference_root"])
    parser.add_argument("--csvpipe_region", default=job.get("region"))
    parser.add_argument("--csvpipe_glue_endpoint", default=None)
    parser.add_argument("--csvpipe_locations", default="{}")
    known, _ = parser.parse_known_args(list(argv))
    try:
        locations = json.loads(known.csvpipe_locations)
    except json.JSONDecodeError as exc:
        raise JobArgumentError(f"--csvpipe_locations is not JSON: {exc}") from None
    if not isinstance(locations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in locations.items()
    ):
        raise JobArgumentError('--csvpipe_locations must be a JSON object {"table": "location"}')
    return Options(
        database=known.csvpipe_database,
        final_root=known.csvpipe_final_root,
        reference_root=known.csvpipe_reference_root,
        region=known.csvpipe_region or None,
        glue_endpoint=known.csvpipe_glue_endpoint or None,
        locations=locations,
    )


class Files:
    """Files through Hadoop's FileSystem API in Spark's JVM: one code path for ``s3://`` on
    Glue and ``file://`` locally, with no extra Python library."""

    def __init__(self, spark: SparkSession) -> None:
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def _fs(self, uri: str) -> tuple[Any, Any]:
        path = self.jvm.org.apache.hadoop.fs.Path(uri)
        fs = path.getFileSystem(self.conf)
        fs.setWriteChecksum(False)  # no .crc files beside local outputs
        return path, fs

    def list(self, root: str) -> list[str]:
        """Every file under ``root``, recursively, as full URIs; none when it does not exist."""
        path, fs = self._fs(root)
        if not fs.exists(path):
            return []
        base = str(fs.makeQualified(path).toString()).rstrip("/") + "/"
        found = []
        listing = fs.listFiles(path, True)
        while listing.hasNext():
            full = str(listing.next().getPath().toString())
            relative = full[len(base) :] if full.startswith(base) else full.rsplit("/", 1)[-1]
            if is_data_file(relative):
                found.append(full)
        return sorted(found)

    def first_line(self, uri: str) -> str:
        path, fs = self._fs(uri)
        stream = fs.open(path)
        reader = self.jvm.java.io.BufferedReader(self.jvm.java.io.InputStreamReader(stream, "UTF-8"))
        try:
            return str(reader.readLine() or "")
        finally:
            reader.close()

    def part_file(self, folder: str, suffix: str) -> str:
        path, fs = self._fs(join(folder, f"part-*{suffix}"))
        statuses = fs.globStatus(path) or []
        parts = sorted(str(status.getPath().toString()) for status in statuses)
        if len(parts) != 1:
            raise RuntimeError(f"expected one {suffix} part file in {folder}, found {len(parts)}")
        return parts[0]

    def move(self, source: str, target: str) -> None:
        """Copy over ``target`` (one PUT on S3: readers see the old object or the new one),
        then delete ``source``."""
        src, src_fs = self._fs(source)
        dst, dst_fs = self._fs(target)
        copied = self.jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, src, dst_fs, dst, True, True, self.conf)
        if not copied:
            raise RuntimeError(f"could not copy {source} to {target}")

    def write_text(self, uri: str, text: str) -> None:
        path, fs = self._fs(uri)
        out = fs.create(path, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def delete(self, uri: str) -> None:
        path, fs = self._fs(uri)
        fs.delete(path, True)


def get_table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def get_partitions(glue: Any, database: str, table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table's partitions, none for a table without partition keys."""
    if not table.get("PartitionKeys"):
        return []
    found: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table["Name"]):
        found += page.get("Partitions", [])
    return sorted(found, key=lambda p: p["StorageDescriptor"]["Location"])


def csv_layout(table: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the table's files start with a header row, and their delimiter, from the
    parameters the crawler registers."""
    parameters = table.get("Parameters") or {}
    storage = table.get("StorageDescriptor") or {}
    serde = (storage.get("SerdeInfo") or {}).get("Parameters") or {}
    header = str(parameters.get("skip.header.line.count", "0")).strip() not in {"", "0"}
    return header, str(parameters.get("delimiter") or serde.get("field.delim") or ",")


def relocated(uri: str, catalog_root: str, actual_root: str) -> str:
    """A partition's location under the table's actual root (``--csvpipe_locations``)."""
    catalog_root = catalog_root.rstrip("/") + "/"
    if catalog_root == actual_root.rstrip("/") + "/" or not uri.startswith(catalog_root):
        return uri
    return join(actual_root, uri[len(catalog_root) :])


def _read_files(
    spark: SparkSession,
    files: Files,
    paths: list[str],
    columns: list[tuple[str, str]],
    header: bool,
    sep: str,
) -> DataFrame:
    """CSV files as the given columns: matched by header name (a column a file lacks is NULL
    there), or by position when the files have no header."""
    from functools import reduce

    from pyspark.sql import functions as F

    types = {name.lower(): kind for name, kind in columns}
    options = {**CSV_READ, "header": str(header).lower(), "sep": sep, "mode": "FAILFAST"}
    if not header:
        ddl = schema_ddl([name for name, _ in columns], types)
        return spark.read.format("csv").options(**options).schema(ddl).load(paths)
    frames = []
    for names, group in group_by_header({path: parse_header(files.first_line(path), sep) for path in paths}):
        frame = spark.read.format("csv").options(**options).schema(schema_ddl(names, types)).load(group)
        present = {name.lower(): name for name in names}
        frames.append(
            frame.select(
                *(
                    F.col(quoted(present[name.lower()])).alias(name)
                    if name.lower() in present
                    else F.lit(None).cast(spark_type(kind)).alias(name)
                    for name, kind in columns
                )
            )
        )
    return reduce(lambda left, right: left.unionByName(right), frames)


def read_catalog_table(
    spark: SparkSession,
    files: Files,
    location: str,
    table: Mapping[str, Any],
    partitions: Sequence[Mapping[str, Any]] = (),
) -> DataFrame:
    """The table's CSV files with the catalog's column types, in the catalog's column order,
    then its partition keys, each file's values from its Glue partition."""
    from functools import reduce

    from pyspark.sql import functions as F

    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    keys = [(k["Name"], k["Type"]) for k in table.get("PartitionKeys") or []]
    header, sep = csv_layout(table)
    if not keys:
        paths = files.list(location)
        if not paths:
            raise FileNotFoundError(f"table {table['Name']} has no CSV files under {location}")
        return _read_files(spark, files, paths, columns, header, sep)
    frames = []
    for partition in partitions:
        where = relocated(
            partition["StorageDescriptor"]["Location"], table["StorageDescriptor"]["Location"], location
        )
        paths = files.list(where)
        if not paths:
            continue
        values = [None if v == HIVE_NULL else v for v in partition["Values"]]
        frame = _read_files(spark, files, paths, columns, header, sep)
        frames.append(
            frame.select(
                *(F.col(quoted(name)) for name, _ in columns),
                *(
                    F.lit(value).cast(spark_type(kind)).alias(name)
                    for (name, kind), value in zip(keys, values, strict=True)
                ),
            )
        )
    if not frames:
        raise FileNotFoundError(f"table {table['Name']} has no CSV files in its partitions under {location}")
    return reduce(lambda left, right: left.unionByName(right), frames)


def read_reference(spark: SparkSession, uri: str) -> DataFrame:
    """A reference table: a small CSV shipped with the transforms, every column a string."""
    return spark.read.format("csv").options(**CSV_READ, mode="FAILFAST").load(uri)


# What both jobs' formula guard (csv_formula_guard) neutralises: a text cell starting with one of
# these that is not simply a number gets a leading '. OWASP's list, and its fullwidth forms
# (U+FF1D U+FF0B U+FF0D U+FF20), which spreadsheets with East Asian input read as = + - @. The one
# definition: the DuckDB job imports it from here, since this script must import nothing of ours.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _csv_ready(frame: DataFrame, formula_guard: bool) -> DataFrame:
    """Timestamps as text the way DuckDB writes them (``2024-01-31 12:00:00[.123]``), not in
    Spark's CSV default (ISO with ``T`` and a zone); formula-like text cells neutralised as the
    DuckDB job does, when ``formula_guard``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, TimestampNTZType, TimestampType

    def column(f: Any) -> Any:
        c = F.col(quoted(f.name))
        if isinstance(f.dataType, TimestampType | TimestampNTZType):
            return c.cast("string").alias(f.name)
        if formula_guard and isinstance(f.dataType, StringType):
            formula = F.substring(c, 1, 1).isin(*FORMULA_STARTS) & c.cast("double").isNull()
            return F.when(formula, F.concat(F.lit("'"), c)).otherwise(c).alias(f.name)
        return c

    return frame.select(*(column(f) for f in frame.schema.fields))


def _parquet_ready(frame: DataFrame) -> DataFrame:
    """Timestamps without a time zone, as DuckDB writes its TIMESTAMP to Parquet (the session
    runs in UTC, so the wall-clock values stay the same)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    return frame.select(
        *(
            F.col(quoted(f.name)).cast("timestamp_ntz").alias(f.name)
            if isinstance(f.dataType, TimestampType)
            else F.col(quoted(f.name))
            for f in frame.schema.fields
        )
    )


def _write_one_file(
    files: Files, frame: DataFrame, fmt: str, options: Mapping[str, str], target: str, scratch: str
) -> None:
    """``frame`` (one partition) as exactly one object at ``target``: Spark writes a folder of
    part files to ``scratch``, and its one part file is copied over ``target``."""
    frame.write.mode("overwrite").format(fmt).options(**options).save(scratch)
    try:
        files.move(files.part_file(scratch, "." + fmt), target)
    finally:
        files.delete(scratch)


def run_step(
    spark: SparkSession,
    glue: Any,
    files: Files,
    job: Mapping[str, Any],
    step: Mapping[str, Any],
    tables: Mapping[str, Mapping[str, Any]],
    options: Options,
    scratch: str,
) -> dict[str, Any]:
    """Register the step's inputs as views, run its SQL and publish the result; its run record."""
    started_at, start = now_iso(), time.perf_counter()
    inputs: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        location = options.locations.get(name, table["StorageDescriptor"]["Location"])
        partitions = get_partitions(glue, options.database, table)
        read_catalog_table(spark, files, location, table, partitions).createOrReplaceTempView(name)
        inputs[name] = {"kind": "catalog", "location": location, "partitions": len(partitions)}
    for name, file_name in step["references"].items():
        uri = join(options.reference_root, file_name)
        read_reference(spark, uri).createOrReplaceTempView(name)
        inputs[name] = {"kind": "reference", "file": uri}
    for name in step["upstream"]:
        uri = join(options.final_root, job["keys"][name]["parquet"])
        spark.read.parquet(uri).createOrReplaceTempView(name)
        inputs[name] = {"kind": "output", "location": uri}

    # One partition, so each output is one file; coalescing keeps the order of an ORDER BY.
    result = spark.sql(step["sql"]).coalesce(1).persist()
    try:
        rows = result.count()
        keys = job["keys"][step["name"]]
        parquet, data, manifest = (join(options.final_root, keys[k]) for k in ("parquet", "data", "manifest"))
        # The order of the DuckDB job's writer: Parquet, CSV, manifest, run record.
        _write_one_file(
            files, _parquet_ready(result), "parquet", {}, parquet, join(scratch, f"{step['name']}.parquet")
        )
        _write_one_file(
            files,
            _csv_ready(result, job.get("formula_guard", True)),
            "csv",
            CSV_WRITE,
            data,
            join(scratch, f"{step['name']}.csv"),
        )
        files.write_text(manifest, json.dumps(manifest_for(job["manifest"], data), indent=2))
        record = {
            "transform": step["name"],
            "sql_file": step["file"],
            "engine": f"spark {spark.version}",
            "inputs": inputs,
            "rows": int(rows),
            "columns": [{"name": f.name, "type": f.dataType.simpleString()} for f in result.schema.fields],
            "started_at": started_at,
            "seconds": round(time.perf_counter() - start, 3),
            "output": step["name"],
            "data": data,
            "parquet": parquet,
            "manifest": manifest,
        }
        files.write_text(join(options.final_root, keys["run"]), json.dumps(record, indent=2, sort_keys=True))
        return record
    finally:
        result.unpersist()


def _waiting_for(step: Mapping[str, Any], done: Mapping[str, str]) -> str | None:
    for name in step["upstream"]:
        if done.get(name) == "failed":
            return f"upstream transform {name} failed"
        if done.get(name) == "skipped":
            return f"upstream transform {name} was skipped"
    return None


def run_job(spark: SparkSession, glue: Any, job: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """Every step of the plan in order; the summary the DuckDB job's run record also has."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    files = Files(spark)
    # Spark's part files go under the final root's "_" folder (csvpipe's own, skipped by readers).
    scratch = join(options.final_root, f"{SCRATCH_FOLDER}/{uuid.uuid4().hex}")
    done: dict[str, str] = {}
    outputs: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    for step in job["steps"]:
        name = step["name"]
        reason = _waiting_for(step, done)
        found = {} if reason else {t: get_table(glue, options.database, t) for t in step["catalog"]}
        tables = {t: table for t, table in found.items() if table is not None}
        if reason is None and len(tables) < len(found):
            reason = f"waiting for table(s) {', '.join(sorted(found.keys() - tables.keys()))}"
        if reason is not None:
            skipped.append({"transform": name, "reason": reason})
            done[name] = "skipped"
            continue
        try:
            outputs.append(run_step(spark, glue, files, job, step, tables, options, scratch))
        except Exception as exc:  # a failing transform must not stop the others
            errors.append({"transform": name, "error": f"{step['file']}: {error_text(exc)}"})
            done[name] = "failed"
        else:
            done[name] = "ok"
        finally:
            for view in [*step["catalog"], *step["references"], *step["upstream"]]:
                spark.catalog.dropTempView(view)
    files.delete(scratch)
    return {
        "status": "failed" if errors else "ok",
        "order": [step["name"] for step in job["steps"]],
        "outputs": outputs,
        "skipped": skipped,
        "errors": errors,
    }


def main(job: Mapping[str, Any], argv: Sequence[str]) -> None:
    """The Glue entry point: run the plan, print its summary, fail the job run when a
    transform failed."""
    import boto3
    from pyspark.sql import SparkSession

    options = parse_options(job, argv)
    spark = SparkSession.builder.appName(job["name"]).getOrCreate()
    glue = boto3.client("glue", region_name=options.region, endpoint_url=options.glue_endpoint)
    summary = run_job(spark, glue, job, options)
    print(json.dumps(summary, indent=2, sort_keys=True))
    if summary["status"] != "ok":
        failed = "; ".join(f"{e['transform']}: {e['error']}" for e in summary["errors"])
        raise SystemExit(f"csvpipe: {len(summary['errors'])} transform(s) failed: {failed}")

"""The crawler stand-in's I/O: read a dataset's processed files, infer its table (pure, in
pipeline.catalog.infer and .partitions), plan the catalog change (pure, in .plan) and apply it
through the real Glue API (moto serves it locally; AWS Glue in the cloud).

It runs after each successful preprocess (emulators.glue_jobs) and on demand (``csvpipe crawl``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import json
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from botocore.exceptions import ClientError, EndpointConnectionError

from pipeline import layout
from pipeline.catalog.exceptions import CatalogConflict, NoData
from pipeline.catalog.infer import ColumnProfile, FileScan, Profiler, TableSchema, infer_table
from pipeline.catalog.options import CrawlerOptions, crawler_options
from pipeline.catalog.partitions import PartitionLayout, check_key_names, partition_layout
from pipeline.catalog.plan import (
    Column,
    TablePlan,
    WantedPartition,
    partition_keys_of,
    plan_record,
    plan_table,
    table_input,
)
from pipeline.catalog.types import normalize, pinned_type, widen
from pipeline.catalog.verify import checked_types
from pipeline.errors import CatalogError, StackError
from pipeline.preprocess.rules import load_rules
from pipeline.settings import Settings
from pipeline.storage import MISSING_BUCKET_CODE, Mirror, error_code

# Preprocessing keeps fields of up to 16 MiB (pipeline.preprocess.clean.MAX_FIELD_CHARS) and sets
# the csv module's process-wide limit to that; the crawler only makes sure it is at least that.
FIELD_SIZE_LIMIT = 16 * 1024 * 1024
# Glue's BatchCreatePartition and BatchUpdatePartition take at most 100 entries a call.
PARTITION_BATCH = 100
_READ_CHUNK = 16 * 1024 * 1024
HEADER_REASONS = 10


# ---------------------------------------------------------------- reading files


class _Lines:
    """The lines csv.reader consumes, counting characters and noticing quote characters."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.chars = 0
        self.quoted = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.chars += len(line)
        if not self.quoted and '"' in line:
            self.quoted = True
        return line


# A quoted field with its doubled quotes (the loop unrolled: sre runs it fast); replaced by a NUL,
# whose neighbours then show whether the field sat between delimiters, as RFC 4180 has it.
_QUOTED = re.compile(rb'"[^"]*(?:""[^"]*)*"')
_BLANK_AFTER_LINE_END = re.compile(rb"(?<=\n)\r?\n")
_BOM = codecs.BOM_UTF8


class _NotPlain(Exception):
    """Quoting the fast count does not model: the csv module counts instead."""


# Delimiters and CRs read as LFs: a quoted field's neighbours are then counted in two passes.
_AS_LINE_ENDS = bytes.maketrans(b",\r", b"\n\n")


def _on_boundaries(flat: bytes, fields: int) -> bool:
    """Every one of the ``fields`` folded quoted fields (a NUL) sits between delimiters or line
    ends, and no CR stands alone: counted, not searched (a search of a regular expression costs
    ten times more)."""
    if b"\r" in flat and flat.count(b"\r") != flat.count(b"\r\n"):
        return False
    if not fields:
        return True
    if b"\x00\x00" in flat:
        return False  # two quoted fields with no delimiter between them
    # CRs stand only before LFs here: a field before CRLF is followed by one LF in ``ends``.
    ends = flat.translate(_AS_LINE_ENDS)
    before = ends.count(b"\n\x00") + ends.startswith(b"\x00")
    after = ends.count(b"\x00\n") + ends.endswith(b"\x00")
    return before == fields == after


def _count_quoted(path: Path, read_bytes: int = _READ_CHUNK) -> tuple[int, bool]:
    """Records, and whether a quote character occurs, of a CSV whose quoted fields all sit
    between delimiters (RFC 4180, as csvpipe and DuckDB write them), counted on bytes in one
    read: quoted fields become one NUL, then records are the non-blank lines, as the csv module
    reads them. Raises _NotPlain on anything else (a NUL or a
    lone CR in the text, a quote inside an unquoted field, an unclosed quote). ``read_bytes``: the
    size of each read (tests use tiny reads to cross every boundary)."""
    records, carry, bom_pending, quoted = 0, b"", True, False
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(read_bytes)
            quoted = quoted or b'"' in chunk
            data = carry + chunk
            # One BOM at the file's start is not text (utf-8-sig); known once three bytes are in.
            if bom_pending and (len(data) >= len(_BOM) or not chunk or not _BOM.startswith(data)):
                data, bom_pending = data.removeprefix(_BOM), False
            end = len(data) if not chunk else data.rfind(b"\n") + 1
            if end == 0 and chunk:
                carry = data  # no line end yet: read on
                continue
            block = data[:end] if end < len(data) else data
            if b"\x00" in block:
                raise _NotPlain
            # With no NUL in the text, the NULs of ``flat`` are the quoted fields it folded.
            flat, fields = _QUOTED.subn(b"\x00", block)
            if b'"' in flat:
                if not chunk:
                    raise _NotPlain  # an unclosed quote at the end of the file
                carry = data  # a quoted field goes on past the last line end: read on
                continue
            if not _on_boundaries(flat, fields):
                raise _NotPlain
            lines = flat.count(b"\n") + (0 if flat.endswith(b"\n") or not flat else 1)
            # Each block starts a line (the file's start, or after the last block's line end).
            blank = flat.startswith((b"\n", b"\r\n"))
            if b"\n\n" in flat or b"\n\r\n" in flat:  # rare: the regular expression is slow
                blank += len(_BLANK_AFTER_LINE_END.findall(flat))
            records += lines - blank
            carry = data[end:]
            if not chunk:
                return records, quoted


def count_rows(path: Path) -> tuple[int, bool]:
    """Rows of a CSV file as the csv module reads them (blank lines are none) and whether any field
    is quoted: counted on bytes (``_count_quoted``), by the csv module only for files quoted in
    ways that count does not model."""
    try:
        return _count_quoted(path)
    except _NotPlain:
        pass
    quoted = False
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            if b'"' in chunk:
                quoted = True
                break
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return sum(1 for row in csv.reader(handle) if row), quoted


def scan_file(path: Path, key: str, options: CrawlerOptions) -> FileScan:
    """Profile a file's sampled rows (``options``: rows or characters per file, or all; a small
    file is read whole, see CrawlerOptions.reads_whole) and count all its rows. ``quoted`` is
    judged on the whole file in csvpipe mode; in glue-compatible mode on the sample only, as
    AWS's classifier sees only its sample."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    size = path.stat().st_size
    if options.reads_whole(size):
        options = dataclasses.replace(options, sample_rows=None, sample_bytes=None)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines)
        try:
            first = next((row for row in reader if row), None)
            if first is None:
                return FileScan(key, (), (), (), 0, 0, False, size)
            profiler = Profiler(first)
            sampled, finished = 1, True
            for row in reader:
                if not row:
                    continue
                if (options.sample_rows is not None and sampled >= options.sample_rows) or (
                    options.sample_bytes is not None and lines.chars > options.sample_bytes
                ):
                    finished = False
                    break
                profiler.add(row)
                sampled += 1
        except csv.Error as exc:
            raise CatalogError(f"{key}: not readable as CSV near line {reader.line_num}: {exc}") from None
    rows, quoted = sampled, lines.quoted
    if not finished:
        rows, anywhere = count_rows(path)
        quoted = lines.quoted if options.mode == "glue-compatible" else anywhere
    return FileScan(
        key,
        tuple(first),
        profiler.profiles(len(first)),
        tuple(profiler.repeats),
        rows,
        sampled,
        quoted,
        size,
    )


# A file's scan kept beside its local copy: files up to WHOLE_FILE_BYTES are read whole, and
# every crawl of a dataset scans all its files, so an unchanged file is not profiled again
# (a 64 MiB file took 13 s to read whole here, against 0.9 s for a 10,000-row sample).
_SCAN_SUFFIX = ".scan.json"
_SCAN_FORMAT = 1


def _scan_version(path: Path, options: CrawlerOptions) -> list[Any]:
    stat = path.stat()
    return [
        _SCAN_FORMAT,
        stat.st_size,
        stat.st_mtime_ns,
        options.mode,
        options.reads_whole(stat.st_size),
        options.sample_rows,
        options.sample_bytes,
    ]


def _scan_record(scan: FileScan) -> dict[str, Any]:
    return {
        "first_row": list(scan.first_row),
        "data": [[p.values, p.nulls, sorted(p.kinds), sorted(p.scales), p.integer_digits] for p in scan.data],
        "repeats": list(scan.repeats),
        "rows": scan.rows,
        "sampled": scan.sampled,
        "quoted": scan.quoted,
        "size": scan.size,
    }


def _scan_of(key: str, record: dict[str, Any]) -> FileScan:
    return FileScan(
        key,
        tuple(record["first_row"]),
        tuple(
            ColumnProfile(values, nulls, frozenset(kinds), frozenset(scales), digits)
            for values, nulls, kinds, scales, digits in record["data"]
        ),
        tuple(record["repeats"]),
        record["rows"],
        record["sampled"],
        record["quoted"],
        record["size"],
    )


def cached_scan(path: Path, key: str, options: CrawlerOptions) -> FileScan:
    """``scan_file``, kept in ``<file>.scan.json`` beside the file for the next crawl: used again
    while the file (size, modification time) and the options that shape the scan are the same."""
    cache = path.with_name(path.name + _SCAN_SUFFIX)
    version = _scan_version(path, options)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept["version"] == version:
            return _scan_of(key, kept["scan"])
    scan = scan_file(path, key, options)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}-{threading.get_ident()}.partial")
    with contextlib.suppress(OSError):
        partial.write_text(json.dumps({"version": version, "scan": _scan_record(scan)}), encoding="utf-8")
        partial.replace(cache)
    return scan


# ---------------------------------------------------------------- the catalog


def get_table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def get_partitions(glue: Any, database: str, name: str) -> list[dict[str, Any]]:
    partitions: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name):
        partitions += page.get("Partitions", [])
    return partitions


def ensure_database(glue: Any, database: str) -> None:
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": database, "Description": "Tables registered by csvpipe"})


def check_reachable(s3: Any, settings: Settings) -> None:
    """One clear StackError when the endpoint or the processed bucket is not there."""
    where = settings.endpoint_url or "AWS"
    hint = (
        "start the local stack with `csvpipe up --detach`"
        if settings.profile == "local"
        else "check the profile's endpoint and credentials"
    )
    try:
        s3.head_bucket(Bucket=settings.processed_bucket)
    except EndpointConnectionError:
        raise StackError(f"cannot reach {where}: {hint}") from None
    except ClientError as exc:
        if error_code(exc) in {MISSING_BUCKET_CODE, "404", "NotFound"}:
            raise StackError(f"no processed bucket {settings.processed_bucket} at {where}: {hint}") from None
        raise


def list_datasets(s3: Any, bucket: str) -> list[str]:
    """The datasets of the processed bucket: its top-level folders but csvpipe's ``_`` ones."""
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            name = prefix["Prefix"].rstrip("/")
            if name and not name.startswith("_"):
                names.append(name)
    return sorted(names)


# ---------------------------------------------------------------- planning and applying


def _partitions(
    schema: TableSchema, partitioning: PartitionLayout, scans: list[FileScan], location: str
) -> list[WantedPartition]:
    if not partitioning.keys:
        return []
    skip = 1 if schema.header else 0
    grouped: dict[tuple[str, ...], list[FileScan]] = defaultdict(list)
    for scan in scans:
        grouped[partitioning.values[scan.key]].append(scan)
    wanted = []
    for values, members in grouped.items():
        folder = str(PurePosixPath(members[0].key).parent)
        rows = sum(max(scan.rows - skip, 0) for scan in members)
        wanted.append(WantedPartition(values, f"{location}{folder}/", rows, len(members)))
    return wanted


def _notes(
    schema: TableSchema, scans: list[FileScan], options: CrawlerOptions, skipped: list[str]
) -> list[str]:
    notes = list(schema.notes)
    if skipped:
        notes.append(f"skipped {len(skipped)} object(s), empty or not .csv: {', '.join(skipped[:3])}")
    sampled = [scan for scan in scans if scan.sampled < scan.rows]
    if sampled:
        limit = (
            f"the first {options.sample_rows} rows (crawler_sample_rows)"
            if options.sample_rows is not None
            else "the first MiB (as AWS's crawler)"
        )
        notes.append(
            f"types inferred from {limit} of {len(sampled)} file(s); "
            "`csvpipe crawl --full-scan` reads every row"
        )
    if options.mode == "glue-compatible":
        if len(schema.columns) < 2 or schema.record_count < 2:
            notes.append(
                "AWS's built-in CSV classifier needs at least two columns and two rows of data: "
                "on AWS this table would not be classified as csv"
            )
    elif schema.quoted:
        # Athena's "Open CSV SerDe for processing CSV": it recognizes BOOLEAN, BIGINT, INT and DOUBLE.
        typed = [
            f"{c.name} ({c.type})"
            for c in schema.columns
            if c.type.split("(")[0] in {"date", "timestamp", "decimal"}
        ]
        if typed:
            notes.append(
                "quoted fields: registered with OpenCSVSerde, from which Athena parses only boolean, int, "
                f"bigint and double; {', '.join(typed)} would need a cast there "
                "(csvpipe's job reads them typed)"
            )
    return notes


def _check_sampled(
    schema: TableSchema,
    scans: list[FileScan],
    paths: dict[str, Path],
    types: dict[str, str],
    pinned: dict[str, str],
) -> tuple[dict[str, str], list[str]]:
    """The table's types, widened where a sampled file's later rows do not convert to them
    (pipeline.catalog.verify), and a note for each column so widened."""
    sampled = {scan.key for scan in scans if scan.sampled < scan.rows}
    types, notes = dict(types), []
    for file in schema.files:
        if file.key not in sampled or not file.header.present:
            continue
        asked = {name: pinned.get(name, types[name]) for name in file.names if name in types}
        for name, kind in checked_types(paths[file.key], asked).items():
            if name not in pinned and normalize(kind) != normalize(asked[name]):
                types[name] = widen(types[name], kind)
                notes.append(
                    f"{file.key}: rows past the sample do not fit {name} {asked[name]}: "
                    f"registered as {types[name]} (every row was read to check)"
                )
    return types, notes


def pinned_columns(settings: Settings, dataset: str, inferred: dict[str, str]) -> dict[str, str]:
    """Column name -> Glue type for each typed column of the dataset's rules
    (``<rules_dir>/<dataset>.toml``, ``[columns.NAME] type = ...``); ``inferred``: the types the
    data gave, which a decimal pin keeps when they are decimal."""
    rules = load_rules(settings.rules_dir, dataset)
    return {rule.name: pinned_type(rule.type, inferred.get(rule.name)) for rule in rules.columns}


def plan_with_facts(
    dataset: str,
    settings: Settings,
    glue: Any,
    mirror: Mirror,
    options: CrawlerOptions,
    *,
    rebuild: bool = False,
) -> tuple[TablePlan, dict[str, Any]]:
    """The plan for one dataset and the facts of the crawl (files, rows read) for its record,
    from the dataset's files in ``mirror``. ``rebuild``: re-derive the table from these files
    (see plan.plan_table)."""
    bucket = settings.processed_bucket
    prefix = layout.dataset_prefix(dataset)
    paths = mirror.prefix(bucket, prefix)
    root = mirror.root / bucket / prefix
    keyed = [(path.relative_to(root).as_posix(), path) for path in paths]
    skipped = [key for key, _ in keyed if not layout.is_csv_key(key)]
    keyed = [(key, path) for key, path in keyed if layout.is_csv_key(key)]
    if not keyed:
        raise NoData(f"no processed data for dataset {dataset!r} (s3://{bucket}/{prefix})")
    partitioning = partition_layout(dataset, [key for key, _ in keyed], options.mode)
    scans = [cached_scan(path, key, options) for key, path in keyed]
    empty = [scan.key for scan in scans if not scan.first_row]
    scans = [scan for scan in scans if scan.first_row]
    if not scans:
        raise NoData(f"dataset {dataset!r} has only empty files (s3://{bucket}/{prefix}{empty[0]})")
    if empty:
        skipped += [f"{key} (empty)" for key in empty]
    schema = infer_table(scans, options.mode)
    check_key_names(dataset, partitioning, [c.name for c in schema.columns])
    location = f"s3://{bucket}/{prefix}"
    csvpipe = options.mode == "csvpipe"
    pinned = pinned_columns(settings, dataset, {c.name: c.type for c in schema.columns})
    types = {c.name: c.type for c in schema.columns}
    checked: list[str] = []
    if csvpipe:
        types, checked = _check_sampled(schema, scans, dict(keyed), types, pinned)
    wanted = table_input(
        dataset,
        location,
        [
            Column(c.name, pinned.get(c.name, types[c.name]), c.nullable if csvpipe else None)
            for c in schema.columns
        ],
        schema.record_count,
        header=schema.header,
        quoted=schema.quoted,
        partition_keys=[Column(k.name, k.type) for k in partitioning.keys],
        object_count=len(scans),
        size=sum(scan.size for scan in scans),
        mode=options.mode,
    )
    existing = get_table(glue, settings.glue_database, dataset)
    registered = (
        get_partitions(glue, settings.glue_database, dataset)
        if existing and partition_keys_of(existing)
        else []
    )
    plan = plan_table(
        settings.glue_database,
        wanted,
        existing,
        options.policy,
        options.mode,
        partitions=_partitions(schema, partitioning, scans, location),
        existing_partitions=registered,
        file_columns=[(f.key, f.names) for f in schema.files],
        notes=[*_notes(schema, scans, options, skipped), *checked],
        pinned=pinned,
        rebuild=rebuild,
    )
    present = {c.name for c in schema.columns}
    facts = {
        "files": len(scans),
        "rows_read": sum(scan.sampled for scan in scans),
        "full_scan": options.full_scan,
        "files_read_whole": sum(scan.sampled >= scan.rows for scan in scans),
        "pinned": {name: kind for name, kind in pinned.items() if name in present},
        # Why each file's first row was (not) taken as its header; the first few files.
        "headers": {f.key: f.header.reason for f in schema.files[:HEADER_REASONS]},
    }
    return plan, facts


def plan_dataset(
    dataset: str,
    settings: Settings,
    s3: Any,
    glue: Any,
    work_dir: Path,
    options: CrawlerOptions | None = None,
) -> TablePlan:
    options = options or crawler_options(settings)
    return plan_with_facts(dataset, settings, glue, Mirror(s3, work_dir), options)[0]


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), PARTITION_BATCH):
        yield items[start : start + PARTITION_BATCH]


def _check_batch(plan: TablePlan, verb: str, response: dict[str, Any]) -> None:
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        detail = first.get("ErrorDetail", {})
        values = first.get("PartitionValues") or first.get("PartitionValueList")
        raise CatalogError(
            f"{plan.database}.{plan.name}: could not {verb} {len(errors)} partition(s), e.g. {values}: "
            f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
        )


def apply_plan(glue: Any, plan: TablePlan) -> dict[str, Any]:
    """Make the calls the plan lists; what was done, with the table's version afterwards."""
    ensure_database(glue, plan.database)
    if plan.action == "create":
        try:
            glue.create_table(DatabaseName=plan.database, TableInput=plan.table_input)
        except glue.exceptions.AlreadyExistsException:
            raise CatalogConflict(f"table {plan.database}.{plan.name} was created meanwhile") from None
    elif plan.action == "update":
        # UpdateTable archives the previous definition as a table version (SkipArchive is false).
        glue.update_table(DatabaseName=plan.database, TableInput=plan.table_input)
    created = updated = 0
    if not plan.partitions_held:
        for batch in _batches([p.partition_input for p in plan.partitions_to("create")]):
            _check_batch(
                plan,
                "create",
                glue.batch_create_partition(
                    DatabaseName=plan.database, TableName=plan.name, PartitionInputList=batch
                ),
            )
            created += len(batch)
        entries = [
            {"PartitionValueList": list(p.values), "PartitionInput": p.partition_input}
            for p in plan.partitions_to("update")
        ]
        for batch in _batches(entries):
            _check_batch(
                plan,
                "update",
                glue.batch_update_partition(DatabaseName=plan.database, TableName=plan.name, Entries=batch),
            )
            updated += len(batch)
    table = get_table(glue, plan.database, plan.name) or {}
    return {
        "table": {"create": "created", "update": "updated"}.get(plan.action, "unchanged"),
        "version": table.get("VersionId"),
        "partitions_created": created,
        "partitions_updated": updated,
    }


def crawl(
    dataset: str,
    settings: Settings,
    s3: Any,
    glue: Any,
    work_dir: Path,
    *,
    full_scan: bool = False,
    dry_run: bool = False,
    mirror: Mirror | None = None,
    rebuild: bool = False,
    options: CrawlerOptions | None = None,
) -> tuple[TablePlan, dict[str, Any]]:
    """Plan (and unless ``dry_run`` apply) the catalog change for one dataset: the plan and the
    crawl record (the plan's decision and changes, the crawl's facts, what was applied).
    ``rebuild``: re-derive the table from the current files as a new version (``csvpipe crawl
    DATASET --rebuild``). ``options``: instead of the settings' (tests set a small whole-file size)."""
    options = options or crawler_options(settings, full_scan=full_scan)
    mirror = mirror or Mirror(s3, work_dir)
    for attempt in (1, 2):
        plan, facts = plan_with_facts(dataset, settings, glue, mirror, options, rebuild=rebuild)
        if dry_run:
            return plan, {**plan_record(plan), **facts, "dry_run": True, "applied": None}
        try:
            applied = apply_plan(glue, plan)
        except CatalogConflict:
            if attempt == 2:
                raise
            # Another crawl created the table first, perhaps from newer files: plan again
            # against it, from a new listing.
            mirror.forget(settings.processed_bucket, layout.dataset_prefix(dataset))
            continue
        return plan, {**plan_record(plan), **facts, "dry_run": False, "applied": applied}
    raise AssertionError("unreachable")


def crawl_dataset(
    dataset: str, settings: Settings, s3: Any, glue: Any, work_dir: Path, mirror: Mirror | None = None
) -> dict[str, Any]:
    """The crawl after a preprocess (emulators.glue_jobs): apply the plan, return its record."""
    return crawl(dataset, settings, s3, glue, work_dir, mirror=mirror)[1]

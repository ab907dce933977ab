"""The preprocessing Lambda: ``handler(event, context)``, deployable unchanged to AWS Lambda.

Why a thin handler: it parses the S3 event with one wrapper, runs the cleaning
(``preprocess_file``: the fast path in DuckDB, ``pipeline.preprocess.fast``, or for the few files
it declines the reference path in Python, ``preprocess_reference``; both give the same results)
and writes results; settings come from the function's environment (``CSVPIPE_*`` variables), the
edge of a Lambda. A bad file is not an invocation error: it yields a failed run record with a
clear reason, and the invocation succeeds, so AWS does not retry a file that can never pass.
Infrastructure faults raise, so Lambda's retries apply to them.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
from botocore.exceptions import ClientError

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import ConfigError
from pipeline.events import ObjectCreated, parse_s3_event
from pipeline.limits import LAMBDA_MAX_EPHEMERAL_MB, MB, TMP_COPIES
from pipeline.preprocess import fast
from pipeline.preprocess.clean import CleanCounts, clean_csv
from pipeline.preprocess.dedupe import finish
from pipeline.preprocess.dialect import (
    FALLBACK_ENCODINGS,
    detect_delimiter,
    excel_separator,
    initial_encoding,
)
from pipeline.preprocess.exceptions import FastPathDeclined, UnreadableFile
from pipeline.preprocess.fast import Processed
from pipeline.preprocess.rules import Rules, load_rules, rules_origin
from pipeline.preprocess.text import SNIFF_BYTES, open_binary
from pipeline.settings import Settings, load_settings
from pipeline.storage import MISSING_OBJECT_CODES, download, error_code

# Below this size the reference path is the faster one, as the fast path's DuckDB set-up costs
# more than the per-row Python work (measured: 20 ms against 55 ms for 100 KB, the reference path
# deduplicating in Python; the fast path wins from about 400 KB). Many small files are the common
# case.
FAST_PATH_MIN_BYTES = 256 * 1024


@lru_cache(maxsize=1)
def _clients() -> Clients:
    """Built once per Lambda execution environment (cold start), reused by warm invocations."""
    return Clients(load_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    clients = _clients()
    results = [
        preprocess_object(record, clients.settings, clients.s3, context) for record in parse_s3_event(event)
    ]
    return {"records": results}


@dataclass(frozen=True)
class Cleaned:
    counts: CleanCounts
    encoding: str
    delimiter: str


def clean_file(local: Path, numbered: Path, rejects: Path, key: str, rules: Rules) -> Cleaned:
    """Clean with the first encoding that decodes the whole file: UTF-8 (BOM or not), else
    Windows-1252, else Latin-1; UTF-16 when its byte-order mark says so. Newlines inside quotes
    and CR, LF or CRLF line ends are kept apart by the csv module (``newline=""``)."""
    binary, head = open_binary(local, key)
    binary.close()
    first = initial_encoding(head)
    encodings = (first,) if first == "utf-16" else (first, *FALLBACK_ENCODINGS)
    for encoding in encodings:
        binary, _ = open_binary(local, key)
        with (
            io.TextIOWrapper(binary, encoding=encoding, newline="") as source,
            numbered.open("w", encoding="utf-8", newline="") as sink,
            rejects.open("w", encoding="utf-8", newline="") as reject_sink,
        ):
            try:
                sample = source.read(SNIFF_BYTES)
                source.seek(0)
                hint = excel_separator(sample)
                if hint is not None:
                    source.readline()  # Excel's "sep=;" line is a hint, not a record
                delimiter = hint or detect_delimiter(sample)
                counts = clean_csv(
                    source,
                    sink,
                    reject_sink,
                    key,
                    rules,
                    delimiter,
                    with_line_numbers=True,
                    lines_before=1 if hint else 0,
                )
            except UnicodeDecodeError:
                if encoding == "utf-16":
                    raise UnreadableFile(f"{key}: starts like UTF-16 text but is not valid UTF-16") from None
                continue
            except (OSError, EOFError) as exc:
                raise UnreadableFile(f"{key}: cannot be read ({exc})") from None
        return Cleaned(counts, encoding.removesuffix("-sig"), delimiter)
    raise UnreadableFile(f"{key}: cannot be decoded as text")  # Latin-1 decodes any byte: unreachable


def preprocess_file(
    local: Path, key: str, rules: Rules, work_dir: Path, memory_mb: int, *, keep_input: bool = True
) -> Processed:
    """Decode, clean, type and deduplicate one local file into ``work_dir``; no S3 here, so the
    handler, the tests and the benchmarks run exactly the same steps. The fast path
    (pipeline.preprocess.fast) does the work; for small files and the few files it does not
    handle, the reference path does, with the same results."""
    if local.stat().st_size >= FAST_PATH_MIN_BYTES:
        try:
            return fast.preprocess(local, key, rules, work_dir, memory_mb, keep_input=keep_input)
        except FastPathDeclined:
            pass
    return preprocess_reference(local, key, rules, work_dir, memory_mb, keep_input=keep_input)


def preprocess_reference(
    local: Path, key: str, rules: Rules, work_dir: Path, memory_mb: int, *, keep_input: bool = True
) -> Processed:
    """The reference path: the rules once per record in Python (``clean_file``), then DuckDB's
    deduplication of the line-numbered result (``dedupe.finish``). The definition the fast path is
    tested against, and what runs when the fast path declines a file."""
    numbered, output, rejects = work_dir / "numbered.csv", work_dir / "clean.csv", work_dir / "rejects.csv"
    started = time.perf_counter()
    cleaned = clean_file(local, numbered, rejects, key, rules)
    if not keep_input:
        local.unlink()  # the Lambda's /tmp is small: the raw copy is not needed past this point
    cleaned_at = time.perf_counter()
    counts = cleaned.counts
    written = finish(
        numbered, output, counts.columns, dedupe=rules.dedupe, tmp_dir=work_dir, memory_mb=memory_mb
    )
    numbered.unlink()
    counts.rows_duplicate, counts.rows_out = counts.rows_out - written, written
    phases = {"clean": cleaned_at - started, "dedupe+write": time.perf_counter() - cleaned_at}
    return Processed(counts, cleaned.encoding, cleaned.delimiter, output, rejects, phases)


def _download(s3: Any, record: ObjectCreated, local: Path) -> ObjectCreated:
    """Download the raw object. Its key is tried decoded first, as S3 encodes keys in events;
    when nothing is there, as it was sent (LocalStack has sent keys unencoded, and ``a+b.csv``
    decodes to ``a b.csv``). The record comes back with the key that held the object."""
    try:
        download(s3, record.bucket, record.key, local)
        return record
    except ClientError as exc:
        if error_code(exc) not in MISSING_OBJECT_CODES or record.key_as_sent in {"", record.key}:
            raise
    download(s3, record.bucket, record.key_as_sent, local)
    return dataclasses.replace(record, key=record.key_as_sent)


def preprocess_object(record: ObjectCreated, settings: Settings, s3: Any, context: Any) -> dict[str, Any]:
    """Clean one raw object into the processed bucket and write its run record."""
    watch = runs.Stopwatch()
    with tempfile.TemporaryDirectory(prefix="csvpipe-", dir=os.environ.get("TMPDIR")) as tmp:
        local = Path(tmp, "raw")
        summary: dict[str, Any] = {
            "status": "ok",
            "source": {"bucket": record.bucket, "key": record.key, "etag": record.etag, "size": record.size},
            "dataset": layout.dataset_for_key(record.key),
            # The rules that applied: "defaults", or "<dataset>.toml (packaged|rules_dir)".
            "rules": rules_origin(settings.rules_dir, layout.dataset_for_key(record.key)),
            "output": None,
            "rejects": None,
            "rows": None,
            "columns": None,
            "values_nulled": None,
            "error": None,
            "started_at": watch.started_at,
            "function": getattr(context, "function_name", None),
            "request_id": getattr(context, "aws_request_id", None),
        }
        timings: dict[str, float] = {}  # seconds per step: download, clean, upload
        try:
            if not layout.is_csv_key(record.key):
                raise UnreadableFile(f"{record.key}: not a .csv or .csv.gz object")
            began = time.perf_counter()
            record = _download(s3, record, local)
            timings["download"] = time.perf_counter() - began
            summary["source"]["key"], summary["dataset"] = record.key, layout.dataset_for_key(record.key)
            summary["rules"] = rules_origin(settings.rules_dir, summary["dataset"])
            rules = load_rules(settings.rules_dir, summary["dataset"])
            # The function's memory size as Lambda reports it, so DuckDB's limit follows the
            # deployed configuration.
            memory_mb = int(getattr(context, "memory_limit_in_mb", None) or settings.lambda_memory_mb)
            began = time.perf_counter()
            processed = preprocess_file(local, record.key, rules, Path(tmp), memory_mb, keep_input=False)
            timings["clean"] = time.perf_counter() - began
        except (UnreadableFile, ConfigError) as exc:
            summary.update(status="failed", error=str(exc))
        except (OSError, duckdb.Error) as exc:
            if not _out_of_space(exc):
                raise
            # The same file would fill the same /tmp again: a failed run, not a retried invocation.
            summary.update(status="failed", error=_out_of_space_reason(record, Path(tmp), settings))
        else:
            began = time.perf_counter()
            summary.update(_publish(processed, record.key, settings, s3))
            timings["upload"] = time.perf_counter() - began
    summary["seconds"] = watch.seconds()
    summary["timings"] = {step: round(seconds, 3) for step, seconds in timings.items()}
    run = layout.run_id(record.bucket, record.key, record.etag)
    runs.write_stage_record(s3, settings.processed_bucket, run, "preprocess", summary)
    # One structured line per object: CloudWatch Logs on AWS, lambda.log locally.
    print(
        json.dumps(
            {
                "message": "preprocessed",
                "run_id": run,
                "key": record.key,
                "status": summary["status"],
                "rows": summary["rows"],
                "error": summary["error"],
            }
        )
    )
    return {"run_id": run, **summary}


def _out_of_space(exc: BaseException) -> bool:
    """Did the work folder (the Lambda's /tmp) run out of space?"""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return "No space left on device" in str(exc)  # DuckDB's IO Error wraps ENOSPC as text


def _out_of_space_reason(record: ObjectCreated, tmp: Path, settings: Settings) -> str:
    total_mb = shutil.disk_usage(tmp).total / MB
    needed_mb = TMP_COPIES * max(record.size, 1) / MB
    return (
        f"{record.key}: the Lambda's /tmp ({total_mb:,.0f} MB) ran out of space while preprocessing this "
        f"{record.size / MB:,.1f} MB object, which needs about {needed_mb:,.0f} MB there; raise "
        f"lambda_ephemeral_mb (now {settings.lambda_ephemeral_mb}, AWS allows up to "
        f"{LAMBDA_MAX_EPHEMERAL_MB:,}) and upload it again"
    )


def _publish(processed: Processed, raw_key: str, settings: Settings, s3: Any) -> dict[str, Any]:
    """Upload the processed file and its rejects (or remove stale rejects); the run record's
    fields for them."""
    counts = processed.counts
    out_key = layout.processed_key(raw_key)
    s3.upload_file(
        str(processed.output), settings.processed_bucket, out_key, ExtraArgs={"ContentType": "text/csv"}
    )
    reject_key = layout.rejects_key(raw_key)
    rejects = None
    if counts.rows_rejected:
        s3.upload_file(
            str(processed.rejects),
            settings.processed_bucket,
            reject_key,
            ExtraArgs={"ContentType": "text/csv"},
        )
        rejects = {"bucket": settings.processed_bucket, "key": reject_key}
    else:
        s3.delete_object(Bucket=settings.processed_bucket, Key=reject_key)
    return {
        "output": {"bucket": settings.processed_bucket, "key": out_key},
        "rejects": rejects,
        "rows": {
            "in": counts.rows_in,
            "out": counts.rows_out,
            "rejected": counts.rows_rejected,
            "empty": counts.rows_empty,
            "duplicate": counts.rows_duplicate,
        },
        "columns": counts.columns,
        "values_nulled": counts.values_nulled,
        "dialect": {"encoding": processed.encoding, "delimiter": processed.delimiter},
    }

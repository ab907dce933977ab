"""The preprocessing Lambda: ``handler(event, context)``, deployable unchanged to AWS Lambda.

Why a thin handler: it parses the S3 event with one wrapper, calls the pure cleaning rules and
writes results; settings come from the function's environment (``CSVPIPE_*`` variables), the
edge of a Lambda. A bad file is not an invocation error: it yields a failed run record with a
clear reason, and the invocation succeeds, so AWS does not retry a file that can never pass.
Infrastructure faults raise, so Lambda's retries apply to them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import ConfigError
from pipeline.events import ObjectCreated, parse_s3_event
from pipeline.preprocess.clean import CleanCounts, clean_csv
from pipeline.preprocess.dedupe import finish
from pipeline.preprocess.dialect import FALLBACK_ENCODINGS, detect_delimiter, initial_encoding
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.rules import Rules, load_rules
from pipeline.settings import Settings, load_settings
from pipeline.storage import SINGLE_GET

SNIFF_BYTES = 8192


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


def _open_binary(path: Path, key: str) -> tuple[Any, bytes]:
    """The file's bytes, gunzipped when the key says ``.gz``, and its first bytes; refuses
    binary content."""
    binary: Any = gzip.open(path, "rb") if key.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115
    try:
        head = binary.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (OSError, EOFError) as exc:
        binary.close()
        raise UnreadableFile(f"{key}: not a readable gzip file ({exc})") from None
    if b"\x00" in head:
        binary.close()
        raise UnreadableFile(f"{key}: binary content (NUL bytes), not a CSV text file")
    return binary, head


@dataclass(frozen=True)
class Cleaned:
    counts: CleanCounts
    encoding: str
    delimiter: str


def clean_file(local: Path, numbered: Path, rejects: Path, key: str, rules: Rules) -> Cleaned:
    """Clean with the first encoding that decodes the whole file: UTF-8 (BOM or not), else
    Windows-1252, else Latin-1. Newlines inside quotes and CR, LF or CRLF line ends are kept
    apart by the csv module (``newline=""``)."""
    binary, head = _open_binary(local, key)
    binary.close()
    for encoding in (initial_encoding(head), *FALLBACK_ENCODINGS):
        binary, _ = _open_binary(local, key)
        with (
            io.TextIOWrapper(binary, encoding=encoding, newline="") as source,
            numbered.open("w", encoding="utf-8", newline="") as sink,
            rejects.open("w", encoding="utf-8", newline="") as reject_sink,
        ):
            try:
                delimiter = detect_delimiter(source.read(SNIFF_BYTES))
                source.seek(0)
                counts = clean_csv(source, sink, reject_sink, key, rules, delimiter, with_line_numbers=True)
            except UnicodeDecodeError:
                continue
            except (OSError, EOFError) as exc:
                raise UnreadableFile(f"{key}: cannot be read ({exc})") from None
        return Cleaned(counts, encoding.removesuffix("-sig"), delimiter)
    raise UnreadableFile(f"{key}: cannot be decoded as text")  # Latin-1 decodes any byte: unreachable


def preprocess_object(record: ObjectCreated, settings: Settings, s3: Any, context: Any) -> dict[str, Any]:
    """Clean one raw object into the processed bucket and write its run record."""
    watch = runs.Stopwatch()
    run = layout.run_id(record.bucket, record.key, record.etag)
    dataset = layout.dataset_for_key(record.key)
    summary: dict[str, Any] = {
        "status": "ok",
        "source": {"bucket": record.bucket, "key": record.key, "etag": record.etag, "size": record.size},
        "dataset": dataset,
        "output": None,
        "rejects": None,
        "rows": None,
        "columns": None,
        "error": None,
        "started_at": watch.started_at,
        "function": getattr(context, "function_name", None),
        "request_id": getattr(context, "aws_request_id", None),
    }
    with tempfile.TemporaryDirectory(prefix="csvpipe-", dir=os.environ.get("TMPDIR")) as tmp:
        local, out, rejects = Path(tmp, "raw"), Path(tmp, "clean.csv"), Path(tmp, "rejects.csv")
        numbered = Path(tmp, "numbered.csv")
        try:
            if not layout.is_csv_key(record.key):
                raise UnreadableFile(f"{record.key}: not a .csv or .csv.gz object")
            rules = load_rules(settings.rules_dir, dataset)
            s3.download_file(record.bucket, record.key, str(local), Config=SINGLE_GET)
            cleaned = clean_file(local, numbered, rejects, record.key, rules)
        except (UnreadableFile, ConfigError) as exc:
            summary.update(status="failed", error=str(exc))
        else:
            counts = cleaned.counts
            written = finish(
                numbered,
                out,
                counts.columns,
                dedupe=rules.dedupe,
                tmp_dir=Path(tmp),
                memory_mb=settings.lambda_memory_mb,
            )
            counts.rows_duplicate = counts.rows_out - written
            counts.rows_out = written
            out_key = layout.processed_key(record.key)
            s3.upload_file(
                str(out), settings.processed_bucket, out_key, ExtraArgs={"ContentType": "text/csv"}
            )
            summary["output"] = {"bucket": settings.processed_bucket, "key": out_key}
            reject_key = layout.rejects_key(record.key)
            if counts.rows_rejected:
                s3.upload_file(
                    str(rejects), settings.processed_bucket, reject_key, ExtraArgs={"ContentType": "text/csv"}
                )
                summary["rejects"] = {"bucket": settings.processed_bucket, "key": reject_key}
            else:
                s3.delete_object(Bucket=settings.processed_bucket, Key=reject_key)
            summary["rows"] = {
                "in": counts.rows_in,
                "out": counts.rows_out,
                "rejected": counts.rows_rejected,
                "empty": counts.rows_empty,
                "duplicate": counts.rows_duplicate,
            }
            summary["columns"] = counts.columns
            summary["dialect"] = {"encoding": cleaned.encoding, "delimiter": cleaned.delimiter}
    summary["seconds"] = watch.seconds()
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

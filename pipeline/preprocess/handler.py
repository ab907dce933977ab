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
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.events import ObjectCreated, parse_s3_event
from pipeline.preprocess.clean import CleanCounts, clean_csv
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.settings import Settings, load_settings

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


def _open_text(path: Path, key: str) -> io.TextIOWrapper:
    """The file as UTF-8 text, gunzipped when the key says ``.gz``; refuses binary content."""
    binary: Any = gzip.open(path, "rb") if key.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115
    try:
        head = binary.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(binary, "peek") else b""
    except (OSError, EOFError) as exc:
        binary.close()
        raise UnreadableFile(f"{key}: not a readable gzip file ({exc})") from None
    if b"\x00" in head:
        binary.close()
        raise UnreadableFile(f"{key}: binary content (NUL bytes), not a CSV text file")
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _clean_file(local: Path, out: Path, rejects: Path, key: str) -> CleanCounts:
    with (
        _open_text(local, key) as source,
        out.open("w", encoding="utf-8", newline="") as sink,
        rejects.open("w", encoding="utf-8", newline="") as reject_sink,
    ):
        try:
            return clean_csv(source, sink, reject_sink, key)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{key}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except (OSError, EOFError) as exc:
            raise UnreadableFile(f"{key}: cannot be read ({exc})") from None


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
        try:
            if not layout.is_csv_key(record.key):
                raise UnreadableFile(f"{record.key}: not a .csv or .csv.gz object")
            s3.download_file(record.bucket, record.key, str(local))
            counts = _clean_file(local, out, rejects, record.key)
        except UnreadableFile as exc:
            summary.update(status="failed", error=str(exc))
        else:
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
            }
            summary["columns"] = counts.columns
    summary["seconds"] = watch.seconds()
    runs.write_stage_record(s3, settings.processed_bucket, run, "preprocess", summary)
    return {"run_id": run, **summary}

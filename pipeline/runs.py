"""Run records: the small JSON document each stage writes about its work.

Why: lineage, ``csvpipe run``'s progress display, ``csvpipe status`` and the dashboard's
pipeline view all read the same records, on every profile, because they live in the buckets.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.storage import MISSING_BUCKET_CODE, MISSING_OBJECT_CODES, error_code


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Stopwatch:
    """Seconds since creation, for the timings in run records."""

    def __init__(self) -> None:
        self.started_at = now_iso()
        self._start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self._start, 3)


def put_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON document at ``key``, or None when it does not exist (yet)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES | {MISSING_BUCKET_CODE}:
            return None
        raise
    return json.loads(body)


def write_stage_record(s3: Any, bucket: str, run: str, stage: str, record: dict[str, Any]) -> None:
    put_json(s3, bucket, layout.run_record_key(run, stage), {"run_id": run, "stage": stage, **record})


def read_stage_record(s3: Any, bucket: str, run: str, stage: str) -> dict[str, Any] | None:
    return get_json(s3, bucket, layout.run_record_key(run, stage))


def latest_runs(s3: Any, bucket: str, limit: int = 10) -> list[dict[str, Any]]:
    """The newest preprocess run records, newest first."""
    paginator = s3.get_paginator("list_objects_v2")
    found = []
    for page in paginator.paginate(Bucket=bucket, Prefix=layout.RUNS_PREFIX):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/preprocess.json"):
                found.append(obj)
    found.sort(key=lambda obj: obj["LastModified"], reverse=True)
    records = []
    for obj in found[:limit]:
        record = get_json(s3, bucket, obj["Key"])
        if record is not None:
            records.append(record)
    return records

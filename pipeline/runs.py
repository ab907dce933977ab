"""Run records: the small JSON document each stage writes about its work.

Why: lineage, ``csvpipe run``'s progress display, ``csvpipe status`` and the dashboard's
pipeline view all read the same records, on every profile, because they live in the buckets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
    """A stage's run record, None when it does not exist (yet). One that is not a JSON object
    (cut short, or written by hand) reads as a failed record saying so: the file's outcome
    then shows it, instead of the command stopping on it."""
    key = layout.run_record_key(run, stage)
    try:
        record = get_json(s3, bucket, key)
    except ValueError:  # not JSON, or not UTF-8
        record = []
    if record is None or isinstance(record, dict):
        return record
    return {"status": "unreadable", "error": f"s3://{bucket}/{key} is not a JSON run record"}


RECORD_NAMES = ("invoke", *layout.STAGES)
"""Every record a run may have: the Lambda invocation's (written when it failed), then the stages'."""


def read_run_records(s3: Any, bucket: str, run: str) -> dict[str, dict[str, Any]]:
    """Every record of one run that exists, by stage (``invoke`` too)."""
    found = {name: read_stage_record(s3, bucket, run, name) for name in RECORD_NAMES}
    return {name: record for name, record in found.items() if record is not None}


def latest_run_records(s3: Any, bucket: str, limit: int = 10) -> list[dict[str, dict[str, Any]]]:
    """The newest runs' records (see ``read_run_records``), newest first: every run with a
    preprocess record, or only an invocation's (the Lambda failed before preprocessing wrote)."""
    newest: dict[str, Any] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=layout.RUNS_PREFIX):
        for obj in page.get("Contents", []):
            run, _, name = obj["Key"][len(layout.RUNS_PREFIX) :].partition("/")
            if name in ("preprocess.json", "invoke.json"):
                newest[run] = max(newest.get(run, obj["LastModified"]), obj["LastModified"])
    chosen = sorted(newest, key=lambda run: (newest[run], run), reverse=True)[:limit]
    return [records for run in chosen if (records := read_run_records(s3, bucket, run))]


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


@dataclass(frozen=True)
class Outcome:
    """A file's outcome across every stage: the one rule ``csvpipe run``'s summary and exit code,
    ``csvpipe status`` and the dashboard's pipeline page all apply.

    ``state`` is ``ok`` (the transform stage ran, with no error), ``failed`` (a stage failed, or
    the Lambda gave up on the file), ``retrying`` (the Lambda will try again) or ``running``.
    ``stage`` is the stage that failed or is being retried (``invoke`` when the Lambda gave up
    before preprocessing wrote anything); ``error`` says why, on one line, "" when nothing failed."""

    state: str
    stage: str | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    @property
    def label(self) -> str:
        """``ok``, ``running``, ``retrying`` or ``failed at <stage>``."""
        return f"failed at {self.stage}" if self.failed else self.state


def _stage_error(stage: str, record: Mapping[str, Any]) -> str:
    """A failed stage record's reason: its ``error``, or each failed transform's error (named by
    the transform unless the error already names its SQL file)."""
    if record.get("error"):
        return str(record["error"])
    reasons = []
    for error in record.get("errors", []):
        text, name = str(error.get("error", "")), error.get("transform")
        reasons.append(text if not name or text.startswith(f"{name}.sql") else f"{name}: {text}")
    return "; ".join(reasons) or f"the {stage} stage did not say why"


def outcome(records: Mapping[str, Mapping[str, Any]]) -> Outcome:
    """A file's outcome from its run's records (see ``Outcome``): the first stage whose record is
    not ``ok`` fails the file, whatever the later stages say; a file is ``ok`` only once its
    transform stage has run without error."""
    for stage in layout.STAGES:
        record = records.get(stage)
        if record is not None and record.get("status") != "ok":
            return Outcome("failed", stage, _stage_error(stage, record))
    invoke = records.get("invoke")
    if invoke and "preprocess" not in records:
        error = f"{invoke.get('error_type')}: {invoke.get('error')}"
        if invoke.get("will_retry"):
            return Outcome("retrying", "invoke", f"{error} (will be retried)")
        return Outcome("failed", "invoke", f"{error} (sent to the dead-letter queue: see `csvpipe dlq list`)")
    if "transform" in records:
        return Outcome("ok")
    return Outcome("running")

"""Following uploaded files through the stages by their run records.

Why records and not process handles: the stages may run in a local runtime, in LocalStack or
in AWS; the run records in the processed bucket are what every profile has in common.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline import layout, runs
from pipeline.ingest.upload import Uploaded

POLL_SECONDS = 0.2


@dataclass
class FileProgress:
    """What is known of one file's way through the pipeline."""

    upload: Uploaded
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    timed_out: bool = False

    @property
    def stage(self) -> str:
        """The stage the file is in, or the last one it reached."""
        for stage in reversed(layout.STAGES):
            if stage in self.records:
                return stage
        invoke = self.records.get("invoke")
        if invoke:
            return (
                f"preprocess, retry {invoke.get('attempt', 1)}" if invoke.get("will_retry") else "preprocess"
            )
        return "queued"

    @property
    def failed(self) -> bool:
        invoke = self.records.get("invoke")
        if self.timed_out or (invoke and not invoke.get("will_retry") and "preprocess" not in self.records):
            return True
        return any(r.get("status") != "ok" for s, r in self.records.items() if s != "invoke")

    @property
    def done(self) -> bool:
        return self.failed or "transform" in self.records

    def error(self) -> str | None:
        if self.timed_out:
            return f"timed out waiting for the {self._next_stage()} stage"
        invoke = self.records.get("invoke")
        if invoke and "preprocess" not in self.records:
            retry = (
                " (will be retried)"
                if invoke.get("will_retry")
                else " (sent to the dead-letter queue: see `csvpipe dlq list`)"
            )
            return f"preprocess invocation failed: {invoke.get('error_type')}: {invoke.get('error')}{retry}"
        for stage in layout.STAGES:
            record = self.records.get(stage)
            if record and record.get("status") != "ok":
                details = record.get("error") or "; ".join(
                    e.get("error", "") for e in record.get("errors", [])
                )
                return f"{stage} failed: {details}"
        return None

    def _next_stage(self) -> str:
        for stage in layout.STAGES:
            if stage not in self.records:
                return stage
        return "transform"


def clear_records(s3: Any, bucket: str, run: str) -> None:
    """Forget earlier records of the same object version, so following sees this run only."""
    for stage in (*layout.STAGES, "invoke"):
        s3.delete_object(Bucket=bucket, Key=layout.run_record_key(run, stage))


def follow(
    s3: Any,
    bucket: str,
    uploads: list[Uploaded],
    timeout: float,
    on_change: Callable[[FileProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[FileProgress]:
    """Poll run records until every file is done or failed, or ``timeout`` seconds pass."""
    progress = [FileProgress(upload) for upload in uploads]
    deadline = time.monotonic() + timeout
    while True:
        for item in progress:
            if item.done:
                continue
            changed = False
            for stage in layout.STAGES:
                if stage in item.records:
                    continue
                record = runs.read_stage_record(s3, bucket, item.upload.run_id, stage)
                if record is None and stage == "preprocess":
                    invoke = runs.read_stage_record(s3, bucket, item.upload.run_id, "invoke")
                    if invoke is not None and invoke != item.records.get("invoke"):
                        item.records["invoke"] = invoke
                        changed = True
                if record is None:
                    break
                item.records[stage] = record
                changed = True
                if record.get("status") != "ok":
                    break
            if changed and on_change:
                on_change(item)
        if all(item.done for item in progress):
            return progress
        if time.monotonic() >= deadline:
            for item in progress:
                if not item.done:
                    item.timed_out = True
            return progress
        sleep(POLL_SECONDS)  # the records are polled; the deadline above bounds the wait

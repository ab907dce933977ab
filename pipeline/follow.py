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
    def outcome(self) -> runs.Outcome:
        """The file's outcome by the rule ``csvpipe status`` and the dashboard apply too."""
        return runs.outcome(self.records)

    @property
    def failed(self) -> bool:
        return self.timed_out or self.outcome.failed

    @property
    def done(self) -> bool:
        return self.failed or "transform" in self.records

    def error(self) -> str | None:
        if self.timed_out:
            return f"timed out waiting for the {self._next_stage()} stage"
        outcome = self.outcome
        if outcome.stage == "invoke":
            return f"preprocess invocation failed: {outcome.error}"
        if outcome.failed:
            return f"{outcome.stage} failed: {outcome.error}"
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
